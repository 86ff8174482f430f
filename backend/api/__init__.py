"""HTTP API: one flask-smorest blueprint per domain, registered from MODULES."""

from __future__ import annotations

import importlib

from flask_smorest import Api

MODULES: tuple[str, ...] = (
    "health",
    "auth",
    "departments",
    "enterprises",
    "inspectors",
    "conflicts",
    "items",
    "users",
    "calendar",
    "bulk",
    "sync",
    "uploads",
    "evidence",
    "plans",
    "tasks",
    "draws",
    "review",
    "results",
    "credit",
    "statistics",
)


def register_modules(api: Api) -> None:
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}.resources")
        api.register_blueprint(module.blp)
