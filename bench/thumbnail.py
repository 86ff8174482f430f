"""Benchmark: storage.media.thumbnail (JPEG draft decode) vs a naive full decode + LANCZOS resize, 12 MP.

Run from the repository root: ``python bench/thumbnail.py [--runs 30]``. Writes ``bench/results.json``
key ``thumbnail`` (merging, other keys kept) and prints a row for ``bench/README.md``.

The recorded p50s are CPU time of this process. The work is single-threaded and in memory, so on an idle
machine CPU time equals wall time; on a shared machine (CI, several sessions on 2 cores) wall time mostly
measures the neighbours, so it is printed for reference only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from PIL import Image, ImageChops, ImageDraw, ImageFilter

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from storage.media import thumbnail  # noqa: E402

RESULTS = ROOT / "bench" / "results.json"
WIDTH, HEIGHT = 4000, 3000
MAX_PX = 320


def make_photo() -> bytes:
    """A 12 MP JPEG, quality 90, that compresses like a photo: smooth light, hard edges, sensor noise."""
    red = Image.linear_gradient("L").rotate(90).resize((WIDTH, HEIGHT))
    green = Image.linear_gradient("L").resize((WIDTH, HEIGHT))
    blue = Image.radial_gradient("L").resize((WIDTH, HEIGHT))
    base = Image.merge("RGB", (red, green, blue))
    draw = ImageDraw.Draw(base)
    for i in range(40):
        x, y = (i * 977) % WIDTH, (i * 613) % HEIGHT
        colour = ((i * 53) % 256, (i * 91) % 256, (i * 37) % 256)
        if i % 2:
            draw.rectangle((x, y, x + 420, y + 260), fill=colour)
        else:
            draw.ellipse((x, y, x + 360, y + 360), fill=colour)
    base = base.filter(ImageFilter.GaussianBlur(2))
    # Texture at two scales (foliage, walls, fabric) plus per-pixel sensor noise: about 4 MB, like a phone.
    texture = Image.merge(
        "RGB", [Image.effect_noise((WIDTH // 6, HEIGHT // 6), 60).resize((WIDTH, HEIGHT)) for _ in range(3)]
    )
    grain = Image.merge("RGB", [Image.effect_noise((WIDTH, HEIGHT), 24) for _ in range(3)])
    photo = ImageChops.blend(ImageChops.blend(base, texture, 0.3), grain, 0.35)
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=90)
    return out.getvalue()


def naive_thumbnail(data: bytes) -> bytes:
    """What one writes without thinking: decode everything, resize with LANCZOS, save."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        scale = MAX_PX / max(img.size)
        small = img.resize((round(img.width * scale), round(img.height * scale)), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=80)
    return out.getvalue()


Timings = dict[str, dict[str, float]]


def measure(functions: dict[str, Callable[[bytes], bytes]], data: bytes, runs: int) -> Timings:
    """p50 wall and CPU milliseconds per function; runs interleave so background load hits all alike."""
    for function in functions.values():
        function(data)  # warm-up: imports, allocator, caches
    wall: dict[str, list[float]] = {name: [] for name in functions}
    cpu: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(runs):
        for name, function in functions.items():
            started, started_cpu = time.perf_counter(), time.process_time()
            function(data)
            cpu[name].append((time.process_time() - started_cpu) * 1000)
            wall[name].append((time.perf_counter() - started) * 1000)
    return {
        name: {"wall": statistics.median(wall[name]), "cpu": statistics.median(cpu[name])} for name in wall
    }


def merge_results(key: str, figures: dict[str, float]) -> None:
    results: dict[str, object] = {}
    if RESULTS.exists():
        loaded = json.loads(RESULTS.read_text(encoding="utf-8") or "{}")
        results = loaded if isinstance(loaded, dict) else {}
    results[key] = figures
    tmp = RESULTS.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(results, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    data = make_photo()
    contenders = {"ours": lambda blob: thumbnail(blob, MAX_PX), "naive": naive_thumbnail}
    timings = measure(contenders, data, args.runs)
    ours, naive = timings["ours"]["cpu"], timings["naive"]["cpu"]
    figures = {"p50_ms": round(ours, 1), "naive_p50_ms": round(naive, 1), "speedup": round(naive / ours, 2)}
    merge_results("thumbnail", figures)
    print(f"input: {WIDTH}x{HEIGHT} JPEG q90, {len(data) / 1e6:.1f} MB; {args.runs} runs each, interleaved")
    print("target: p50 <= 50 ms and >= 4x faster than naive")
    wall_ours, wall_naive = timings["ours"]["wall"], timings["naive"]["wall"]
    print(f"wall p50 (reference only): {wall_ours:.1f} ms vs {wall_naive:.1f} ms")
    print("| bench | p50 (ms) | naive p50 (ms) | speedup |")
    print("|---|---|---|---|")
    row = (MAX_PX, figures["p50_ms"], figures["naive_p50_ms"], figures["speedup"])
    print("| thumbnail 12 MP → {} px | {} | {} | {}× |".format(*row))


if __name__ == "__main__":
    main()
