"""Evidence chain of custody: who captured a file, on which device, when (device and server time), where, and
whether its bytes still hash to what the device declared; plus authorised access to original and derivatives.
"""

from __future__ import annotations

import hashlib
import math
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlmodel import Session

from ..errors import Conflict, NotFound
from ..models.accounts import User
from ..models.audit import AuditEntry
from ..models.base import utcnow
from ..models.directory import Enterprise, Inspector
from ..models.fieldwork import Evidence, FormCheckin, Upload
from ..models.forms import InspectionForm
from . import audit
from .form_scope import form_for_viewer, require_original_access

VARIANTS = ("content", "thumbnail", "display")
PRESIGN_SECONDS = 300


def get_evidence(*, session: Session, actor: User, evidence_id: uuid.UUID) -> tuple[Evidence, InspectionForm]:
    """The evidence and its form if the actor may see that form; 404 otherwise (existence is not revealed)."""
    evidence = session.get(Evidence, evidence_id)
    if evidence is None:
        raise NotFound("证据不存在")
    try:
        form = form_for_viewer(session, actor, evidence.form_id)
    except NotFound:
        raise NotFound("证据不存在") from None
    return evidence, form


def list_for_form(*, session: Session, actor: User, form_id: uuid.UUID) -> list[dict[str, Any]]:
    form = form_for_viewer(session, actor, form_id)
    rows = (
        session.execute(
            select(Evidence).where(Evidence.form_id == form.id).order_by(Evidence.captured_at)  # type: ignore[arg-type]
        )
        .scalars()
        .all()
    )
    inspectors = _inspectors(session, {e.inspector_id for e in rows})
    return [summary(e, inspectors.get(e.inspector_id)) for e in rows]


def _inspectors(session: Session, ids: set[uuid.UUID]) -> dict[uuid.UUID, Inspector]:
    if not ids:
        return {}
    return {
        i.id: i
        for i in session.execute(select(Inspector).where(Inspector.id.in_(ids))).scalars()  # type: ignore[attr-defined]
    }


def summary(evidence: Evidence, inspector: Inspector | None) -> dict[str, Any]:
    return {
        "id": str(evidence.id),
        "form_id": str(evidence.form_id),
        "checkpoint_key": evidence.checkpoint_key,
        "kind": evidence.kind,
        "status": evidence.status,
        "rejected_reason": evidence.rejected_reason,
        "sha256": evidence.sha256,
        "size": evidence.size,
        "mime": (evidence.media or {}).get("mime") or evidence.mime,
        "filename": evidence.filename,
        "captured_at": evidence.captured_at,
        "received_at": evidence.received_at,
        "inspector_id": str(evidence.inspector_id),
        "inspector_name": inspector.name if inspector else "",
        "has_thumbnail": bool(evidence.thumbnail_key),
        "has_display": bool(evidence.display_key),
    }


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance (haversine, mean Earth radius) in metres."""
    r = 6_371_008.8
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


def provenance(
    *, session: Session, evidence: Evidence, form: InspectionForm, recheck: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Everything a supervisor needs to trust (or question) one piece of evidence."""
    inspector = session.get(Inspector, evidence.inspector_id)
    user = session.get(User, evidence.user_id)
    enterprise = session.get(Enterprise, form.enterprise_id)
    location: dict[str, Any] = {
        "lat": evidence.lat,
        "lng": evidence.lng,
        "accuracy_m": evidence.accuracy_m,
        "distance_to_enterprise_m": None,
        "distance_to_checkin_m": None,
    }
    if evidence.lat is not None and evidence.lng is not None:
        ent_lat = (
            enterprise.lat
            if enterprise and enterprise.lat is not None
            else (form.enterprise_snapshot or {}).get("lat")
        )
        ent_lng = (
            enterprise.lng
            if enterprise and enterprise.lng is not None
            else (form.enterprise_snapshot or {}).get("lng")
        )
        if ent_lat is not None and ent_lng is not None:
            location["distance_to_enterprise_m"] = round(
                distance_m(evidence.lat, evidence.lng, ent_lat, ent_lng), 1
            )
        checkin = session.execute(
            select(FormCheckin)
            .where(FormCheckin.form_id == form.id, FormCheckin.lat.is_not(None))  # type: ignore[union-attr]
            .order_by(FormCheckin.at)  # type: ignore[arg-type]
            .limit(1)
        ).scalar_one_or_none()
        if checkin is not None and checkin.lat is not None and checkin.lng is not None:
            location["distance_to_checkin_m"] = round(
                distance_m(evidence.lat, evidence.lng, checkin.lat, checkin.lng), 1
            )
    media = evidence.media or {}
    uploads = (
        session.execute(
            select(Upload).where(Upload.evidence_id == evidence.id).order_by(Upload.created_at)  # type: ignore[arg-type]
        )
        .scalars()
        .all()
    )
    trail = (
        session.execute(
            select(AuditEntry)
            .where(AuditEntry.entity == "evidence", AuditEntry.entity_id == str(evidence.id))
            .order_by(AuditEntry.seq)  # type: ignore[arg-type]
        )
        .scalars()
        .all()
    )
    return {
        **summary(evidence, inspector),
        "media": media,
        "provenance": {
            "captured_by": {
                "inspector_id": str(evidence.inspector_id),
                "name": inspector.name if inspector else "",
                "certificate_no": inspector.certificate_no if inspector else "",
                "user_id": str(evidence.user_id),
                "username": user.username if user else "",
            },
            "device_id": evidence.device_id,
            "captured_at_device": evidence.captured_at,
            "declared_at_server": evidence.declared_at,
            "received_at_server": evidence.received_at,
            "location": location,
            "hash": {
                "algorithm": "SHA-256",
                "declared": evidence.sha256,
                "computed_at_upload": media.get("sha256_verified"),
                "verified": evidence.status == "received" and media.get("sha256_verified") == evidence.sha256,
                "recheck": recheck,
            },
            "object": {
                "key": evidence.object_key,
                "size": evidence.size,
                "stored": evidence.object_key is not None,
            },
            "uploads": [
                {
                    "id": str(u.id),
                    "state": u.state,
                    "offset": u.offset,
                    "length": u.length,
                    "created_at": u.created_at,
                    "completed_at": u.completed_at,
                    "error": u.error,
                }
                for u in uploads
            ],
            "audit": [
                {
                    "seq": a.seq,
                    "at": a.at,
                    "action": a.action,
                    "actor": a.actor,
                    "hash": a.hash,
                    "data": a.data,
                }
                for a in trail
            ],
        },
    }


def recheck_hash(*, session: Session, actor: User, store: Any, evidence: Evidence) -> dict[str, Any]:
    """Re-read the stored original and hash it again (streaming); the outcome is audited."""
    if evidence.object_key is None:
        raise Conflict("证据文件尚未上传完成，无法校验")
    digest = hashlib.sha256()
    size = 0
    with store.get(evidence.object_key) as reader:
        for chunk in reader:
            digest.update(chunk)
            size += len(chunk)
    computed = digest.hexdigest()
    result = {"ok": computed == evidence.sha256, "sha256": computed, "size": size, "checked_at": utcnow()}
    audit.record(
        session=session,
        actor=actor,
        action="evidence.verify",
        entity="evidence",
        entity_id=evidence.id,
        data={"ok": result["ok"], "sha256": computed, "size": size},
    )
    session.commit()
    return result


@dataclass
class ContentRef:
    """Where the bytes of one variant are: a presigned URL (S3) or an open reader to proxy (local)."""

    key: str
    mime: str
    filename: str
    size: int
    url: str | None = None
    reader: Any = None


def open_variant(
    *, session: Session, actor: User, store: Any, evidence: Evidence, form: InspectionForm, variant: str
) -> ContentRef:
    if variant == "content":
        require_original_access(session, actor, form)
        if evidence.status != "received" or not evidence.object_key:
            raise NotFound(
                "证据文件尚未上传完成" if evidence.status == "declared" else "证据已被拒收，不提供下载"
            )
        key = evidence.object_key
        mime = (evidence.media or {}).get("mime") or "application/octet-stream"
        filename = evidence.filename or f"{evidence.id}"
        audit.record(
            session=session,
            actor=actor,
            action="evidence.read_original",
            entity="evidence",
            entity_id=evidence.id,
            data={"sha256": evidence.sha256},
        )
        session.commit()
    else:
        key = evidence.thumbnail_key if variant == "thumbnail" else evidence.display_key  # type: ignore[assignment]
        if evidence.status != "received" or not key:
            raise NotFound("该证据没有可用的预览图")
        mime = "image/jpeg"
        filename = f"{evidence.id}-{variant}.jpg"
    size = store.stat(key).size
    url = store.presigned_get(key, PRESIGN_SECONDS, download_name=filename, content_type=mime)
    if url:
        return ContentRef(key=key, mime=mime, filename=filename, size=size, url=url)
    return ContentRef(key=key, mime=mime, filename=filename, size=size, reader=store.get(key))
