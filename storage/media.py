"""Evidence media: what a file really is (magic bytes), whether it is safe and in limits, and derivatives.

Policy, in the order `probe` applies it:

1. The type comes from the bytes, never from the name or the client's MIME: JPEG, PNG, GIF, WebP, AVIF,
   HEIC (stored, no preview without a HEIF decoder); MP4/MOV/3GP (ISO BMFF brands), WebM (EBML);
   M4A, Ogg (Vorbis/Opus), WebM audio, MP3, WAV; PDF. Executables, archives, PostScript/EPS, scripts, HTML/SVG
   and anything unrecognised are refused.
2. Size limits per kind are checked before any parsing.
3. Structure: the image must end where its format says (JPEG EOI, PNG IEND, GIF trailer, RIFF size), so a
   truncated upload is refused; bytes after the end are inspected and an appended ZIP/RAR/7z/script (a
   polyglot) is refused, anything else is kept and flagged `trailing_data` (phones append depth maps and
   motion-photo videos). MP4s must be complete (every box inside the file, a `moov`).
4. Pixels: Pillow opens only the sniffed format (never EPS, which would run Ghostscript); dimensions are
   checked against `MediaLimits.max_pixels` before any decoding, and Pillow's own DecompressionBombWarning (at
   `Image.MAX_IMAGE_PIXELS`, which this module leaves at Pillow's default unless the application changes it)
   is turned into a refusal. The effective bound is the smaller of the two. `warnings.catch_warnings` is
   process-global on Python 3.11; in a threaded server a concurrent decode may briefly see the stricter
   filter, which only ever refuses more, never less.
5. Durations (MP4 `mvhd`/`mehd`, WebM Info, Ogg granule, WAV, MP3 Xing/CBR) are checked against the limits;
   when a container does not state one (live WebM) the file is accepted with the flag `duration_unknown`.

Derivatives never carry the original EXIF (no GPS, no device serial) unless asked: thumbnails always drop
it, display derivatives keep it only with `strip_gps=False`. EXIF orientation is applied first. JPEGs are
decoded at a reduced scale (`Image.draft`); one with restart markers is decoded in horizontal bands on
several threads, each band cut at a checked restart marker and the result pixel for pixel a whole decode's.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO, Literal

from PIL import Image, ImageDraw, ImageFont, ImageOps

from storage.containers import (
    ContainerError,
    IsoMedia,
    JpegRestartScan,
    gif_end,
    iso_brands,
    jpeg_end,
    jpeg_metadata_segments,
    jpeg_restart_cuts,
    jpeg_restart_scan,
    mp3_duration,
    mp3_first_frame,
    parse_ebml,
    parse_isobmff,
    parse_ogg,
    png_end,
    riff_end,
    wav_duration,
)
from storage.errors import MediaRejected, MediaUnsupported

log = logging.getLogger(__name__)

Kind = Literal["image", "video", "audio", "document"]
Source = str | os.PathLike[str] | bytes | bytearray | memoryview | BinaryIO

MiB = 1024 * 1024
_HEAD_BYTES = 64 * 1024
_EBML_HEAD_BYTES = 4 * MiB
CHINA_STANDARD_TIME = timezone(timedelta(hours=8), "CST")

_PILLOW_FORMATS = {
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/gif": "GIF",
    "image/webp": "WEBP",
    "image/avif": "AVIF",
}
_HEIF_BRANDS = {"heic", "heix", "heim", "heis", "hevc", "hevx"}
_AVIF_BRANDS = {"avif", "avis"}
_MP4_BRANDS = {
    "isom", "iso2", "iso3", "iso4", "iso5", "iso6", "iso7", "iso8", "iso9",
    "mp41", "mp42", "avc1", "dash", "M4V ", "M4VP", "f4v ", "mmp4", "MSNV", "XAVC",
}  # fmt: skip
_SMUGGLED = (b"PK\x03\x04", b"PK\x05\x06", b"PK\x01\x02", b"Rar!\x1a\x07", b"7z\xbc\xaf\x27\x1c")
_SMUGGLED_TEXT = (b"<script", b"<?php", b"<html", b"<svg")

_REASONS = {
    "empty": "文件为空",
    "executable": "不接受可执行文件",
    "archive": "不接受压缩包",
    "postscript": "不接受 PostScript/EPS 文件",
    "markup": "不接受脚本、网页或 SVG 文件",
    "unknown_type": "无法识别的文件类型：仅接受照片、视频、录音和 PDF",
    "not_image": "该文件不是图片",
    "too_large": "文件超过大小上限",
    "too_many_pixels": "图片像素过多，拒绝处理",
    "truncated": "文件不完整（可能上传或录制中断）",
    "polyglot": "文件尾部夹带了其他文件，拒绝接收",
    "corrupt": "文件已损坏或与其格式不符",
    "too_long": "时长超过上限",
}


def _reject(reason: str, detail: str = "") -> MediaRejected:
    message = _REASONS[reason] + (f"（{detail}）" if detail else "")
    return MediaRejected(reason, message)


@dataclass(frozen=True, slots=True)
class MediaInfo:
    """What a probed file is. Width and height are display dimensions (EXIF/track rotation applied)."""

    kind: Kind
    mime: str
    width: int | None = None
    height: int | None = None
    duration_s: float | None = None
    size: int = 0
    #: Accepted, but worth recording: "trailing_data", "duration_unknown", "no_preview".
    flags: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class MediaLimits:
    """Per-kind bounds; the defaults fit phone evidence (12–50 MP photos, a few minutes of 1080p video)."""

    max_image_bytes: int = 50 * MiB
    max_video_bytes: int = 1024 * MiB
    max_audio_bytes: int = 200 * MiB
    max_document_bytes: int = 50 * MiB
    max_pixels: int = 89_478_485  # Pillow's own default for MAX_IMAGE_PIXELS
    max_video_seconds: float = 30 * 60
    max_audio_seconds: float = 3 * 3600

    def max_bytes(self, kind: Kind) -> int:
        return {
            "image": self.max_image_bytes,
            "video": self.max_video_bytes,
            "audio": self.max_audio_bytes,
            "document": self.max_document_bytes,
        }[kind]

    @property
    def largest(self) -> int:
        return max(self.max_image_bytes, self.max_video_bytes, self.max_audio_bytes, self.max_document_bytes)


DEFAULT_LIMITS = MediaLimits()


# ------------------------------------------------------------------------------------------------------------
# Sniffing


def sniff(head: bytes) -> tuple[Kind, str]:
    """Decide (kind, MIME) from a file's first bytes (64 at least, 4 KiB ideally); raise MediaRejected."""
    if not head:
        raise _reject("empty")
    if head[:2] == b"MZ" or head[:4] in (
        b"\x7fELF",
        b"\xca\xfe\xba\xbe",
        b"\xfe\xed\xfa\xce",
        b"\xcf\xfa\xed\xfe",
    ):
        raise _reject("executable")
    if head[:2] == b"#!":
        raise _reject("markup")
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08") or head[:6] in (
        b"Rar!\x1a\x07",
        b"7z\xbc\xaf\x27\x1c",
    ):
        raise _reject("archive")
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        raise _reject("archive")
    if head[:2] == b"%!" or head[:4] == b"\xc5\xd0\xd3\xc6":
        raise _reject("postscript")
    if head[:3] == b"\xff\xd8\xff":
        return "image", "image/jpeg"
    if head[:8] == b"\x89PNG\r\n\x1a\n":
        return "image", "image/png"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image", "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image", "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio", "audio/wav"
    brands = iso_brands(head)
    if brands is not None:
        return _iso_type(*brands)
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "video", "video/webm"  # refined by probe: doctype and track types
    if head[:4] == b"OggS":
        return "audio", "audio/ogg"
    if head[:5] == b"%PDF-":
        return "document", "application/pdf"
    if head[:3] == b"ID3" or (mp3_first_frame(head[:4]) is not None):
        return "audio", "audio/mpeg"
    text = head[:512].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if text.startswith(b"<"):
        raise _reject("markup")
    raise _reject("unknown_type")


def _iso_type(major: str, brands: set[str]) -> tuple[Kind, str]:
    if major in _AVIF_BRANDS or (major in ("mif1", "msf1") and brands & _AVIF_BRANDS):
        return "image", "image/avif"
    if major in _HEIF_BRANDS or major in ("mif1", "msf1"):
        return "image", "image/heic"
    if major == "qt  ":
        return "video", "video/quicktime"
    if major.startswith(("3gp", "3g2")):
        return "video", "video/3gpp"
    if major in ("M4A ", "M4B "):
        return "audio", "audio/mp4"
    if major in _MP4_BRANDS or brands & _MP4_BRANDS:
        return "video", "video/mp4"
    raise _reject("unknown_type", f"ftyp {major.strip()}")


# ------------------------------------------------------------------------------------------------------------
# Probing


@contextmanager
def _open_source(src: Source, cap: int) -> Iterator[tuple[BinaryIO, int]]:
    """A seekable binary file at position 0 and its size; other streams are spooled (at most `cap`)."""
    if isinstance(src, bytes | bytearray | memoryview):
        data = bytes(src)
        yield io.BytesIO(data), len(data)
        return
    if isinstance(src, str | os.PathLike):
        with open(src, "rb") as fh:
            yield fh, os.fstat(fh.fileno()).st_size
        return
    stream = src
    if stream.seekable() and stream.tell() == 0:
        size = stream.seek(0, io.SEEK_END)
        stream.seek(0)
        yield stream, size
        return
    with tempfile.SpooledTemporaryFile(max_size=16 * MiB) as spool:
        copied = 0
        while copied < cap and (chunk := stream.read(min(MiB, cap - copied))):
            spool.write(chunk)
            copied += len(chunk)
        spool.seek(0)
        yield spool, copied  # type: ignore[misc]


def probe(src: Source, *, limits: MediaLimits = DEFAULT_LIMITS) -> MediaInfo:
    """Identify and check a file (path, bytes, or a stream from its current position); raise MediaRejected.

    Decodes no pixels and no samples: the cost is reading the file's structure (a JPEG is scanned once in
    memory, an MP4 costs a few dozen small seeks).
    """
    with _open_source(src, limits.largest + 1) as (fh, size):
        if size == 0:
            raise _reject("empty")
        head = fh.read(_HEAD_BYTES)
        kind, mime = sniff(head)
        _check_size(kind, size, limits)
        if kind == "image":
            return _probe_image(fh, size, mime, limits)
        if kind == "document":
            return _probe_pdf(fh, size)
        return _probe_timed(fh, size, kind, mime, head, limits)


def _check_size(kind: Kind, size: int, limits: MediaLimits) -> None:
    limit = limits.max_bytes(kind)
    if size > limit:
        raise _reject("too_large", f"上限 {limit // MiB} MiB")


def _probe_image(fh: BinaryIO, size: int, mime: str, limits: MediaLimits) -> MediaInfo:
    if mime in ("image/heic", "image/avif"):
        media = _parse_iso(fh, size)
        if media.image_size is None:
            raise _reject("corrupt", "缺少图像尺寸")
        width, height = media.image_size
        _check_pixels(width, height, limits)
        if mime == "image/heic":
            return MediaInfo("image", mime, width, height, size=size, flags=("no_preview",))
    fh.seek(0)
    data = fh.read()
    end = _image_end(data, mime)
    if end is None:
        raise _reject("truncated")
    flags: list[str] = []
    trailing = data[end:]
    if trailing.strip(b"\x00"):
        lowered = trailing.lower()
        if any(sig in trailing for sig in _SMUGGLED) or any(sig in lowered for sig in _SMUGGLED_TEXT):
            raise _reject("polyglot")
        flags.append("trailing_data")
    if mime == "image/jpeg" and any(
        b"PK\x03\x04" in segment for segment in jpeg_metadata_segments(data, end)
    ):
        raise _reject("polyglot")
    with _decoding_guard(), _open_pillow(io.BytesIO(data), mime, limits) as img:
        width, height = img.size
        orientation = _orientation(img)
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    return MediaInfo("image", mime, width, height, size=size, flags=tuple(flags))


def _orientation(img: Image.Image) -> int:
    """EXIF orientation if the header already carried EXIF (PNG's getexif() would decode the whole image)."""
    if "exif" not in img.info:
        return 1
    try:
        value = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - unreadable EXIF: treat the photo as stored upright
        return 1
    return value if isinstance(value, int) else 1


def _image_end(data: bytes, mime: str) -> int | None:
    if mime == "image/jpeg":
        return jpeg_end(data)
    if mime == "image/png":
        return png_end(data)
    if mime == "image/gif":
        return gif_end(data)
    if mime == "image/webp":
        end = riff_end(data)
        return None if end is None else end + (end & 1)
    return len(data)  # AVIF: completeness was checked box by box


def _check_pixels(width: int, height: int, limits: MediaLimits) -> None:
    if width < 1 or height < 1 or width * height > limits.max_pixels:
        raise _reject("too_many_pixels", f"{width}×{height}")


def _parse_iso(fh: BinaryIO, size: int) -> IsoMedia:
    try:
        return parse_isobmff(fh, size)
    except ContainerError as exc:
        raise _reject("truncated" if "overruns" in str(exc) else "corrupt") from exc


def _probe_pdf(fh: BinaryIO, size: int) -> MediaInfo:
    fh.seek(max(0, size - 2048))
    if b"%%EOF" not in fh.read():
        raise _reject("truncated")
    return MediaInfo("document", "application/pdf", size=size)


def _probe_timed(
    fh: BinaryIO, size: int, kind: Kind, mime: str, head: bytes, limits: MediaLimits
) -> MediaInfo:
    width = height = None
    duration: float | None
    try:
        if mime in ("video/mp4", "video/quicktime", "video/3gpp", "audio/mp4"):
            media = _parse_iso(fh, size)
            if not media.has_moov:
                raise _reject("truncated", "缺少 moov")
            if "vide" in media.handlers:
                kind = "video"
                mime = "video/mp4" if mime == "audio/mp4" else mime
            elif "soun" in media.handlers:
                kind, mime = "audio", "audio/mp4"
            duration, width, height = media.duration_s, media.width, media.height
        elif mime == "video/webm":
            fh.seek(0)
            ebml = parse_ebml(fh.read(_EBML_HEAD_BYTES))
            if ebml.doctype != "webm":
                raise _reject("unknown_type", ebml.doctype or "EBML")
            if 1 not in ebml.track_types and 2 in ebml.track_types:
                kind, mime = "audio", "audio/webm"
            duration, width, height = ebml.duration_s, ebml.width, ebml.height
        elif mime == "audio/ogg":
            fh.seek(max(0, size - _HEAD_BYTES))
            duration = parse_ogg(head, fh.read()).duration_s
        elif mime == "audio/wav":
            duration = wav_duration(fh, size)
        else:
            duration = mp3_duration(head, size)
    except ContainerError as exc:
        raise _reject("corrupt", str(exc)[:80]) from exc
    _check_size(kind, size, limits)
    longest = limits.max_video_seconds if kind == "video" else limits.max_audio_seconds
    if duration is not None and duration > longest:
        raise _reject("too_long", f"{duration:.0f} 秒，上限 {longest:.0f} 秒")
    flags = ("duration_unknown",) if duration is None else ()
    return MediaInfo(kind, mime, width, height, duration, size, flags)


# ------------------------------------------------------------------------------------------------------------
# Pillow, guarded


@contextmanager
def _decoding_guard() -> Iterator[None]:
    """Turn DecompressionBombWarning into an exception while opening and decoding (see module notes)."""
    with warnings.catch_warnings():
        # Damaged EXIF in an otherwise fine photo is common (editing apps); Pillow says so with UserWarnings
        # and carries on, and so do we: orientation then falls back to "as stored".
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL\.")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        yield


@contextmanager
def _open_pillow(fp: BinaryIO, mime: str, limits: MediaLimits) -> Iterator[Image.Image]:
    """Open with only the sniffed format's plugin, check dimensions before any pixel is decoded."""
    pillow_format = _PILLOW_FORMATS.get(mime)
    if pillow_format is None:
        raise MediaUnsupported(f"暂不支持为 {mime} 生成预览")
    try:
        img = Image.open(fp, formats=[pillow_format])
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise _reject("too_many_pixels") from exc
    except Exception as exc:  # noqa: BLE001 - a plugin may fail any way on crafted input; all mean "corrupt"
        raise _reject("corrupt") from exc
    try:
        _check_pixels(img.width, img.height, limits)
        yield img
    finally:
        img.close()


def _decode(
    src: Source, max_px: int, limits: MediaLimits, resample: Image.Resampling = Image.Resampling.LANCZOS
) -> tuple[Image.Image, bytes | None, bytes | None]:
    """Decode an image at about the size needed, upright; returns (image, icc_profile, exif bytes)."""
    if max_px < 16:
        raise ValueError("max_px must be at least 16")
    with _open_source(src, limits.max_image_bytes + 1) as (fh, size):
        if size == 0:
            raise _reject("empty")
        kind, mime = sniff(fh.read(_HEAD_BYTES))
        if kind != "image":
            raise _reject("not_image")
        _check_size(kind, size, limits)
        fh.seek(0)
        with _decoding_guard(), _open_pillow(fh, mime, limits) as img:
            try:
                if img.format in ("JPEG", "MPO"):
                    # Let libjpeg decode at 1/2, 1/4 or 1/8 scale (still >= max_px): most of the speed-up.
                    img.draft("RGB", (max_px, max_px))
                    banded = _decode_jpeg_bands(img, fh, size, "RGB")
                    if banded is not None:
                        img = banded
                    else:
                        # One read of the whole (size-checked) file instead of 64 KiB pieces: libjpeg then
                        # never suspends mid-MCU at a piece's end and keeps to its fast Huffman path.
                        img.decodermaxblock = max(size, img.decodermaxblock)
                img.load()
                # The box is square, so the size can be reached before turning the image upright: the
                # rotation then moves the small image's pixels, not the decoded ones.
                img.thumbnail((max_px, max_px), resample, reducing_gap=3.0)
                ImageOps.exif_transpose(img, in_place=True)
            except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
                raise _reject("too_many_pixels") from exc
            except Exception as exc:  # noqa: BLE001 - as in _open_pillow
                raise _reject("truncated" if "truncated" in str(exc) else "corrupt") from exc
            icc = img.info.get("icc_profile")
            exif = img.getexif().tobytes() if "exif" in img.info else None
            decoded = _to_rgb(img)
            if decoded is img:
                decoded = img.copy()  # closing the source image frees its pixels
    return decoded, icc if isinstance(icc, bytes) else None, exif


# A JPEG with restart markers, decoded as horizontal bands on several threads. libjpeg decodes one file on one
# core, and entropy decoding is nearly all of a reduced-scale decode; a band cut at a restart marker is a JPEG
# of its own, and Pillow lets go of the GIL while libjpeg works. The bands are exactly the rows a whole decode
# gives (checked in the tests) because at the scales used no component is upsampled across rows.

_MAX_BANDS = 4
_BAND_MIN_BYTES = 512 * 1024  # below this, cutting and handing over cost more than the second core saves
_BAND_HEADER_BYTES = 256 * 1024  # EXIF (at most 64 KiB), ICC and MPF come first; a longer header decodes whole
_band_pool: tuple[int, ThreadPoolExecutor] | None = None
_band_pool_lock = threading.Lock()


def _band_executor() -> ThreadPoolExecutor:
    global _band_pool
    with _band_pool_lock:
        if _band_pool is None or _band_pool[0] != os.getpid():  # a forked child does not inherit the threads
            _band_pool = (os.getpid(), ThreadPoolExecutor(_MAX_BANDS - 1, thread_name_prefix="jpeg-band"))
        return _band_pool[1]


def _usable_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _rows_stay_apart(scan: JpegRestartScan, scale: int) -> bool:
    """True when decoding at 1/`scale` upsamples no component vertically (no filter reaching across rows).

    libjpeg scales a subsampled component up inside its inverse DCT where the sizes allow (libjpeg-turbo
    jdmaster.c): at a reduced scale that covers 4:2:0 chroma. Without vertical subsampling (4:4:4, 4:2:2,
    greyscale) nothing is upsampled across rows at any scale.
    """
    max_h = max(h for h, _v in scan.sampling)
    max_v = max(v for _h, v in scan.sampling)
    block = 8 // scale
    for h, v in scan.sampling:
        size = block
        while size < 8 and (max_h * block) % (h * size * 2) == 0 and (max_v * block) % (v * size * 2) == 0:
            size *= 2
        if max_v * block != v * size:
            return False
    return True


def _decode_band(header: bytes, body: memoryview, tail: bytes, mode: str, scale: int) -> Image.Image:
    blob = b"".join((header, body, tail))
    band = Image.open(io.BytesIO(blob), formats=["JPEG"])
    band.draft(mode, (max(1, band.width // scale), max(1, band.height // scale)))
    if band.decoderconfig[:1] != (scale,):  # a band thinner than the scale (a last MCU row cut short)
        raise _BandMismatch
    band.decodermaxblock = len(blob)
    band.load()
    return band


class _BandMismatch(Exception):
    """A band would not decode at the whole image's scale: the image is then decoded whole."""


def _first_image_end(img: Image.Image, size: int) -> int | None:
    """Where the first image ends in a multi-picture file (MPF, as iPhones write), or None."""
    try:
        first = int(img.mpinfo[0xB002][0]["Size"])  # type: ignore[attr-defined]
    except (AttributeError, LookupError, TypeError, ValueError):
        return None
    return first if 0 < first <= size else None


def _decode_jpeg_bands(img: Image.Image, fh: BinaryIO, size: int, mode: str) -> Image.Image | None:
    """`img` (drafted to `mode`, not loaded) decoded in bands on several threads, or None to decode it whole."""
    parts = min(_MAX_BANDS, _usable_cpus())
    scale = img.decoderconfig[0] if img.decoderconfig else 1
    if parts < 2 or size < _BAND_MIN_BYTES:
        return None
    fh.seek(0)
    scan = jpeg_restart_scan(fh.read(min(size, _BAND_HEADER_BYTES)))  # most photos have no markers: stop here
    if scan is None or not _rows_stay_apart(scan, scale):
        return None
    fh.seek(0)
    data = fh.read(size)
    cuts = jpeg_restart_cuts(data, scan, parts, _first_image_end(img, size))
    if cuts is None:
        return None
    view = memoryview(data)
    rows = [0] + [row for _offset, row in cuts]
    starts = [scan.scan_start] + [offset + 2 for offset, _row in cuts]
    ends: list[int | None] = [offset for offset, _row in cuts] + [None]
    jobs = []
    for i, (first_row, begin, end) in enumerate(zip(rows, starts, ends, strict=True)):
        last_px = scan.height if end is None else rows[i + 1] * scan.mcu_height
        header = scan.band_header(last_px - first_row * scan.mcu_height)
        jobs.append((header, view[begin:end], b"" if end is None else b"\xff\xd9", mode, scale))
    executor = _band_executor()
    pending: list[Future[Image.Image]] = [executor.submit(_decode_band, *job) for job in jobs[1:]]
    try:
        try:
            bands = [_decode_band(*jobs[0])]
        finally:
            failures = [future.exception() for future in pending]  # waits for every thread
        for failure in failures:
            if failure is not None:
                raise failure
    except _BandMismatch:
        return None
    bands += [future.result() for future in pending]
    whole = Image.new(img.mode, img.size)
    top = 0
    for band in bands:
        whole.paste(band, (0, top))
        top += band.height
    if top != img.size[1]:
        return None
    whole.info = dict(img.info)
    return whole


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    if img.mode.startswith("I;16"):
        img = img.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return img if img.mode == "RGB" else img.convert("RGB")


def _encode_jpeg(img: Image.Image, quality: int, icc: bytes | None, exif: bytes | None = None) -> bytes:
    out = io.BytesIO()
    params: dict[str, object] = {"quality": quality}
    if icc:
        params["icc_profile"] = icc  # colour, not identity: Display-P3 photos look wrong without it
    if exif:
        params["exif"] = exif
    img.save(out, "JPEG", **params)
    return out.getvalue()


def thumbnail(
    src: Source, max_px: int = 320, *, quality: int = 80, limits: MediaLimits = DEFAULT_LIMITS
) -> bytes:
    """A JPEG at most `max_px` on its longer side, upright, without EXIF. For images only.

    A JPEG is decoded by libjpeg at 1/2, 1/4 or 1/8 scale (8×8 block averages at 1/8: already a box-filtered
    image), so what is left is usually a downscale of less than 2×, where bicubic looks the same as Lanczos at a
    thumbnail's size for about half the cost. What remains is libjpeg's entropy decoding of the whole file: on
    one core, or, when the file has restart markers (phone cameras write them), in bands on several.
    """
    img, icc, _exif = _decode(src, max_px, limits, Image.Resampling.BICUBIC)
    return _encode_jpeg(img, quality, icc)


def display_derivative(
    src: Source,
    max_px: int = 1600,
    watermark_lines: Sequence[str] = (),
    strip_gps: bool = True,
    *,
    quality: int = 85,
    font_path: str | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> bytes:
    """A JPEG for on-screen review and reports: upright, at most `max_px`, the watermark burnt in.

    `watermark_lines` (see `format_watermark`) are drawn on a translucent band at the bottom. With
    `strip_gps=True` (the default) the derivative carries no EXIF at all; with False it keeps the camera
    EXIF, GPS included (orientation reset, as it has been applied), for internal use only.
    """
    img, icc, exif = _decode(src, max_px, limits)
    if watermark_lines:
        img = _burn_watermark(img, watermark_lines, font_path)
    return _encode_jpeg(img, quality, icc, None if strip_gps else exif)


def derivatives(
    src: Source,
    thumb_px: int = 320,
    display_px: int = 1600,
    watermark_lines: Sequence[str] = (),
    strip_gps: bool = True,
    *,
    thumb_quality: int = 80,
    display_quality: int = 85,
    font_path: str | None = None,
    limits: MediaLimits = DEFAULT_LIMITS,
) -> tuple[bytes, bytes]:
    """(`thumbnail`, `display_derivative`) of one image from a single read and a single decode.

    Two separate calls read the original twice (from the object store, for an upload) and entropy-decode it
    twice; the thumbnail is here scaled down from the display-sized decode instead (no watermark on it).
    """
    if thumb_px > display_px:
        raise ValueError("the thumbnail cannot be larger than the display copy")
    img, icc, exif = _decode(src, display_px, limits)
    small = img.copy()
    small.thumbnail((thumb_px, thumb_px), Image.Resampling.BICUBIC, reducing_gap=3.0)
    thumb = _encode_jpeg(small, thumb_quality, icc)
    if watermark_lines:
        img = _burn_watermark(img, watermark_lines, font_path)
    return thumb, _encode_jpeg(img, display_quality, icc, None if strip_gps else exif)


# ------------------------------------------------------------------------------------------------------------
# Watermark

_CJK_FONTS = (
    ("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc", 2),  # face 2 of the collection is SC
    ("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc", 2),
    ("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc", 0),
    ("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc", 0),
)

AnyFont = ImageFont.FreeTypeFont | ImageFont.ImageFont


def cjk_font_path() -> str | None:
    """The first installed CJK font this module would use (fonts-noto-cjk on Debian), or None."""
    for path, _index in _CJK_FONTS:
        if os.path.exists(path):
            return path
    return None


@lru_cache(maxsize=32)
def _font(size: int, font_path: str | None) -> AnyFont:
    candidates = ((font_path, 0),) if font_path else _CJK_FONTS
    for path, index in candidates:
        if path and os.path.exists(path):
            try:
                return ImageFont.truetype(path, size, index=index)
            except OSError:
                continue
    log.info("no CJK font found; watermark falls back to Pillow's default font (Chinese may not render)")
    return ImageFont.load_default(size=size)


def _wrap(text: str, font: AnyFont, max_width: float) -> list[str]:
    """Greedy character wrap (Chinese has no spaces to break at)."""
    lines: list[str] = []
    current = ""
    for char in text:
        if current and font.getlength(current + char) > max_width:
            lines.append(current)
            current = char.lstrip()
        else:
            current += char
    if current:
        lines.append(current)
    return lines


def _burn_watermark(img: Image.Image, lines: Sequence[str], font_path: str | None) -> Image.Image:
    width, height = img.size
    size = max(12, min(40, round(min(width, height) / 28)))
    while True:
        font = _font(size, font_path)
        margin = max(6, size // 2)
        wrapped = [piece for line in lines for piece in _wrap(line, font, width - 2 * margin)]
        line_height = round(size * 1.4)
        band = line_height * len(wrapped) + 2 * margin
        if band <= height * 0.45 or size <= 10:
            break
        size -= 2
    overlay = Image.new("RGBA", img.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    top = max(0, height - band)
    draw.rectangle(((0, top), (width, height)), fill=(0, 0, 0, 120))
    y = top + margin
    for text in wrapped:
        draw.text((margin, y), text, font=font, fill=(255, 255, 255, 240))
        y += line_height
    return Image.alpha_composite(img.convert("RGBA"), overlay).convert("RGB")


def format_watermark(
    *,
    captured_at: datetime,
    inspector: str,
    certificate_no: str,
    enterprise: str,
    lat: float | None = None,
    lng: float | None = None,
    accuracy_m: float | None = None,
    tz: tzinfo = CHINA_STANDARD_TIME,
) -> list[str]:
    """Standard watermark text: capture time (China time), position, inspector + 执法证 number, enterprise."""
    if captured_at.tzinfo is None:
        raise ValueError("captured_at must be timezone-aware")
    lines = [f"时间：{captured_at.astimezone(tz):%Y-%m-%d %H:%M:%S}"]
    if lat is not None and lng is not None:
        place = f"{'N' if lat >= 0 else 'S'}{abs(lat):.6f}° {'E' if lng >= 0 else 'W'}{abs(lng):.6f}°"
        if accuracy_m is not None:
            place += f"（±{accuracy_m:.0f} 米）"
    else:
        place = "未获取定位"
    lines.append(f"位置：{place}")
    lines.append(f"检查人员：{inspector}（执法证号 {certificate_no}）")
    lines.append(f"检查对象：{enterprise}")
    return lines


# ------------------------------------------------------------------------------------------------------------
# Video poster frames

_DEMUXERS = {"video/mp4": "mov", "video/quicktime": "mov", "video/3gpp": "mov", "video/webm": "matroska"}


def poster_frame(
    source: str | os.PathLike[str],
    *,
    mime: str | None = None,
    max_px: int = 640,
    at_seconds: float = 0.5,
    timeout_s: float = 30.0,
) -> bytes | None:
    """A JPEG still from a video via ffmpeg, or None when ffmpeg is not installed.

    `source` is a file path, or an http(s) URL (an object store's short-lived signed URL: ffmpeg then reads
    only what it needs, with range requests, wherever the `moov` box is, and the API never copies the video).
    The container is sniffed from the file's first bytes, or given as `mime` for a URL (it was sniffed at
    upload). The demuxer is forced from it, so a file cannot steer ffmpeg into playlist or concat demuxers
    that would open other files or URLs, and only the source's own protocol is allowed. Metadata (GPS in
    `udta`) is not copied.
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    text = os.fspath(source)
    remote = text.startswith(("http://", "https://"))
    if remote:
        if mime is None:
            raise ValueError("a URL source needs the sniffed mime type")
        kind, sniffed = "video" if mime.startswith("video/") else "other", mime
        target = text
        protocols = "https,tls,tcp,crypto" if text.startswith("https://") else "http,tcp"
    else:
        path = Path(text).resolve()
        with open(path, "rb") as fh:
            kind, sniffed = sniff(fh.read(_HEAD_BYTES))
        target, protocols = f"file:{path}", "file"
    demuxer = _DEMUXERS.get(sniffed)
    if kind != "video" or demuxer is None:
        raise _reject("unknown_type", "不是视频")
    scale = f"scale='if(gt(iw,ih),min({max_px},iw),-2)':'if(gt(iw,ih),-2,min({max_px},ih))'"
    for seek in (at_seconds, 0.0):
        command = [
            ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-protocol_whitelist", protocols,
            "-f", demuxer, "-ss", f"{seek:.3f}", "-i", target,
            "-frames:v", "1", "-vf", scale, "-map_metadata", "-1",
            "-q:v", "4", "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1",
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, timeout=timeout_s, check=False)  # noqa: S603
        except subprocess.TimeoutExpired as exc:
            raise MediaUnsupported("生成视频封面超时") from exc
        if result.returncode == 0 and result.stdout.startswith(b"\xff\xd8"):
            return result.stdout
    raise MediaUnsupported("无法从该视频生成封面")
