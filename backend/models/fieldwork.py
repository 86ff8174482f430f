"""Field work on a 一企一表 form: answers, notes, check-ins, signatures, evidence, sync and upload state.

Also home of the server change counter behind the sync cursor. It lives with the tables (not in a service)
because it must see every write to a form from any service, including ones that never import sync.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, LargeBinary, String, UniqueConstraint, event, text
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Field, SQLModel

from .base import created_field, id_field, ts_field, utcnow

EVIDENCE_KINDS = ("photo", "video", "audio", "document")
EVIDENCE_STATUSES = ("declared", "received", "rejected")
SIGNER_KINDS = ("inspector", "enterprise_rep")
UPLOAD_STATES = ("open", "completed", "failed", "aborted", "expired")


class FormAnswer(SQLModel, table=True):
    """The current answer to one checkpoint; `version` is the form version that last wrote it."""

    __tablename__ = "form_answer"
    __table_args__ = (UniqueConstraint("form_id", "checkpoint_key"),)

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    checkpoint_key: str = Field(max_length=64)
    value: Any = Field(default=None, sa_column=Column(JSON, nullable=True))
    note: str = Field(default="", max_length=2000)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id")
    device_id: str = Field(default="", max_length=128)
    answered_at: datetime = created_field()  # device clock
    received_at: datetime = created_field()  # server clock
    op_id: uuid.UUID
    version: int = 1


class FormNote(SQLModel, table=True):
    """A free-text note (现场记录) on the form or one checkpoint; append-only."""

    __tablename__ = "form_note"

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    checkpoint_key: str | None = Field(default=None, max_length=64)
    text: str = Field(max_length=4000)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id")
    device_id: str = Field(default="", max_length=128)
    received_at: datetime = created_field()
    op_id: uuid.UUID = Field(unique=True)
    version: int = 1


class FormCheckin(SQLModel, table=True):
    """签到 at the enterprise: device time and GPS fix, or why there is no fix."""

    __tablename__ = "form_checkin"

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    at: datetime = created_field()  # device clock
    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    no_fix_reason: str | None = Field(default=None, max_length=200)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id")
    device_id: str = Field(default="", max_length=128)
    received_at: datetime = created_field()
    op_id: uuid.UUID = Field(unique=True)
    version: int = 1


class FormSignature(SQLModel, table=True):
    """A handwritten signature (inspector or the enterprise's representative), content-addressed PNG."""

    __tablename__ = "form_signature"

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    signer: str = Field(max_length=16)  # inspector | enterprise_rep
    name: str = Field(max_length=64)
    sha256: str = Field(max_length=64)
    object_key: str = Field(max_length=200)
    signed_at: datetime = created_field()  # device clock
    received_at: datetime = created_field()
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id")  # who collected it
    device_id: str = Field(default="", max_length=128)
    op_id: uuid.UUID = Field(unique=True)
    version: int = 1


class FormConfirmation(SQLModel, table=True):
    """An assigned inspector confirms the content as of `version` (a later content change makes it stale)."""

    __tablename__ = "form_confirmation"
    __table_args__ = (UniqueConstraint("form_id", "inspector_id"),)

    id: uuid.UUID = id_field()
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id")
    at: datetime = created_field()
    version: int = 1
    op_id: uuid.UUID


class Evidence(SQLModel, table=True):
    """One evidence file: declared by the device (client UUID, SHA-256), then received and verified."""

    __tablename__ = "evidence"

    id: uuid.UUID = Field(primary_key=True)  # the client's UUID
    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", index=True)
    checkpoint_key: str | None = Field(default=None, max_length=64)
    kind: str = Field(max_length=16)
    sha256: str = Field(max_length=64, index=True)  # declared by the device at capture
    size: int = Field(sa_type=BigInteger)
    mime: str = Field(default="", max_length=128)  # declared; the sniffed type is in `media`
    filename: str = Field(default="", max_length=255)
    captured_at: datetime = created_field()  # device clock
    declared_at: datetime = created_field()  # server clock, when the record arrived
    received_at: datetime | None = ts_field()  # server clock, when the bytes were verified
    lat: float | None = None
    lng: float | None = None
    accuracy_m: float | None = None
    device_id: str = Field(default="", max_length=128)
    inspector_id: uuid.UUID = Field(foreign_key="inspector.id", index=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    status: str = Field(default="declared", max_length=16, index=True)
    rejected_reason: str | None = Field(default=None, max_length=500)
    object_key: str | None = Field(default=None, max_length=200)
    thumbnail_key: str | None = Field(default=None, max_length=200)
    display_key: str | None = Field(default=None, max_length=200)
    media: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    op_id: uuid.UUID
    version: int = 1


class SyncOperation(SQLModel, table=True):
    """The idempotency log: one applied push operation and the result it returned."""

    __tablename__ = "sync_operation"
    __table_args__ = (Index("ix_sync_operation_form_version", "form_id", "form_version"),)

    op_id: uuid.UUID = Field(primary_key=True)
    user_id: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    form_id: uuid.UUID | None = Field(default=None, index=True)
    type: str = Field(max_length=32)
    field_key: str = Field(
        default="", max_length=200
    )  # what it wrote (answer:<key>, checkin, ...): conflicts
    form_version: int = 0  # the form version this operation produced
    device_id: str = Field(default="", max_length=128)
    payload_hash: str = Field(max_length=64)
    result: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_at: datetime = created_field()


class Upload(SQLModel, table=True):
    """A tus upload in progress; everything needed to continue it on any API replica lives in this row."""

    __tablename__ = "upload"

    id: uuid.UUID = id_field()
    evidence_id: uuid.UUID = Field(index=True)  # the evidence record may arrive after the upload starts
    length: int = Field(sa_type=BigInteger)
    offset: int = Field(default=0, sa_type=BigInteger)
    state: str = Field(default="open", max_length=16, index=True)
    filename: str = Field(default="", max_length=255)
    filetype: str = Field(default="", max_length=128)
    metadata_: dict[str, Any] = Field(
        default_factory=dict, sa_column=Column("metadata", JSON, nullable=False)
    )
    # storage multipart reference and the (part number, token) pairs committed so far
    store_ref: str = Field(default="", max_length=512)
    parts: list[Any] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    hash_state: str = Field(default="", sa_column=Column(String(1024), nullable=False, server_default=""))
    head: bytes = Field(
        default=b"", sa_column=Column(LargeBinary, nullable=False)
    )  # first bytes, for sniffing
    tail: bytes = Field(
        default=b"", sa_column=Column(LargeBinary, nullable=False)
    )  # last bytes, for truncation
    media_type: str | None = Field(default=None, max_length=128)  # sniffed from the head
    lock_token: str | None = Field(default=None, max_length=64)
    locked_until: datetime | None = ts_field()
    created_by: uuid.UUID = Field(foreign_key="app_user.id", index=True)
    created_at: datetime = created_field()
    expires_at: datetime = ts_field(nullable=False)
    completed_at: datetime | None = ts_field()
    error: str | None = Field(default=None, max_length=500)


class FormSyncState(SQLModel, table=True):
    """The change sequence of each form: the commit-ordered number pull cursors compare against."""

    __tablename__ = "form_sync_state"
    __table_args__ = (Index("ix_form_sync_state_change_seq", "change_seq", "form_id"),)

    form_id: uuid.UUID = Field(foreign_key="inspection_form.id", primary_key=True)
    change_seq: int = Field(default=0, sa_type=BigInteger)


class SyncCounter(SQLModel, table=True):
    """A single-row counter; incrementing it row-locks until commit, so numbers follow commit order."""

    __tablename__ = "sync_counter"

    id: int = Field(default=1, primary_key=True)
    value: int = Field(default=0, sa_type=BigInteger)


# -- the change counter --------------------------------------------------------------------------

_TOUCHED = "shuangsui.touched_forms"


def _form_id_of(obj: object) -> uuid.UUID | None:
    from .forms import FormAssignment, InspectionForm, ReviewComment

    if isinstance(obj, InspectionForm):
        return obj.id
    if isinstance(
        obj,
        FormAssignment
        | ReviewComment
        | FormAnswer
        | FormNote
        | FormCheckin
        | FormSignature
        | FormConfirmation
        | Evidence,
    ):
        return obj.form_id
    return None


@event.listens_for(OrmSession, "after_flush")
def _collect_touched_forms(session: OrmSession, _flush_context: Any) -> None:
    touched: set[uuid.UUID] = session.info.setdefault(_TOUCHED, set())
    for obj in list(session.new) + list(session.deleted):
        form_id = _form_id_of(obj)
        if form_id is not None:
            touched.add(form_id)
    for obj in session.dirty:
        form_id = _form_id_of(obj)
        if form_id is not None and session.is_modified(obj, include_collections=False):
            touched.add(form_id)


@event.listens_for(OrmSession, "before_commit")
def _stamp_change_seq(session: OrmSession) -> None:
    session.flush()
    touched: set[uuid.UUID] = session.info.pop(_TOUCHED, set())
    if not touched:
        return
    seq = next_change_seq(session)
    stamp_forms(session, touched, seq)
    session.info.pop(_TOUCHED, None)  # our own writes above are not a further change


@event.listens_for(OrmSession, "after_rollback")
def _forget_touched_forms(session: OrmSession) -> None:
    session.info.pop(_TOUCHED, None)


def next_change_seq(session: OrmSession) -> int:
    """Take the next change number; its row lock is held to commit (commit order = number order)."""
    bind = session.get_bind()
    updated = session.execute(text("UPDATE sync_counter SET value = value + 1 WHERE id = 1"))
    if updated.rowcount == 0:  # type: ignore[attr-defined]
        _insert_ignore(session, "sync_counter", {"id": 1, "value": 0}, ("id",), bind.dialect.name)
        session.execute(text("UPDATE sync_counter SET value = value + 1 WHERE id = 1"))
    return int(session.execute(text("SELECT value FROM sync_counter WHERE id = 1")).scalar_one())


def stamp_forms(session: OrmSession, form_ids: set[uuid.UUID], seq: int) -> None:
    dialect = session.get_bind().dialect.name
    for form_id in sorted(form_ids):  # sorted: a stable lock order across transactions
        _upsert_sync_state(session, dialect, form_id, {"change_seq": seq})


def _upsert_sync_state(session: OrmSession, dialect: str, form_id: uuid.UUID, values: dict[str, int]) -> None:
    table = FormSyncState.__table__  # type: ignore[attr-defined]
    row = {"form_id": form_id, "change_seq": 0, **values}
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=["form_id"], set_=values)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(table).values(**row)
        stmt = stmt.on_conflict_do_update(index_elements=["form_id"], set_=values)
    session.execute(stmt)


def _insert_ignore(
    session: OrmSession, table_name: str, row: dict[str, Any], keys: tuple[str, ...], dialect: str
) -> None:
    table = SQLModel.metadata.tables[table_name]
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        session.execute(pg_insert(table).values(**row).on_conflict_do_nothing(index_elements=list(keys)))
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        session.execute(sqlite_insert(table).values(**row).on_conflict_do_nothing(index_elements=list(keys)))


__all__ = [
    "EVIDENCE_KINDS",
    "EVIDENCE_STATUSES",
    "SIGNER_KINDS",
    "UPLOAD_STATES",
    "Evidence",
    "FormAnswer",
    "FormCheckin",
    "FormConfirmation",
    "FormNote",
    "FormSignature",
    "FormSyncState",
    "SyncCounter",
    "SyncOperation",
    "Upload",
    "utcnow",
]
