"""Benchmark: 1,000,000 synthetic enterprises from CSV into PostgreSQL through the import service, against a
raw COPY of the same file into a bare table measured in the same run.

Run from the repository root: ``python bench/import.py [--rows 1000000] [--database-url URL] [--regenerate]``
(default database ``postgresql://postgres@127.0.0.1:5432/bench_import``: created when missing and migrated with
backend.migrations.upgrade).

The file (bench/.work/enterprises-<rows>.csv, kept between runs) has every column of the enterprise import,
Chinese headers, valid USCCs (make_uscc) and realistic names, addresses, regions under 5108, GB/T 4754 codes,
flags, special libraries and dates. Measured, each after a CHECKPOINT, on a warm page cache:

* ``copy_seconds``: ``COPY bare FROM STDIN (FORMAT csv, HEADER)`` of the file into a bare all-text table
  (no keys, no indexes) — the floor for getting these bytes into PostgreSQL;
* ``seconds``: ``imports.import_file(kind="enterprises")`` into the emptied ``enterprise`` table — the same
  call the CLI makes: decode, validate every cell (USCC check characters included), detect duplicates, stream
  new rows by COPY into the real table with its primary key and unique USCC index, one audit entry;
* ``reimport_seconds``: the same file again (idempotent: 0 created, 0 updated, every row unchanged);
* ``table_copy_seconds``: the imported rows, dumped with ``COPY enterprise (…) TO`` in the columns the import
  sends (the creation stamps come from their default), copied back into the emptied ``enterprise`` table —
  PostgreSQL's own cost of taking these rows into this table (primary key and unique USCC index maintained
  per row), with no Python in the timed part: the floor for any import into this schema.

Writes ``bench/results.json`` key ``import`` (read-modify-write) and prints the README row.
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine  # noqa: E402
from sqlmodel import Session  # noqa: E402

from backend.commands.demo import BRANDS, INDUSTRIES, REGIONS, ROADS, SURNAMES  # noqa: E402
from backend.migrations import upgrade  # noqa: E402
from backend.services import imports  # noqa: E402
from backend.services.uscc import make_uscc  # noqa: E402

WORK = ROOT / "bench" / ".work"
RESULTS = ROOT / "bench" / "results.json"
DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/bench_import"
HEADER = [c.header for c in imports.ENTERPRISE_COLUMNS]
STATUS = ["存续"] * 80 + ["在业"] * 15 + ["注销", "吊销", "迁出", "存续", "在业"]


def generate(path: Path, rows: int) -> None:
    """A deterministic synthetic directory (random.Random is fine for bench data; the draw never uses it)."""
    rng = random.Random(4754)
    regions = list(REGIONS)
    given = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚华玉兰萍红建国志文斌辉鹏飞宇浩婷雪梅琳晨欣怡"
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(HEADER)
        for serial in range(1, rows + 1):
            region = regions[serial % len(regions)]
            place, towns = REGIONS[region]
            industry = INDUSTRIES[serial % len(INDUSTRIES)]
            name = f"{place}{rng.choice(BRANDS)}{rng.choice(industry.words)}{serial}有限公司"
            address = f"四川省广元市{place[-3:]}{rng.choice(towns)}{rng.choice(ROADS)}{rng.randint(1, 999)}号"
            flagged = serial % 17 == 0
            writer.writerow(
                [
                    make_uscc(region, serial),
                    name,
                    "有限责任公司",
                    rng.choice(SURNAMES) + rng.choice(given) + rng.choice(given),
                    f"1{rng.choice((38, 39, 58, 80))}{rng.randint(10_000_000, 99_999_999)}",
                    address,
                    address,
                    region,
                    industry.code,
                    rng.choice(STATUS),
                    "、".join(industry.libraries),
                    "是" if flagged else "否",
                    "是" if serial % 101 == 0 else "否",
                    "否",
                    rng.choice("1112234"),
                    rng.choice("0000012"),
                    f"{rng.randint(1995, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    f"{32.43 + rng.uniform(-0.4, 0.4):.6f}",
                    f"{105.84 + rng.uniform(-0.5, 0.5):.6f}",
                    "是",
                ]
            )
    tmp.replace(path)


def psycopg_url(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def ensure_database(url: str) -> None:
    import psycopg

    base, _, name = psycopg_url(url).rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def raw_copy(url: str, path: Path) -> float:
    import psycopg

    with psycopg.connect(psycopg_url(url)) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_bare_enterprise")
        conn.execute("CREATE TABLE bench_bare_enterprise (" + ", ".join(f"c{i} text" for i in range(len(HEADER))) + ")")
        conn.commit()
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY bench_bare_enterprise FROM STDIN (FORMAT csv, HEADER true)") as cp:
            with open(path, "rb") as f:
                while block := f.read(1 << 20):
                    cp.write(block)
        conn.commit()
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE bench_bare_enterprise")
        conn.commit()
    return elapsed


def service_import(engine, path: Path, *, empty_first: bool) -> tuple[float, imports.ImportReport]:  # type: ignore[no-untyped-def]
    with engine.begin() as conn:
        if empty_first:
            conn.exec_driver_sql("TRUNCATE enterprise CASCADE")
    with engine.connect() as conn:
        conn.exec_driver_sql("CHECKPOINT")
    with Session(engine, expire_on_commit=False) as session:
        started = time.perf_counter()
        report = imports.import_file(session=session, actor=None, kind="enterprises", source=path, filename=path.name)
        elapsed = time.perf_counter() - started
    return elapsed, report


def table_copy(url: str) -> float:
    """Dump `enterprise` in COPY format, empty it, and time copying the dump back."""
    import psycopg

    dump = WORK / "enterprise.copy"
    columns = ", ".join(imports.EnterpriseImporter.COPY_COLUMNS)
    with psycopg.connect(psycopg_url(url)) as conn:
        with conn.cursor() as cur, open(dump, "wb") as f, cur.copy(f"COPY enterprise ({columns}) TO STDOUT") as cp:
            for block in cp:
                f.write(block)
        conn.execute("TRUNCATE enterprise CASCADE")
        conn.commit()
        conn.execute("CHECKPOINT")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy(f"COPY enterprise ({columns}) FROM STDIN") as cp, open(dump, "rb") as f:
            while block := f.read(1 << 20):
                cp.write(block)
        conn.commit()
        elapsed = time.perf_counter() - started
    dump.unlink()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--regenerate", action="store_true", help="write the CSV again even if it exists")
    parser.add_argument("--no-save", action="store_true", help="do not write bench/results.json")
    args = parser.parse_args()

    WORK.mkdir(parents=True, exist_ok=True)
    path = WORK / f"enterprises-{args.rows}.csv"
    if args.regenerate or not path.exists():
        t = time.perf_counter()
        generate(path, args.rows)
        print(f"generated {path} ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t:.1f} s")

    ensure_database(args.database_url)
    engine = create_engine(
        args.database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        if args.database_url.startswith("postgresql://")
        else args.database_url
    )
    upgrade(engine)
    path.read_bytes()  # warm the page cache for both contenders

    copy_seconds = raw_copy(args.database_url, path)
    seconds, report = service_import(engine, path, empty_first=True)
    assert report.created == args.rows and report.invalid == 0, report.summary()
    reimport_seconds, again = service_import(engine, path, empty_first=False)
    assert (again.created, again.updated, again.unchanged) == (0, 0, args.rows), again.summary()
    engine.dispose()
    table_copy_seconds = table_copy(args.database_url)

    figures = {
        "rows": args.rows,
        "seconds": round(seconds, 2),
        "copy_seconds": round(copy_seconds, 2),
        "ratio": round(seconds / copy_seconds, 2),
        "reimport_seconds": round(reimport_seconds, 2),
        "table_copy_seconds": round(table_copy_seconds, 2),
        "file_mb": round(path.stat().st_size / 1e6, 1),
    }
    if not args.no_save:
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["import"] = figures
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
    print(json.dumps(figures, ensure_ascii=False))
    print(
        f"| import | `python bench/import.py` | seconds {figures['seconds']}, copy_seconds {figures['copy_seconds']}, "
        f"**ratio {figures['ratio']}**, reimport_seconds {figures['reimport_seconds']}, "
        f"table_copy_seconds {figures['table_copy_seconds']} | ≤ 60 s, ratio ≤ 3 |"
    )


if __name__ == "__main__":
    main()
