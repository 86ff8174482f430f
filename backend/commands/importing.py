"""`shuangsui import …` and `shuangsui export …`: bulk files at the command line, with a progress bar."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import select

from ..db import session_scope
from ..errors import DomainError
from ..models.accounts import User
from ..services import exports, imports

ERRORS_SHOWN = 50


@click.group("import")
def import_group() -> None:
    """批量导入检查对象、执法人员或抽查事项（CSV / XLSX）。"""


@click.group("export")
def export_group() -> None:
    """导出检查对象、执法人员或抽查事项（CSV / XLSX），可再次导入。"""


def _actor(session, username: str | None) -> User | None:  # type: ignore[no-untyped-def]
    if not username:
        return None
    user = session.execute(select(User).where(User.username == username)).scalar_one_or_none()
    if user is None or not user.active:
        raise click.ClickException(f"用户 {username} 不存在或已停用")
    return user


def _print_report(report: dict, *, err: bool = False) -> None:
    verb = "试运行" if report["dry_run"] else "导入"
    click.echo(
        f"{verb}：{report['rows']} 行  新增 {report['created']}  更新 {report['updated']}  "
        f"未变 {report['unchanged']}  有误 {report['invalid']} 行  用时 {report['seconds']} 秒",
        err=err,
    )
    errors = report["errors"]
    if errors:
        click.echo(f"错误（共 {report['errors_total']} 处，显示前 {min(len(errors), ERRORS_SHOWN)} 处）：", err=True)
        for e in errors[:ERRORS_SHOWN]:
            click.echo(f"  第 {e['row']} 行  [{e['column']}]  {e['message']}", err=True)


def _make_import(kind: str, label: str) -> click.Command:
    @click.command(kind, help=f"导入{label}。")
    @click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
    @click.option("--dry-run", is_flag=True, help="完整校验并统计，但不写入数据库")
    @click.option("--valid-only", is_flag=True, help="只导入正确的行（默认有任何错误则全部不导入）")
    @click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), help="默认按扩展名判断")
    @click.option("--as", "username", help="以该用户的身份和权限导入（默认：系统）")
    @click.option(
        "--report", "report_path", type=click.Path(dir_okay=False, path_type=Path), help="把完整报告写成 JSON"
    )
    @click.option("--quiet", is_flag=True, help="不显示进度条")
    @with_appcontext
    def command(
        file: Path,
        dry_run: bool,
        valid_only: bool,
        fmt: str | None,
        username: str | None,
        report_path: Path | None,
        quiet: bool,
    ) -> None:
        from tqdm import tqdm

        size = os.path.getsize(file)
        bar = tqdm(total=size, unit="B", unit_scale=True, desc=f"导入 {file.name}", disable=quiet, file=sys.stderr)

        def progress(rows: int, consumed: int) -> None:
            bar.update(max(0, consumed - bar.n))
            bar.set_postfix(行=rows, refresh=False)

        engine = current_app.extensions["shuangsui.engine"]
        try:
            with session_scope(engine) as session:
                report = imports.import_file(
                    session=session,
                    actor=_actor(session, username),
                    kind=kind,
                    source=file,
                    filename=file.name,
                    fmt=fmt,
                    dry_run=dry_run,
                    valid_only=valid_only,
                    progress=progress,
                )
            body = report.as_dict()
            failed = False
        except DomainError as exc:
            body = exc.extra.get("report") or {}
            failed = True
            if not body:
                bar.close()
                raise click.ClickException(f"{exc.message} {json.dumps(exc.errors, ensure_ascii=False)}") from exc
            click.echo(exc.message, err=True)
        finally:
            bar.close()
        _print_report(body, err=failed)
        if report_path:
            report_path.write_text(json.dumps(body, ensure_ascii=False, indent=2), encoding="utf-8")
        if failed:
            sys.exit(1)

    return command


def _make_export(kind: str, label: str) -> click.Command:
    @click.command(kind, help=f"导出{label}。")
    @click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
    @click.option("--format", "fmt", type=click.Choice(["csv", "xlsx"]), help="默认按扩展名判断（.xlsx 或 csv）")
    @click.option("--quiet", is_flag=True)
    @with_appcontext
    def command(file: Path, fmt: str | None, quiet: bool) -> None:
        from tqdm import tqdm

        fmt = fmt or ("xlsx" if file.suffix.lower() == ".xlsx" else "csv")
        engine = current_app.extensions["shuangsui.engine"]
        with tqdm(unit="行", desc=f"导出 {file.name}", disable=quiet, file=sys.stderr) as bar:
            with session_scope(engine) as session, open(file, "wb") as target:
                rows = exports.export_file(
                    session=session, actor=None, kind=kind, fmt=fmt, target=target, progress=bar.update
                )
        click.echo(f"已导出 {rows} 行到 {file}")

    return command


LABELS = {"enterprises": "检查对象名录", "inspectors": "执法检查人员名录", "items": "抽查事项清单"}
for _kind, _label in LABELS.items():
    import_group.add_command(_make_import(_kind, _label))
    export_group.add_command(_make_export(_kind, _label))


def register(app: Flask) -> None:
    app.cli.add_command(import_group)
    app.cli.add_command(export_group)
