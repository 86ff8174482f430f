"""Public portal pages."""

from __future__ import annotations

from flask import Blueprint, render_template

bp = Blueprint("portal", __name__, template_folder="templates")


@bp.get("/")
def home():  # type: ignore[no-untyped-def]
    return render_template("portal/home.html")


def render_error(code: int, message: str) -> str:
    return render_template("portal/error.html", code=code, message=message)
