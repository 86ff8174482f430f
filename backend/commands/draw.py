"""`shuangsui draw ...`: large draws as jobs with progress, exports for the public, and the verifier."""

from __future__ import annotations

import sys
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..db import session_scope
from ..draw import verify_draw as algorithm
from ..errors import DomainError
from ..models.accounts import User


def register(app: Flask) -> None:
    app.cli.add_command(draw_group)


@click.group("draw")
def draw_group() -> None:
    """摇号：公告、抽取、派发与独立验证（大规模摇号请用这里的命令，不走 HTTP 请求）。"""


class _Progress:
    """Stage lines with elapsed seconds; counts when a stage reports them."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.stage = ""

    def __call__(self, stage: str, done: int | None = None, total: int | None = None) -> None:
        elapsed = time.perf_counter() - self.start
        count = f" {done}/{total}" if done is not None and total else ""
        if stage != self.stage or count:
            click.echo(f"[{elapsed:7.2f}s] {stage}{count}", err=True)
        self.stage = stage


def _actor(session: Any, username: str) -> User:
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise click.ClickException(f"用户 {username} 不存在或已停用")
    return user


def _fail(exc: DomainError) -> None:
    detail = f"：{exc.errors}" if exc.errors else ""
    raise click.ClickException(f"{exc.message}{detail}")


def _day(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def _engine() -> Any:
    return current_app.extensions["shuangsui.engine"]


@draw_group.command("verify")
@click.argument("record", type=click.Path(exists=True, dir_okay=False))
@click.argument("population", type=click.Path(exists=True, dir_okay=False))
@click.argument("inspectors", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--notice", type=click.Path(exists=True, dir_okay=False), help="事先发布的公告 notice.json")
def verify(record: str, population: str, inspectors: str | None, notice: str | None) -> None:
    """Verify RECORD against POPULATION exactly as `python verify_draw.py` does (no database needed)."""
    argv = [
        record,
        population,
        *([inspectors] if inspectors else []),
        *(["--notice", notice] if notice else []),
    ]
    sys.exit(algorithm.main(argv))


@draw_group.command("notice")
@click.argument("task_id", type=click.UUID)
@click.option("--actor", required=True, help="发布公告的部门管理员用户名（牵头部门）")
@click.option(
    "--witness-source",
    "witness_sources",
    multiple=True,
    metavar="NAME[:COUNT]",
    help="见证号码来源，可多次给出；默认一位见证人",
)
@click.option("--beacon", metavar="NAME[:DESCRIPTION]", help="公共信标来源（公告后产生的公开数值）")
@click.option("--today", help="业务日期 YYYY-MM-DD（默认今天）")
@with_appcontext
def notice(
    task_id: uuid.UUID, actor: str, witness_sources: tuple[str, ...], beacon: str | None, today: str | None
) -> None:
    """Publish the notice of TASK_ID (population, digest, parameters, commitment) for any population size."""
    from ..services import draws

    sources: list[dict[str, Any]] = []
    for spec in witness_sources:
        name, _, count = spec.partition(":")
        sources.append(
            {
                "name": name,
                "kind": "numbers",
                "description": "见证人现场报出的号码",
                **({"count": int(count)} if count else {}),
            }
        )
    if beacon:
        name, _, description = beacon.partition(":")
        sources.append({"name": name, "kind": "beacon", "description": description})
    progress = _Progress()
    with session_scope(_engine()) as session:
        try:
            published, draw = draws.publish_notice(
                session=session,
                actor=_actor(session, actor),
                settings=current_app.config["SETTINGS"],
                task_id=task_id,
                entropy_sources=sources or None,
                today=_day(today),
                progress=progress,
            )
        except DomainError as exc:
            _fail(exc)
        click.echo(f"公告已发布：draw {draw.id}")
        click.echo(f"  检查对象 {published.population_size} 户，拟抽取 {published.total} 户")
        click.echo(f"  名录摘要 {published.population_digest}")
        click.echo(f"  承诺值   {published.commitment}")


@draw_group.command("entropy")
@click.argument("task_id", type=click.UUID)
@click.option("--actor", required=True, help="录入人（监督员或牵头部门的部门管理员）")
@click.option("--source", required=True, help="公告声明的熵来源名称")
@click.option("--numbers", help="见证号码，逗号分隔")
@click.option("--value", help="公共信标取值")
@with_appcontext
def entropy(task_id: uuid.UUID, actor: str, source: str, numbers: str | None, value: str | None) -> None:
    """Enter one declared entropy source for TASK_ID after its notice."""
    from ..services import draws

    parsed = [int(n) for n in numbers.replace("，", ",").split(",") if n.strip()] if numbers else None
    with session_scope(_engine()) as session:
        try:
            draw = draws.enter_entropy(
                session=session,
                actor=_actor(session, actor),
                task_id=task_id,
                source=source,
                numbers=parsed,
                value=value,
            )
        except DomainError as exc:
            _fail(exc)
        missing = draws.missing_sources(session, draw)
        click.echo(
            f"已录入“{source}”。" + (f"尚缺：{'、'.join(missing)}" if missing else "熵已齐备，可以摇号。")
        )


@draw_group.command("run")
@click.argument("task_id", type=click.UUID)
@click.option("--actor", required=True, help="摇号人（牵头部门的部门管理员）")
@click.option("--dispatch/--no-dispatch", "then_dispatch", default=False, help="摇号后立即派发一企一表")
@click.option("--today", help="业务日期 YYYY-MM-DD（默认今天）")
@with_appcontext
def run(task_id: uuid.UUID, actor: str, then_dispatch: bool, today: str | None) -> None:
    """Perform the draw of TASK_ID (and optionally dispatch its forms) as a job with progress."""
    from ..services import draws

    progress = _Progress()
    settings = current_app.config["SETTINGS"]
    with session_scope(_engine()) as session:
        user = _actor(session, actor)
        try:
            draw = draws.perform_draw(
                session=session, actor=user, settings=settings, task_id=task_id, progress=progress
            )
        except DomainError as exc:
            _fail(exc)
        click.echo(f"摇号完成：抽中 {draw.selected_count} 户")
        click.echo(f"  种子     {draw.seed}")
        click.echo(f"  记录摘要 {draw.record_digest}")
        click.echo(f"  公开记录 /api/v1/public/draws/{draw.id}/record.json")
        if then_dispatch:
            try:
                result = draws.dispatch(
                    session=session, actor=user, task_id=task_id, today=_day(today), progress=progress
                )
            except DomainError as exc:
                _fail(exc)
            click.echo(
                f"已派发 {result.forms} 份检查表（{result.assignments} 人次），"
                f"{result.deadline_start.isoformat()} 前组织实施"
            )
            for warning in result.warnings:
                click.echo(f"  注意：{warning}", err=True)


@draw_group.command("dispatch")
@click.argument("task_id", type=click.UUID)
@click.option("--actor", required=True, help="派发人（牵头部门的部门管理员）")
@click.option("--today", help="业务日期 YYYY-MM-DD（默认今天）")
@with_appcontext
def dispatch_command(task_id: uuid.UUID, actor: str, today: str | None) -> None:
    """Dispatch the 一企一表 forms of a drawn TASK_ID (one transaction)."""
    from ..services import draws

    with session_scope(_engine()) as session:
        try:
            result = draws.dispatch(
                session=session,
                actor=_actor(session, actor),
                task_id=task_id,
                today=_day(today),
                progress=_Progress(),
            )
        except DomainError as exc:
            _fail(exc)
        click.echo(f"已派发 {result.forms} 份检查表（{result.assignments} 人次）")


@draw_group.command("export")
@click.argument("draw_id", type=click.UUID)
@click.argument("directory", type=click.Path(file_okay=False))
@with_appcontext
def export(draw_id: uuid.UUID, directory: str) -> None:
    """Write notice.json, population.csv, record.json (once drawn) and verify_draw.py into DIRECTORY."""
    from ..services import draws

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    with session_scope(_engine()) as session:
        try:
            draw = draws.public_draw(session=session, draw_id=draw_id)
            published = draws.notice_of(session, draw)
            (out / "notice.json").write_bytes(algorithm.canonical_json(published.notice))
            (out / "population.csv").write_bytes(draws.population_csv(session=session, draw=draw))
            if draw.record_digest:
                (out / "record.json").write_bytes(draws.record_bytes(session=session, draw=draw))
        except DomainError as exc:
            _fail(exc)
    (out / "verify_draw.py").write_bytes(draws.verifier_bytes())
    click.echo(f"已导出到 {out}：python verify_draw.py record.json population.csv --notice notice.json")
