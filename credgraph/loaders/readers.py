"""Reading bundle files: CSV (UTF-8 with or without BOM, GBK/GB18030 — detected), XLSX (first
sheet) and JSON Lines, each row with its line number and a note when its shape is wrong."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

SUFFIXES = (".csv", ".xlsx", ".jsonl", ".ndjson")
csv.field_size_limit(10_000_000)
# A sheet exported by a government system often opens with a title row or two (德州市行政处罚
#信息公示表, 导出时间 …) above the real header; this many rows are searched for it.
TITLE_ROWS = 5

HeaderTest = Callable[[list[str]], bool]


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, Any]
    problem: str | None = None  # a shape error that rejects the whole row


@dataclass
class Table:
    path: Path
    headers: list[str]
    rows: Iterator[RawRow]
    encoding: str
    title_rows: int = 0  # rows above the header, skipped


def _find_header(first: list[list[str]], is_header: HeaderTest | None) -> int:
    """Index of the header among the first rows: the first that `is_header` accepts, else 0
    (and the caller's missing-column error names what the first row lacks)."""
    if is_header is not None:
        for index, cells in enumerate(first):
            if is_header(cells):
                return index
    return 0


def detect_encoding(data: bytes) -> str:
    """UTF-8 (BOM or not) when it decodes; else GB18030 (a superset of GBK) when it decodes;
    else what charset-normalizer finds."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        data.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        pass
    best = from_bytes(data[:200_000]).best()
    if best is None:
        raise UnreadableFile("cannot detect the text encoding (not UTF-8 or GBK/GB18030)")
    return str(best.encoding)


def _csv(path: Path, is_header: HeaderTest | None) -> Table:
    data = path.read_bytes()
    encoding = detect_encoding(data)
    text = data.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    first: list[tuple[int, list[str]]] = []
    for cells in reader:
        first.append((reader.line_num, cells))
        if len(first) > TITLE_ROWS:
            break
    if not first:
        raise UnreadableFile("the file is empty (no header row)")
    title_rows = _find_header([[c.strip() for c in cells] for _, cells in first], is_header)
    headers = [c.strip() for c in first[title_rows][1]]
    if not any(headers):
        raise UnreadableFile("the header row is empty")
    buffered = first[title_rows + 1:]  # data rows read while looking for the header

    def numbered() -> Iterator[tuple[int, list[str]]]:
        yield from buffered
        for cells in reader:
            yield reader.line_num, cells

    def rows() -> Iterator[RawRow]:
        for line, cells in numbered():
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(headers):
                problem = (f"row has {len(cells)} columns, the header has {len(headers)}")
                yield RawRow(line, dict(zip(headers, cells, strict=False)), problem)
                continue
            yield RawRow(line, dict(zip(headers, cells, strict=True)))

    return Table(path, headers, rows(), encoding, title_rows)


def _xlsx(path: Path, is_header: HeaderTest | None) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    first = [tuple(cells) for _, cells in zip(range(TITLE_ROWS + 1), iterator, strict=False)]
    if not first:
        raise UnreadableFile("the first sheet is empty")
    texts = [["" if c is None else str(c).strip() for c in cells] for cells in first]
    title_rows = _find_header(texts, is_header)
    headers = texts[title_rows]
    while headers and not headers[-1]:
        headers.pop()
    buffered = first[title_rows + 1:]

    def numbered() -> Iterator[tuple[Any, ...]]:
        yield from buffered
        yield from iterator

    def rows() -> Iterator[RawRow]:
        for line, cells in enumerate(numbered(), start=title_rows + 2):
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            extra = [c for c in cells[len(headers):] if c is not None and str(c).strip()]
            values = {h: cells[i] if i < len(cells) else None for i, h in enumerate(headers)}
            if extra:
                yield RawRow(line, values, f"row has values beyond the {len(headers)} headers")
            else:
                yield RawRow(line, values)
        workbook.close()

    return Table(path, headers, rows(), "xlsx", title_rows)


def _jsonl(path: Path) -> Table:
    data = path.read_bytes()
    text = data.decode(detect_encoding(data), errors="replace")
    lines = text.splitlines()
    headers: list[str] = []
    parsed: list[tuple[int, dict[str, Any] | None, str | None]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((number, None, f"not valid JSON: {exc.msg}"))
            continue
        if not isinstance(value, dict):
            parsed.append((number, None, "a JSON Lines row must be an object"))
            continue
        for key in value:
            if key not in headers:
                headers.append(str(key))
        parsed.append((number, value, None))

    def rows() -> Iterator[RawRow]:
        for number, value, problem in parsed:
            yield RawRow(number, value or {}, problem)

    return Table(path, headers, rows(), "jsonl")


def read_table(path: Path, is_header: HeaderTest | None = None) -> Table:
    """The file's rows; for CSV and XLSX the header is the first of the first rows that
    `is_header` accepts (title rows above it are skipped), else the first row."""
    if not path.exists():
        raise UnreadableFile("no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _csv(path, is_header)
        if suffix == ".xlsx":
            return _xlsx(path, is_header)
        if suffix in (".jsonl", ".ndjson"):
            return _jsonl(path)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    raise UnreadableFile(f"unknown file type {suffix!r} (use .csv, .xlsx or .jsonl)")
