"""Start the real API (gunicorn, as `shuangsui serve`) with the built PWA; for the e2e fixtures and bench/."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PWA = ROOT / "pwa"
DIST = PWA / "dist"
# What the build reads: anything newer than dist/index.html means a stale dist (as in scripts/bootstrap).
BUILD_INPUTS = ("src", "public", "index.html", "vite.config.js", "package-lock.json")


class PwaUnavailable(RuntimeError):
    """The built app is missing or stale and could not be built here."""


def stale_inputs() -> list[Path]:
    """Build inputs newer than dist/index.html (all of them when there is no build)."""
    index = DIST / "index.html"
    built = index.stat().st_mtime if index.exists() else 0.0
    newer: list[Path] = []
    for name in BUILD_INPUTS:
        path = PWA / name
        if path.is_file():
            files = [path]
        else:
            files = [p for p in path.rglob("*") if p.is_file()] if path.exists() else []
        newer.extend(p for p in files if p.stat().st_mtime > built)
    return newer


def ensure_pwa_built(*, timeout: float = 600) -> Path:
    """Return pwa/dist, running `npm run build` first when it is missing or older than its sources."""
    newer = stale_inputs()
    if (DIST / "index.html").exists() and not newer:
        return DIST
    npm = shutil.which("npm")
    if npm is None or not (PWA / "node_modules").exists():
        raise PwaUnavailable(
            "pwa/dist 缺失或已过期，且无法构建（需要 npm 和 pwa/node_modules）："
            "请先运行 scripts/bootstrap 或 `cd pwa && npm install && npm run build`"
        )
    if (DIST / "index.html").exists():
        why = f"stale ({newer[0].relative_to(ROOT)} is newer)"
    else:
        why = "missing"
    print(f"\n==> pwa/dist is {why}: npm run build", file=sys.stderr)
    result = subprocess.run(  # noqa: S603
        [npm, "run", "build", "--silent"],
        cwd=PWA, capture_output=True, text=True, timeout=timeout, check=False,
    )
    if result.returncode != 0 or not (DIST / "index.html").exists():
        output = f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        raise PwaUnavailable(f"npm run build failed ({result.returncode}):\n{output}")
    return DIST


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A running API process; `url` is its origin (http://127.0.0.1:<port>)."""

    url: str
    process: subprocess.Popen[bytes]
    log_path: Path
    env: dict[str, str] = field(repr=False, default_factory=dict)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.process.poll() is None:
            # gunicorn: SIGTERM on the master is a graceful stop of master + workers (the group we started).
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)


def start_server(
    *,
    database_url: str,
    storage_url: str,
    data_dir: Path,
    log_path: Path,
    jwt_secret: str,
    port: int | None = None,
    threads: int = 16,
    timeout: float = 60,
) -> LiveServer:
    """`shuangsui serve` (gunicorn, one gthread worker) on 127.0.0.1; returns once /api/health answers."""
    port = port or free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "STORAGE_URL": storage_url,
        "SHUANGSUI_DATA": str(data_dir),
        "SHUANGSUI_ENV": "test",
        "JWT_SECRET": jwt_secret,
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{port}",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("FLASK_APP", None)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log = open(log_path, "wb")  # noqa: SIM115 - handed to the child, closed below
    try:
        process = subprocess.Popen(  # noqa: S603
            [sys.executable, "-m", "flask", "--app", "backend.wsgi", "serve",
             "--host", "127.0.0.1", "--port", str(port), "--workers", "1", "--threads", str(threads)],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    finally:
        log.close()
    server = LiveServer(url=f"http://127.0.0.1:{port}", process=process, log_path=log_path, env=env)
    deadline = time.monotonic() + timeout
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"API server exited with {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.url}/api/health", timeout=2) as resp:  # noqa: S310
                if resp.status == 200:
                    return server
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"no answer on /api/health within {timeout:.0f}s:\n{server.log_tail()}")
        time.sleep(0.2)
