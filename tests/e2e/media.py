"""Evidence files for the browser tests: distinct JPEG photos (Pillow), a small valid MP4, their SHA-256."""

from __future__ import annotations

import hashlib
import random
import struct
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw


@dataclass(frozen=True)
class MediaFile:
    path: Path
    mime: str
    kind: str  # photo | video
    sha256: str
    size: int

    @property
    def name(self) -> str:
        return self.path.name


def _describe(path: Path, mime: str, kind: str) -> MediaFile:
    data = path.read_bytes()
    return MediaFile(path, mime, kind, hashlib.sha256(data).hexdigest(), len(data))


def make_photo(path: Path, seed: int, size: tuple[int, int] = (800, 600), noise: int = 1) -> MediaFile:
    """A JPEG whose pixels depend on `seed` (each photo hashes differently); `noise` > 1 makes it larger."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(40):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        draw.rectangle((x0, y0, x0 + rng.randrange(20, 300), y0 + rng.randrange(20, 200)),
                       fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw.text((20, 20), f"evidence #{seed}", fill=(255, 255, 255))
    if noise > 1:
        # Random noise does not compress: a few MB of photo for uploads that take a while.
        speckle = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
        img = Image.blend(img, speckle, min(0.9, 0.1 * noise))
    img.save(path, "JPEG", quality=92)
    return _describe(path, "image/jpeg", "photo")


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def make_video(path: Path, seed: int, payload_bytes: int = 512 * 1024, seconds: float = 8.0,
               width: int = 1280, height: int = 720) -> MediaFile:
    """A minimal MP4 that storage.media.probe accepts: ftyp (isom), moov (mvhd + one `vide` trak), mdat.

    No ffmpeg needed: the server sniffs the ISO BMFF brands, requires a complete box tree with a moov and a
    video handler, and checks the mvhd duration; the mdat carries seeded random bytes (different per seed).
    """
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">I", 512) + b"isomiso2avc1mp41")
    mvhd = _box(b"mvhd", bytes(4) + struct.pack(">IIII", 0, 0, 1000, round(seconds * 1000)) + bytes(80))
    matrix = struct.pack(">9i", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    tkhd = _box(b"tkhd", b"\x00\x00\x00\x03" + struct.pack(">IIIII", 0, 0, 1, 0, 0) + bytes(16) + matrix
                + struct.pack(">II", width << 16, height << 16))
    hdlr = _box(b"hdlr", bytes(8) + b"vide" + bytes(12) + b"VideoHandler\x00")
    moov = _box(b"moov", mvhd + _box(b"trak", tkhd + _box(b"mdia", hdlr)))
    mdat = _box(b"mdat", random.Random(seed).randbytes(payload_bytes))
    path.write_bytes(ftyp + moov + mdat)
    return _describe(path, "video/mp4", "video")
