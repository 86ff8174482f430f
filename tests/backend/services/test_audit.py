"""The hash-chained audit log: appends, verification and tamper detection."""

from __future__ import annotations

import pytest
from sqlalchemy import text

from backend.cli import audit_verify
from backend.services import audit
from tests import factories


def _append(session, n=5):
    user = factories.make_user(session, roles=["admin"])
    for i in range(n):
        audit.record(session=session, actor=user, action="test.event", entity="thing", entity_id=i,
                     data={"i": i, "名称": "测试"})
    session.commit()
    return user


def test_chain_verifies(session):
    _append(session)
    report = audit.verify_chain(session=session)
    assert report.ok and report.checked >= 5


def test_rows_cannot_be_updated_or_deleted(session):
    _append(session, 2)
    with pytest.raises(Exception, match="append-only"):
        session.execute(text("UPDATE audit_entry SET action = 'x' WHERE seq = 1"))
    session.rollback()
    with pytest.raises(Exception, match="append-only"):
        session.execute(text("DELETE FROM audit_entry WHERE seq = 1"))
    session.rollback()


def _disable_guard(session):
    """An attacker with database rights can drop the trigger; the chain still catches them."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("ALTER TABLE audit_entry DISABLE TRIGGER audit_entry_no_change"))
    else:
        session.execute(text("DROP TRIGGER audit_entry_no_update"))
        session.execute(text("DROP TRIGGER audit_entry_no_delete"))


def test_tampered_row_is_found(session, app):
    _append(session, 6)
    _disable_guard(session)
    session.execute(text("UPDATE audit_entry SET data = '{\"i\": 99}' WHERE seq = 4"))
    session.commit()
    report = audit.verify_chain(session=session)
    assert not report.ok and report.first_bad_seq == 4 and "篡改" in report.reason
    runner = app.test_cli_runner()
    result = runner.invoke(audit_verify)
    assert result.exit_code == 1
    assert "第 4 条" in result.output


def test_deleted_row_is_found(session):
    _append(session, 6)
    _disable_guard(session)
    session.execute(text("DELETE FROM audit_entry WHERE seq = 3"))
    session.commit()
    report = audit.verify_chain(session=session)
    assert not report.ok and report.first_bad_seq == 3


def test_cli_reports_intact_chain(app, session):
    _append(session, 3)
    result = app.test_cli_runner().invoke(audit_verify)
    assert result.exit_code == 0, result.output
    assert "审计链完整" in result.output
