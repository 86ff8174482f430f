"""shuangsui: the 双随机、一公开 inspection platform (Flask app factory)."""

from __future__ import annotations

import gzip
import logging
from functools import lru_cache
from pathlib import Path
from typing import Any

from flask import Flask, Response, jsonify, request, send_from_directory
from werkzeug.exceptions import NotFound as HTTPNotFound

from .config import Settings
from .db import close_session, make_engine
from .errors import DomainError
from .extensions import ShuangsuiApi, error_payload, limiter

log = logging.getLogger(__name__)

PWA_DIST = Path(__file__).resolve().parent.parent / "pwa" / "dist"


def create_app(config: dict[str, Any] | Settings | None = None) -> Flask:
    if isinstance(config, Settings):
        settings = config
    else:
        settings = Settings.from_env()
        for key, value in (config or {}).items():
            setattr(settings, key, value)
    settings.resolve()

    app = Flask(__name__)
    app.config.update(
        SETTINGS=settings,
        JSON_AS_ASCII=False,
        MAX_CONTENT_LENGTH=None,
        API_TITLE="双随机、一公开 监管平台 API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        OPENAPI_SWAGGER_UI_PATH="docs",
        OPENAPI_SWAGGER_UI_URL="/api/docs/static/",
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_ENABLED=getattr(settings, "ratelimit_enabled", True),
        API_SPEC_OPTIONS={
            "info": {
                "description": "Field clients: see docs/sync-protocol.md. All errors: {code, status, message, errors}."
            },
            "components": {
                "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}
            },
        },
    )
    app.json.ensure_ascii = False  # type: ignore[attr-defined]

    engine = make_engine(settings.database_url)
    app.extensions["shuangsui.engine"] = engine
    if settings.auto_migrate:
        from .migrations import upgrade

        upgrade(engine)

    from storage import open_store

    app.extensions["shuangsui.store"] = open_store(
        settings.storage_url, retention_days=settings.evidence_retention_days
    )

    api = ShuangsuiApi(app)  # one per app: the OpenAPI spec belongs to the app
    app.extensions["shuangsui.api"] = api
    limiter.init_app(app)
    app.teardown_appcontext(close_session)

    from .api import register_modules

    register_modules(api)

    @app.errorhandler(DomainError)
    def _domain_error(exc: DomainError):  # type: ignore[no-untyped-def]
        code = exc.status_code
        status = {460: "Checksum Mismatch"}.get(code) or _status_name(code)
        return jsonify(error_payload(code, status, exc.message, exc.errors, **exc.extra)), code

    _register_static(app)
    from .portal import bp as portal_bp

    app.register_blueprint(portal_bp)
    from .cli import register_cli

    register_cli(app)
    return app


def _status_name(code: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Error"


#: Text the PWA is made of compresses 3–4×: on the field's slow links the first load is mostly these bytes.
_COMPRESSIBLE = (".js", ".css", ".html", ".svg", ".json", ".webmanifest", ".wasm")


@lru_cache(maxsize=256)
def _gzipped(path: str, mtime_ns: int, size: int) -> bytes:
    """A file's gzip encoding, made once per version of the file (the build's assets never change in place)."""
    return gzip.compress(Path(path).read_bytes(), compresslevel=9, mtime=0)


def _gzip_if_accepted(resp: Response, target: Path) -> Response:
    """The same response gzip-encoded when the client accepts it (a variant with its own ETag; 304s kept)."""
    if resp.status_code != 200 or target.suffix not in _COMPRESSIBLE:
        return resp
    resp.vary.add("Accept-Encoding")
    if not request.accept_encodings["gzip"]:
        return resp
    stat = target.stat()
    if stat.st_size < 1024:
        return resp  # not worth a round of inflate on a phone
    etag, _weak = resp.get_etag()
    data = _gzipped(str(target), stat.st_mtime_ns, stat.st_size)
    opened = resp.response
    if hasattr(opened, "close"):
        opened.close()  # the file send_from_directory opened for the identity body
    resp.direct_passthrough = False
    resp.set_data(data)
    resp.headers["Content-Encoding"] = "gzip"
    resp.set_etag(f"{etag}-gzip" if etag else f"gzip-{stat.st_mtime_ns}-{stat.st_size}")
    return resp.make_conditional(request)


def _register_static(app: Flask) -> None:
    """Serve the built PWA under /app/ and Swagger UI assets; sw.js is never cached by HTTP."""

    @app.get("/app/")
    @app.get("/app/<path:path>")
    def pwa(path: str = "index.html"):  # type: ignore[no-untyped-def]
        if not PWA_DIST.exists():
            raise HTTPNotFound("PWA 尚未构建：请先运行 npm run build（见 README）")
        target = PWA_DIST / path
        if not target.is_file():
            path = "index.html"  # client-side routes
        resp = send_from_directory(PWA_DIST, path)
        if path in ("sw.js", "index.html", "manifest.webmanifest") or path.startswith("workbox-"):
            resp.headers["Cache-Control"] = "no-cache"
        elif path.startswith("assets/"):
            resp.headers["Cache-Control"] = "public, max-age=31536000, immutable"
        return _gzip_if_accepted(resp, PWA_DIST / path)

    @app.get("/api/docs/static/<path:path>")
    def swagger_assets(path: str):  # type: ignore[no-untyped-def]
        from .apidocs import swagger_ui_dir

        return send_from_directory(swagger_ui_dir(), path)

    @app.after_request
    def _security_headers(resp):  # type: ignore[no-untyped-def]
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        if request.path.startswith("/api/v1"):
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
