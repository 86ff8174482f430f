"""Swagger UI assets shipped by a PyPI package, so /api/docs works with no CDN."""

from __future__ import annotations

import swagger_ui_bundle


def swagger_ui_dir() -> str:
    return str(swagger_ui_bundle.swagger_ui_path)
