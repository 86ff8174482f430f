"""Helpers for the sync, upload and evidence tests: a team on a form, push/tus calls, media files."""

from __future__ import annotations

import base64
import hashlib
import io
import struct
import uuid
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from tests import factories

TUS = {"Tus-Resumable": "1.0.0"}
NOW = "2026-03-02T10:15:00+08:00"


@dataclass
class Team:
    department: Any
    enterprise: Any
    form: Any
    a: Any  # inspector user (lead)
    b: Any  # second inspector user
    ha: dict[str, str]
    hb: dict[str, str]


def make_team(app: Any, session: Any, *, status: str = "dispatched", **form_kw: Any) -> Team:
    dept = factories.make_department(session)
    ent = factories.make_enterprise(session, lat=32.4355, lng=105.8434, name="广元市测试食品有限公司")
    a = factories.make_user(session, roles=["inspector"], department=dept, display_name="李检查")
    b = factories.make_user(session, roles=["inspector"], department=dept, display_name="王检查")
    form = factories.make_form(
        session, enterprise=ent, inspectors=[a, b], department=dept, status=status, **form_kw
    )
    return Team(dept, ent, form, a, b, factories.auth_headers(app, a), factories.auth_headers(app, b))


def op(
    op_type: str,
    form: Any,
    payload: dict[str, Any] | None = None,
    base: int = 1,
    op_id: str | None = None,
) -> dict[str, Any]:
    return {
        "op_id": op_id or str(uuid.uuid4()),
        "type": op_type,
        "form_id": str(getattr(form, "id", form)),
        "base_version": base,
        "payload": payload or {},
    }


def push(
    client: Any, headers: dict[str, str], ops: list[dict[str, Any]], device: str = "device-a"
) -> list[dict]:
    resp = client.post("/api/v1/sync/push", json={"device_id": device, "operations": ops}, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()["results"]


def pull(client: Any, headers: dict[str, str], cursor: str | None = None, limit: int = 100) -> dict:
    query = {"limit": limit}
    if cursor:
        query["cursor"] = cursor
    resp = client.get("/api/v1/sync/pull", query_string=query, headers=headers)
    assert resp.status_code == 200, resp.get_json()
    return resp.get_json()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def evidence_payload(data: bytes, *, kind: str = "photo", evidence_id: str | None = None, **kw: Any) -> dict:
    return {
        "evidence_id": evidence_id or str(uuid.uuid4()),
        "checkpoint_key": kw.pop("checkpoint_key", "cp1"),
        "kind": kind,
        "sha256": kw.pop("sha256", sha256(data)),
        "size": kw.pop("size", len(data)),
        "mime": kw.pop("mime", "image/jpeg"),
        "filename": kw.pop("filename", "IMG_0001.jpg"),
        "captured_at": kw.pop("captured_at", NOW),
        "lat": kw.pop("lat", 32.4360),
        "lng": kw.pop("lng", 105.8440),
        "accuracy_m": kw.pop("accuracy_m", 8.0),
        **kw,
    }


def declare(
    client: Any,
    headers: dict[str, str],
    form: Any,
    data: bytes,
    *,
    base: int | None = None,
    device: str = "device-a",
    **kw: Any,
) -> dict:
    payload = evidence_payload(data, **kw)
    version = base if base is not None else current_version(client, headers, form)
    [result] = push(client, headers, [op("evidence", form, payload, base=version)], device=device)
    assert result["status"] in ("applied", "duplicate"), result
    return payload


def current_version(client: Any, headers: dict[str, str], form: Any) -> int:
    for f in pull(client, headers)["forms"]:
        if f["id"] == str(form.id):
            return int(f["version"])
    raise AssertionError("form not in pull")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def tus_create(
    client: Any, headers: dict[str, str], evidence_id: str, length: int, filename: str = "IMG_0001.jpg"
):
    meta = f"evidence_id {b64(evidence_id)},filename {b64(filename)},filetype {b64('image/jpeg')}"
    return client.post(
        "/api/v1/uploads/", headers={**headers, **TUS, "Upload-Length": str(length), "Upload-Metadata": meta}
    )


def tus_patch(
    client: Any,
    headers: dict[str, str],
    location: str,
    offset: int,
    chunk: bytes,
    *,
    checksum: str | None = None,
    **extra_headers: str,
):
    hdrs = {**headers, **TUS, "Upload-Offset": str(offset), "Content-Type": "application/offset+octet-stream"}
    if checksum == "sha256":
        hdrs["Upload-Checksum"] = "sha256 " + base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    elif checksum:
        hdrs["Upload-Checksum"] = checksum
    hdrs.update(extra_headers)
    return client.patch(location, data=chunk, headers=hdrs)


def tus_head(client: Any, headers: dict[str, str], location: str):
    return client.head(location, headers={**headers, **TUS})


def upload_all(client: Any, headers: dict[str, str], evidence_id: str, data: bytes, chunk: int = 256 * 1024):
    created = tus_create(client, headers, evidence_id, len(data))
    assert created.status_code == 201, created.get_json()
    location = created.headers["Location"]
    offset = 0
    resp = None
    while offset < len(data):
        piece = data[offset : offset + chunk]
        resp = tus_patch(client, headers, location, offset, piece, checksum="sha256")
        if resp.status_code != 204:
            return location, resp
        offset = int(resp.headers["Upload-Offset"])
    return location, resp


# -- media files made in the test (no fixtures on disk) ------------------------------------------


def jpeg_bytes(width: int = 640, height: int = 480, *, seed: int = 0, exif_gps: bool = False) -> bytes:
    img = Image.new("RGB", (width, height), ((seed * 37) % 256, 120, 200))
    for x in range(0, width, 16):
        for y in range(0, height, 16):
            img.putpixel((x, y), ((x + seed) % 256, (y * 3) % 256, (x * y + seed) % 256))
    out = io.BytesIO()
    kwargs: dict[str, Any] = {"quality": 90}
    if exif_gps:
        exif = Image.Exif()
        exif[0x010F] = "TestCam"
        gps = exif.get_ifd(0x8825)
        gps[1] = "N"
        gps[2] = (32.0, 26.0, 7.8)
        gps[3] = "E"
        gps[4] = (105.0, 50.0, 36.2)
        kwargs["exif"] = exif
    img.save(out, "JPEG", **kwargs)
    return out.getvalue()


def png_bomb(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny PNG that claims 10 gigapixels (a decompression bomb)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def zip_bytes() -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        zf.writestr("payload.js", "alert('x')")
    return out.getvalue()


def exe_bytes(size: int = 8192) -> bytes:
    head = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 44 + b"PE\x00\x00"
    return (head + bytes(range(256)) * (size // 256 + 1))[:size]


def eps_bytes() -> bytes:
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 100 100\n"
        b"newpath 0 0 moveto 100 100 lineto stroke\nshowpage\n%%EOF\n"
    ) * 40


def pdf_bytes(body_size: int = 20_000) -> bytes:
    return b"%PDF-1.4\n" + b"% " + b"x" * body_size + b"\n%%EOF\n"


def utc_now() -> datetime:
    return datetime.now(UTC)
