"""Read tabular files (CSV in UTF-8 / UTF-8 BOM / GBK / GB18030 / UTF-16, or XLSX) as chunks of text rows.

Row numbers are the ones a person sees when the file is opened in Excel: the header is row 1 and every
record counts, blank ones included (a CSV field with a line break is still one row).
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import itertools
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import Invalid

FORMATS = ("csv", "xlsx")
SAMPLE_BYTES = 1 << 20
CHUNK_ROWS = 20_000
ZIP_MAGIC = b"PK\x03\x04"

Source = str | os.PathLike[str] | IO[bytes]


class _HashingReader(io.RawIOBase):
    """A raw stream that hashes every byte it hands on and counts them (for progress)."""

    def __init__(self, raw: IO[bytes], prefix: bytes, digest: Any) -> None:
        self._raw = raw
        self._prefix = prefix
        self._digest = digest
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._prefix:
            n = min(len(buffer), len(self._prefix))
            buffer[:n] = self._prefix[:n]
            self._prefix = self._prefix[n:]
        else:
            data = self._raw.read(len(buffer))
            n = len(data)
            buffer[:n] = data
            self._digest.update(data)
        self.consumed += n
        return n


@dataclass
class Table:
    """An opened file: its header and an iterator of (row numbers, rows) chunks."""

    format: str
    encoding: str | None
    header: list[str]
    chunks: Iterator[tuple[list[int], list[list[str]]]]
    size: int | None
    _digest: Any = field(repr=False, default=None)
    _counter: Any = field(repr=False, default=None)
    _closers: list[Any] = field(repr=False, default_factory=list)

    @property
    def bytes_read(self) -> int:
        return self._counter.consumed if self._counter is not None else (self.size or 0)

    def sha256(self) -> str:
        return str(self._digest.hexdigest())

    def close(self) -> None:
        for close in reversed(self._closers):
            close()
        self._closers.clear()


def detect_format(head: bytes, filename: str | None, fmt: str | None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise Invalid("文件格式只支持 csv 或 xlsx", errors={"format": [f"不支持的格式：{fmt}"]})
        return fmt
    name = (filename or "").lower()
    if name.endswith(".xlsx"):
        return "xlsx"
    if name.endswith(".xls"):
        raise Invalid("不支持旧版 Excel（.xls）文件，请另存为 .xlsx 或 CSV", errors={"file": ["不支持 .xls"]})
    if name.endswith(".csv") or name.endswith(".txt"):
        return "csv"
    return "xlsx" if head.startswith(ZIP_MAGIC) else "csv"


def detect_encoding(sample: bytes, complete: bool) -> str:
    """UTF-8 (with or without BOM) first, then GB18030 (a superset of GBK and GB2312)."""
    if sample.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if sample.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    # A sample cut in the middle of a multi-byte character is still UTF-8: allow up to 3 dangling bytes.
    for cut in range(0, 1 if complete else 4):
        try:
            sample[: len(sample) - cut].decode("utf-8")
            return "utf-8"
        except UnicodeDecodeError:
            continue
    try:
        sample.decode("gb18030")
    except UnicodeDecodeError as exc:
        if complete or exc.start < len(sample) - 4:
            raise Invalid(
                "无法识别文件编码，请另存为 UTF-8 或 GBK 编码的 CSV",
                errors={"file": ["文件编码无法识别（支持 UTF-8、UTF-8 BOM、GBK/GB18030）"]},
            ) from exc
    return "gb18030"


def open_table(source: Source, *, filename: str | None = None, fmt: str | None = None) -> Table:
    """Open `source` (a path or a binary file object); raises Invalid for unreadable files."""
    closers: list[Any] = []
    if isinstance(source, str | os.PathLike):
        filename = filename or os.fspath(source)
        raw: IO[bytes] = open(source, "rb")  # noqa: SIM115 - closed by Table.close
        closers.append(raw.close)
        size: int | None = os.path.getsize(source)
    else:
        raw = source
        size = None
    try:
        head = raw.read(SAMPLE_BYTES)
        kind = detect_format(head, filename, fmt)
        if kind == "xlsx":
            rest = raw.read()
            data = head + rest
            table = _open_xlsx(data)
            table.size = len(data)
        else:
            table = _open_csv(raw, head, size)
    except BaseException:
        for close in closers:
            close()
        raise
    table._closers[:0] = closers
    return table


# ---- CSV ----------------------------------------------------------------------------------------


def _open_csv(raw: IO[bytes], head: bytes, size: int | None) -> Table:
    if not head.strip():
        raise Invalid("文件是空的", errors={"file": ["文件没有任何内容"]})
    complete = len(head) < SAMPLE_BYTES
    encoding = detect_encoding(head, complete)
    digest = hashlib.sha256(head)
    counter = _HashingReader(raw, head, digest)
    text = io.TextIOWrapper(io.BufferedReader(counter, buffer_size=1 << 20), encoding=encoding, newline="")
    first_line = head[:4096].decode(encoding, errors="ignore").split("\n", 1)[0]
    delimiter = "\t" if first_line.count("\t") > first_line.count(",") else ","
    reader = csv.reader(text, delimiter=delimiter, strict=False)
    try:
        header = next(reader)
    except (csv.Error, UnicodeDecodeError) as exc:
        raise Invalid("无法读取 CSV 表头", errors={"file": [str(exc)]}) from exc
    header = [h.lstrip("\ufeff") for h in header]

    def chunks() -> Iterator[tuple[list[int], list[list[str]]]]:
        row_no = 1
        try:
            while records := list(itertools.islice(reader, CHUNK_ROWS)):
                first = row_no + 1
                row_no += len(records)
                if all(map(any, records)):
                    yield list(range(first, row_no + 1)), records
                    continue
                # blank rows keep their number but carry nothing
                kept = [(first + i, r) for i, r in enumerate(records) if any(r)]
                if kept:
                    yield [n for n, _ in kept], [r for _, r in kept]
        except UnicodeDecodeError as exc:
            raise Invalid(
                f"第 {row_no + 1} 行附近的字符无法按 {encoding} 解码，请将整个文件另存为 UTF-8 编码",
                errors={"file": [f"编码错误（第 {row_no + 1} 行附近）"]},
            ) from exc
        except csv.Error as exc:
            raise Invalid(f"第 {row_no} 行附近 CSV 格式错误：{exc}", errors={"file": [str(exc)]}) from exc

    return Table("csv", encoding, header, chunks(), size, digest, counter, [text.detach])


# ---- XLSX ---------------------------------------------------------------------------------------


def cell_text(value: Any) -> str:
    """Excel cell values as the text a person typed (1.0 → "1", dates without midnight time)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.date().isoformat() if value.time() == dt.time() else value.isoformat(sep=" ")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    return str(value)


_MALFORMED_XLSX = "无法读取 XLSX 文件：文件已损坏或不是 Excel 2007 及以上版本的工作簿"


def _open_xlsx(data: bytes) -> Table:
    from openpyxl import load_workbook

    digest = hashlib.sha256(data)
    if not data.startswith(ZIP_MAGIC):
        raise Invalid(_MALFORMED_XLSX, errors={"file": ["不是有效的 XLSX（ZIP）文件"]})
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        if not workbook.worksheets:
            raise Invalid("工作簿中没有工作表", errors={"file": ["没有工作表"]})
        rows_iter = workbook.worksheets[0].iter_rows(min_row=1, values_only=True)
        first = next(rows_iter, None)
    except Invalid:
        raise
    except (zipfile.BadZipFile, KeyError, ValueError, TypeError, OSError, EOFError, IndexError) as exc:
        raise Invalid(_MALFORMED_XLSX, errors={"file": [f"{type(exc).__name__}: {str(exc)[:200]}"]}) from exc
    except Exception as exc:  # noqa: BLE001 - openpyxl/lxml raise many parser errors for broken XML
        raise Invalid(_MALFORMED_XLSX, errors={"file": [f"{type(exc).__name__}: {str(exc)[:200]}"]}) from exc
    if first is None or not any(v not in (None, "") for v in first):
        workbook.close()
        raise Invalid("第一个工作表的第 1 行应为表头", errors={"file": ["缺少表头"]})
    header = [cell_text(v) for v in first]

    def chunks() -> Iterator[tuple[list[int], list[list[str]]]]:
        numbers: list[int] = []
        rows: list[list[str]] = []
        row_no = 1
        try:
            for values in rows_iter:
                row_no += 1
                if not any(v is not None and v != "" for v in values):
                    continue
                numbers.append(row_no)
                rows.append([cell_text(v) for v in values])
                if len(rows) >= CHUNK_ROWS:
                    yield numbers, rows
                    numbers, rows = [], []
        except Invalid:
            raise
        except Exception as exc:  # noqa: BLE001
            raise Invalid(_MALFORMED_XLSX, errors={"file": [f"第 {row_no} 行：{type(exc).__name__}"]}) from exc
        if rows:
            yield numbers, rows

    table = Table("xlsx", None, header, chunks(), len(data), digest, None)
    table._closers.append(workbook.close)
    return table
