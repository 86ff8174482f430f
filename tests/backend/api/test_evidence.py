"""Evidence chain of custody: provenance, hash re-verification, who may see original and derivatives."""

from __future__ import annotations

import io
import urllib.request
import uuid

import pytest
from PIL import Image

from backend.services.audit import verify_chain
from backend.services.evidence import distance_m
from tests import factories
from tests.backend.api.fieldwork_support import NOW, declare, jpeg_bytes, make_team, op, push, upload_all
from tests.conftest import TEST_STORAGE
from tests.media_clips import encoded_clip, needs_ffmpeg


@pytest.fixture
def team(app, session):
    return make_team(app, session)


@pytest.fixture
def photo(client, team):
    data = jpeg_bytes(1000, 750, seed=40, exif_gps=True)
    push(
        client,
        team.ha,
        [op("checkin", team.form, {"at": NOW, "lat": 32.4357, "lng": 105.8436, "accuracy_m": 6})],
        device="device-a",
    )
    ev = declare(client, team.ha, team.form, data)
    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data)
    assert resp.status_code == 204
    return ev, data


def fetch(client, resp) -> bytes:
    """The bytes behind a content answer: proxied (local store) or via the presigned URL (S3)."""
    if resp.status_code == 302:
        with urllib.request.urlopen(resp.headers["Location"], timeout=10) as remote:  # noqa: S310 - loopback moto
            return remote.read()
    assert resp.status_code == 200, resp.get_data(as_text=True)[:200]
    return resp.get_data()


def test_provenance_answers_who_where_when_and_hash(client, session, team, photo):
    ev, data = photo
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=team.ha).get_json()
    assert body["status"] == "received" and body["mime"] == "image/jpeg" and body["size"] == len(data)
    prov = body["provenance"]
    who = prov["captured_by"]
    assert (
        who["inspector_id"] == str(team.a.inspector_id) and who["name"] == "李检查" and who["certificate_no"]
    )
    assert prov["device_id"] == "device-a"
    assert prov["captured_at_device"].startswith("2026-03-02T02:15:00")  # device time, normalised to UTC
    assert prov["declared_at_server"] and prov["received_at_server"]
    loc = prov["location"]
    expected = distance_m(32.4360, 105.8440, 32.4355, 105.8434)
    assert (
        loc["distance_to_enterprise_m"] == pytest.approx(expected, abs=0.5)
        and loc["distance_to_checkin_m"] > 0
    )
    assert prov["hash"] == {
        "algorithm": "SHA-256",
        "declared": ev["sha256"],
        "computed_at_upload": ev["sha256"],
        "verified": True,
        "recheck": None,
    }
    assert prov["object"]["stored"] is True and prov["uploads"][0]["state"] == "completed"
    assert [a["action"] for a in prov["audit"]] == ["evidence.declared", "evidence.received"]
    assert all(len(a["hash"]) == 64 for a in prov["audit"])


def test_supervisor_can_recheck_the_stored_hash(client, session, team, photo, app):
    ev, _data = photo
    supervisor = factories.make_user(session, roles=["supervisor"], department=team.department)
    headers = factories.auth_headers(app, supervisor)
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}?verify=true", headers=headers).get_json()
    assert body["provenance"]["hash"]["recheck"]["ok"] is True
    assert body["provenance"]["hash"]["recheck"]["sha256"] == ev["sha256"]
    assert body["provenance"]["audit"][-1]["action"] == "evidence.verify"
    assert verify_chain(session=session).ok


def test_original_is_served_byte_for_byte_to_the_team(client, session, team, photo):
    ev, data = photo
    resp = client.get(f"/api/v1/evidence/{ev['evidence_id']}/content", headers=team.hb)
    # S3: a short-lived presigned redirect; local store: the API streams the bytes itself
    assert resp.status_code == (302 if TEST_STORAGE == "s3" else 200)
    assert fetch(client, resp) == data


@pytest.mark.parametrize(
    ("role", "same_department", "metadata", "original"),
    [
        ("supervisor", True, 200, "ok"),
        ("approver", True, 200, 403),
        ("planner", True, 200, 403),
        ("supervisor", False, 404, 404),
        ("admin", False, 200, "ok"),
        ("witness", False, 404, 404),
    ],
)
def test_who_may_see_what(client, session, team, photo, app, role, same_department, metadata, original):
    ev, data = photo
    dept = team.department if same_department else factories.make_department(session)
    user = factories.make_user(session, roles=[role], department=dept if role != "admin" else None)
    headers = factories.auth_headers(app, user)
    assert client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=headers).status_code == metadata
    resp = client.get(f"/api/v1/evidence/{ev['evidence_id']}/content", headers=headers)
    if original == "ok":
        assert fetch(client, resp) == data
    else:
        assert resp.status_code == original
        assert set(resp.get_json()) >= {"code", "status", "message", "errors"}
    listing = client.get(f"/api/v1/forms/{team.form.id}/evidence", headers=headers)
    assert listing.status_code == metadata


def test_another_inspector_sees_nothing_and_learns_nothing(client, session, team, photo, app):
    ev, _data = photo
    outsider = factories.make_user(session, roles=["inspector"])
    headers = factories.auth_headers(app, outsider)
    known = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=headers)
    unknown = client.get(f"/api/v1/evidence/{uuid.uuid4()}", headers=headers)
    assert known.status_code == unknown.status_code == 404
    assert known.get_json()["message"] == unknown.get_json()["message"]
    for variant in ("content", "thumbnail", "display"):
        assert (
            client.get(f"/api/v1/evidence/{ev['evidence_id']}/{variant}", headers=headers).status_code == 404
        )
    assert client.get(f"/api/v1/forms/{team.form.id}/evidence", headers=headers).status_code == 404


def test_thumbnail_and_watermarked_display(client, session, team, photo, app):
    ev, data = photo
    supervisor = factories.make_user(session, roles=["approver"], department=team.department)
    headers = factories.auth_headers(app, supervisor)
    thumb = Image.open(
        io.BytesIO(
            fetch(client, client.get(f"/api/v1/evidence/{ev['evidence_id']}/thumbnail", headers=headers))
        )
    )
    display_bytes = fetch(
        client, client.get(f"/api/v1/evidence/{ev['evidence_id']}/display", headers=headers)
    )
    display = Image.open(io.BytesIO(display_bytes))
    assert thumb.format == display.format == "JPEG" and max(thumb.size) <= 320
    assert display.size == (1000, 750) and display_bytes != data
    assert 0x8825 not in display.getexif() and 0x8825 not in thumb.getexif()
    original = Image.open(io.BytesIO(data)).convert("RGB")
    bottom = display.convert("RGB").crop((0, 700, 1000, 750)).getextrema()
    untouched = original.crop((0, 700, 1000, 750)).getextrema()
    assert bottom != untouched  # the band with the watermark text differs from the original pixels
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=headers).get_json()
    lines = body["media"]["watermark"]
    assert lines[0].startswith("时间：2026-03-02 10:15:00")
    assert any("广元市测试食品有限公司" in line for line in lines) and any("李检查" in line for line in lines)
    assert any("N32.436000°" in line for line in lines)


@needs_ffmpeg
def test_video_gets_a_watermarked_poster_thumbnail(client, session, team, app, tmp_path):
    """ffmpeg reads the stored video in place (a file, or the store's signed URL on S3); `moov` at the end."""
    clip = tmp_path / "VID_0001.mp4"
    data = encoded_clip(clip, "color=c=0x808080:size=640x360:rate=10:duration=2")
    ev = declare(client, team.ha, team.form, data, kind="video", mime="video/mp4", filename=clip.name)
    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data)
    assert resp.status_code == 204
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=team.ha).get_json()
    assert body["status"] == "received" and body["mime"] == "video/mp4" and body["has_thumbnail"] is True
    assert body["media"]["duration_s"] == pytest.approx(2.0, abs=0.2)
    assert any("李检查" in line for line in body["media"]["watermark"])
    thumb = Image.open(
        io.BytesIO(fetch(client, client.get(f"/api/v1/evidence/{ev['evidence_id']}/thumbnail", headers=team.ha)))
    )
    assert thumb.format == "JPEG" and thumb.size == (320, 180)
    display_bytes = fetch(client, client.get(f"/api/v1/evidence/{ev['evidence_id']}/display", headers=team.ha))
    display = Image.open(io.BytesIO(display_bytes)).convert("L")
    assert display.size == (640, 360)
    # The video is a flat grey: the top stays flat, the bottom band carries the burned-in watermark text.
    top_low, top_high = display.crop((0, 0, 640, 200)).getextrema()
    band_low, band_high = display.crop((0, 300, 640, 360)).getextrema()
    assert top_high - top_low < 16 and band_high - band_low > 100
    original = fetch(client, client.get(f"/api/v1/evidence/{ev['evidence_id']}/content", headers=team.ha))
    assert original == data  # the evidence itself is untouched


def test_video_without_ffmpeg_is_received_without_a_poster(client, session, team, monkeypatch):
    from storage import media

    monkeypatch.setattr(media.shutil, "which", lambda _name: None)
    data = synthetic_mp4()
    ev = declare(client, team.ha, team.form, data, kind="video", mime="video/mp4", filename="VID_0002.mp4")
    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data)
    assert resp.status_code == 204
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=team.ha).get_json()
    assert body["status"] == "received" and body["has_thumbnail"] is False
    assert "ffmpeg" in body["media"]["poster"]
    assert client.get(f"/api/v1/evidence/{ev['evidence_id']}/thumbnail", headers=team.ha).status_code == 404


def synthetic_mp4() -> bytes:
    """A structurally valid MP4 (ftyp, moov with a 3 s duration, mdat) that needs no encoder."""
    from tests.storage.test_storage_media import mp4

    return mp4(3.0)


def test_form_evidence_list_shows_every_state(client, session, team, photo):
    ev, _data = photo
    pending = declare(client, team.ha, team.form, b"\xff\xd8\xff" + b"1" * 50, checkpoint_key="cp2")
    rows = client.get(f"/api/v1/forms/{team.form.id}/evidence", headers=team.ha).get_json()
    states = {r["id"]: r["status"] for r in rows}
    assert states == {ev["evidence_id"]: "received", pending["evidence_id"]: "declared"}
    pending_resp = client.get(f"/api/v1/evidence/{pending['evidence_id']}/content", headers=team.ha)
    assert pending_resp.status_code == 404
    assert (
        client.get(f"/api/v1/evidence/{pending['evidence_id']}/thumbnail", headers=team.ha).status_code == 404
    )


def test_reading_an_original_is_audited(client, session, team, photo):
    ev, _data = photo
    client.get(f"/api/v1/evidence/{ev['evidence_id']}/content", headers=team.ha)
    body = client.get(f"/api/v1/evidence/{ev['evidence_id']}", headers=team.ha).get_json()
    assert body["provenance"]["audit"][-1]["action"] == "evidence.read_original"
