"""Byte-level readers for media containers: ISO BMFF (MP4/HEIF), EBML (WebM), Ogg, RIFF, MP3, image ends.

Pure standard library, no decoding: each reader walks structure to answer "where does it end", "how long is
it", "what tracks does it have". They are written for hostile input: every size is checked against the
bytes actually present and walks are bounded, so a crafted file costs at most a few thousand small reads.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import BinaryIO


class ContainerError(ValueError):
    """The structure is broken: a size points past the end of the data, a mandatory part is missing, ..."""


class _Budget:
    """Caps how many structural elements one parse visits (a million empty boxes is an attack, not a file)."""

    def __init__(self, limit: int = 20_000) -> None:
        self.left = limit

    def spend(self) -> None:
        self.left -= 1
        if self.left < 0:
            raise ContainerError("too many structural elements")


# ------------------------------------------------------------------------------------------------------------
# ISO base media file format: MP4, MOV, 3GP, M4A, HEIF/HEIC, AVIF


@dataclass
class IsoMedia:
    major_brand: str
    brands: set[str]
    has_moov: bool = False
    duration_s: float | None = None
    handlers: list[str] = field(default_factory=list)
    width: int | None = None
    height: int | None = None
    #: Largest `ispe` (image spatial extents) property of a HEIF/AVIF still image.
    image_size: tuple[int, int] | None = None


def iso_brands(head: bytes) -> tuple[str, set[str]] | None:
    """Major and compatible brands from a leading `ftyp` box; None when the data does not start with one."""
    if len(head) < 16 or head[4:8] != b"ftyp":
        return None
    size = struct.unpack(">I", head[:4])[0]
    if size < 16:
        return None
    payload = head[8 : min(size, len(head))]
    major = payload[:4].decode("latin-1")
    compatible = {payload[i : i + 4].decode("latin-1") for i in range(8, len(payload) - 3, 4)}
    return major, compatible | {major}


def _iter_boxes(fh: BinaryIO, start: int, end: int, budget: _Budget) -> Iterator[tuple[bytes, int, int]]:
    """Yield (type, payload_start, box_end) for boxes in [start, end); a box overrunning `end` is an error."""
    pos = start
    while end - pos >= 8:
        budget.spend()
        fh.seek(pos)
        header = fh.read(8)
        if len(header) < 8:
            raise ContainerError("truncated box header")
        size, box_type = struct.unpack(">I4s", header)
        header_len = 8
        if size == 1:
            large = fh.read(8)
            if len(large) < 8:
                raise ContainerError("truncated box header")
            size = struct.unpack(">Q", large)[0]
            header_len = 16
        elif size == 0:
            size = end - pos
        if size < header_len or pos + size > end:
            raise ContainerError(f"box {box_type!r} at {pos} overruns its container (truncated file?)")
        yield box_type, pos + header_len, pos + size
        pos += size


def _read(fh: BinaryIO, start: int, end: int, cap: int = 4096) -> bytes:
    fh.seek(start)
    return fh.read(min(end - start, cap))


def parse_isobmff(fh: BinaryIO, size: int) -> IsoMedia:
    """Walk an ISO BMFF file: brands, movie duration (mvhd, or mehd when fragmented), tracks, dimensions."""
    fh.seek(0)
    brands = iso_brands(fh.read(64))
    if brands is None:
        raise ContainerError("no ftyp box")
    media = IsoMedia(major_brand=brands[0], brands=brands[1])
    budget = _Budget()
    for box_type, start, end in _iter_boxes(fh, 0, size, budget):
        if box_type == b"moov":
            media.has_moov = True
            _parse_moov(fh, start, end, media, budget)
        elif box_type == b"meta":
            _parse_heif_meta(fh, start + 4, end, media, budget)
    return media


def _parse_moov(fh: BinaryIO, start: int, end: int, media: IsoMedia, budget: _Budget) -> None:
    timescale = 0
    movie_duration = 0
    fragment_duration = 0
    for box_type, child_start, child_end in _iter_boxes(fh, start, end, budget):
        if box_type == b"mvhd":
            payload = _read(fh, child_start, child_end, 32)
            if payload[:1] == b"\x01" and len(payload) >= 32:
                timescale, movie_duration = struct.unpack(">IQ", payload[20:32])
                if movie_duration == 0xFFFFFFFFFFFFFFFF:
                    movie_duration = 0
            elif len(payload) >= 20:
                timescale, movie_duration = struct.unpack(">II", payload[12:20])
                if movie_duration == 0xFFFFFFFF:
                    movie_duration = 0
            else:
                raise ContainerError("short mvhd")
        elif box_type == b"mvex":
            # Fragmented MP4 (e.g. MediaRecorder output) keeps its duration in mvex/mehd, if anywhere.
            for sub_type, sub_start, sub_end in _iter_boxes(fh, child_start, child_end, budget):
                if sub_type == b"mehd":
                    payload = _read(fh, sub_start, sub_end, 12)
                    if payload[:1] == b"\x01" and len(payload) >= 12:
                        fragment_duration = struct.unpack(">Q", payload[4:12])[0]
                    elif len(payload) >= 8:
                        fragment_duration = struct.unpack(">I", payload[4:8])[0]
        elif box_type == b"trak":
            _parse_trak(fh, child_start, child_end, media, budget)
    duration = movie_duration or fragment_duration
    if timescale and duration:
        media.duration_s = duration / timescale


def _parse_trak(fh: BinaryIO, start: int, end: int, media: IsoMedia, budget: _Budget) -> None:
    handler = ""
    dims: tuple[int, int] | None = None
    for box_type, child_start, child_end in _iter_boxes(fh, start, end, budget):
        if box_type == b"tkhd":
            dims = _tkhd_dimensions(_read(fh, child_start, child_end, 96))
        elif box_type == b"mdia":
            for sub_type, sub_start, sub_end in _iter_boxes(fh, child_start, child_end, budget):
                if sub_type == b"hdlr":
                    payload = _read(fh, sub_start, sub_end, 12)
                    handler = payload[8:12].decode("latin-1") if len(payload) >= 12 else ""
    media.handlers.append(handler)
    if handler == "vide" and dims and media.width is None:
        media.width, media.height = dims


def _tkhd_dimensions(payload: bytes) -> tuple[int, int] | None:
    """Display size of a track: width/height (16.16 fixed point), swapped when the matrix rotates by 90°."""
    offset = 52 if payload[:1] == b"\x01" else 40
    if len(payload) < offset + 44:
        return None
    a, b, _u, c, d = struct.unpack(">iiiii", payload[offset : offset + 20])
    width, height = struct.unpack(">II", payload[offset + 36 : offset + 44])
    width, height = width >> 16, height >> 16
    if width == 0 or height == 0:
        return None
    if a == 0 and d == 0 and b != 0 and c != 0:
        width, height = height, width
    return width, height


def _parse_heif_meta(fh: BinaryIO, start: int, end: int, media: IsoMedia, budget: _Budget) -> None:
    for box_type, child_start, child_end in _iter_boxes(fh, start, end, budget):
        if box_type != b"iprp":
            continue
        for prop_type, prop_start, prop_end in _iter_boxes(fh, child_start, child_end, budget):
            if prop_type != b"ipco":
                continue
            for item_type, item_start, item_end in _iter_boxes(fh, prop_start, prop_end, budget):
                if item_type == b"ispe":
                    payload = _read(fh, item_start, item_end, 12)
                    if len(payload) >= 12:
                        width, height = struct.unpack(">II", payload[4:12])
                        current = media.image_size
                        if current is None or width * height > current[0] * current[1]:
                            media.image_size = (width, height)


# ------------------------------------------------------------------------------------------------------------
# EBML: WebM / Matroska

_EBML_HEADER = 0x1A45DFA3
_SEGMENT = 0x18538067
_CLUSTER = 0x1F43B675


@dataclass
class EbmlMedia:
    doctype: str
    duration_s: float | None = None
    track_types: list[int] = field(default_factory=list)
    width: int | None = None
    height: int | None = None


def _vint(data: bytes, pos: int, *, keep_marker: bool) -> tuple[int, int, bool]:
    """Read an EBML variable-length integer: (value, next position, all-ones i.e. "unknown size")."""
    if pos >= len(data):
        raise ContainerError("truncated EBML")
    first = data[pos]
    if first == 0:
        raise ContainerError("invalid EBML vint")
    length = 8 - first.bit_length() + 1
    if pos + length > len(data):
        raise ContainerError("truncated EBML")
    value = first if keep_marker else first & ((1 << (8 - length)) - 1)
    for byte in data[pos + 1 : pos + length]:
        value = (value << 8) | byte
    all_ones = not keep_marker and value == (1 << (7 * length)) - 1
    return value, pos + length, all_ones


def _ebml_children(
    data: bytes, start: int, end: int, budget: _Budget
) -> Iterator[tuple[int, int, int | None]]:
    """Yield (id, payload_start, payload_end or None for unknown size) for elements in [start, end)."""
    pos = start
    while pos < end:
        budget.spend()
        element_id, pos, _ = _vint(data, pos, keep_marker=True)
        size, pos, unknown = _vint(data, pos, keep_marker=False)
        if unknown:
            yield element_id, pos, None
            return
        yield element_id, pos, pos + size
        pos += size


def _uint(payload: bytes) -> int:
    return int.from_bytes(payload, "big") if payload else 0


def parse_ebml(data: bytes) -> EbmlMedia:
    """Best-effort read of the head of a WebM/Matroska file (pass its first few MiB).

    MediaRecorder writes live WebM without a Duration: then `duration_s` is None.
    """
    budget = _Budget()
    element_id, pos, _ = _vint(data, 0, keep_marker=True)
    if element_id != _EBML_HEADER:
        raise ContainerError("no EBML header")
    size, pos, _ = _vint(data, pos, keep_marker=False)
    header_end = pos + size
    doctype = ""
    for child_id, start, end in _ebml_children(data, pos, min(header_end, len(data)), budget):
        if child_id == 0x4282 and end is not None:
            doctype = data[start:end].decode("ascii", "replace").rstrip("\x00")
    media = EbmlMedia(doctype=doctype)
    if header_end >= len(data):
        return media
    segment_id, pos, _ = _vint(data, header_end, keep_marker=True)
    if segment_id != _SEGMENT:
        raise ContainerError("no Segment after EBML header")
    seg_size, pos, unknown = _vint(data, pos, keep_marker=False)
    seg_end = len(data) if unknown else min(len(data), pos + seg_size)
    timecode_scale = 1_000_000
    raw_duration: float | None = None
    try:
        for child_id, start, end in _ebml_children(data, pos, seg_end, budget):
            if child_id == _CLUSTER or end is None or end > len(data):
                break
            if child_id == 0x1549A966:  # Info
                for info_id, info_start, info_end in _ebml_children(data, start, end, budget):
                    if info_end is None:
                        break
                    payload = data[info_start:info_end]
                    if info_id == 0x2AD7B1:
                        timecode_scale = _uint(payload) or timecode_scale
                    elif info_id == 0x4489 and len(payload) in (4, 8):
                        raw_duration = struct.unpack(">f" if len(payload) == 4 else ">d", payload)[0]
            elif child_id == 0x1654AE6B:  # Tracks
                _parse_ebml_tracks(data, start, end, media, budget)
    except ContainerError:
        pass  # the head was cut mid-element: keep what was read (best effort by contract)
    if raw_duration is not None and raw_duration > 0:
        media.duration_s = raw_duration * timecode_scale / 1e9
    return media


def _parse_ebml_tracks(data: bytes, start: int, end: int, media: EbmlMedia, budget: _Budget) -> None:
    for entry_id, entry_start, entry_end in _ebml_children(data, start, end, budget):
        if entry_id != 0xAE or entry_end is None:
            continue
        for field_id, field_start, field_end in _ebml_children(data, entry_start, entry_end, budget):
            if field_end is None:
                break
            if field_id == 0x83:
                media.track_types.append(_uint(data[field_start:field_end]))
            elif field_id == 0xE0 and media.width is None:
                for video_id, video_start, video_end in _ebml_children(data, field_start, field_end, budget):
                    if video_end is None:
                        break
                    if video_id == 0xB0:
                        media.width = _uint(data[video_start:video_end])
                    elif video_id == 0xBA:
                        media.height = _uint(data[video_start:video_end])


# ------------------------------------------------------------------------------------------------------------
# Ogg (Vorbis, Opus)


@dataclass
class OggMedia:
    codec: str  # "vorbis" | "opus"
    duration_s: float | None


def parse_ogg(head: bytes, tail: bytes) -> OggMedia:
    """Codec from the first page, duration from the last page's granule position."""
    if len(head) < 28 or head[:4] != b"OggS":
        raise ContainerError("no Ogg page")
    segments = head[26]
    packet = head[27 + segments : 27 + segments + 64]
    pre_skip = 0
    if packet.startswith(b"\x01vorbis") and len(packet) >= 16:
        codec, rate = "vorbis", struct.unpack("<I", packet[12:16])[0]
    elif packet.startswith(b"OpusHead") and len(packet) >= 12:
        codec, rate = "opus", 48_000  # Opus granule positions always count 48 kHz samples
        pre_skip = struct.unpack("<H", packet[10:12])[0]
    else:
        raise ContainerError("unsupported Ogg codec")
    duration = None
    last = tail.rfind(b"OggS")
    if last >= 0 and last + 14 <= len(tail) and rate:
        granule = struct.unpack("<q", tail[last + 6 : last + 14])[0]
        if granule > pre_skip:
            duration = (granule - pre_skip) / rate
    return OggMedia(codec=codec, duration_s=duration)


# ------------------------------------------------------------------------------------------------------------
# RIFF: WAV, WebP


def riff_end(data: bytes) -> int | None:
    """Offset just past a RIFF file (WebP), or None if the file is shorter than its header says."""
    if len(data) < 12 or data[:4] != b"RIFF":
        return None
    end = 8 + struct.unpack("<I", data[4:8])[0]
    return end if end <= len(data) else None


def wav_duration(fh: BinaryIO, size: int) -> float | None:
    fh.seek(12)
    pos = 12
    byte_rate = 0
    budget = _Budget(1000)
    while pos + 8 <= size:
        budget.spend()
        fh.seek(pos)
        chunk_id, chunk_size = struct.unpack("<4sI", fh.read(8))
        if chunk_id == b"fmt ":
            fmt = fh.read(16)
            if len(fmt) < 16:
                raise ContainerError("short fmt chunk")
            byte_rate = struct.unpack("<I", fmt[8:12])[0]
        elif chunk_id == b"data":
            data_size = min(chunk_size, size - pos - 8)  # 0xFFFFFFFF while streaming: use what is there
            return data_size / byte_rate if byte_rate else None
        pos += 8 + chunk_size + (chunk_size & 1)
    raise ContainerError("no data chunk")


# ------------------------------------------------------------------------------------------------------------
# MP3

_MP3_BITRATES = {
    1: (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    2: (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {1: (44100, 48000, 32000), 2: (22050, 24000, 16000), 25: (11025, 12000, 8000)}


@dataclass
class Mp3Frame:
    offset: int
    version: int  # 1, 2 or 25 (MPEG-2.5)
    bitrate_kbps: int
    sample_rate: int
    mono: bool


def mp3_frame(data: bytes, offset: int) -> Mp3Frame | None:
    """Decode an MPEG audio layer III frame header at `offset`, or None if there is none."""
    if offset + 4 > len(data) or data[offset] != 0xFF or data[offset + 1] & 0xE0 != 0xE0:
        return None
    version_bits = (data[offset + 1] >> 3) & 0x3
    layer_bits = (data[offset + 1] >> 1) & 0x3
    bitrate_index = data[offset + 2] >> 4
    rate_index = (data[offset + 2] >> 2) & 0x3
    if version_bits == 1 or layer_bits != 1 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    version = {3: 1, 2: 2, 0: 25}[version_bits]
    bitrate = _MP3_BITRATES[1 if version == 1 else 2][bitrate_index]
    mono = (data[offset + 3] >> 6) == 3
    return Mp3Frame(offset, version, bitrate, _MP3_RATES[version][rate_index], mono)


def mp3_first_frame(data: bytes) -> Mp3Frame | None:
    """The first frame after an optional ID3v2 tag (searching a little padding)."""
    offset = 0
    if data[:3] == b"ID3" and len(data) >= 10:
        tag_size = 0
        for byte in data[6:10]:
            tag_size = (tag_size << 7) | (byte & 0x7F)
        offset = 10 + tag_size + (10 if data[5] & 0x10 else 0)
    for candidate in range(offset, min(offset + 4096, len(data) - 3)):
        frame = mp3_frame(data, candidate)
        if frame is not None:
            return frame
    return None


def mp3_duration(head: bytes, size: int) -> float | None:
    """Duration from a Xing/Info frame count (VBR), else from the first frame's bitrate (CBR estimate)."""
    frame = mp3_first_frame(head)
    if frame is None:
        raise ContainerError("no MPEG audio frame")
    side_info = (17 if frame.mono else 32) if frame.version == 1 else (9 if frame.mono else 17)
    tag_at = frame.offset + 4 + side_info
    tag = head[tag_at : tag_at + 12]
    if tag[:4] in (b"Xing", b"Info") and len(tag) == 12:
        flags, frames = (int(value) for value in struct.unpack(">II", tag[4:12]))
        if flags & 1 and frames:
            samples = 1152 if frame.version == 1 else 576
            return frames * samples / frame.sample_rate
    return (size - frame.offset) * 8 / (frame.bitrate_kbps * 1000)


# ------------------------------------------------------------------------------------------------------------
# Where an image ends (so whatever follows can be inspected)


def jpeg_end(data: bytes) -> int | None:
    """Offset just past the EOI of the JPEG at the start of `data`; None if the marker structure is cut short.

    Segments are skipped by their lengths (an EXIF thumbnail's own EOI does not count) and entropy-coded
    data is scanned for the next real marker (0xFF00 stuffing and RSTn markers are data).
    """
    if data[:2] != b"\xff\xd8":
        return None
    n = len(data)
    pos = 2
    while pos < n:
        if data[pos] != 0xFF:
            return None
        while pos < n and data[pos] == 0xFF:
            pos += 1
        if pos >= n:
            return None
        marker = data[pos]
        pos += 1
        if marker == 0xD9:
            return pos
        if marker == 0x01 or 0xD0 <= marker <= 0xD7:
            continue
        if pos + 2 > n:
            return None
        length = (data[pos] << 8) | data[pos + 1]
        if length < 2 or pos + length > n:
            return None
        pos += length
        if marker == 0xDA:
            while True:
                pos = data.find(b"\xff", pos)
                if pos < 0 or pos + 1 >= n:
                    return None
                following = data[pos + 1]
                if following == 0x00 or 0xD0 <= following <= 0xD7:
                    pos += 2
                elif following == 0xFF:
                    pos += 1
                else:
                    break
    return None


def jpeg_metadata_segments(data: bytes, end: int) -> Iterator[bytes]:
    """Payloads of APPn and COM segments before the first scan (where smuggled payloads hide)."""
    pos = 2
    while pos + 4 <= end and data[pos] == 0xFF:
        marker = data[pos + 1]
        length = (data[pos + 2] << 8) | data[pos + 3]
        if marker == 0xDA or length < 2:
            return
        if 0xE0 <= marker <= 0xEF or marker == 0xFE:
            yield data[pos + 4 : pos + 2 + length]
        pos += 2 + length


def png_end(data: bytes) -> int | None:
    """Offset just past the IEND chunk, or None when a chunk is cut short or IEND is missing."""
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    pos = 8
    budget = _Budget(100_000)
    while pos + 12 <= len(data):
        budget.spend()
        length = int.from_bytes(data[pos : pos + 4], "big")
        end = pos + 12 + length
        if end > len(data):
            return None
        if data[pos + 4 : pos + 8] == b"IEND":
            return end
        pos = end
    return None


def gif_end(data: bytes) -> int | None:
    """Offset just past the GIF trailer (0x3B), or None when blocks are cut short."""
    if data[:6] not in (b"GIF87a", b"GIF89a") or len(data) < 13:
        return None
    n = len(data)
    pos = 13
    if data[10] & 0x80:
        pos += 3 * (2 ** ((data[10] & 0x07) + 1))

    def skip_sub_blocks(at: int) -> int | None:
        while at < n:
            block = data[at]
            at += 1
            if block == 0:
                return at
            at += block
        return None

    while pos < n:
        introducer = data[pos]
        if introducer == 0x3B:
            return pos + 1
        if introducer == 0x21:
            skipped = skip_sub_blocks(pos + 2)
        elif introducer == 0x2C:
            if pos + 10 > n:
                return None
            local_flags = data[pos + 9]
            pos += 10
            if local_flags & 0x80:
                pos += 3 * (2 ** ((local_flags & 0x07) + 1))
            skipped = skip_sub_blocks(pos + 1)  # +1: LZW minimum code size
        else:
            return None
        if skipped is None:
            return None
        pos = skipped
    return None


# ------------------------------------------------------------------------------------------------------------
# JPEG restart intervals: where one scan can be cut into bands that decode independently


@dataclass(frozen=True, slots=True)
class JpegRestartScan:
    """A sequential Huffman JPEG whose one interleaved scan carries restart markers (DRI).

    At every RSTn marker a decoder starts afresh (DC predictors zero, bit buffer empty), so the entropy-coded
    data after a marker that begins an MCU row, behind `header` with the frame's height cut down, is a
    complete JPEG of the rows that follow. Phones' encoders write such markers; Pillow and libjpeg do not
    unless asked.
    """

    header: bytes  # SOI and what a decoder needs: APP0/APP14 (colour space), tables, frame, DRI, SOS
    height_at: int  # offset of the frame's 2-byte height within `header`
    width: int
    height: int
    sampling: tuple[tuple[int, int], ...]  # (horizontal, vertical) sampling factor per component
    mcu_height: int
    mcus_per_row: int
    mcu_rows: int
    restart_interval: int  # in MCUs
    scan_start: int  # offset in the file of the first entropy-coded byte

    def band_header(self, height: int) -> bytes:
        """`header` for a band `height` pixels tall."""
        at = self.height_at
        return self.header[:at] + height.to_bytes(2, "big") + self.header[at + 2 :]


# APPn segments other than JFIF (APP0) and Adobe (APP14) are metadata (EXIF, ICC, MPF, XMP): a band needs none.
_JPEG_DECODING_SEGMENTS = {0xC0, 0xC1, 0xC4, 0xDB, 0xDD, 0xE0, 0xEE}
_JPEG_MARKER = re.compile(rb"\xff[^\x00\xff]")


def jpeg_restart_scan(data: bytes) -> JpegRestartScan | None:
    """The layout of a baseline/extended JPEG with restart markers in one interleaved scan, else None.

    None for progressive, lossless and arithmetic-coded files, for several scans, without DRI, and for any
    structure that does not parse: such files are decoded in one piece.
    """
    if data[:2] != b"\xff\xd8":
        return None
    n = len(data)
    pos = 2
    kept = [b"\xff\xd8"]
    kept_len = 2
    frame: tuple[int, int, int, tuple[tuple[int, int], ...]] | None = None
    height_at = 0
    interval = 0
    while pos + 4 <= n:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        length = (data[pos + 2] << 8) | data[pos + 3]
        end = pos + 2 + length
        if length < 2 or end > n:
            return None
        if marker in (0xC0, 0xC1):
            if frame is not None or length < 8:
                return None
            _precision, height, width, count = struct.unpack_from(">BHHB", data, pos + 4)
            if length != 8 + 3 * count or not 1 <= count <= 4 or not height or not width:
                return None
            sampling = tuple((data[pos + 11 + 3 * i] >> 4, data[pos + 11 + 3 * i] & 15) for i in range(count))
            if any(not 1 <= h <= 4 or not 1 <= v <= 4 for h, v in sampling):
                return None
            frame = (width, height, count, sampling)
            height_at = kept_len + 5
        elif 0xC2 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return None  # progressive, lossless, hierarchical or arithmetic coding
        elif marker == 0xDD and length == 4:
            interval = (data[pos + 4] << 8) | data[pos + 5]
        elif marker == 0xDA:
            if frame is None or not interval or length < 3:
                return None
            width, height, count, sampling = frame
            if data[pos + 4] != count:
                return None  # not one interleaved scan of every component
            kept.append(data[pos:end])
            if count == 1:
                mcu_width = mcu_height = 8  # a single-component scan's MCU is one block
            else:
                mcu_width = 8 * max(h for h, _v in sampling)
                mcu_height = 8 * max(v for _h, v in sampling)
            return JpegRestartScan(
                header=b"".join(kept),
                height_at=height_at,
                width=width,
                height=height,
                sampling=sampling,
                mcu_height=mcu_height,
                mcus_per_row=-(-width // mcu_width),
                mcu_rows=-(-height // mcu_height),
                restart_interval=interval,
                scan_start=end,
            )
        elif marker in (0x01, 0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            return None  # standalone markers do not belong before the scan
        if marker in _JPEG_DECODING_SEGMENTS:
            kept.append(data[pos:end])
            kept_len += end - pos
        pos = end
    return None


def jpeg_restart_cuts(
    data: bytes, scan: JpegRestartScan, parts: int, end: int | None = None
) -> list[tuple[int, int]] | None:
    """Where to cut the scan into `parts` bands of about equal entropy-coded size, or None.

    Each cut is (offset of an RSTn marker, the MCU row that starts right after it). A cut is only made at a
    marker that begins an MCU row and is RST7, so the next band's markers run RST0, RST1, ... as a decoder
    starting afresh expects. Every marker before the last cut is checked to be the restart marker due there:
    a missing, reordered or foreign marker gives None, and the file is decoded in one piece, so a band never
    shows what a decoder reading the whole file would not.

    `end` is where the image's data is taken to end (default: the end of `data`); the search stops once a
    cut lies past the last share. Phones append previews, depth maps and videos after the image: when the
    end of image turns up first, the shares are taken from where it really is.
    """
    per_row = scan.mcus_per_row
    total = per_row * scan.mcu_rows
    start = scan.scan_start
    shares = _shares(start, len(data) if end is None else end, parts)
    candidates: list[tuple[int, int]] = []
    index = 0
    for match in _JPEG_MARKER.finditer(data, start):
        offset = match.start()
        code = data[offset + 1]
        if code == 0xD9:  # end of image before the last share: the whole scan has been checked
            return _nearest(candidates, _shares(start, offset, parts))
        if code != 0xD0 + (index & 7):
            return None
        index += 1
        mcu = index * scan.restart_interval
        if mcu >= total:
            return None
        if index & 7 or mcu % per_row:
            continue
        candidates.append((offset, mcu // per_row))
        if offset >= shares[-1]:
            return _nearest(candidates, shares)
    return None


def _shares(start: int, end: int, parts: int) -> list[int]:
    return [start + (end - start) * i // parts for i in range(1, parts)]


def _nearest(candidates: list[tuple[int, int]], shares: list[int]) -> list[tuple[int, int]] | None:
    """For each share in turn, the candidate nearest to it after the one taken for the share before."""
    cuts: list[tuple[int, int]] = []
    at = 0
    for share in shares:
        left = candidates[at:]
        if not left:
            return None
        best = min(range(len(left)), key=lambda i: abs(left[i][0] - share))
        cuts.append(left[best])
        at += best + 1
    return cuts
