"""Real video files for the tests that need ffmpeg (it is installed in CI; the tests skip without it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

HAVE_FFMPEG = shutil.which("ffmpeg") is not None


def encoded_clip(path: Path, source: str = "testsrc=size=320x240:rate=10:duration=2") -> bytes:
    """Encode ffmpeg's lavfi `source` into the MP4 at `path` (moov written last, as phones often do); its bytes."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path.read_bytes()
