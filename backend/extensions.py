"""Extension objects built once and bound to the app in create_app."""

from __future__ import annotations

from typing import Any

from flask import request
from flask_limiter import Limiter
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

# Chinese messages for the statuses a client can meet; the English reason phrase stays in `status`.
STATUS_MESSAGES = {
    400: "请求格式有误",
    401: "需要登录",
    403: "无权执行此操作",
    404: "资源不存在",
    405: "不支持该请求方法",
    409: "数据冲突",
    410: "资源已失效",
    413: "文件或请求过大",
    415: "不支持的内容类型",
    422: "提交的数据未通过校验",
    429: "请求过于频繁，请稍后再试",
    460: "校验和不符",
    500: "服务器内部错误",
}


def error_payload(code: int, status: str, message: str | None, errors: Any = None, **extra: Any) -> dict:
    payload: dict[str, Any] = {
        "code": code,
        "status": status,
        "message": message or STATUS_MESSAGES.get(code, status),
        "errors": errors or {},
    }
    payload.update(extra)
    return payload


class ShuangsuiApi(Api):
    """flask-smorest Api whose HTTP errors all use the one error shape with a Chinese message."""

    def handle_http_exception(self, error: HTTPException):  # type: ignore[override]
        payload, code, headers = super().handle_http_exception(error)
        body = error_payload(code, payload["status"], payload.get("message"), payload.get("errors"))
        if not request.path.startswith("/api"):
            from .portal.views import render_error  # the portal answers people, not clients

            return render_error(code, body["message"]), code, headers
        return body, code, headers


def _client_key() -> str:
    return request.remote_addr or "unknown"


limiter = Limiter(key_func=_client_key, default_limits=[], headers_enabled=True)
