"""tus 1.0 uploads: resumable across drops, restarts and token expiry; hash-verified; media-checked."""

from __future__ import annotations

import base64
import hashlib
import io
import uuid
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import func, select
from werkzeug.test import EnvironBuilder

from backend import create_app
from backend.models import AuditEntry, Evidence, Upload
from backend.models.base import utcnow
from backend.services import uploads as upload_service
from storage import evidence_key
from tests import factories
from tests.backend.api.fieldwork_support import (
    TUS,
    declare,
    eps_bytes,
    exe_bytes,
    jpeg_bytes,
    make_team,
    op,
    pdf_bytes,
    png_bomb,
    push,
    sha256,
    tus_create,
    tus_head,
    tus_patch,
    upload_all,
    zip_bytes,
)
from tests.conftest import JWT_SECRET


@pytest.fixture
def team(app, session):
    return make_team(app, session)


def store_of(app):
    return app.extensions["shuangsui.store"]


def evidence_row(session, evidence_id) -> Evidence:
    return session.get(Evidence, uuid.UUID(evidence_id), populate_existing=True)


def assert_error(resp, code):
    assert resp.status_code == code, (resp.status_code, resp.get_data(as_text=True)[:300])
    if resp.request.method != "HEAD":
        body = resp.get_json()
        assert set(body) >= {"code", "status", "message", "errors"} and body["code"] == code
        return body
    return None


def test_options_advertises_tus_capabilities(client, app):
    resp = client.options("/api/v1/uploads/")
    assert resp.status_code == 204
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert set(resp.headers["Tus-Extension"].split(",")) == {
        "creation",
        "creation-with-upload",
        "checksum",
        "termination",
        "expiration",
    }
    assert set(resp.headers["Tus-Checksum-Algorithm"].split(",")) == {"sha1", "sha256"}
    assert int(resp.headers["Tus-Max-Size"]) >= 2 * 1024**3  # video up to at least 2 GB


def test_photo_upload_verifies_hash_and_makes_derivatives(client, session, team, app):
    data = jpeg_bytes(1200, 900, seed=1, exif_gps=True)
    ev = declare(client, team.ha, team.form, data)
    created = tus_create(client, team.ha, ev["evidence_id"], len(data))
    assert created.status_code == 201 and created.headers["Tus-Resumable"] == "1.0.0"
    assert created.headers["Location"].startswith("/api/v1/uploads/") and created.headers["Upload-Expires"]
    location = created.headers["Location"]
    head = tus_head(client, team.ha, location)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == "0"
    assert head.headers["Upload-Length"] == str(len(data)) and head.headers["Cache-Control"] == "no-store"
    half = len(data) // 2
    r1 = tus_patch(client, team.ha, location, 0, data[:half], checksum="sha256")
    assert r1.status_code == 204 and r1.headers["Upload-Offset"] == str(half)
    r2 = tus_patch(client, team.ha, location, half, data[half:])
    assert r2.status_code == 204 and r2.headers["Upload-Offset"] == str(len(data))

    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "received" and row.received_at is not None
    assert row.object_key == evidence_key(sha256(data))
    assert row.media["mime"] == "image/jpeg" and row.media["width"] == 1200
    store = store_of(app)
    with store.get(row.object_key) as reader:
        assert reader.read() == data  # the original, byte for byte
    from PIL import Image

    with store.get(row.display_key) as reader:
        display = reader.read()
    with store.get(row.thumbnail_key) as reader:
        thumb = Image.open(io.BytesIO(reader.read()))
    assert display != data and max(thumb.size) <= 320
    shown = Image.open(io.BytesIO(display))
    assert 0x8825 not in shown.getexif()  # no GPS in the derivative
    assert any("执法证号" in line for line in row.media["watermark"])
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == str(len(data))
    actions = [
        a
        for (a,) in session.execute(
            select(AuditEntry.action).where(AuditEntry.entity_id == ev["evidence_id"])
        )
    ]
    assert actions == ["evidence.declared", "evidence.received"]


def drop_mid_body(client, headers, location, offset, chunk, sent):
    """A PATCH whose connection drops: Content-Length says len(chunk) but only `sent` bytes arrive."""
    builder = EnvironBuilder(
        path=location,
        method="PATCH",
        headers={
            **headers,
            **TUS,
            "Upload-Offset": str(offset),
            "Content-Type": "application/offset+octet-stream",
        },
        input_stream=io.BytesIO(chunk[:sent]),
        environ_overrides={"CONTENT_LENGTH": str(len(chunk))},
    )
    return client.open(builder)


class _ResettingStream(io.BytesIO):
    """A body that raises like a reset socket once its bytes run out."""

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        if not data and size != 0:
            raise ConnectionResetError("peer reset")
        return data

    def readinto(self, buffer) -> int:  # type: ignore[override]
        n = super().readinto(buffer)
        if not n:
            raise ConnectionResetError("peer reset")
        return n


def test_connection_dropped_mid_chunk_then_resumed(client, session, team, app):
    data = pdf_bytes(300_000)
    ev = declare(
        client, team.ha, team.form, data, kind="document", mime="application/pdf", filename="记录.pdf"
    )
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    chunk = data[:200_000]
    resp = drop_mid_body(client, team.ha, location, 0, chunk, sent=120_000)
    assert resp.status_code >= 400
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == "0"  # the torn chunk did not count

    builder = EnvironBuilder(
        path=location,
        method="PATCH",
        headers={**team.ha, **TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
        input_stream=_ResettingStream(chunk[:50_000]),
        environ_overrides={"CONTENT_LENGTH": str(len(chunk))},
    )
    assert client.open(builder).status_code >= 400
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == "0"

    offset = 0
    for piece in (data[:150_000], data[150_000:]):
        r = tus_patch(client, team.ha, location, offset, piece, checksum="sha256")
        assert r.status_code == 204, r.get_json()
        offset = int(r.headers["Upload-Offset"])
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "received" and row.media["mime"] == "application/pdf"
    with store_of(app).get(row.object_key) as reader:
        assert hashlib.sha256(reader.read()).hexdigest() == ev["sha256"]


def test_whole_blocks_received_before_a_drop_are_kept(client, session, team, monkeypatch):
    monkeypatch.setattr(upload_service, "MAX_BLOCK", 64 * 1024)
    data = pdf_bytes(400_000)
    ev = declare(client, team.ha, team.form, data, kind="document", mime="application/pdf")
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    resp = drop_mid_body(client, team.ha, location, 0, data[:300_000], sent=200_000)  # 3 whole 64 KiB blocks
    assert resp.status_code >= 400
    offset = int(tus_head(client, team.ha, location).headers["Upload-Offset"])
    assert offset == 3 * 64 * 1024
    r = tus_patch(client, team.ha, location, offset, data[offset:])
    assert r.status_code == 204
    assert evidence_row(session, ev["evidence_id"]).status == "received"


def test_whole_file_in_one_request_dropped_then_resent(client, session, team, app):
    """A client without chunking sends everything in one PATCH (streamed straight to the content address)."""
    data = jpeg_bytes(900, 700, seed=8)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    assert drop_mid_body(client, team.ha, location, 0, data, sent=len(data) // 2).status_code >= 400
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == "0"
    assert not store_of(app).exists(evidence_key(ev["sha256"]))
    assert tus_patch(client, team.ha, location, 0, data).status_code == 204
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "received" and row.thumbnail_key and row.media["deduplicated"] is False


def test_upload_continues_on_a_new_api_process(
    client, session, team, app, database_url, storage_url, tmp_path
):
    """Restart between chunks: a brand-new app (new engine and store) on the same database and store."""
    data = jpeg_bytes(800, 600, seed=9)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    half = len(data) // 2
    assert tus_patch(client, team.ha, location, 0, data[:half], checksum="sha256").status_code == 204

    restarted = create_app(
        {
            "database_url": database_url,
            "storage_url": storage_url,
            "data_dir": tmp_path / "data2",
            "jwt_secret": JWT_SECRET,
            "auto_migrate": False,
            "env": "test",
        }
    )
    try:
        other = restarted.test_client()
        headers = factories.auth_headers(restarted, team.a)
        assert tus_head(other, headers, location).headers["Upload-Offset"] == str(half)
        r = tus_patch(other, headers, location, half, data[half:], checksum="sha256")
        assert r.status_code == 204, r.get_json()
    finally:
        restarted.extensions["shuangsui.engine"].dispose()
    assert evidence_row(session, ev["evidence_id"]).status == "received"


def expired_headers(app, user) -> dict[str, str]:
    settings = app.config["SETTINGS"]
    now = utcnow()
    token = jwt.encode(
        {
            "sub": str(user.id),
            "jti": uuid.uuid4().hex,
            "roles": user.roles,
            "typ": "access",
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": now - timedelta(minutes=20),
            "nbf": now - timedelta(minutes=20),
            "exp": now - timedelta(minutes=5),
        },
        JWT_SECRET,
        algorithm="HS256",
    )
    return {"Authorization": f"Bearer {token}"}


def test_expired_token_mid_upload_then_resume_with_a_fresh_one(client, session, team, app):
    data = jpeg_bytes(seed=11)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    half = len(data) // 2
    assert tus_patch(client, team.ha, location, 0, data[:half]).status_code == 204
    stale = expired_headers(app, team.a)
    body = assert_error(tus_patch(client, stale, location, half, data[half:]), 401)
    assert body["message"] == "登录已过期，请重新登录"
    assert tus_head(client, stale, location).status_code == 401
    fresh = factories.auth_headers(app, team.a)
    offset = int(tus_head(client, fresh, location).headers["Upload-Offset"])
    assert offset == half
    assert tus_patch(client, fresh, location, offset, data[offset:]).status_code == 204
    assert evidence_row(session, ev["evidence_id"]).status == "received"


def test_protocol_errors_use_the_one_error_shape(client, session, team):
    data = jpeg_bytes(seed=12)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    assert_error(tus_patch(client, team.ha, location, 10, data[10:20]), 409)  # offset mismatch
    body = assert_error(tus_patch(client, team.ha, location, 0, data + b"extra"), 413)
    assert body["message"]
    resp = client.patch(
        location,
        data=data[:10],
        headers={**team.ha, **TUS, "Upload-Offset": "0", "Content-Type": "application/octet-stream"},
    )
    assert_error(resp, 415)
    resp = client.patch(
        location,
        data=data[:10],
        headers={**team.ha, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert_error(resp, 412)
    assert resp.headers["Tus-Version"] == "1.0.0"
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == "0"


def test_chunk_checksum_mismatch_is_460_and_nothing_is_appended(client, session, team):
    data = jpeg_bytes(seed=13)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    wrong = "sha1 " + base64.b64encode(hashlib.sha1(b"other").digest()).decode()  # noqa: S324
    body = assert_error(tus_patch(client, team.ha, location, 0, data[:1000], checksum=wrong), 460)
    assert body["status"] == "Checksum Mismatch"
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == "0"
    right = "sha1 " + base64.b64encode(hashlib.sha1(data[:1000]).digest()).decode()  # noqa: S324
    assert tus_patch(client, team.ha, location, 0, data[:1000], checksum=right).status_code == 204
    assert_error(tus_patch(client, team.ha, location, 1000, data[1000:2000], checksum="md5 AAAA"), 400)


def test_file_that_does_not_match_the_declared_hash_is_460_and_discarded(client, session, team, app):
    data = jpeg_bytes(seed=14)
    tampered = data[:-10] + b"0123456789"
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    body = assert_error(tus_patch(client, team.ha, location, 0, tampered), 460)
    assert body["sha256_declared"] == ev["sha256"] and body["sha256_computed"] == sha256(tampered)
    assert tus_head(client, team.ha, location).status_code == 410  # the upload is gone
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "declared" and row.object_key is None
    assert not store_of(app).exists(evidence_key(sha256(tampered)))
    # the right bytes, in a new upload, are accepted
    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data)
    assert resp.status_code == 204 and evidence_row(session, ev["evidence_id"]).status == "received"


@pytest.mark.parametrize("chunk", [16 * 1024, 10**9], ids=["chunked", "one-request"])
def test_two_identical_files_are_two_records_and_one_stored_object(client, session, team, app, chunk):
    data = jpeg_bytes(seed=15)
    one = declare(client, team.ha, team.form, data)
    two = declare(client, team.hb, team.form, data, device="device-b", checkpoint_key="cp2")
    for headers, ev in ((team.ha, one), (team.hb, two)):
        _location, resp = upload_all(client, headers, ev["evidence_id"], data, chunk=chunk)
        assert resp.status_code == 204
    a, b = evidence_row(session, one["evidence_id"]), evidence_row(session, two["evidence_id"])
    assert a.status == b.status == "received" and a.object_key == b.object_key
    assert (
        b.media["deduplicated"] is True and a.thumbnail_key != b.thumbnail_key
    )  # each has its own watermark


def test_upload_of_an_already_received_evidence_is_complete_at_once(client, session, team):
    data = jpeg_bytes(seed=16)
    ev = declare(client, team.ha, team.form, data)
    upload_all(client, team.ha, ev["evidence_id"], data)
    again = tus_create(client, team.ha, ev["evidence_id"], len(data))
    assert again.status_code == 201 and again.headers["Upload-Offset"] == str(len(data))
    assert tus_head(client, team.ha, again.headers["Location"]).headers["Upload-Offset"] == str(len(data))
    assert session.execute(select(func.count()).select_from(Evidence)).scalar_one() == 1


def test_upload_may_start_before_the_record_but_not_finish(client, session, team):
    data = jpeg_bytes(seed=17)
    evidence_id = str(uuid.uuid4())
    location = tus_create(client, team.ha, evidence_id, len(data)).headers["Location"]
    half = len(data) // 2
    assert tus_patch(client, team.ha, location, 0, data[:half]).status_code == 204
    body = assert_error(tus_patch(client, team.ha, location, half, data[half:]), 409)
    assert body["evidence_id"] == evidence_id
    declare(client, team.ha, team.form, data, evidence_id=evidence_id)
    assert tus_patch(client, team.ha, location, half, data[half:]).status_code == 204
    assert evidence_row(session, evidence_id).status == "received"


def test_someone_elses_upload_is_404(client, session, team, app):
    data = jpeg_bytes(seed=18)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    assert tus_head(client, team.hb, location).status_code == 404
    assert_error(tus_patch(client, team.hb, location, 0, data), 404)
    outsider = factories.make_user(session, roles=["inspector"])
    headers = factories.auth_headers(app, outsider)
    assert_error(tus_create(client, headers, ev["evidence_id"], len(data)), 404)  # not their evidence
    assert_error(
        tus_create(
            client,
            token := factories.auth_headers(app, factories.make_user(session, roles=["supervisor"])),
            ev["evidence_id"],
            len(data),
        ),
        403,
    )
    assert token


def test_termination_and_expiration(client, session, team, app):
    data = jpeg_bytes(seed=19)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    tus_patch(client, team.ha, location, 0, data[:100])
    assert client.delete(location, headers={**team.ha, **TUS}).status_code == 204
    assert tus_head(client, team.ha, location).status_code == 410

    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    upload = session.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]))
    upload.expires_at = utcnow() - timedelta(seconds=1)
    session.add(upload)
    session.commit()
    assert tus_head(client, team.ha, location).status_code == 410
    assert_error(tus_patch(client, team.ha, location, 0, data), 410)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    upload = session.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]))
    upload.expires_at = utcnow() - timedelta(seconds=1)
    session.add(upload)
    session.commit()
    result = app.test_cli_runner().invoke(args=["uploads", "purge-expired"])
    assert result.exit_code == 0 and "已终止过期上传 1 个" in result.output
    assert session.get(Upload, upload.id, populate_existing=True).state == "expired"
    assert upload_service.purge_expired(session=session, store=store_of(app)) == 0


def test_concurrent_append_is_423(client, session, team):
    data = jpeg_bytes(seed=20)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    upload = session.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]))
    upload.lock_token = "another-request"
    upload.locked_until = utcnow() + timedelta(minutes=1)
    session.add(upload)
    session.commit()
    assert_error(tus_patch(client, team.ha, location, 0, data), 423)
    upload.locked_until = utcnow() - timedelta(seconds=1)  # a crashed request's lease runs out
    session.add(upload)
    session.commit()
    assert tus_patch(client, team.ha, location, 0, data).status_code == 204


def test_method_override_for_clients_without_patch(client, session, team):
    data = jpeg_bytes(seed=21)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    resp = client.post(
        location,
        data=data,
        headers={
            **team.ha,
            **TUS,
            "Upload-Offset": "0",
            "X-HTTP-Method-Override": "PATCH",
            "Content-Type": "application/offset+octet-stream",
        },
    )
    assert resp.status_code == 204 and evidence_row(session, ev["evidence_id"]).status == "received"


# -- the bad media corpus ------------------------------------------------------------------------


def truncated_jpeg() -> bytes:
    data = jpeg_bytes(1024, 768, seed=30)
    return data[: len(data) * 2 // 3]


def jpeg_zip_polyglot() -> bytes:
    return jpeg_bytes(seed=31) + zip_bytes()


BAD_MEDIA = {
    "bomb_png": (png_bomb, "photo", "too_many_pixels"),
    "truncated_jpeg": (truncated_jpeg, "photo", "truncated"),
    "jpeg_zip_polyglot": (jpeg_zip_polyglot, "photo", "polyglot"),
    "exe_named_jpg": (lambda: exe_bytes(64 * 1024), "photo", "executable"),
    "small_exe_named_jpg": (lambda: exe_bytes(1500), "photo", "executable"),
    "eps": (eps_bytes, "photo", "postscript"),
    "pdf_declared_as_photo": (lambda: pdf_bytes(5000), "photo", "kind_mismatch"),
}


@pytest.mark.parametrize("name", sorted(BAD_MEDIA))
def test_bad_media_is_refused_and_never_received(client, session, team, app, name):
    make, kind, reason = BAD_MEDIA[name]
    data = make()
    ev = declare(client, team.ha, team.form, data, kind=kind, filename=f"{name}.jpg")
    _location, resp = upload_all(client, team.ha, ev["evidence_id"], data, chunk=16 * 1024)
    body = assert_error(resp, 415)
    assert body["reason"] == reason and body["message"]
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "rejected" and row.rejected_reason == body["message"]
    assert row.thumbnail_key is None and row.display_key is None
    if reason in ("executable", "postscript", "kind_mismatch") and name != "pdf_declared_as_photo":
        # refused from the first bytes: nothing reached the store under its content address
        assert not store_of(app).exists(evidence_key(ev["sha256"]))
    # a rejected evidence cannot be uploaded again, and does not hold up the submission
    assert_error(tus_create(client, team.ha, ev["evidence_id"], len(data)), 409)


def test_exe_is_refused_after_its_first_bytes_not_its_last(client, session, team):
    data = exe_bytes(600 * 1024)
    ev = declare(client, team.ha, team.form, data, kind="photo")
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    resp = tus_patch(client, team.ha, location, 0, data[: 300 * 1024])
    assert_error(resp, 415)
    assert tus_head(client, team.ha, location).status_code == 410


def test_zero_byte_and_oversized_uploads_are_refused_at_creation(client, session, team, app):
    assert_error(tus_create(client, team.ha, str(uuid.uuid4()), 0), 422)
    video_limit = app.config["SETTINGS"].upload_limits_mb["video"] * 1024 * 1024
    body = assert_error(tus_create(client, team.ha, str(uuid.uuid4()), video_limit + 1), 413)
    assert body["message"]
    photo = declare(client, team.ha, team.form, b"\xff\xd8\xff" + b"0" * 10)
    body = assert_error(
        tus_create(client, team.ha, photo["evidence_id"], 999), 422
    )  # size differs from the record
    assert "Upload-Length" in body["errors"]
    resp = client.post(
        "/api/v1/uploads/",
        headers={
            **team.ha,
            **TUS,
            "Upload-Metadata": "filename " + base64.b64encode(b"a").decode(),
            "Upload-Length": "10",
        },
    )
    assert_error(resp, 422)


def test_video_over_the_kind_limit_is_413(client, session, app):
    app.config["SETTINGS"].upload_limits_mb = {**app.config["SETTINGS"].upload_limits_mb, "video": 1}
    team = make_team(app, session)
    big = evidence_payload_video(2 * 1024 * 1024)
    [r] = push(client, team.ha, [op("evidence", team.form, big)])
    assert r["code"] == 413
    small = evidence_payload_video(512 * 1024)
    push(client, team.ha, [op("evidence", team.form, small, base=1)])
    assert_error(tus_create(client, team.ha, str(uuid.uuid4()), 5000 * 1024 * 1024), 413)


def evidence_payload_video(size: int) -> dict:
    from tests.backend.api.fieldwork_support import evidence_payload

    return evidence_payload(
        b"v", kind="video", size=size, sha256="a" * 64, mime="video/mp4", filename="VID.mp4"
    )


def test_openapi_documents_the_tus_endpoints(client):
    spec = client.get("/api/openapi.json").get_json()
    item = spec["paths"]["/api/v1/uploads/{upload_id}"]
    assert {"head", "patch", "delete"} <= set(item)
    assert "application/offset+octet-stream" in item["patch"]["requestBody"]["content"]
    assert "460" in item["patch"]["responses"]
    assert {"options", "post"} <= set(spec["paths"]["/api/v1/uploads/"])


def tus_create_with_upload(client, headers, evidence_id, length, body, checksum=None):
    meta = f"evidence_id {base64.b64encode(evidence_id.encode()).decode()}"
    extra = {"Content-Type": "application/offset+octet-stream"}
    if checksum:
        extra["Upload-Checksum"] = checksum
    return client.post(
        "/api/v1/uploads/",
        data=body,
        headers={**headers, **TUS, "Upload-Length": str(length), "Upload-Metadata": meta, **extra},
    )


def test_creation_with_upload_stores_a_small_file_in_one_request(client, session, team, app):
    data = jpeg_bytes(seed=31)
    ev = declare(client, team.ha, team.form, data)
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data)
    assert resp.status_code == 201, resp.get_json()
    assert resp.headers["Upload-Offset"] == str(len(data)) and resp.headers["Location"]
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "received" and row.object_key == evidence_key(ev["sha256"])
    assert store_of(app).exists(row.object_key)


def test_creation_with_upload_of_a_first_chunk_then_patch(client, session, team):
    data = jpeg_bytes(800, 600, seed=32)
    ev = declare(client, team.ha, team.form, data)
    half = len(data) // 2
    right = "sha256 " + base64.b64encode(hashlib.sha256(data[:half]).digest()).decode()
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data[:half], checksum=right)
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == str(half)
    location = resp.headers["Location"]
    assert tus_head(client, team.ha, location).headers["Upload-Offset"] == str(half)
    assert tus_patch(client, team.ha, location, half, data[half:]).status_code == 204
    assert evidence_row(session, ev["evidence_id"]).status == "received"


def test_creation_with_upload_of_wrong_bytes_is_460_and_nothing_is_readable(client, session, team, app):
    data = jpeg_bytes(seed=33)
    tampered = data[:-10] + b"0123456789"
    ev = declare(client, team.ha, team.form, data)
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), tampered)
    assert_error(resp, 460)
    assert evidence_row(session, ev["evidence_id"]).status == "declared"
    assert not store_of(app).exists(evidence_key(ev["sha256"]))
    assert not store_of(app).exists(evidence_key(sha256(tampered)))


def test_creation_with_upload_before_the_record_keeps_the_bytes(client, session, team):
    """The evidence is not synced yet: 201 with offset 0 (the upload lives on) and the client resumes."""
    data = jpeg_bytes(seed=34)
    evidence_id = str(uuid.uuid4())
    resp = tus_create_with_upload(client, team.ha, evidence_id, len(data), data)
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == "0"
    ev = declare(client, team.ha, team.form, data, evidence_id=evidence_id)
    assert ev["evidence_id"] == evidence_id
    assert tus_patch(client, team.ha, resp.headers["Location"], 0, data).status_code == 204
    assert evidence_row(session, evidence_id).status == "received"


def test_creation_with_upload_holds_the_lease_only_while_it_appends(client, session, team):
    """The upload is created holding its append lease (one transaction fewer); when the data in the POST is
    not appended (here: a malformed Upload-Checksum), the lease is given back and the client continues."""
    data = jpeg_bytes(seed=36)
    ev = declare(client, team.ha, team.form, data)
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data, checksum="md5 AAAA")
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == "0"
    row = session.get(Upload, uuid.UUID(resp.headers["Location"].rsplit("/", 1)[1]), populate_existing=True)
    assert row.lock_token is None and row.locked_until is None
    assert tus_patch(client, team.ha, resp.headers["Location"], 0, data).status_code == 204
    assert evidence_row(session, ev["evidence_id"]).status == "received"
    done = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data)
    assert done.status_code == 201 and done.headers["Upload-Offset"] == str(len(data))
    finished = session.get(Upload, uuid.UUID(done.headers["Location"].rsplit("/", 1)[1]), populate_existing=True)
    assert finished.state == "completed" and finished.lock_token is None


def test_chunked_upload_completes_directly_on_the_content_address(client, session, team, app):
    data = jpeg_bytes(800, 600, seed=35)
    ev = declare(client, team.ha, team.form, data)
    location, resp = upload_all(client, team.ha, ev["evidence_id"], data, chunk=20_000)
    assert resp.status_code == 204
    upload = session.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]), populate_existing=True)
    if store_of(app).backend == "s3":
        assert upload.store_ref.startswith("s3d:")  # begun on evidence_key(declared): no staging, no copy
    row = evidence_row(session, ev["evidence_id"])
    assert row.status == "received" and row.media["deduplicated"] is False
    with store_of(app).get(row.object_key) as reader:
        assert reader.read() == data


def test_chunked_upload_with_wrong_bytes_aborts_and_leaves_nothing_readable(client, session, team, app):
    data = jpeg_bytes(800, 600, seed=36)
    tampered = data[:-10] + b"0123456789"
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    half = len(data) // 2
    assert tus_patch(client, team.ha, location, 0, tampered[:half]).status_code == 204
    assert_error(tus_patch(client, team.ha, location, half, tampered[half:]), 460)
    assert tus_head(client, team.ha, location).status_code == 410
    assert not store_of(app).exists(evidence_key(ev["sha256"]))
    assert evidence_row(session, ev["evidence_id"]).status == "declared"


# -- completion races (regressions from the chaos e2e) ---------------------------------------------------


def evidence_actions(session, evidence_id) -> list[str]:
    return [
        a
        for (a,) in session.execute(
            select(AuditEntry.action).where(AuditEntry.entity_id == evidence_id).order_by(AuditEntry.seq)
        )
    ]


def upload_row(session, location) -> Upload:
    return session.get(Upload, uuid.UUID(location.rsplit("/", 1)[1]), populate_existing=True)


def assert_head_completes(client, session, team, location, evidence_id, length):
    """A HEAD finishes an upload whose bytes all arrived: full offset, one receipt, the upload completed."""
    head = tus_head(client, team.ha, location)
    assert head.status_code == 200 and head.headers["Upload-Offset"] == str(length)
    assert evidence_row(session, evidence_id).status == "received"
    assert upload_row(session, location).state == "completed"
    assert evidence_actions(session, evidence_id) == ["evidence.declared", "evidence.received"]


def during_acceptance(monkeypatch, action):
    """Run `action()` once, inside the first acceptance, after the full offset is committed (the racing window)."""
    real = upload_service.probe_stored
    results = []
    fired = []

    def probe_then_race(*args, **kwargs):
        if not fired:
            fired.append(True)  # before action(): an acceptance inside it must not race again
            results.append(action())
        return real(*args, **kwargs)

    monkeypatch.setattr(upload_service, "probe_stored", probe_then_race)
    return results


@pytest.mark.parametrize("chunked", [False, True], ids=["whole_file", "chunked"])
def test_head_while_the_last_patch_is_completing_is_not_a_false_460(client, session, team, monkeypatch, chunked):
    data = jpeg_bytes(seed=40)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    start = len(data) // 2 if chunked else 0
    if chunked:
        assert tus_patch(client, team.ha, location, 0, data[:start]).status_code == 204

    def head():
        row = upload_row(session, location)
        assert (row.state, row.offset) == ("open", len(data))  # the window the HEAD used to fall into
        resp = tus_head(client, team.ha, location)
        return resp.status_code, resp.headers.get("Upload-Offset")

    heads = during_acceptance(monkeypatch, head)
    resp = tus_patch(client, team.ha, location, start, data[start:])
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == str(len(data))
    assert heads == [(200, str(len(data)))]
    assert evidence_row(session, ev["evidence_id"]).status == "received"
    assert upload_row(session, location).state == "completed"
    assert evidence_actions(session, ev["evidence_id"]) == ["evidence.declared", "evidence.received"]


def test_head_finishes_a_whole_file_upload_whose_completion_was_interrupted(client, session, team, monkeypatch):
    from storage.errors import StorageUnavailable

    data = jpeg_bytes(seed=41)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    real = upload_service.probe_stored

    def outage(*args, **kwargs):
        raise StorageUnavailable()

    monkeypatch.setattr(upload_service, "probe_stored", outage)
    assert_error(tus_patch(client, team.ha, location, 0, data), 503)
    row = upload_row(session, location)
    assert (row.state, row.offset, row.lock_token) == ("open", len(data), None)  # the lease was released
    monkeypatch.setattr(upload_service, "probe_stored", real)
    assert_head_completes(client, session, team, location, ev["evidence_id"], len(data))


@pytest.mark.parametrize("chunk", [None, 20_000], ids=["whole_file", "chunked"])
def test_second_upload_of_a_received_evidence_completes_without_a_second_receipt(client, session, team, app, chunk):
    data = jpeg_bytes(800, 600, seed=42)
    ev = declare(client, team.ha, team.form, data)
    first = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    second = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    assert tus_patch(client, team.ha, first, 0, data).status_code == 204
    received = evidence_row(session, ev["evidence_id"])
    received_at, thumbnail_key = received.received_at, received.thumbnail_key
    with store_of(app).get(thumbnail_key) as reader:
        thumbnail = reader.read()

    resp = tus_patch(client, team.ha, second, 0, data[:chunk] if chunk else data)
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == str(len(data))
    assert tus_head(client, team.ha, second).headers["Upload-Offset"] == str(len(data))
    assert upload_row(session, second).state == "completed"
    row = evidence_row(session, ev["evidence_id"])
    assert row.received_at == received_at and row.thumbnail_key == thumbnail_key
    with store_of(app).get(thumbnail_key) as reader:
        assert reader.read() == thumbnail
    assert evidence_actions(session, ev["evidence_id"]) == ["evidence.declared", "evidence.received"]


def test_two_uploads_of_one_evidence_finishing_together_give_one_receipt(client, session, team, monkeypatch):
    data = jpeg_bytes(seed=43)
    ev = declare(client, team.ha, team.form, data)
    first = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    second = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    # The second upload is accepted while the first is being probed: the first must not accept again.
    raced = during_acceptance(monkeypatch, lambda: tus_patch(client, team.ha, second, 0, data).status_code)
    resp = tus_patch(client, team.ha, first, 0, data)
    assert raced == [204] and resp.status_code == 204 and resp.headers["Upload-Offset"] == str(len(data))
    assert upload_row(session, first).state == upload_row(session, second).state == "completed"
    assert evidence_row(session, ev["evidence_id"]).status == "received"
    assert evidence_actions(session, ev["evidence_id"]) == ["evidence.declared", "evidence.received"]


@pytest.mark.parametrize("first_chunk", [20_000, 1000], ids=["sniffable", "too_short_to_sniff"])
def test_chunked_upload_stores_the_sniffed_type_not_the_declared_one(client, session, team, app, first_chunk):
    data = jpeg_bytes(800, 600, seed=44)
    ev = declare(client, team.ha, team.form, data)
    location = tus_create(client, team.ha, ev["evidence_id"], len(data)).headers["Location"]
    row = upload_row(session, location)
    row.filetype = "text/html"  # what the client claims; the object must never be served as that
    session.add(row)
    session.commit()
    assert tus_patch(client, team.ha, location, 0, data[:first_chunk]).status_code == 204
    resp = tus_patch(client, team.ha, location, first_chunk, data[first_chunk:])
    assert resp.status_code == 204 and resp.headers["Upload-Offset"] == str(len(data))
    stored = store_of(app).stat(evidence_key(ev["sha256"]))
    expected = {"image/jpeg"} if first_chunk >= upload_service.SNIFF_BYTES else {"image/jpeg", "application/octet-stream"}
    assert stored.content_type in expected
    with store_of(app).get(evidence_key(ev["sha256"])) as reader:
        assert reader.read() == data


def test_one_request_upload_records_its_full_offset_with_the_acceptance(client, session, team):
    """Creation-with-upload writes the full offset with the acceptance: the upload row, the evidence, the form's
    version and its change number for pull all agree afterwards."""
    from backend.models import InspectionForm
    from backend.models.fieldwork import FormSyncState

    data = jpeg_bytes(seed=46)
    ev = declare(client, team.ha, team.form, data)
    form_before = session.get(InspectionForm, team.form.id, populate_existing=True).version
    seq_before = session.get(FormSyncState, team.form.id, populate_existing=True).change_seq
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data)
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == str(len(data))
    row = upload_row(session, resp.headers["Location"])
    assert (row.state, row.offset, row.lock_token, row.locked_until) == ("completed", len(data), None, None)
    assert row.media_type == "image/jpeg" and row.head == data[: upload_service.HEAD_BYTES]
    assert row.tail == data[-upload_service.TAIL_BYTES :] and row.completed_at is not None
    evidence = evidence_row(session, ev["evidence_id"])
    assert evidence.status == "received" and evidence.media["mime"] == "image/jpeg" and evidence.thumbnail_key
    assert session.get(InspectionForm, team.form.id, populate_existing=True).version == form_before + 1
    assert session.get(FormSyncState, team.form.id, populate_existing=True).change_seq > seq_before
    assert evidence_actions(session, ev["evidence_id"]) == ["evidence.declared", "evidence.received"]


def test_one_request_upload_whose_acceptance_fails_is_201_at_full_length_and_head_completes_it(
    client, session, team, monkeypatch
):
    from storage.errors import StorageUnavailable

    data = jpeg_bytes(seed=47)
    ev = declare(client, team.ha, team.form, data)
    real = upload_service.probe_stored

    def outage(*args, **kwargs):
        raise StorageUnavailable()

    monkeypatch.setattr(upload_service, "probe_stored", outage)
    resp = tus_create_with_upload(client, team.ha, ev["evidence_id"], len(data), data)
    assert resp.status_code == 201 and resp.headers["Upload-Offset"] == str(len(data))
    location = resp.headers["Location"]
    row = upload_row(session, location)
    assert (row.state, row.offset, row.lock_token) == ("open", len(data), None)  # recorded as the lease went
    assert row.media_type == "image/jpeg" and row.tail == data[-upload_service.TAIL_BYTES :]
    assert evidence_row(session, ev["evidence_id"]).status == "declared"
    monkeypatch.setattr(upload_service, "probe_stored", real)
    assert_head_completes(client, session, team, location, ev["evidence_id"], len(data))


def test_quota_counts_declared_evidence_and_open_uploads_without_a_record(client, session, team, app):
    from backend.services.sync import quota_used

    app.config["SETTINGS"].user_quota_mb = 1
    data = pdf_bytes(600_000)
    ev = declare(client, team.ha, team.form, data, kind="document", mime="application/pdf")
    assert quota_used(session, team.a.id) == len(data)
    assert quota_used(session, team.a.id, excluding=uuid.UUID(ev["evidence_id"])) == 0
    # Its own declared bytes are not counted twice when they are uploaded.
    assert tus_create(client, team.ha, ev["evidence_id"], len(data)).status_code == 201
    # An upload whose record has not arrived yet is counted as it is created: this one would exceed 1 MB.
    assert_error(tus_create(client, team.ha, str(uuid.uuid4()), 500_000), 413)
    orphan = str(uuid.uuid4())
    assert tus_create(client, team.ha, orphan, 300_000).status_code == 201
    assert quota_used(session, team.a.id) == len(data) + 300_000
    assert quota_used(session, team.a.id, excluding=uuid.UUID(orphan)) == len(data)
    assert quota_used(session, team.b.id) == 0


@pytest.mark.parametrize(("status", "after"), [("dispatched", "in_progress"), ("returned", "returned")])
def test_a_receipt_changes_the_form_as_touch_form_does(session, team, status, after):
    """The acceptance bumps the form in one statement (not sync.lock_form + touch_form): the same outcome."""
    from backend.models import InspectionForm

    form = session.get(InspectionForm, team.form.id)
    form.status = status
    session.add(form)
    session.commit()
    version = form.version
    upload_service._bump_form(session, team.form.id, utcnow())
    session.commit()
    assert (form.status, form.version) == (after, version + 1)  # the loaded copy is not left stale
    form = session.get(InspectionForm, team.form.id, populate_existing=True)
    assert (form.status, form.version) == (after, version + 1)
