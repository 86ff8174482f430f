"""JPEGs with restart markers decoded as bands on several threads: pixel for pixel what one decode gives."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw

from storage import MediaRejected, media
from storage.containers import jpeg_restart_cuts, jpeg_restart_scan
from storage.media import DEFAULT_LIMITS, thumbnail

SIZE = (1001, 757)  # not a whole number of MCUs either way


def picture(size: tuple[int, int] = SIZE, mode: str = "RGB") -> Image.Image:
    """Noise over shapes: every MCU row different, so a band in the wrong place cannot go unnoticed."""
    noise = [Image.effect_noise(size, 50) for _ in range(3)]
    base = Image.merge("RGB", noise)
    draw = ImageDraw.Draw(base)
    for i in range(12):
        x, y = (i * 97) % size[0], (i * 61) % size[1]
        draw.ellipse((x, y, x + 180, y + 120), fill=((i * 53) % 256, (i * 91) % 256, (i * 37) % 256))
    return base.convert(mode)


def encode(img: Image.Image, **options: object) -> bytes:
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90, **options)
    return out.getvalue()


@pytest.fixture
def bands(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """Band decoding on for small test files, on two threads; yields how many bands each decode used."""
    monkeypatch.setattr(media, "_BAND_MIN_BYTES", 0)
    monkeypatch.setattr(media, "_usable_cpus", lambda: 2)
    used: list[int] = []
    real = media._decode_band

    def counting(*args: object) -> Image.Image:
        used.append(1)
        return real(*args)  # type: ignore[arg-type]

    monkeypatch.setattr(media, "_decode_band", counting)
    yield used


def decode(data: bytes, max_px: int) -> Image.Image:
    img, _icc, _exif = media._decode(data, max_px, DEFAULT_LIMITS)
    return img


def decode_whole(data: bytes, max_px: int, monkeypatch: pytest.MonkeyPatch) -> Image.Image:
    with monkeypatch.context() as patch:
        patch.setattr(media, "_usable_cpus", lambda: 1)
        return decode(data, max_px)


# The scale is set by the shorter side (757): max_px 90 -> 1/8, 180 -> 1/4, 370 -> 1/2, 1001 -> 1/1
SCALES = {90: 8, 180: 4, 370: 2, 1001: 1}


@pytest.mark.parametrize("max_px", sorted(SCALES))
@pytest.mark.parametrize(
    ("subsampling", "restart"),
    [
        (0, {"restart_marker_rows": 1}),  # 4:4:4
        (1, {"restart_marker_rows": 2}),  # 4:2:2
        (2, {"restart_marker_rows": 1}),  # 4:2:0, as phones write
        (2, {"restart_marker_blocks": 9}),  # intervals that do not line up with rows
    ],
)
def test_bands_equal_one_decode(
    bands: list[int], monkeypatch: pytest.MonkeyPatch, max_px: int, subsampling: int, restart: dict[str, int]
) -> None:
    data = encode(picture(), subsampling=subsampling, **restart)
    whole = decode_whole(data, max_px, monkeypatch)
    bands.clear()
    banded = decode(data, max_px)
    assert banded.tobytes() == whole.tobytes()
    cross_row_upsampling = subsampling == 2 and SCALES[max_px] == 1
    assert len(bands) == (0 if cross_row_upsampling else 2)


@pytest.mark.parametrize("mode", ["L", "CMYK"])
def test_greyscale_and_cmyk_bands(bands: list[int], monkeypatch: pytest.MonkeyPatch, mode: str) -> None:
    data = encode(picture(mode=mode), restart_marker_rows=1)
    assert decode(data, 250).tobytes() == decode_whole(data, 250, monkeypatch).tobytes()
    assert len(bands) == 2


def test_four_bands_on_four_cores(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_usable_cpus", lambda: 8)
    data = encode(picture((1600, 1200)), restart_marker_rows=1)
    whole = decode_whole(data, 200, monkeypatch)
    assert decode(data, 200).tobytes() == whole.tobytes()
    assert len(bands) == media._MAX_BANDS


def test_thumbnail_with_orientation_icc_and_trailing_image(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to view
    icc = b"\x00\x00\x02\x0cfake-profile" + bytes(500)
    data = encode(picture(), restart_marker_rows=1, exif=exif.tobytes(), icc_profile=icc)
    data += encode(picture((200, 150)))  # a second image after EOI, as phones append previews and depth maps
    with monkeypatch.context() as patch:
        patch.setattr(media, "_usable_cpus", lambda: 1)
        expected = thumbnail(data, 200)
    bands.clear()
    produced = thumbnail(data, 200)
    assert len(bands) == 2
    assert produced == expected
    with Image.open(io.BytesIO(produced)) as thumb:
        assert thumb.height > thumb.width  # upright: the stored landscape turned to portrait
        assert thumb.info.get("icc_profile") == icc
        assert not thumb.getexif()


def test_no_restart_markers_decodes_whole(bands: list[int]) -> None:
    data = encode(picture())
    assert jpeg_restart_scan(data) is None
    decode(data, 125)
    assert bands == []


def test_progressive_decodes_whole(bands: list[int]) -> None:
    data = encode(picture(), progressive=True, restart_marker_rows=1)
    assert jpeg_restart_scan(data) is None
    decode(data, 125)
    assert bands == []


def test_small_files_decode_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_usable_cpus", lambda: 2)
    calls: list[int] = []
    monkeypatch.setattr(media, "_decode_band", lambda *args: calls.append(1))
    data = encode(picture((320, 240)), restart_marker_rows=1)
    assert len(data) < media._BAND_MIN_BYTES
    decode(data, 100)
    assert calls == []


def test_one_cpu_decodes_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(media, "_BAND_MIN_BYTES", 0)
    monkeypatch.setattr(media, "_usable_cpus", lambda: 1)
    calls: list[int] = []
    monkeypatch.setattr(media, "_decode_band", lambda *args: calls.append(1))
    decode(encode(picture(), restart_marker_rows=1), 125)
    assert calls == []


def restart_offsets(data: bytes) -> list[int]:
    scan = jpeg_restart_scan(data)
    assert scan is not None
    offsets, at = [], scan.scan_start
    while (at := data.find(b"\xff", at)) >= 0 and data[at + 1] != 0xD9:
        if 0xD0 <= data[at + 1] <= 0xD7:
            offsets.append(at)
        at += 2
    return offsets


def test_cuts_are_row_starts_after_rst7_near_the_middle() -> None:
    data = encode(picture(), restart_marker_rows=1)
    scan = jpeg_restart_scan(data)
    assert scan is not None
    assert (scan.width, scan.height, scan.mcu_height, scan.mcus_per_row) == (1001, 757, 16, 63)
    assert scan.restart_interval == 63
    offsets = restart_offsets(data)
    assert len(offsets) == scan.mcu_rows - 1
    cuts = jpeg_restart_cuts(data, scan, 2)
    assert cuts is not None and len(cuts) == 1
    offset, row = cuts[0]
    index = offsets.index(offset)
    assert index % 8 == 7 and row == index + 1
    middle = (scan.scan_start + len(data)) // 2
    rst7 = [offsets[i] for i in range(7, len(offsets), 8)]
    assert abs(offset - middle) == min(abs(candidate - middle) for candidate in rst7)


def test_cuts_find_the_middle_of_the_image_not_of_the_file(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A video appended after the image (a motion photo) is longer than the image: the share is the image's."""
    image = encode(picture(), restart_marker_rows=1)
    data = image + bytes(range(256)) * (3 * len(image) // 256)
    scan = jpeg_restart_scan(data)
    assert scan is not None
    cuts = jpeg_restart_cuts(data, scan, 2)
    assert cuts == jpeg_restart_cuts(image, scan, 2)
    assert cuts == jpeg_restart_cuts(data, scan, 2, end=len(image))
    assert decode(data, 90).tobytes() == decode_whole(data, 90, monkeypatch).tobytes()
    assert len(bands) == 2


def test_multi_picture_file_shares_by_the_first_image(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """An MPO (MPF, as iPhones write: the photo, then a preview or gain map) is cut by the first image's size."""
    first = picture()
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[picture((800, 600))], quality=90, restart_marker_rows=1)
    data = out.getvalue()
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "MPO"
        end = media._first_image_end(img, len(data))
    assert end is not None and end < len(data) and data[end - 2 : end] == b"\xff\xd9"
    assert decode(data, 90).tobytes() == decode_whole(data, 90, monkeypatch).tobytes()
    assert len(bands) == 2


@pytest.mark.parametrize(
    "damage",
    [
        lambda code: 0xD0 + (code - 0xD0 + 2) % 8,  # a restart marker out of order (one went missing)
        lambda code: 0xD9,  # an end of image inside the scan
        lambda code: 0xC4,  # a table segment inside the scan
    ],
)
def test_damaged_markers_before_the_cut_decode_whole(
    bands: list[int], monkeypatch: pytest.MonkeyPatch, damage: object
) -> None:
    data = bytearray(encode(picture(), restart_marker_rows=1))
    at = restart_offsets(bytes(data))[3]
    data[at + 1] = damage(data[at + 1])  # type: ignore[operator]
    damaged = bytes(data)
    scan = jpeg_restart_scan(damaged)
    assert scan is not None and jpeg_restart_cuts(damaged, scan, 2) is None
    try:
        whole = decode_whole(damaged, 125, monkeypatch).tobytes()
    except MediaRejected as exc:
        with pytest.raises(MediaRejected) as banded:
            decode(damaged, 125)
        assert banded.value.reason == exc.reason
    else:
        assert decode(damaged, 125).tobytes() == whole
    assert bands == []


def test_truncated_file_is_refused_as_when_decoded_whole(bands: list[int]) -> None:
    data = encode(picture(), restart_marker_rows=1)
    cut = data[: len(data) * 3 // 4]
    with pytest.raises(MediaRejected) as refused:
        thumbnail(cut, 125)
    assert refused.value.reason == "truncated"
    assert len(bands) == 2  # the first band is whole; the second runs out


def test_damaged_data_after_the_cut_decodes_as_whole(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    data = bytearray(encode(picture(), restart_marker_rows=1))
    for at in range(len(data) - 20_000, len(data) - 19_000, 7):
        if data[at] != 0xFF and data[at - 1] != 0xFF:
            data[at] ^= 0x5A  # corrupt entropy-coded bytes in the second band
    damaged = bytes(data)
    whole = decode_whole(damaged, 125, monkeypatch)
    assert decode(damaged, 125).tobytes() == whole.tobytes()
    assert len(bands) == 2
    assert ImageChops.difference(whole, decode(encode(picture(), restart_marker_rows=1), 125)).getbbox()


def test_a_file_on_disk_is_banded_too(bands: list[int], tmp_path: Path) -> None:
    data = encode(picture(), restart_marker_rows=1)
    path = tmp_path / "IMG_0001.jpg"
    path.write_bytes(data)
    assert thumbnail(path, 90) == thumbnail(data, 90)
    assert len(bands) == 4  # two decodes, two bands each


def test_a_header_past_the_first_256_kib_decodes_whole(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """A huge ICC profile (split over APP2 segments) pushes the scan's start past what is looked at first."""
    data = encode(picture(), restart_marker_rows=1, icc_profile=bytes(300 * 1024))
    assert jpeg_restart_scan(data) is not None
    assert decode(data, 90).tobytes() == decode_whole(data, 90, monkeypatch).tobytes()
    assert bands == []


def test_a_last_band_thinner_than_the_scale(bands: list[int], monkeypatch: pytest.MonkeyPatch) -> None:
    """129 px: nine MCU rows, the one cut after row 8 leaves a band of one pixel, less than the 1/8 scale."""
    data = encode(picture((2000, 129)), restart_marker_rows=1)
    scan = jpeg_restart_scan(data)
    assert scan is not None and jpeg_restart_cuts(data, scan, 2) == [(restart_offsets(data)[7], 8)]
    assert decode(data, 16).tobytes() == decode_whole(data, 16, monkeypatch).tobytes()
