"""The `shuangsui` command line: serve, demo data, imports, audit and database tools."""

from __future__ import annotations

import sys
from typing import Any

import click
from flask import Flask, current_app
from flask.cli import FlaskGroup, with_appcontext

from .db import session_scope


def _engine():  # type: ignore[no-untyped-def]
    return current_app.extensions["shuangsui.engine"]


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--workers", default=1, show_default=True, type=int, help="gunicorn worker processes")
@click.option("--threads", default=8, show_default=True, type=int)
@with_appcontext
def serve_command(host: str, port: int, workers: int, threads: int) -> None:
    """Run the API, the PWA and the public portal under gunicorn."""
    from gunicorn.app.base import BaseApplication

    from . import create_app

    settings = current_app.config["SETTINGS"]

    class _App(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            self.cfg.set("bind", f"{host}:{port}")
            self.cfg.set("workers", workers)
            self.cfg.set("threads", threads)
            self.cfg.set("worker_class", "gthread")
            self.cfg.set("timeout", 300)
            self.cfg.set("accesslog", "-")

        def load(self) -> Flask:
            return create_app(settings)

    _App().run()


@click.group("audit")
def audit_group() -> None:
    """Audit log tools."""


@audit_group.command("verify")
@with_appcontext
def audit_verify() -> None:
    """Walk the hash chain and name the first tampered row."""
    from .services.audit import verify_chain

    with session_scope(_engine()) as session:
        report = verify_chain(session=session)
    if report.ok:
        click.echo(f"审计链完整：共校验 {report.checked} 条记录。")
        return
    click.echo(
        f"审计链被破坏：第 {report.first_bad_seq} 条记录 —— {report.reason}（此前 {report.checked} 条完好）",
        err=True,
    )
    sys.exit(1)


@click.group("db")
def db_group() -> None:
    """Database schema tools."""


@db_group.command("upgrade")
@with_appcontext
def db_upgrade() -> None:
    """Apply all migrations (the app also does this at start)."""
    from .migrations import upgrade

    upgrade(_engine())
    click.echo("数据库结构已是最新。")


@db_group.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message: str) -> None:
    """Autogenerate a migration from the models (review and prune it before committing)."""
    from .migrations import revision

    revision(_engine(), message)


EXTRA_COMMANDS: list[Any] = []


def register_cli(app: Flask) -> None:
    for command in (serve_command, audit_group, db_group, *EXTRA_COMMANDS):
        app.cli.add_command(command)
    for loader in _command_loaders():
        loader(app)


def _command_loaders():  # type: ignore[no-untyped-def]
    """Domain modules that contribute commands (import lazily to keep start-up cheap)."""
    import importlib

    for name in (
        "backend.commands.demo",
        "backend.commands.importing",
        "backend.commands.draw",
        "backend.commands.results",
    ):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        yield module.register


def _create_app(*_args: Any) -> Flask:
    from . import create_app

    return create_app()


def main() -> None:
    cli = FlaskGroup(create_app=_create_app, add_default_commands=False, add_version_option=False)
    cli.help = "shuangsui：双随机、一公开 监管平台命令行"
    cli.main(prog_name="shuangsui")
