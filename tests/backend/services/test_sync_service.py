"""The pull cursor under concurrent writes, and pushes racing on one form."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlmodel import Session

from backend.models import FormAnswer, InspectionForm
from backend.models.fieldwork import next_change_seq, stamp_forms
from backend.services import sync as sync_service
from tests import factories
from tests.backend.api.fieldwork_support import NOW, make_team, op


def test_a_change_committed_after_a_pull_is_not_skipped(app, session):
    """T1 takes change number n but commits after a reader pulled: the reader's cursor stays below n."""
    team = make_team(app, session)
    other = factories.make_form(session, inspectors=[team.a])
    engine = app.extensions["shuangsui.engine"]
    reader = Session(engine, expire_on_commit=False)
    writer = Session(engine, expire_on_commit=False)
    try:
        user = reader.get(type(team.a), team.a.id)
        cursor = sync_service.pull(session=reader, actor=user, cursor=None)["cursor"]
        reader.rollback()

        # T1: the slow transaction takes its number now...
        form = writer.get(InspectionForm, other.id)
        form.version += 1
        writer.add(form)
        writer.flush()
        writer.info.pop("shuangsui.touched_forms", None)
        seq = next_change_seq(writer)
        stamp_forms(writer, {other.id}, seq)
        writer.flush()

        # ...while a reader pulls (it must not move past the uncommitted number)...
        middle = sync_service.pull(session=reader, actor=user, cursor=cursor)
        reader.rollback()
        assert middle["forms"] == []
        assert sync_service.decode_cursor(middle["cursor"])[0] < seq

        writer.commit()  # ...then T1 commits
        late = sync_service.pull(session=reader, actor=user, cursor=middle["cursor"])
        assert [f["id"] for f in late["forms"]] == [str(other.id)]
    finally:
        writer.rollback()
        writer.close()
        reader.rollback()
        reader.close()


def test_concurrent_pushes_on_one_form_serialise(app, session):
    team = make_team(app, session)
    results: dict[str, dict] = {}

    def send(name: str, headers: dict, key: str, device: str) -> None:
        client = app.test_client()
        operation = op(
            "answer",
            team.form,
            {"checkpoint_key": key, "value": 1 if key == "cp2" else "pass", "answered_at": NOW},
            base=1,
        )
        resp = client.post(
            "/api/v1/sync/push", json={"device_id": device, "operations": [operation]}, headers=headers
        )
        results[name] = resp.get_json()["results"][0]

    threads = [
        threading.Thread(target=send, args=("a", team.ha, "cp1", "device-a")),
        threading.Thread(target=send, args=("b", team.hb, "cp2", "device-b")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert {r["status"] for r in results.values()} == {"applied"}
    assert sorted(r["form_version"] for r in results.values()) == [2, 3]  # no lost update
    session.expire_all()
    assert session.get(InspectionForm, team.form.id).version == 3
    assert len(session.execute(select(FormAnswer)).scalars().all()) == 2
