"""Benchmark: Lighthouse (mobile) on the built PWA served by the real API; installability; shell size.

Run from the repository root: ``python bench/lighthouse.py [--runs 3]``.

* The API runs as in the browser tests (``shuangsui serve`` under gunicorn, tests/e2e/live.py) on a fresh
  SQLite database and local store, serving ``pwa/dist`` (built first if missing or stale).
* Lighthouse ``LIGHTHOUSE`` (npm, through ``npx --yes``; 12.x because 13 needs Node 22) audits ``/app/`` with
  its default mobile form factor and simulated throttling, ``CHROME_PATH=/usr/bin/chromium``. Performance
  varies from run to run, so each category is the median of ``--runs`` runs.
* Installable: Lighthouse 12 dropped the PWA category and its ``installable-manifest`` audit, so the check is
  Chromium's own: ``Page.getInstallabilityErrors`` over the DevTools protocol (Playwright CDP session,
  persistent profile, after the service worker is active). Installable = no errors; the manifest is also
  fetched and checked for what the issue asks (zh-CN, standalone, theme colour, 192 + 512 icons, maskable).
* ``shell_kb_gz``: pwa/scripts/bundle-size.mjs (JS + CSS loaded before any route chunk, gzip -9).

Writes ``bench/results.json`` key ``lighthouse`` (read-modify-write) and prints the row for bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.e2e.live import PWA, ensure_pwa_built, start_server  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
README = ROOT / "bench" / "README.md"
LIGHTHOUSE = "lighthouse@12.8.2"
CHROME = os.environ.get("CHROME_PATH", "/usr/bin/chromium")
CHROME_FLAGS = "--headless=new --no-sandbox --disable-gpu --disable-background-networking"
TARGETS = {"performance": 90, "accessibility": 90, "best_practices": 95, "shell_kb_gz": 250}
CATEGORIES = {
    "performance": "performance",
    "accessibility": "accessibility",
    "best_practices": "best-practices",
}


def run_lighthouse(url: str, out: Path) -> dict[str, Any]:
    cmd = [
        "npx", "--yes", LIGHTHOUSE, url,
        "--output=json", f"--output-path={out}",
        f"--chrome-flags={CHROME_FLAGS}",
        "--only-categories=performance,accessibility,best-practices",
        "--quiet",
    ]  # fmt: skip
    env = {**os.environ, "CHROME_PATH": CHROME}
    result = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)  # noqa: S603
    if result.returncode != 0 or not out.exists():
        raise RuntimeError(f"lighthouse failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(out.read_text())


def failing_audits(report: dict[str, Any], category: str) -> list[str]:
    """Audits of a category that did not pass, weighted first (what to fix next)."""
    audits = report["audits"]
    rows = []
    for ref in report["categories"][category]["auditRefs"]:
        audit = audits[ref["id"]]
        score = audit.get("score")
        if score is not None and score < 1 and audit.get("scoreDisplayMode") != "informative":
            text = f"{ref['id']} ({score:.2f}) {audit.get('displayValue', '')}".strip()
            rows.append((ref.get("weight", 0), text))
    return [text for _, text in sorted(rows, key=lambda r: -r[0])]


def installability(url: str) -> dict[str, Any]:
    """Chromium's verdict (Page.getInstallabilityErrors) on the page once its service worker is active."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as profile, sync_playwright() as p:
        ctx = p.chromium.launch_persistent_context(
            profile, executable_path=CHROME, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"],
        )  # fmt: skip
        try:
            page = ctx.new_page()
            page.goto(url)
            page.wait_for_function("navigator.serviceWorker.ready.then(r => !!r.active)", timeout=30_000)
            page.reload()  # controlled by the worker now, as an installed app would be
            page.wait_for_load_state("networkidle")
            cdp = ctx.new_cdp_session(page)
            errors = cdp.send("Page.getInstallabilityErrors").get("installabilityErrors", [])
            manifest = cdp.send("Page.getAppManifest")
            parsed = json.loads(manifest.get("data") or "{}")
            controlled = page.evaluate("!!navigator.serviceWorker.controller")
        finally:
            ctx.close()
    icons = parsed.get("icons", [])
    checks = {
        "lang zh-CN": parsed.get("lang") == "zh-CN",
        "display standalone": parsed.get("display") == "standalone",
        "theme_color": bool(parsed.get("theme_color")),
        "icon 192": any("192x192" in i.get("sizes", "") for i in icons),
        "icon 512": any("512x512" in i.get("sizes", "") for i in icons),
        "maskable icon": any("maskable" in i.get("purpose", "") for i in icons),
        "service worker controls the page": controlled,
    }
    return {
        "installable": not errors and all(checks.values()),
        "errors": errors,
        "manifest_errors": manifest.get("errors", []),
        "checks": checks,
    }


def shell_kb_gz() -> float:
    out = subprocess.run(["node", "scripts/bundle-size.mjs"], cwd=PWA, capture_output=True, text=True,  # noqa: S607
                         timeout=60, check=False)
    match = re.search(r"= ([\d.]+) kB gzipped", out.stdout)
    if not match:
        raise RuntimeError(f"bundle-size.mjs gave no total:\n{out.stdout}\n{out.stderr}")
    return float(match.group(1))


def update_results(figures: dict[str, Any]) -> None:
    data = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    data["lighthouse"] = figures
    RESULTS.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="Lighthouse runs; each category is the median")
    parser.add_argument("--no-write", action="store_true", help="print only, leave bench/results.json alone")
    args = parser.parse_args()

    ensure_pwa_built()
    with tempfile.TemporaryDirectory(prefix="lighthouse-") as tmp:
        work = Path(tmp)
        server = start_server(
            database_url=f"sqlite:///{work / 'bench.sqlite3'}",
            storage_url=f"file://{work / 'objects'}",
            data_dir=work,
            log_path=work / "server.log",
            jwt_secret="bench-jwt-secret-0123456789abcdef0123456789",  # noqa: S106
        )
        try:
            url = f"{server.url}/app/"
            reports = [run_lighthouse(url, work / f"lh-{i}.json") for i in range(args.runs)]
            install = installability(url)
        finally:
            server.stop()

    scores = {
        key: statistics.median(round(r["categories"][cat]["score"] * 100) for r in reports)
        for key, cat in CATEGORIES.items()
    }
    version = reports[0].get("lighthouseVersion", "?")
    figures = {
        "performance": scores["performance"],
        "accessibility": scores["accessibility"],
        "best_practices": scores["best_practices"],
        "shell_kb_gz": shell_kb_gz(),
        "installable": install["installable"],
    }
    per_run = {key: [round(r["categories"][cat]["score"] * 100) for r in reports]
               for key, cat in CATEGORIES.items()}
    print(f"Lighthouse {version}, mobile, {args.runs} runs (median): {per_run}")
    metrics = reports[0]["audits"]
    for audit_id in ("first-contentful-paint", "largest-contentful-paint", "total-blocking-time",
                     "cumulative-layout-shift", "speed-index"):
        print(f"  {audit_id}: {metrics[audit_id].get('displayValue')}")
    for key, cat in CATEGORIES.items():
        missing = failing_audits(reports[0], cat)
        if missing:
            print(f"  {key} not passed: {'; '.join(missing[:8])}")
    print(f"installability (Page.getInstallabilityErrors): errors={install['errors']} "
          f"checks={install['checks']}")
    if not args.no_write:
        update_results(figures)
    met = (
        figures["performance"] >= TARGETS["performance"]
        and figures["accessibility"] >= TARGETS["accessibility"]
        and figures["best_practices"] >= TARGETS["best_practices"]
        and figures["installable"]
        and figures["shell_kb_gz"] <= TARGETS["shell_kb_gz"]
    )
    print()
    print("| bench | performance | accessibility | best practices | installable | shell JS+CSS gz |")
    print("|---|---|---|---|---|---|")
    print(f"| lighthouse (mobile, {LIGHTHOUSE}, median of {args.runs}) | {figures['performance']:g} | "
          f"{figures['accessibility']:g} | {figures['best_practices']:g} | "
          f"{'yes' if figures['installable'] else 'no'} | {figures['shell_kb_gz']:.1f} KB |")
    print("targets met" if met else "TARGETS MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
