"""Real video files for the tests that need ffmpeg (it is installed in CI; the tests skip without it)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

#: Skips a test when ffmpeg is missing, except in CI (CI=true), where scripts/test installs it: a missing
#: ffmpeg there fails the test instead of hiding it.
needs_ffmpeg = pytest.mark.skipif(
    shutil.which("ffmpeg") is None and os.environ.get("CI", "").lower() != "true",
    reason="ffmpeg not installed (CI installs it)",
)


def encoded_clip(path: Path, source: str = "testsrc=size=320x240:rate=10:duration=2") -> bytes:
    """Encode ffmpeg's lavfi `source` into the MP4 at `path` (moov written last, as phones often do); its bytes."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", source, "-pix_fmt", "yuv420p", str(path)],
        check=True,
        timeout=60,
    )  # fmt: skip
    return path.read_bytes()
