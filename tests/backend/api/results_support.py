"""Helpers for the review, results and publication tests: a form filled in and submitted through sync."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

from PIL import Image, ImageDraw

from tests.backend.api.fieldwork_support import (
    NOW,
    Team,
    current_version,
    declare,
    jpeg_bytes,
    make_team,
    op,
    pull,
    push,
    upload_all,
)


def signature_png(text: str = "sig") -> bytes:
    img = Image.new("RGBA", (240, 80), (255, 255, 255, 0))
    draw = ImageDraw.Draw(img)
    draw.line([(10, 60), (60, 20), (120, 55), (200, 15)], fill=(0, 0, 0, 255), width=4)
    draw.text((10, 5), text, fill=(0, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@dataclass
class Submitted:
    team: Team
    photo: dict[str, Any] | None
    rep_name: str


def fill_and_submit(
    app: Any,
    session: Any,
    client: Any,
    *,
    team: Team | None = None,
    photo: bool = True,
    rep_name: str = "赵企代",
    category: str = "未发现问题",
    details: str = "经现场检查，未发现问题",
    cp1: str = "pass",
    note: str | None = None,
) -> Submitted:
    """Check-in, three answers, a photo (uploaded, so it has a thumbnail), both signatures, a proposed result,
    two confirmations and the submit — all as the field app would send them."""
    team = team or make_team(app, session)
    v = current_version(client, team.ha, team.form)
    ops = [
        op("checkin", team.form, {"at": NOW, "lat": 32.4357, "lng": 105.8436, "accuracy_m": 6}, base=v),
        op("answer", team.form, {"checkpoint_key": "cp1", "value": cp1, "answered_at": NOW}, base=v),
        op("answer", team.form, {"checkpoint_key": "cp2", "value": 12, "answered_at": NOW}, base=v),
        op("answer", team.form, {"checkpoint_key": "cp3", "value": "与登记一致", "answered_at": NOW}, base=v),
        op(
            "signature",
            team.form,
            {
                "signer": "inspector",
                "name": team.a.display_name,
                "signed_at": NOW,
                "image_png_base64": base64.b64encode(signature_png("A")).decode(),
            },
            base=v,
        ),
        op(
            "signature",
            team.form,
            {
                "signer": "enterprise_rep",
                "name": rep_name,
                "signed_at": NOW,
                "image_png_base64": base64.b64encode(signature_png("R")).decode(),
            },
            base=v,
        ),
        op("propose_result", team.form, {"category": category, "details": details}, base=v),
    ]
    if note:
        ops.append(op("note", team.form, {"text": note}, base=v))
    results = push(client, team.ha, ops)
    assert all(r["status"] == "applied" for r in results), results
    ev = None
    if photo:
        data = jpeg_bytes(800, 600, seed=7)
        ev = declare(client, team.ha, team.form, data, checkpoint_key="cp1")
        _loc, resp = upload_all(client, team.ha, ev["evidence_id"], data)
        assert resp.status_code == 204
    confirm_and_submit(client, team)
    return Submitted(team, ev, rep_name)


def confirm_and_submit(client: Any, team: Team) -> None:
    v = current_version(client, team.ha, team.form)
    [a] = push(client, team.ha, [op("confirm", team.form, base=v)])
    assert a["status"] == "applied", a
    [b] = push(client, team.hb, [op("confirm", team.form, base=v + 1)], device="device-b")
    assert b["status"] == "applied", b
    [s] = push(client, team.ha, [op("submit", team.form, base=v + 2)])
    assert s["status"] == "applied", s


def form_on_device(client: Any, team: Team) -> dict[str, Any] | None:
    for f in pull(client, team.ha)["forms"]:
        if f["id"] == str(team.form.id):
            return f
    return None
