"""Append entries to the hash-chained audit log and verify the chain."""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select, text
from sqlmodel import Session

from ..models.accounts import User
from ..models.audit import AuditEntry
from ..models.base import utcnow

GENESIS = "0" * 64
_PG_AUDIT_LOCK = 7_300_315  # advisory lock id serialising chain appends across API replicas


def canonical_json(data: Any) -> str:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def _normalise(data: Any) -> Any:
    return json.loads(canonical_json(data))


def entry_hash(
    *,
    prev_hash: str,
    seq: int,
    at: datetime,
    actor_id: uuid.UUID | None,
    actor: str,
    action: str,
    entity: str,
    entity_id: str,
    data: Any,
) -> str:
    body = canonical_json(
        {
            "prev": prev_hash,
            "seq": seq,
            "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
            "actor_id": str(actor_id) if actor_id else None,
            "actor": actor,
            "action": action,
            "entity": entity,
            "entity_id": entity_id,
            "data": data,
        }
    )
    return hashlib.sha256(body.encode()).hexdigest()


def record(
    *,
    session: Session,
    actor: User | None,
    action: str,
    entity: str,
    entity_id: Any = "",
    data: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add one audit entry in the caller's transaction (the caller commits)."""
    bind = session.get_bind()
    if bind.dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_AUDIT_LOCK})
    session.flush()
    last = session.execute(
        select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1)  # type: ignore[union-attr]
    ).first()
    seq = (last[0] + 1) if last else 1
    prev = last[1] if last else GENESIS
    at = utcnow()
    payload = _normalise(data or {})
    actor_name = actor.username if actor else "system"
    actor_id = actor.id if actor else None
    entry = AuditEntry(
        seq=seq,
        at=at,
        actor_id=actor_id,
        actor=actor_name,
        action=action,
        entity=entity,
        entity_id=str(entity_id),
        data=payload,
        prev_hash=prev,
        hash=entry_hash(
            prev_hash=prev,
            seq=seq,
            at=at,
            actor_id=actor_id,
            actor=actor_name,
            action=action,
            entity=entity,
            entity_id=str(entity_id),
            data=payload,
        ),
    )
    session.add(entry)
    session.flush()
    return entry


@dataclass
class ChainReport:
    ok: bool
    checked: int
    first_bad_seq: int | None = None
    reason: str = ""


def verify_chain(*, session: Session, batch: int = 5000) -> ChainReport:
    """Walk the chain in order and report the first row whose hash or link does not hold."""
    prev = GENESIS
    expected_seq = 1
    checked = 0
    last_seq = 0
    while True:
        rows = (
            session.execute(
                select(AuditEntry)
                .where(AuditEntry.seq > last_seq)  # type: ignore[operator]
                .order_by(AuditEntry.seq)  # type: ignore[arg-type]
                .limit(batch)
            )
            .scalars()
            .all()
        )
        if not rows:
            break
        for row in rows:
            if row.seq != expected_seq:
                return ChainReport(False, checked, expected_seq, f"缺少序号 {expected_seq} 的审计记录（已被删除？）")
            if row.prev_hash != prev:
                return ChainReport(False, checked, row.seq, "前一条记录的哈希与链接不符")
            h = entry_hash(
                prev_hash=row.prev_hash,
                seq=row.seq,
                at=row.at,
                actor_id=row.actor_id,
                actor=row.actor,
                action=row.action,
                entity=row.entity,
                entity_id=row.entity_id,
                data=row.data,
            )
            if h != row.hash:
                return ChainReport(False, checked, row.seq, "记录内容已被篡改（哈希不符）")
            prev = row.hash
            expected_seq += 1
            checked += 1
            last_seq = row.seq
    total = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
    if total != checked:
        return ChainReport(False, checked, None, "审计记录数量与链长度不符")
    return ChainReport(True, checked)
