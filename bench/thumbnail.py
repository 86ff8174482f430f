"""Benchmark: storage.media.thumbnail vs a naive full decode + LANCZOS resize, 12 MP JPEG to 320 px.

Run from the repository root: ``python bench/thumbnail.py [--runs 30]``. Writes ``bench/results.json``
key ``thumbnail`` (merging, other keys kept) and prints rows for ``bench/README.md``.

One picture, encoded twice at quality 90:

* ``phone``: with a restart marker at every MCU row, as phone cameras write them (Samsung Galaxy and iPhone
  JPEGs carry RSTn markers; bench/README.md has the references). `thumbnail` decodes such a file in bands,
  one per core, so its latency is wall time, not the CPU time of one thread.
* ``plain``: without restart markers, as Pillow and libjpeg write by default. It is decoded in one piece on
  one core, and libjpeg's serial Huffman decoding bounds the speedup (printed as "bound").

The headline figures (``p50_ms``, ``naive_p50_ms``, ``speedup``) are the phone photo's wall-clock p50s; the
plain photo's are under ``plain_*``. Runs interleave all contenders so background load hits them alike; CPU
p50s are printed beside the wall ones.
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


def make_picture() -> Image.Image:
    """A 12 MP picture that compresses like a photo: smooth light, hard edges, texture, sensor noise."""
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
    return ImageChops.blend(ImageChops.blend(base, texture, 0.3), grain, 0.35)


def encode_photo(picture: Image.Image, restart_markers: bool) -> bytes:
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=90, **({"restart_marker_rows": 1} if restart_markers else {}))
    return out.getvalue()


def decode_only(data: bytes) -> object:
    """libjpeg's 1/8-scale decode alone, in one piece: the floor for a photo without restart markers."""
    with Image.open(io.BytesIO(data)) as img:
        img.draft("RGB", (MAX_PX, MAX_PX))
        img.decodermaxblock = len(data)
        img.load()
        return img.size


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


def measure(contenders: dict[str, tuple[Callable[[bytes], object], bytes]], runs: int) -> Timings:
    """p50 wall and CPU milliseconds per contender; runs interleave so background load hits all alike."""
    for function, data in contenders.values():
        function(data)  # warm-up: imports, allocator, caches, the band threads
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(runs):
        for name, (function, data) in contenders.items():
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
    picture = make_picture()
    phone, plain = encode_photo(picture, True), encode_photo(picture, False)

    def ours(blob: bytes) -> bytes:
        return thumbnail(blob, MAX_PX)

    timings = measure(
        {
            "ours": (ours, phone),
            "naive": (naive_thumbnail, phone),
            "plain_ours": (ours, plain),
            "plain_naive": (naive_thumbnail, plain),
            "plain_decode": (decode_only, plain),
        },
        args.runs,
    )
    wall = {name: figures["wall"] for name, figures in timings.items()}
    figures = {
        "p50_ms": round(wall["ours"], 1),
        "naive_p50_ms": round(wall["naive"], 1),
        "speedup": round(wall["naive"] / wall["ours"], 2),
        "plain_p50_ms": round(wall["plain_ours"], 1),
        "plain_naive_p50_ms": round(wall["plain_naive"], 1),
        "plain_speedup": round(wall["plain_naive"] / wall["plain_ours"], 2),
        "cores": len(os.sched_getaffinity(0)),
    }
    merge_results("thumbnail", figures)
    print(
        f"input: {WIDTH}x{HEIGHT} JPEG q90, phone {len(phone) / 1e6:.2f} MB (a restart marker per MCU row), "
        f"plain {len(plain) / 1e6:.2f} MB; {args.runs} runs each, interleaved; {figures['cores']} cores"
    )
    print("target: p50 <= 50 ms and >= 4x faster than naive")
    for name, figure in timings.items():
        print(f"  {name:13s} wall p50 {figure['wall']:6.1f} ms, CPU p50 {figure['cpu']:6.1f} ms")
    bound = wall["plain_naive"] / wall["plain_decode"]
    print(f"plain photo bound (naive / 1/8-scale decode alone): {bound:.2f}x")
    print("| bench | p50 (ms) | naive p50 (ms) | speedup |")
    print("|---|---|---|---|")
    print(f"| thumbnail 12 MP → {MAX_PX} px, phone photo | {figures['p50_ms']} | {figures['naive_p50_ms']} | "
          f"{figures['speedup']}× |")
    print(f"| thumbnail 12 MP → {MAX_PX} px, no restart markers | {figures['plain_p50_ms']} | "
          f"{figures['plain_naive_p50_ms']} | {figures['plain_speedup']}× |")


if __name__ == "__main__":
    main()
