"""Evidence bytes over tus 1.0 (creation, checksum, termination, expiration); bodies are streamed."""

from __future__ import annotations

import io
import uuid
from typing import Any

from flask import Response, current_app, request, url_for
from flask.views import MethodView
from flask_smorest import Blueprint
from werkzeug.exceptions import ClientDisconnected

from ...db import get_session
from ...errors import BadRequest, DomainError
from ...services import uploads as upload_service
from ..security import auth_required, current_user

blp = Blueprint(
    "uploads",
    __name__,
    url_prefix="/api/v1/uploads",
    description="证据文件上传（tus 1.0 可续传协议；见 docs/sync-protocol.md）",
)

TUS_HEADERS = {"Tus-Resumable": upload_service.TUS_VERSION}


class PreconditionFailed(DomainError):
    status_code = 412


class UnsupportedContentType(DomainError):
    status_code = 415


def _hdr(
    name: str, description: str, *, required: bool = False, schema: dict[str, Any] | None = None
) -> dict:
    return {
        "in": "header",
        "name": name,
        "required": required,
        "description": description,
        "schema": schema or {"type": "string"},
    }


def _resp(description: str, headers: dict[str, str] | None = None) -> dict:
    return {
        "description": description,
        "headers": {
            name: {"description": text, "schema": {"type": "string"}}
            for name, text in (headers or {}).items()
        },
    }


ERRORS_DOC = {
    "401": {"description": "未登录或令牌过期：刷新令牌后用 HEAD 查询偏移量续传"},
    "404": {"description": "上传任务不存在（或不属于当前用户）"},
    "409": {"description": "Upload-Offset 与服务器不一致，或证据记录尚未同步"},
    "410": {"description": "上传任务已终止或过期"},
    "412": {"description": "缺少 Tus-Resumable: 1.0.0"},
    "413": {"description": "超过该类证据的大小上限、个人配额或 Upload-Length"},
    "415": {"description": "Content-Type 不是 application/offset+octet-stream，或文件内容不是可接受的媒体"},
    "423": {"description": "另一个请求正在写入该上传"},
    "460": {"description": "分片校验和（Upload-Checksum）或整个文件的 SHA-256 与声明不符"},
}
TUS_RESUMABLE_HDR = _hdr("Tus-Resumable", "协议版本，必须为 1.0.0", required=True)


class _SocketBody:
    """gunicorn's request body (Content-Length framed), read from the socket straight into the caller's buffer.

    gunicorn hands the body over as bytes objects that pass through two BytesIO buffers (about four copies of
    every byte plus a fresh 1 MiB allocation per read); for evidence bodies that was most of the worker's CPU
    per megabyte. Bytes gunicorn already holds (read ahead with the headers) are taken through its own API
    first. The reader's remaining length is kept up to date, so gunicorn still drains or reuses the connection
    correctly afterwards. Only used when the input is exactly gunicorn's plain socket-backed body.
    """

    def __init__(self, body: Any, reader: Any) -> None:
        self._body = body
        self._reader = reader
        self._sock = reader.unreader.sock

    @classmethod
    def wrap(cls, wsgi_input: Any) -> _SocketBody | None:
        try:
            from gunicorn.http.body import Body, LengthReader
            from gunicorn.http.unreader import SocketUnreader
        except ImportError:  # pragma: no cover - gunicorn is a dependency; other servers just use the stream
            return None
        if type(wsgi_input) is not Body:
            return None
        reader = getattr(wsgi_input, "reader", None)
        if type(reader) is not LengthReader or type(getattr(reader, "unreader", None)) is not SocketUnreader:
            return None
        return cls(wsgi_input, reader)

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        # Held bytes are taken no faster than they are there, so that gunicorn never reads ahead again.
        held = _buffered(self._body.buf)
        data = self._body.read(min(len(view), held)) if held else b""
        if not data:
            held = min(_buffered(self._reader.unreader.buf), self._reader.length)
            data = self._reader.read(min(len(view), held)) if held else b""
        if data:
            view[: len(data)] = data
            return len(data)
        want = min(len(view), self._reader.length)
        if want <= 0:
            return 0
        try:
            got = self._sock.recv_into(view[:want])
        except OSError:
            self._body.failed = True  # where the next request starts is unknown: gunicorn closes
            raise
        if not got:
            self._body.failed = True
        self._reader.length -= got
        return got

    def read(self, size: int = -1) -> bytes:
        if size < 0:
            return b"".join(iter(lambda: self.read(1024 * 1024), b""))
        buffer = bytearray(size)
        got = self.readinto(buffer)
        return bytes(buffer[:got])


def _buffered(buffer: io.BytesIO) -> int:
    with buffer.getbuffer() as view:
        return view.nbytes


class _StreamGuard:
    """The request body as a plain stream: a dropped connection becomes ConnectionError for the service."""

    def __init__(self, stream: Any, wsgi_input: Any = None) -> None:
        self._stream = _SocketBody.wrap(wsgi_input) or stream

    def read(self, size: int = -1) -> bytes:
        try:
            return self._stream.read(size)
        except ClientDisconnected as exc:
            raise ConnectionError("client disconnected") from exc

    def readinto(self, buffer: Any) -> int:
        # Straight into the store's buffer: no intermediate bytes object per read.
        try:
            readinto = getattr(self._stream, "readinto", None)
            if readinto is None:
                data = self._stream.read(len(buffer))
                buffer[: len(data)] = data
                return len(data)
            return readinto(buffer) or 0
        except ClientDisconnected as exc:
            raise ConnectionError("client disconnected") from exc


def _require_tus() -> None:
    if request.headers.get("Tus-Resumable") != upload_service.TUS_VERSION:
        raise PreconditionFailed(
            "仅支持 tus 1.0.0：请求必须带 Tus-Resumable: 1.0.0", tus_version=upload_service.TUS_VERSION
        )


def _int_header(name: str) -> int | None:
    value = request.headers.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise BadRequest(f"{name} 必须是非负整数", errors={name: ["必须是非负整数"]})
    return int(value)


def _settings() -> Any:
    return current_app.config["SETTINGS"]


def _store() -> Any:
    return current_app.extensions["shuangsui.store"]


@blp.after_request
def _tus_headers(response: Response) -> Response:
    response.headers.setdefault("Tus-Resumable", upload_service.TUS_VERSION)
    if response.status_code == 412:
        response.headers.setdefault("Tus-Version", upload_service.TUS_VERSION)
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.route("/")
class UploadCollection(MethodView):
    @blp.doc(
        summary="Discover the server's tus capabilities",
        responses={
            "204": _resp(
                "tus 服务能力",
                {
                    "Tus-Version": "1.0.0",
                    "Tus-Extension": "creation,creation-with-upload,checksum,termination,expiration",
                    "Tus-Max-Size": "单个文件的最大字节数（各类证据上限中的最大值）",
                    "Tus-Checksum-Algorithm": "sha1,sha256",
                },
            )
        },
    )
    def options(self):
        """Discover the server's tus capabilities"""
        resp = Response(status=204)
        resp.headers["Tus-Version"] = upload_service.TUS_VERSION
        resp.headers["Tus-Extension"] = ",".join(upload_service.TUS_EXTENSIONS)
        resp.headers["Tus-Max-Size"] = str(upload_service.max_upload_size(_settings()))
        resp.headers["Tus-Checksum-Algorithm"] = ",".join(upload_service.CHECKSUM_ALGORITHMS)
        return resp

    @auth_required("inspector")
    @blp.doc(
        parameters=[
            TUS_RESUMABLE_HDR,
            _hdr(
                "Upload-Length",
                "文件总字节数（必须与登记的证据 size 一致）",
                required=True,
                schema={"type": "integer"},
            ),
            _hdr(
                "Upload-Metadata",
                "逗号分隔的 `键 base64值`：evidence_id（必填，证据 UUID）、filename、filetype",
                required=True,
            ),
        ],
        responses={
            "201": _resp(
                "已创建上传任务；随后对 Location 发 PATCH",
                {"Location": "上传地址 /api/v1/uploads/<id>", "Upload-Expires": "过期时间（RFC 7231）"},
            ),
            **ERRORS_DOC,
        },
    )
    def post(self):
        """Create an upload for one declared evidence file (tus creation)

        Send the evidence record with a push first (or before the last byte). An evidence that is already
        received gets an upload that is complete at once (offset = length).

        tus creation-with-upload: a body with `Content-Type: application/offset+octet-stream` (and optionally
        `Upload-Checksum`) is appended at offset 0 in the same request; a small file is done in one request.
        If that append fails in a way the upload survives (connection dropped, locked, store unavailable, the
        evidence record not synced yet), the answer is still 201 with the offset reached, and the client
        continues with HEAD/PATCH; a 460 or 415 (the upload is void) is answered as such.
        """
        _require_tus()
        metadata = upload_service.parse_metadata(request.headers.get("Upload-Metadata"))
        content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        with_data = content_type == "application/offset+octet-stream" and (request.content_length or 0) > 0
        session = get_session()
        upload = upload_service.create_upload(
            session=session,
            actor=current_user(),
            settings=_settings(),
            store=_store(),
            length=_int_header("Upload-Length"),
            metadata=metadata,
            lease=with_data,  # this request appends next: the upload is created holding the lease
        )
        if with_data and upload.state == "open":
            upload_id, token = upload.id, upload.lock_token
            assert token is not None
            try:
                upload = upload_service.append(
                    session=session,
                    actor=current_user(),
                    settings=_settings(),
                    store=_store(),
                    upload_id=upload_id,
                    offset=0,
                    content_length=request.content_length,
                    stream=_StreamGuard(request.stream, request.environ.get("wsgi.input")),  # type: ignore[arg-type]
                    checksum=upload_service.ChunkChecksum.parse(request.headers.get("Upload-Checksum")),
                    lease_token=token,
                )
            except DomainError as exc:
                session.rollback()
                upload_service.release_lease(session=session, upload_id=upload_id, token=token)
                current = session.get(type(upload), upload_id, populate_existing=True)
                if current is None or current.state != "open" or exc.status_code in (413, 415, 460):
                    raise
                upload = current
            except BaseException:
                session.rollback()
                upload_service.release_lease(session=session, upload_id=upload_id, token=token)
                raise
        resp = Response(status=201)
        resp.headers["Location"] = url_for("uploads.UploadItem", upload_id=upload.id)
        resp.headers["Upload-Expires"] = upload_service.expires_header(upload)
        resp.headers["Upload-Offset"] = str(upload.offset)
        return resp


@blp.route("/<uuid:upload_id>")
class UploadItem(MethodView):
    @auth_required("inspector")
    @blp.doc(
        parameters=[TUS_RESUMABLE_HDR],
        responses={
            "200": _resp(
                "当前进度",
                {
                    "Upload-Offset": "服务器已确认的字节数",
                    "Upload-Length": "文件总字节数",
                    "Upload-Expires": "过期时间",
                },
            ),
            **ERRORS_DOC,
        },
    )
    def head(self, upload_id: uuid.UUID):
        """How many bytes the server holds (resume from Upload-Offset)"""
        _require_tus()
        session = get_session()
        upload = upload_service.get_upload(
            session=session, actor=current_user(), upload_id=upload_id, store=_store()
        )
        upload = upload_service.finish_pending(
            session=session, actor=current_user(), settings=_settings(), store=_store(), upload=upload
        )
        resp = Response(status=200)
        resp.headers["Upload-Offset"] = str(upload.offset)
        resp.headers["Upload-Length"] = str(upload.length)
        resp.headers["Upload-Expires"] = upload_service.expires_header(upload)
        return resp

    @auth_required("inspector")
    @blp.doc(
        parameters=[
            TUS_RESUMABLE_HDR,
            _hdr(
                "Upload-Offset",
                "本分片在文件中的起始位置（必须等于服务器的偏移量）",
                required=True,
                schema={"type": "integer"},
            ),
            _hdr("Content-Type", "application/offset+octet-stream", required=True),
            _hdr("Upload-Checksum", "可选：本分片的校验和，`sha1 <base64>` 或 `sha256 <base64>`"),
        ],
        requestBody={
            "required": True,
            "content": {
                "application/offset+octet-stream": {"schema": {"type": "string", "format": "binary"}}
            },
        },
        responses={
            "204": _resp(
                "分片已写入；最后一个分片写入时服务器已校验整个文件的 SHA-256 并确认证据",
                {"Upload-Offset": "新的偏移量", "Upload-Expires": "过期时间"},
            ),
            **ERRORS_DOC,
        },
    )
    def patch(self, upload_id: uuid.UUID):
        """Append bytes at Upload-Offset (the body is streamed into the object store)"""
        return _append(upload_id)

    @auth_required("inspector")
    @blp.doc(
        parameters=[
            _hdr(
                "X-HTTP-Method-Override",
                "PATCH 或 DELETE（不支持这些方法的客户端用 POST 代替）",
                required=True,
            )
        ],
        responses={"204": _resp("同 PATCH / DELETE"), **ERRORS_DOC},
    )
    def post(self, upload_id: uuid.UUID):
        """PATCH or DELETE for clients that can only send POST (X-HTTP-Method-Override)"""
        override = request.headers.get("X-HTTP-Method-Override", "").upper()
        if override == "PATCH":
            return _append(upload_id)
        if override == "DELETE":
            return _terminate(upload_id)
        raise BadRequest("POST 只能用于 X-HTTP-Method-Override: PATCH 或 DELETE")

    @auth_required("inspector")
    @blp.doc(
        parameters=[TUS_RESUMABLE_HDR], responses={"204": _resp("已终止并丢弃已上传的数据"), **ERRORS_DOC}
    )
    def delete(self, upload_id: uuid.UUID):
        """Terminate an unfinished upload (tus termination)"""
        return _terminate(upload_id)


def _append(upload_id: uuid.UUID) -> Response:
    _require_tus()
    content_type = (request.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if content_type != "application/offset+octet-stream":
        raise UnsupportedContentType("PATCH 的 Content-Type 必须是 application/offset+octet-stream")
    checksum = upload_service.ChunkChecksum.parse(request.headers.get("Upload-Checksum"))
    upload = upload_service.append(
        session=get_session(),
        actor=current_user(),
        settings=_settings(),
        store=_store(),
        upload_id=upload_id,
        offset=_int_header("Upload-Offset"),
        content_length=request.content_length,
        stream=_StreamGuard(request.stream, request.environ.get("wsgi.input")),  # type: ignore[arg-type]
        checksum=checksum,
    )
    resp = Response(status=204)
    resp.headers["Upload-Offset"] = str(upload.offset)
    resp.headers["Upload-Expires"] = upload_service.expires_header(upload)
    return resp


def _terminate(upload_id: uuid.UUID) -> Response:
    _require_tus()
    upload_service.terminate(session=get_session(), actor=current_user(), store=_store(), upload_id=upload_id)
    return Response(status=204)


@blp.cli.command("purge-expired")
def purge_expired_command() -> None:
    """Abort tus uploads past their expiry and sweep the store's stale temporary data (run it hourly)."""
    import click

    from ...db import session_scope

    store = _store()
    with session_scope(current_app.extensions["shuangsui.engine"]) as session:
        expired = upload_service.purge_expired(session=session, store=store)
    swept = store.purge_temp(int(2 * upload_service.UPLOAD_TTL.total_seconds()))
    click.echo(f"已终止过期上传 {expired} 个，清理临时对象 {swept} 个")
