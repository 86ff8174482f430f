"""`shuangsui results …`: 一企一表 record PDFs in bulk (a job, not a request) and the deadline report."""

from __future__ import annotations

import uuid
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..db import session_scope
from ..errors import DomainError
from ..models.accounts import User
from ..models.forms import InspectionForm
from ..services import publication, reports, result_scope


@click.group("results")
def results_group() -> None:
    """检查结果：批量生成一企一表检查记录 PDF、期限预警与逾期清单。"""


def _actor(session, username: str) -> User:  # type: ignore[no-untyped-def]
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise click.ClickException(f"用户 {username} 不存在或已停用")
    return user


@results_group.command("records")
@click.option("--actor", required=True, help="以该用户的权限生成（审核人、局领导、部门管理员或系统管理员）")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path))
@click.option("--task", "task_id", type=click.UUID, help="只生成该抽查任务的检查表")
@click.option("--status", default="approved,closed", show_default=True, help="检查表状态，逗号分隔")
@with_appcontext
def records(actor: str, out_dir: Path, task_id: uuid.UUID | None, status: str) -> None:
    """批量生成一企一表检查记录 PDF（每表一个文件）。"""
    from tqdm import tqdm

    settings = current_app.config["SETTINGS"]
    store = current_app.extensions["shuangsui.store"]
    out_dir.mkdir(parents=True, exist_ok=True)
    with session_scope(current_app.extensions["shuangsui.engine"]) as session:
        user = _actor(session, actor)
        stmt = select(InspectionForm.id).where(
            InspectionForm.status.in_([s.strip() for s in status.split(",") if s.strip()])  # type: ignore[attr-defined]
        )
        cond = result_scope.lead_department_filter(user, InspectionForm.lead_department_id)
        if cond is not None:
            stmt = stmt.where(cond)
        if task_id is not None:
            stmt = stmt.where(InspectionForm.task_id == task_id)
        form_ids = list(session.execute(stmt.order_by(InspectionForm.code)).scalars())
        written = failed = 0
        for form_id in tqdm(form_ids, desc="生成检查记录", unit="份", disable=not form_ids):
            try:
                data, filename = reports.form_record_pdf(
                    session=session,
                    actor=user,
                    store=store,
                    form_id=form_id,
                    public_base_url=settings.public_base_url,
                )
            except DomainError as exc:
                failed += 1
                click.echo(f"{form_id}: {exc.message}", err=True)
                continue
            (out_dir / filename).write_bytes(data)
            written += 1
    click.echo(f"已生成 {written} 份检查记录（{out_dir}）" + (f"，失败 {failed} 份" if failed else ""))
    if failed:
        raise SystemExit(1)


@results_group.command("deadlines")
@click.option("--actor", required=True)
@click.option("--within", default=5, show_default=True, type=int, help="提前多少个工作日预警")
@with_appcontext
def deadlines(actor: str, within: int) -> None:
    """列出 20 个工作日期限将到和已逾期的录入、公示事项。"""
    with session_scope(current_app.extensions["shuangsui.engine"]) as session:
        user = _actor(session, actor)
        try:
            late = publication.overdue(session=session, actor=user)
            soon = publication.warnings(session=session, actor=user, within=within)
        except DomainError as exc:
            raise click.ClickException(exc.message) from exc
    for title, rows in (("已逾期", late), (f"{within} 个工作日内到期", soon)):
        click.echo(f"{title}：{len(rows)} 项")
        for r in rows:
            click.echo(
                f"  {r['deadline']}  {r['kind_label']}  {r['form_code']}  {r['enterprise']['name']}"
                f"（{r['department']['name']}，剩余 {r['workdays_left']} 个工作日）"
            )


def register(app: Flask) -> None:
    app.cli.add_command(results_group)
