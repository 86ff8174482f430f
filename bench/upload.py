"""Benchmark: evidence upload through the API with tus (8 MiB chunks) vs a raw S3 PUT of the same bytes.

Run from the repository root: ``python bench/upload.py [--photos 100] [--video-mb 200] [--big-mb 1024]``.

Three processes on 127.0.0.1: an S3 server (moto, the same stand-in the tests use), the API under gunicorn
(1 gthread worker, SQLite database, S3 store), and this client. Files:

* one video of ``--video-mb`` MB: a valid MP4 (ftyp, moov with a video track, mdat of random bytes);
* ``--photos`` files of 4 MB, declared as *documents* (PDF header and trailer around random bytes). JPEGs
  would add derivative rendering (thumbnail + watermarked display) to the API side; that cost is measured by
  bench/thumbnail.py, so here it is kept out and the comparison is transport + verification.

Measured: ``api_mb_s`` = bytes / wall time of tus creation (carrying the first chunk: creation-with-upload)
+ all PATCHes (the last one includes the server's
SHA-256 verification, the store's assembly and media probing); ``raw_mb_s`` = the same bytes put with the
minio SDK (``put_object``, 8 MiB parts sent one at a time, as the tus client sends one PATCH at a time) into
the same bucket, interleaved file by file with the API uploads.
``peak_rss_mb`` = VmHWM of the API worker during an additional ``--big-mb`` upload (the peak is reset through
/proc/<pid>/clear_refs just before it). Writes ``bench/results.json`` key ``upload``.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import http.client
import io
import json
import os
import random
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

RESULTS = ROOT / "bench" / "results.json"
MiB = 1024 * 1024
MB = 1_000_000
CHUNK = 8 * MiB
ACCESS_KEY, SECRET_KEY = "bench-access-key", "bench-secret-key"  # noqa: S105 - moto accepts anything
JWT_SECRET = "bench-jwt-secret-0123456789abcdef0123456789"  # noqa: S105
PASSWORD = "Bench-Passw0rd!"  # noqa: S105
BUCKET = "bench-evidence"


# -- files ---------------------------------------------------------------------------------------


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def mp4_header(payload_size: int, seconds: int = 120) -> bytes:
    """ftyp + moov (mvhd, one video trak) + the mdat header for `payload_size` bytes of media data."""
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = _box(b"mvhd", bytes(4) + bytes(8) + struct.pack(">II", 1000, seconds * 1000) + bytes(80))
    hdlr = _box(b"hdlr", bytes(4) + bytes(4) + b"vide" + bytes(12) + b"bench\x00")
    trak = _box(b"trak", _box(b"mdia", hdlr))
    moov = _box(b"moov", mvhd + trak)
    return ftyp + moov + struct.pack(">I", 8 + payload_size) + b"mdat"


class GeneratedFile:
    """Deterministic bytes produced block by block, so a 1 GB file never sits in memory on either side."""

    def __init__(self, name: str, kind: str, mime: str, head: bytes, body_size: int, tail: bytes, seed: int):
        self.name, self.kind, self.mime = name, kind, mime
        self.head, self.body_size, self.tail, self.seed = head, body_size, tail, seed
        self.size = len(head) + body_size + len(tail)
        self.evidence_id = str(uuid.uuid4())
        self._sha256: str | None = None

    def blocks(self, size: int = CHUNK) -> Iterator[bytes]:
        """The file in pieces of exactly `size` bytes (the last may be shorter)."""
        pending = bytearray(self.head)
        rng = random.Random(self.seed)  # noqa: S311 - filler bytes, not secrets
        remaining = self.body_size
        while remaining:
            n = min(4 * MiB, remaining)
            pending += rng.randbytes(n)
            remaining -= n
            while len(pending) >= size:
                yield bytes(pending[:size])
                del pending[:size]
        pending += self.tail
        while pending:
            yield bytes(pending[:size])
            del pending[:size]

    @property
    def sha256(self) -> str:
        if self._sha256 is None:
            digest = hashlib.sha256()
            for block in self.blocks():
                digest.update(block)
            self._sha256 = digest.hexdigest()
        return self._sha256


def video(mb: int, seed: int) -> GeneratedFile:
    body = mb * MB - 200
    return GeneratedFile(f"VID_{seed}.mp4", "video", "video/mp4", mp4_header(body), body, b"", seed)


def document(mb: int, seed: int) -> GeneratedFile:
    head, tail = b"%PDF-1.4\n%", b"\n%%EOF\n"
    return GeneratedFile(
        f"DOC_{seed}.pdf", "document", "application/pdf", head, mb * MB - len(head) - len(tail), tail, seed
    )


# -- processes -----------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"nothing listening on port {port}")


def start_moto() -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for(port)
    return proc, port


def start_api(env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(  # noqa: S603
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--worker-class",
            "gthread",
            "--threads",
            "4",
            "--timeout",
            "900",
            "--log-level",
            "warning",
            "backend.wsgi:app",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    wait_for(port)
    return proc, port


def worker_pids(master: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == master:
                pids.append(int(entry))
    return pids


def _status_mb(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def vm_hwm_mb(pid: int) -> float:
    return _status_mb(pid, "VmHWM")


def vm_rss_mb(pid: int) -> float:
    return _status_mb(pid, "VmRSS")


# -- the database and a signed-in inspector ------------------------------------------------------


def seed_database(env: dict[str, str]) -> str:
    """Migrate, create an inspector on a form; return the form id (runs here, before the API starts)."""
    os.environ.update(env)
    from backend import create_app
    from backend.db import session_scope
    from backend.models import Department, Enterprise, FormAssignment, InspectionForm, Inspector, User
    from backend.services.auth import hash_password

    app = create_app()
    with session_scope(app.extensions["shuangsui.engine"]) as session:
        dept = Department(code="BENCH", name="基准测试局", region_code="510802", level="county")
        ent = Enterprise(uscc="91510802MA62XXXX0X", name="基准测试企业", lat=32.43, lng=105.84)
        session.add_all([dept, ent])
        session.flush()
        insp = Inspector(
            staff_no="B0001", name="基准检查员", department_id=dept.id, certificate_no="川执法BENCH001"
        )
        session.add(insp)
        session.flush()
        session.add(
            User(
                username="bench",
                display_name="基准检查员",
                password_hash=hash_password(PASSWORD),
                roles=["inspector"],
                department_id=dept.id,
                inspector_id=insp.id,
            )
        )
        form = InspectionForm(
            code="BENCH-1",
            enterprise_id=ent.id,
            lead_department_id=dept.id,
            status="dispatched",
            checkpoints=[{"key": "cp1", "question": "基准", "answer_kind": "text"}],
        )
        session.add(form)
        session.flush()
        session.add(
            FormAssignment(form_id=form.id, inspector_id=insp.id, department_id=dept.id, is_lead=True)
        )
        session.commit()
        form_id = str(form.id)
    app.extensions["shuangsui.engine"].dispose()
    return form_id


class Api:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=900)
        self.token = ""

    def request(
        self, method: str, path: str, body: bytes | None = None, headers: dict[str, str] | None = None
    ):
        hdrs = {"Authorization": f"Bearer {self.token}", **(headers or {})}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                return resp.status, resp.headers, resp.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # gunicorn closes idle keep-alive connections (2 s): reconnect; the request never ran
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def login(self) -> None:
        status, _h, data = self.request(
            "POST",
            "/api/v1/auth/login",
            json.dumps({"username": "bench", "password": PASSWORD}).encode(),
            {"Content-Type": "application/json"},
        )
        assert status == 200, data
        self.token = json.loads(data)["access_token"]

    def declare(self, form_id: str, files: list[GeneratedFile], version: int) -> int:
        for start in range(0, len(files), 100):
            ops = []
            for f in files[start : start + 100]:
                ops.append(
                    {
                        "op_id": str(uuid.uuid4()),
                        "type": "evidence",
                        "form_id": form_id,
                        "base_version": version,
                        "payload": {
                            "evidence_id": f.evidence_id,
                            "kind": f.kind,
                            "sha256": f.sha256,
                            "size": f.size,
                            "mime": f.mime,
                            "filename": f.name,
                            "captured_at": "2026-03-02T10:00:00+08:00",
                        },
                    }
                )
            status, _h, data = self.request(
                "POST",
                "/api/v1/sync/push",
                json.dumps({"device_id": "bench", "operations": ops}).encode(),
                {"Content-Type": "application/json"},
            )
            results = json.loads(data)["results"]
            assert status == 200 and all(r["status"] == "applied" for r in results), results[:2]
            version = results[-1]["form_version"]
        return version

    def upload(self, f: GeneratedFile) -> None:
        meta = ",".join(
            f"{k} {base64.b64encode(v.encode()).decode()}"
            for k, v in (("evidence_id", f.evidence_id), ("filename", f.name), ("filetype", f.mime))
        )
        # tus creation-with-upload (what tus-js-client sends with uploadDataDuringCreation: true): the first
        # chunk rides on the POST, so a file of one chunk is one request.
        blocks = f.blocks(CHUNK)
        first = next(blocks)
        status, headers, data = self.request(
            "POST",
            "/api/v1/uploads/",
            first,
            headers={
                "Tus-Resumable": "1.0.0",
                "Upload-Length": str(f.size),
                "Upload-Metadata": meta,
                "Content-Type": "application/offset+octet-stream",
            },
        )
        assert status == 201, data
        location = headers["Location"]
        offset = int(headers["Upload-Offset"])
        assert offset == len(first), (offset, len(first))
        for block in blocks:
            status, headers, data = self.request(
                "PATCH",
                location,
                block,
                {
                    "Tus-Resumable": "1.0.0",
                    "Upload-Offset": str(offset),
                    "Content-Type": "application/offset+octet-stream",
                },
            )
            assert status == 204, (status, data[:300])
            offset = int(headers["Upload-Offset"])
        assert offset == f.size


class _BlockStream(io.RawIOBase):
    def __init__(self, f: GeneratedFile) -> None:
        super().__init__()
        self._blocks = f.blocks(CHUNK)
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        while not self._buf:
            try:
                self._buf = next(self._blocks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self._buf))
        buffer[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def raw_put(client, f: GeneratedFile, key: str) -> float:  # type: ignore[no-untyped-def]
    """One raw PUT, timed; the object is removed afterwards (untimed) so the server state stays comparable."""
    started = time.perf_counter()
    # One part at a time, like the tus client's one PATCH at a time (the SDK's default is 3 parallel parts,
    # which would compare two different client concurrencies, not the server paths).
    client.put_object(
        BUCKET, key, _BlockStream(f), f.size, content_type=f.mime, part_size=CHUNK, num_parallel_uploads=1
    )
    elapsed = time.perf_counter() - started
    client.remove_object(BUCKET, key)
    return elapsed


def timed(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=100, help="number of 4 MB files")
    parser.add_argument("--video-mb", type=int, default=200)
    parser.add_argument(
        "--big-mb", type=int, default=1024, help="size of the upload during which peak RSS is read"
    )
    parser.add_argument(
        "--no-malloc-tuning",
        dest="malloc_tuning",
        action="store_false",
        help="run the API without MALLOC_ARENA_MAX=2 MALLOC_MMAP_THRESHOLD_=1048576",
    )
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-upload-"))
    moto, moto_port = start_moto()
    api_proc = None
    try:
        storage_url = (
            f"s3://{ACCESS_KEY}:{SECRET_KEY}@127.0.0.1:{moto_port}/{BUCKET}?secure=false&create_bucket=true"
        )
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{work / 'bench.sqlite3'}",
            "STORAGE_URL": storage_url,
            "JWT_SECRET": JWT_SECRET,
            "SHUANGSUI_DATA": str(work),
            "SHUANGSUI_ENV": "development",
        }
        if args.malloc_tuning:
            # glibc otherwise raises its mmap threshold after the first freed 8 MiB buffer and keeps later
            # ones in per-thread arenas: resident memory creeps up per chunk although nothing is retained.
            env.update(MALLOC_ARENA_MAX="2", MALLOC_MMAP_THRESHOLD_=str(1024 * 1024))
        form_id = seed_database(env)
        from minio import Minio

        raw = Minio(
            f"127.0.0.1:{moto_port}",
            access_key=ACCESS_KEY,
            secret_key=SECRET_KEY,
            secure=False,
            region="us-east-1",
        )
        files = [video(args.video_mb, 1)] + [document(4, 100 + i) for i in range(args.photos)]
        total = sum(f.size for f in files)
        for f in files:
            _ = f.sha256  # hash up front (the device does it at capture); not part of either timing

        api_proc, api_port = start_api(env)
        api = Api(api_port)
        api.login()
        version = api.declare(form_id, files, 1)

        # Interleaved file by file (alternating which goes first) so both paths meet the S3 server in the same
        # state: moto slows down as it accumulates objects, which would otherwise favour whichever ran first.
        api_seconds = raw_seconds = 0.0
        by_kind: dict[str, list[float]] = {}  # kind -> [api seconds, raw seconds], for the report only
        for i, f in enumerate(files):
            if i % 2:
                api_took = timed(lambda f=f: api.upload(f))
                raw_took = raw_put(raw, f, f"raw/{i}")
            else:
                raw_took = raw_put(raw, f, f"raw/{i}")
                api_took = timed(lambda f=f: api.upload(f))
            api_seconds += api_took
            raw_seconds += raw_took
            totals = by_kind.setdefault(f.kind, [0.0, 0.0])
            totals[0] += api_took
            totals[1] += raw_took

        big = video(args.big_mb, 7)
        _ = big.sha256
        api.login()
        api.declare(form_id, [big], version)
        workers = worker_pids(api_proc.pid) or [api_proc.pid]
        lifetime = max(vm_hwm_mb(pid) for pid in workers)
        resting = max(vm_rss_mb(pid) for pid in workers)
        for pid in workers:
            # Reset the peak (Linux >= 4.0) so it covers this upload only, not start-up or the argon2id
            # login (64 MiB memory-hard by design) that happened before it.
            Path(f"/proc/{pid}/clear_refs").write_text("5")
        big_seconds = timed(lambda: api.upload(big))
        peak = max(vm_hwm_mb(pid) for pid in workers)

        api_mb_s = total / MB / api_seconds
        raw_mb_s = total / MB / raw_seconds
        figures = {
            "api_mb_s": round(api_mb_s, 1),
            "raw_mb_s": round(raw_mb_s, 1),
            "ratio": round(api_mb_s / raw_mb_s, 2),
            "peak_rss_mb": round(peak, 1),
        }
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        results["upload"] = figures
        RESULTS.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n")
        print(
            f"files: 1 × {args.video_mb} MB MP4 + {args.photos} × 4 MB PDF = {total / MB:.0f} MB; "
            f"raw {raw_seconds:.2f}s; API {api_seconds:.2f}s; "
            f"{args.big_mb} MB upload {big_seconds:.1f}s ({args.big_mb / big_seconds:.0f} MB/s); "
            f"worker peak before it (start-up, logins, the timed uploads) {lifetime:.0f} MB, "
            f"resident when it started {resting:.0f} MB; "
            f"glibc malloc tuning {'on' if args.malloc_tuning else 'off'}"
        )
        for kind, (api_took, raw_took) in by_kind.items():
            count = sum(1 for f in files if f.kind == kind)
            print(
                f"{kind}: {count} file(s), API {api_took:.2f}s, raw {raw_took:.2f}s, "
                f"API - raw {(api_took - raw_took) / count * 1000:.1f} ms per file"
            )
        print("| bench | api_mb_s | raw_mb_s | ratio | peak_rss_mb |")
        print("|---|---|---|---|---|")
        print("| upload | {api_mb_s} | {raw_mb_s} | {ratio} | {peak_rss_mb} |".format(**figures))
    finally:
        for proc in (api_proc, moto):
            if proc is not None and proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
