"""Media sniffing, probing and derivatives, against a corpus of good and hostile files generated here."""

from __future__ import annotations

import io
import struct
import wave
import zipfile
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageFont

from storage import MediaRejected, MediaUnsupported, media
from storage.media import (
    DEFAULT_LIMITS,
    MediaLimits,
    derivatives,
    display_derivative,
    format_watermark,
    poster_frame,
    probe,
    sniff,
    thumbnail,
)
from tests.conftest import IN_CI
from tests.media_clips import encoded_clip, needs_ffmpeg

MiB = 1024 * 1024

# -- corpus builders -----------------------------------------------------------------------------------------


def jpeg(size: tuple[int, int] = (64, 48), exif: Image.Exif | None = None, colour: str = "gray") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG", quality=90, exif=exif.tobytes() if exif else b"")
    return out.getvalue()


def encoded(image_format: str, size: tuple[int, int] = (40, 30), mode: str = "RGB") -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "teal").save(out, image_format)
    return out.getvalue()


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def png_claiming(width: int, height: int) -> bytes:
    """A few hundred bytes that announce width × height pixels: the decompression-bomb shape."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + png_chunk(b"IHDR", header)
        + png_chunk(b"IDAT", zlib.compress(b"\x00" * 1000))
        + png_chunk(b"IEND", b"")
    )


def box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", 8 + len(payload)) + kind + payload


def ftyp(major: bytes, *compatible: bytes) -> bytes:
    return box(b"ftyp", major + b"\x00\x00\x02\x00" + b"".join(compatible or (major,)))


def mvhd(duration_s: float, timescale: int = 1000, version: int = 0) -> bytes:
    if version == 1:
        fields = struct.pack(">QQIQ", 0, 0, timescale, round(duration_s * timescale))
    else:
        fields = struct.pack(">IIII", 0, 0, timescale, round(duration_s * timescale))
    return box(b"mvhd", bytes([version, 0, 0, 0]) + fields + b"\x00" * 80)


def trak(handler: bytes, width: int = 0, height: int = 0, rotate: bool = False) -> bytes:
    matrix = (
        (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
        if rotate
        else (0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    )
    tkhd = box(
        b"tkhd",
        b"\x00\x00\x00\x03" + struct.pack(">IIIII", 0, 0, 1, 0, 0) + b"\x00" * 16
        + struct.pack(">9i", *matrix) + struct.pack(">II", width << 16, height << 16),
    )  # fmt: skip
    hdlr = box(b"hdlr", b"\x00" * 8 + handler + b"\x00" * 12 + b"track\x00")
    return box(b"trak", tkhd + box(b"mdia", hdlr))


def mp4(duration_s: float = 12.345, *tracks: bytes, brand: bytes = b"isom", version: int = 0) -> bytes:
    return (
        ftyp(brand, brand, b"mp41")
        + box(b"moov", mvhd(duration_s, version=version) + b"".join(tracks))
        + box(b"mdat", b"\x00" * 64)
    )


def ebml_element(element_id: bytes, payload: bytes, unknown_size: bool = False) -> bytes:
    size = b"\x01\xff\xff\xff\xff\xff\xff\xff" if unknown_size else b"\x01" + len(payload).to_bytes(7, "big")
    return element_id + size + payload


def webm(duration_ms: float | None = 5000.0, track_type: int = 1, unknown_size: bool = False) -> bytes:
    header = ebml_element(b"\x1a\x45\xdf\xa3", ebml_element(b"\x42\x82", b"webm"))
    info = ebml_element(b"\x2a\xd7\xb1", (1_000_000).to_bytes(3, "big"))
    if duration_ms is not None:
        info += ebml_element(b"\x44\x89", struct.pack(">d", duration_ms))
    entry = ebml_element(b"\x83", bytes([track_type]))
    if track_type == 1:
        entry += ebml_element(
            b"\xe0",
            ebml_element(b"\xb0", (640).to_bytes(2, "big")) + ebml_element(b"\xba", (480).to_bytes(2, "big")),
        )
    segment = ebml_element(b"\x15\x49\xa9\x66", info) + ebml_element(
        b"\x16\x54\xae\x6b", ebml_element(b"\xae", entry)
    )
    segment += ebml_element(b"\x1f\x43\xb6\x75", b"\x00" * 32)  # a cluster
    return header + ebml_element(b"\x18\x53\x80\x67", segment, unknown_size=unknown_size)


def ogg_page(granule: int, packet: bytes, header_type: int = 0) -> bytes:
    return (
        b"OggS" + struct.pack("<BBqIIIB", 0, header_type, granule, 1, 0, 0, 1) + bytes([len(packet)]) + packet
    )


def ogg_opus(seconds: float) -> bytes:
    head = b"OpusHead" + struct.pack("<BBHIhB", 1, 1, 312, 48000, 0, 0)
    return (
        ogg_page(0, head, 2)
        + ogg_page(0, b"OpusTags" + b"\x00" * 8)
        + ogg_page(312 + round(seconds * 48000), b"\x00" * 20, 4)
    )


def wav(seconds: float, rate: int = 8000) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(b"\x00\x00" * round(rate * seconds))
    return out.getvalue()


def mp3(frames: int, xing_frames: int | None = None) -> bytes:
    """MPEG-1 layer III, 128 kbit/s, 44.1 kHz, joint stereo: 417-byte frames."""
    frame = b"\xff\xfb\x90\x64" + b"\x00" * 413
    first = frame
    if xing_frames is not None:
        first = frame[:36] + b"Xing" + struct.pack(">II", 1, xing_frames) + frame[48:]
    return b"ID3\x03\x00\x00\x00\x00\x00\x0a" + b"\x00" * 10 + first + frame * (frames - 1)


def heic(width: int = 4032, height: int = 3024) -> bytes:
    ispe = box(b"ispe", b"\x00\x00\x00\x00" + struct.pack(">II", width, height))
    tile = box(b"ispe", b"\x00\x00\x00\x00" + struct.pack(">II", 512, 512))
    meta = box(
        b"meta",
        b"\x00\x00\x00\x00"
        + box(b"hdlr", b"\x00" * 8 + b"pict" + b"\x00" * 13)
        + box(b"iprp", box(b"ipco", tile + ispe)),
    )
    return ftyp(b"heic", b"mif1", b"heic") + meta + box(b"mdat", b"\x00" * 32)


def reason(excinfo: pytest.ExceptionInfo[MediaRejected]) -> str:
    return excinfo.value.reason


# -- the hostile corpus --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"", "empty"),
        (b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200, "executable"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 100, "executable"),
        (b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nshowpage\n", "postscript"),
        (b"\xc5\xd0\xd3\xc6" + b"\x00" * 60, "postscript"),
        (b"#!/bin/sh\nrm -rf /\n", "markup"),
        (b"<svg xmlns='http://www.w3.org/2000/svg'><script>alert(1)</script></svg>", "markup"),
        (b"\xef\xbb\xbf  <!DOCTYPE html><html></html>", "markup"),
        (b"\x1f\x8b\x08\x00" + b"\x00" * 20, "archive"),
        (b"just some text that is not evidence", "unknown_type"),
        (ftyp(b"crx ") + b"\x00" * 40, "unknown_type"),
    ],
)
def test_refused_by_type(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "evidence.jpg"  # the name lies; only the bytes count
    path.write_bytes(data)
    with pytest.raises(MediaRejected) as excinfo:
        probe(path)
    assert reason(excinfo) == expected
    assert excinfo.value.message  # user-facing Chinese text


def test_zip_named_jpg(tmp_path: Path) -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("payload.exe", b"MZ" + b"\x00" * 100)
    with pytest.raises(MediaRejected) as excinfo:
        probe(out.getvalue())
    assert reason(excinfo) == "archive"


def test_eps_never_reaches_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_open(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("Pillow must not be asked to open EPS")

    monkeypatch.setattr(Image, "open", no_open)
    eps = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"
    for function in (probe, thumbnail, display_derivative):
        with pytest.raises(MediaRejected):
            function(eps)


@pytest.mark.parametrize("dimensions", [(100_000, 100_000), (10_000, 10_000)])
def test_decompression_bomb_png_is_refused_before_decoding(dimensions: tuple[int, int]) -> None:
    # 100k² trips Pillow's DecompressionBombError, 10k² (just over MAX_IMAGE_PIXELS) its warning.
    bomb = png_claiming(*dimensions)
    assert len(bomb) < 1000
    for function in (probe, thumbnail):
        with pytest.raises(MediaRejected) as excinfo:
            function(bomb)
        assert reason(excinfo) == "too_many_pixels"


def test_pixel_limit_is_configurable() -> None:
    with pytest.raises(MediaRejected) as excinfo:
        probe(jpeg((64, 48)), limits=MediaLimits(max_pixels=1000))
    assert reason(excinfo) == "too_many_pixels"


def test_truncated_jpeg_is_refused() -> None:
    data = jpeg((300, 200))
    cut = data[: len(data) // 2]
    for function in (probe, thumbnail):
        with pytest.raises(MediaRejected) as excinfo:
            function(cut)
        assert reason(excinfo) == "truncated"


@settings(database=None, max_examples=60, deadline=None)
@given(st.data())
def test_every_prefix_of_a_jpeg_is_refused(data: st.DataObject) -> None:
    whole = jpeg((48, 32))
    cut = data.draw(st.integers(min_value=1, max_value=len(whole) - 1))
    with pytest.raises(MediaRejected):
        probe(whole[:cut])


def test_jpeg_zip_polyglot_is_refused() -> None:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("shell.php", "<?php system($_GET['c']); ?>")
    with pytest.raises(MediaRejected) as excinfo:
        probe(jpeg() + out.getvalue())
    assert reason(excinfo) == "polyglot"


def test_zip_hidden_in_a_jpeg_comment_is_refused() -> None:
    data = jpeg()
    payload = b"PK\x03\x04" + b"\x00" * 40
    comment = b"\xff\xfe" + struct.pack(">H", len(payload) + 2) + payload
    with pytest.raises(MediaRejected) as excinfo:
        probe(data[:2] + comment + data[2:])
    assert reason(excinfo) == "polyglot"


def test_harmless_trailing_data_is_flagged_not_refused() -> None:
    # Phones append depth maps and motion-photo clips after the JPEG's EOI.
    info = probe(jpeg() + b"\x00\x00\x00\x18ftypmp42" + b"\x01" * 200)
    assert info.mime == "image/jpeg" and "trailing_data" in info.flags


def test_fake_mp4_over_the_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "huge.mp4"
    with open(path, "wb") as fh:
        fh.write(ftyp(b"isom"))
        fh.truncate(DEFAULT_LIMITS.max_video_bytes + 1)  # sparse: costs no disk
    with pytest.raises(MediaRejected) as excinfo:
        probe(path)
    assert reason(excinfo) == "too_large"
    small_limit = MediaLimits(max_video_bytes=1 * MiB)
    with pytest.raises(MediaRejected) as excinfo:
        probe(mp4(5.0) + b"\x00" * (2 * MiB), limits=small_limit)
    assert reason(excinfo) == "too_large"


# -- images --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "mime"),
    [
        (jpeg((64, 48)), "image/jpeg"),
        (encoded("PNG", mode="RGBA"), "image/png"),
        (encoded("GIF", mode="P"), "image/gif"),
        (encoded("WEBP"), "image/webp"),
    ],
)
def test_images_are_identified(data: bytes, mime: str) -> None:
    info = probe(data)
    assert (info.kind, info.mime, info.size, info.flags) == ("image", mime, len(data), ())
    assert (info.width, info.height) in ((64, 48), (40, 30))
    assert thumbnail(data)[:2] == b"\xff\xd8"


@pytest.mark.parametrize("image_format", ["PNG", "GIF", "WEBP"])
def test_truncated_images_are_refused(image_format: str) -> None:
    data = encoded(image_format, (200, 150))
    with pytest.raises(MediaRejected) as excinfo:
        probe(data[:-10])
    assert reason(excinfo) == "truncated"


def test_heic_is_accepted_without_preview() -> None:
    info = probe(heic())
    assert (info.kind, info.mime, info.width, info.height) == ("image", "image/heic", 4032, 3024)
    assert "no_preview" in info.flags
    with pytest.raises(MediaUnsupported):
        thumbnail(heic())


def oriented_photo(size: tuple[int, int] = (400, 200), right: str | tuple[int, int, int] = "blue") -> bytes:
    """`size` as stored (400×200), left half red and right half `right` (blue), EXIF orientation 6 (camera
    turned), with GPS."""
    width, height = size
    img = Image.new("RGB", size, right)
    img.paste((255, 0, 0), (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x8825] = {1: "N", 2: (30.0, 15.0, 0.0), 3: "E", 4: (120.0, 10.0, 0.0)}
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, exif=exif.tobytes())
    return out.getvalue()


def test_probe_reports_display_dimensions() -> None:
    info = probe(oriented_photo())
    assert (info.width, info.height) == (200, 400)


def test_thumbnail_is_upright_small_and_bare() -> None:
    thumb = Image.open(io.BytesIO(thumbnail(oriented_photo(), 320)))
    assert thumb.format == "JPEG" and thumb.size == (160, 320)
    red = cast(tuple[int, int, int], thumb.getpixel((80, 20)))
    blue = cast(tuple[int, int, int], thumb.getpixel((80, 300)))
    assert red[0] > 200 and red[2] < 60  # rotated 90° clockwise: the stored left edge is now the top
    assert blue[2] > 200 and blue[0] < 60
    assert len(thumb.getexif()) == 0


def test_display_derivative_strips_exif_and_gps() -> None:
    derivative = Image.open(io.BytesIO(display_derivative(oriented_photo(), 1600)))
    assert derivative.size == (200, 400)
    assert "exif" not in derivative.info and len(derivative.getexif()) == 0
    kept = Image.open(io.BytesIO(display_derivative(oriented_photo(), 1600, strip_gps=False)))
    exif = kept.getexif()
    assert exif.get(0x0112, 1) == 1  # orientation already applied
    assert exif.get_ifd(0x8825).get(1) == "N"


def test_both_derivatives_from_one_decode() -> None:
    """One read and one decode for an upload's two derivatives: the same shapes as the separate functions, the
    watermark only on the display copy, no EXIF (GPS) in either."""
    photo = oriented_photo((2400, 1200), (200, 200, 200))
    thumb_data, display_data = derivatives(photo, 320, 1600, watermark_lines=["检查员 张三", "执法证号 X"])
    thumb, display = Image.open(io.BytesIO(thumb_data)), Image.open(io.BytesIO(display_data))
    assert thumb.size == (160, 320) and display.size == (800, 1600)  # upright (orientation 6), bounded
    assert len(thumb.getexif()) == 0 and len(display.getexif()) == 0
    separate = Image.open(io.BytesIO(thumbnail(photo, 320)))
    assert thumb.size == separate.size
    assert max(ImageChops.difference(thumb.convert("L"), separate.convert("L")).getextrema()) < 40
    bottom_thumb = cast(tuple[int, int, int], thumb.getpixel((80, 315)))
    bottom_display = cast(tuple[int, int, int], display.getpixel((10, 1595)))
    assert min(bottom_thumb) > 150  # no dark band on the thumbnail
    assert max(bottom_display) < 150  # the watermark band on the display copy
    with pytest.raises(ValueError):
        derivatives(photo, 1600, 320)


def test_watermark_is_burnt_into_the_bottom_band() -> None:
    source = jpeg((1200, 900), colour="#6a8caf")
    lines = format_watermark(
        captured_at=datetime(2025, 5, 20, 2, 30, tzinfo=UTC),
        inspector="张三",
        certificate_no="浙执01234567",
        enterprise="杭州某某食品有限公司",
        lat=30.27415,
        lng=120.15515,
        accuracy_m=8,
    )
    assert lines[0] == "时间：2025-05-20 10:30:00"
    assert lines[1] == "位置：N30.274150° E120.155150°（±8 米）"
    assert lines[2] == "检查人员：张三（执法证号 浙执01234567）"
    plain = Image.open(io.BytesIO(display_derivative(source, 1600)))
    marked = Image.open(io.BytesIO(display_derivative(source, 1600, watermark_lines=lines)))
    assert marked.size == plain.size == (1200, 900)
    changed = ImageChops.difference(plain.convert("RGB"), marked.convert("RGB")).getbbox()
    assert changed is not None
    assert changed[1] > 900 * 0.55  # only the band at the bottom differs
    assert "exif" not in marked.info


def test_watermark_without_position() -> None:
    lines = format_watermark(
        captured_at=datetime(2025, 5, 20, 2, 30, tzinfo=UTC),
        inspector="李四",
        certificate_no="1",
        enterprise="某店",
    )
    assert lines[1] == "位置：未获取定位"
    with pytest.raises(ValueError):
        format_watermark(
            captured_at=datetime(2025, 5, 20), inspector="李四", certificate_no="1", enterprise="某店"
        )


def test_cjk_font_is_found_when_installed() -> None:
    if not Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc").exists() and not IN_CI:
        pytest.skip("fonts-noto-cjk not installed (CI installs it)")
    assert media.cjk_font_path() is not None
    font = media._font(24, None)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert "CJK SC" in " ".join(str(part) for part in font.getname())


def test_non_seekable_stream() -> None:
    class Pipe(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._inner = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
            return self._inner.readinto(buffer)

    assert probe(Pipe(jpeg())).mime == "image/jpeg"  # type: ignore[arg-type]
    assert probe(Pipe(mp4(3.0))).duration_s == pytest.approx(3.0)  # type: ignore[arg-type]


# -- video and audio -----------------------------------------------------------------------------------------


def test_minimal_mp4_duration() -> None:
    info = probe(mp4(12.345))
    assert (info.kind, info.mime) == ("video", "video/mp4")
    assert info.duration_s == pytest.approx(12.345)
    assert probe(
        mp4(7200.5, version=1), limits=MediaLimits(max_video_seconds=8000)
    ).duration_s == pytest.approx(7200.5)


def test_mp4_tracks_dimensions_and_rotation() -> None:
    portrait = probe(mp4(3.0, trak(b"vide", 1920, 1080, rotate=True), trak(b"soun")))
    assert (portrait.width, portrait.height) == (1080, 1920)
    audio_only = probe(mp4(60.0, trak(b"soun")))
    assert (audio_only.kind, audio_only.mime) == ("audio", "audio/mp4")
    assert probe(mp4(2.0, brand=b"qt  ")).mime == "video/quicktime"
    assert probe(mp4(2.0, brand=b"3gp4")).mime == "video/3gpp"


def test_video_duration_limit() -> None:
    with pytest.raises(MediaRejected) as excinfo:
        probe(mp4(3600.0))
    assert reason(excinfo) == "too_long"


def test_incomplete_mp4_is_refused() -> None:
    cut = ftyp(b"isom") + box(b"moov", mvhd(5.0)) + struct.pack(">I", 1_000_000) + b"mdat" + b"\x00" * 100
    with pytest.raises(MediaRejected) as excinfo:
        probe(cut)
    assert reason(excinfo) == "truncated"
    no_moov = ftyp(b"isom") + box(b"mdat", b"\x00" * 100)
    with pytest.raises(MediaRejected) as excinfo:
        probe(no_moov)
    assert reason(excinfo) == "truncated"


def test_webm() -> None:
    info = probe(webm(5000.0))
    assert (info.kind, info.mime, info.width, info.height) == ("video", "video/webm", 640, 480)
    assert info.duration_s == pytest.approx(5.0)
    audio = probe(webm(2500.0, track_type=2))
    assert (audio.kind, audio.mime, audio.duration_s) == ("audio", "audio/webm", pytest.approx(2.5))
    live = probe(webm(None, unknown_size=True))  # what MediaRecorder writes
    assert live.duration_s is None and "duration_unknown" in live.flags


def test_audio_formats() -> None:
    assert probe(wav(1.5)).duration_s == pytest.approx(1.5)
    opus = probe(ogg_opus(3.0))
    assert (opus.mime, opus.duration_s) == ("audio/ogg", pytest.approx(3.0))
    cbr = probe(mp3(100))
    assert cbr.mime == "audio/mpeg" and cbr.duration_s == pytest.approx(100 * 1152 / 44100, rel=0.02)
    assert probe(mp3(10, xing_frames=1000)).duration_s == pytest.approx(1000 * 1152 / 44100)
    with pytest.raises(MediaRejected) as excinfo:
        probe(wav(10.0), limits=MediaLimits(max_audio_seconds=5))
    assert reason(excinfo) == "too_long"


def test_pdf() -> None:
    document = b"%PDF-1.7\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    info = probe(document)
    assert (info.kind, info.mime) == ("document", "application/pdf")
    with pytest.raises(MediaRejected) as excinfo:
        probe(document[:20])
    assert reason(excinfo) == "truncated"
    with pytest.raises(MediaRejected) as excinfo:
        thumbnail(document)
    assert reason(excinfo) == "not_image"


def test_sniff_needs_only_the_head() -> None:
    assert sniff(jpeg()[:16]) == ("image", "image/jpeg")
    assert sniff(mp4(1.0)[:64]) == ("video", "video/mp4")
    assert sniff(heic()[:64]) == ("image", "image/heic")


# -- robustness ----------------------------------------------------------------------------------------------

SEEDS = [
    jpeg((32, 24)),
    encoded("PNG"),
    encoded("GIF", mode="P"),
    encoded("WEBP"),
    mp4(4.0, trak(b"vide", 640, 480)),
    webm(),
    ogg_opus(1.0),
    wav(0.2),
    mp3(5),
    heic(),
]


@settings(database=None, max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    cut=st.integers(min_value=0, max_value=4096),
    flips=st.lists(st.tuples(st.integers(0, 4095), st.integers(1, 255)), max_size=4),
)
def test_damaged_files_only_ever_raise_media_errors(
    seed: bytes, cut: int, flips: list[tuple[int, int]]
) -> None:
    damaged = bytearray(seed[: max(1, len(seed) - cut)])
    for position, mask in flips:
        damaged[position % len(damaged)] ^= mask
    try:
        probe(bytes(damaged))
    except (MediaRejected, MediaUnsupported):
        pass


@settings(database=None, max_examples=200, deadline=None)
@given(st.binary(min_size=1, max_size=512))
def test_random_bytes_are_refused_or_identified(data: bytes) -> None:
    try:
        probe(data)
    except MediaRejected:
        pass


# -- poster frames -------------------------------------------------------------------------------------------


def test_poster_frame_without_ffmpeg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media.shutil, "which", lambda _name: None)
    path = tmp_path / "clip.mp4"
    path.write_bytes(mp4(1.0))
    assert poster_frame(path) is None


@needs_ffmpeg
def test_poster_frame_with_ffmpeg(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mp4"
    encoded_clip(clip)
    still = poster_frame(clip, max_px=160)
    assert still is not None
    image = Image.open(io.BytesIO(still))
    assert image.format == "JPEG" and max(image.size) == 160
    info = probe(clip)
    assert info.kind == "video" and info.duration_s == pytest.approx(2.0, abs=0.2) and info.width == 320
    not_video = tmp_path / "photo.mp4"
    not_video.write_bytes(jpeg())
    with pytest.raises(MediaRejected):
        poster_frame(not_video)
