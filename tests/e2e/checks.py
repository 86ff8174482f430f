"""What the server holds after a field inspection: rows, stored objects, and the API's view of the files."""

from __future__ import annotations

import hashlib
import json
import urllib.error
import urllib.request
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlmodel import Session

from backend.models import (
    AuditEntry,
    Evidence,
    FormAnswer,
    FormCheckin,
    FormConfirmation,
    FormNote,
    FormSignature,
    InspectionForm,
    SyncOperation,
    Upload,
)
from storage.keys import EVIDENCE_PREFIX, parse_evidence_key
from tests.e2e.media import MediaFile


@dataclass
class ServerState:
    form: InspectionForm
    answers: list[FormAnswer]
    notes: list[FormNote]
    checkins: list[FormCheckin]
    signatures: list[FormSignature]
    confirmations: list[FormConfirmation]
    evidence: list[Evidence]
    uploads: list[Upload]
    operations: list[SyncOperation]
    audit: list[AuditEntry]

    def answers_by_key(self) -> dict[str, FormAnswer]:
        return {a.checkpoint_key: a for a in self.answers}


def load_state(engine: Engine, form_id: str) -> ServerState:
    fid = uuid.UUID(form_id)
    with Session(engine) as s:
        def rows(model: Any) -> list[Any]:
            return list(s.execute(select(model).where(model.form_id == fid)).scalars())

        evidence = rows(Evidence)
        ev_ids = [e.id for e in evidence]
        uploads = (
            list(s.execute(select(Upload).where(Upload.evidence_id.in_(ev_ids))).scalars()) if ev_ids else []
        )
        mine = {form_id} | {str(i) for i in ev_ids} | {str(u.id) for u in uploads}
        audit = [
            a for a in s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars()
            if a.data.get("form_id") == form_id or a.entity_id in mine
        ]
        return ServerState(
            form=s.get(InspectionForm, fid),  # type: ignore[arg-type]
            answers=rows(FormAnswer), notes=rows(FormNote), checkins=rows(FormCheckin),
            signatures=rows(FormSignature), confirmations=rows(FormConfirmation), evidence=evidence,
            uploads=uploads, operations=rows(SyncOperation), audit=audit,
        )  # fmt: skip


def referenced_hashes(engine: Engine) -> set[str]:
    """Every content hash the database points at: received evidence and signature images, all forms."""
    with Session(engine) as s:
        evidence = s.execute(select(Evidence.sha256).where(Evidence.status == "received")).scalars()
        signatures = s.execute(select(FormSignature.sha256)).scalars()
        return set(evidence) | set(signatures)


def stored_evidence_objects(storage_url: str) -> list[str]:
    """Every object under the evidence prefix (sha256/ab/cd/<hex>) of the store, as SHA-256 hex digests."""
    keys: list[str] = []
    if storage_url.startswith("s3://"):
        from minio import Minio

        parts = urlsplit(storage_url)
        creds, _, hostport = parts.netloc.rpartition("@")
        access, _, secret = creds.partition(":")
        bucket = parts.path.strip("/")
        client = Minio(hostport, access_key=unquote(access), secret_key=unquote(secret), secure=False)
        keys = [o.object_name for o in client.list_objects(bucket, prefix=EVIDENCE_PREFIX, recursive=True)]
    else:
        root = Path(storage_url.removeprefix("file://"))
        base = root / EVIDENCE_PREFIX.rstrip("/")
        if base.exists():
            keys = [p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()]
    digests = [parse_evidence_key(k) for k in keys]
    assert all(digests), f"malformed evidence keys in the store: {keys}"
    return [d for d in digests if d]


class Api:
    """A second device: the partner inspector talking to the API directly (docs/sync-protocol.md)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.token = ""

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any, bytes]:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base_url + path, data=data, method=method)  # noqa: S310
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310
                raw = resp.read()
                status = resp.status
                ctype = resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as err:
            raw, status, ctype = err.read(), err.code, err.headers.get("Content-Type", "")
        parsed = json.loads(raw) if raw and "json" in ctype else None
        return status, parsed, raw

    def login(self, username: str, password: str) -> dict[str, Any]:
        credentials = {"username": username, "password": password}
        status, body, _ = self.call("POST", "/api/v1/auth/login", credentials)
        assert status == 200, body
        self.token = body["access_token"]
        return body["user"]

    def pulled_form(self, form_id: str) -> dict[str, Any]:
        status, body, _ = self.call("GET", "/api/v1/sync/pull?limit=500")
        assert status == 200, body
        [form] = [f for f in body["forms"] if f["id"] == form_id]
        return form

    def push(self, ops: list[dict[str, Any]], device: str = "partner-phone") -> list[dict[str, Any]]:
        status, body, _ = self.call("POST", "/api/v1/sync/push", {"device_id": device, "operations": ops})
        assert status == 200, body
        return body["results"]

    def confirm(self, form_id: str) -> dict[str, Any]:
        form = self.pulled_form(form_id)
        [result] = self.push([{"op_id": str(uuid.uuid4()), "type": "confirm", "form_id": form_id,
                               "base_version": form["version"], "payload": {}}])
        return result

    def content_sha256(self, evidence_id: str) -> str:
        status, body, raw = self.call("GET", f"/api/v1/evidence/{evidence_id}/content")
        assert status == 200, (status, body)
        return hashlib.sha256(raw).hexdigest()


def assert_evidence_arrived_once(state: ServerState, files: list[MediaFile], storage_url: str, api: Api,
                                 engine: Engine, *, expect_one_upload_each: bool = True) -> dict[str, Any]:
    """0 lost, 0 duplicated: a received Evidence row per file, one stored object per hash, bytes verified."""
    expected = Counter(f.sha256 for f in files)
    declared = Counter(e.sha256 for e in state.evidence)
    assert len(state.evidence) == len(files), f"{len(state.evidence)} evidence rows for {len(files)} files"
    assert declared == expected, f"evidence hashes differ: server {declared}, files {expected}"
    by_sha = {f.sha256: f for f in files}
    for e in state.evidence:
        f = by_sha[e.sha256]
        assert e.status == "received", f"{e.filename}: {e.status} {e.rejected_reason or ''}"
        assert e.size == f.size and e.kind == f.kind, (e.filename, e.size, f.size, e.kind, f.kind)
        assert e.object_key == f"sha256/{e.sha256[:2]}/{e.sha256[2:4]}/{e.sha256}", e.object_key
        assert e.media.get("sha256_verified") == f.sha256, e.media
        assert e.received_at is not None
    # One object per distinct hash, and nothing the database does not point at (no stray copy of a file).
    # Signature PNGs share the content-addressed space; the store also holds other tests' forms.
    stored = Counter(stored_evidence_objects(storage_url))
    mine = set(expected) | {s.sha256 for s in state.signatures}
    assert all(stored[h] == 1 for h in mine), f"objects for this form: { {h: stored[h] for h in mine} }"
    assert set(stored) == referenced_hashes(engine), "stored objects differ from what the database references"
    for e in state.evidence:
        served = api.content_sha256(str(e.id))
        assert served == e.sha256, f"{e.filename}: served bytes hash to {served}, not {e.sha256}"
    received = Counter(a.entity_id for a in state.audit if a.action == "evidence.received")
    once = Counter({str(e.id): 1 for e in state.evidence})
    assert received == once, f"evidence.received audit entries: {received}"
    # The chain of custody must not claim a mismatch for bytes that verified (a retried HEAD, a lost answer).
    mismatches = [a.data for a in state.audit if a.action == "evidence.checksum_mismatch"]
    assert not mismatches, f"checksum mismatch recorded for files whose bytes match: {mismatches}"
    bad = [(str(u.id), u.state, u.error) for u in state.uploads if u.error == "checksum_mismatch"]
    assert not bad, f"uploads marked checksum_mismatch although the evidence verified: {bad}"
    completed = Counter(str(u.evidence_id) for u in state.uploads if u.state == "completed")
    if expect_one_upload_each:
        assert completed == Counter({str(e.id): 1 for e in state.evidence}), f"completed uploads: {completed}"
    else:
        assert set(completed) == {str(e.id) for e in state.evidence}, f"completed uploads: {completed}"
    return {
        "evidence": len(state.evidence),
        "stored_objects": sum(stored[h] for h in mine),
        "uploads": len(state.uploads),
        "uploads_by_state": dict(Counter(u.state for u in state.uploads)),
        "completed_uploads": sum(completed.values()),
    }


def assert_operations_applied_once(state: ServerState) -> None:
    """Every field operation in the audit trail carries a distinct op_id: nothing was applied twice."""
    form_ops = [a.data.get("op_id") for a in state.audit
                if (a.action.startswith("form.") or a.action == "evidence.declared") and a.data.get("op_id")]
    dupes = [op for op, n in Counter(form_ops).items() if n > 1]
    assert not dupes, f"operations applied more than once: {dupes}"
    logged = Counter(str(o.op_id) for o in state.operations)
    assert all(n == 1 for n in logged.values())
    assert set(form_ops) <= set(logged), "audited operations missing from the idempotency log"
    notes_per_key = Counter(n.checkpoint_key for n in state.notes)
    assert all(n == 1 for n in notes_per_key.values()), f"duplicated notes: {notes_per_key}"
    assert len(state.checkins) == 1, f"{len(state.checkins)} check-ins"
