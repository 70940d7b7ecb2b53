"""Reading bundle files: CSV (UTF-8 with or without BOM, GBK/GB18030 — detected), XLSX (first
sheet) and JSON Lines, each row with its line number and a note when its shape is wrong."""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

from credgraph.schema.rows import is_blank

SUFFIXES = (".csv", ".xlsx", ".jsonl", ".ndjson")
csv.field_size_limit(10_000_000)
# A sheet exported by a government system often opens with a title row or two (德州市行政处罚
#信息公示表, 导出时间 …) above the real header; this many rows are searched for it.
TITLE_ROWS = 5

HeaderTest = Callable[[list[str]], bool]
# Bytes the file's encoding cannot decode (a character cut in two where a source system
# truncated a field, a stray byte) are read as lone surrogates U+DC00 + byte, which no decoded
# text contains: the rows holding them are rejected, the rest of the file loads.
UNDECODABLE = "credgraph-undecodable"


def _mark_undecodable(error: UnicodeError) -> tuple[str, int]:
    if not isinstance(error, UnicodeDecodeError):
        raise error
    bad = error.object[error.start:error.end]
    return "".join(chr(0xDC00 + byte) for byte in bad), error.end


codecs.register_error(UNDECODABLE, _mark_undecodable)
_MARKED = re.compile("[\udc00-\udcff]")
# A file that is UTF-8 or GB18030 but for at most one line in this many (and at least one
# line) is read as such; more damage than that is more likely another encoding.
DAMAGED_LINES_PER = 100


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class RawProblem:
    """Why a whole row is rejected before its values are read, and where."""

    reason: str
    column: str = ""
    value: str = ""


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, Any]
    problem: RawProblem | None = None  # a shape error that rejects the whole row


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
    else either of them when only a few lines hold bytes it cannot decode (a damaged row does
    not make the export another encoding: those rows are rejected, the others load); else what
    charset-normalizer finds."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    if data.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
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
    damaged = {encoding: _damaged_lines(data, encoding) for encoding in ("utf-8", "gb18030")}
    encoding = min(damaged, key=lambda name: damaged[name])
    if damaged[encoding] <= max(1, (data.count(b"\n") + 1) // DAMAGED_LINES_PER):
        return encoding
    best = from_bytes(data[:200_000]).best()
    if best is None:
        raise UnreadableFile("cannot detect the text encoding (not UTF-8 or GBK/GB18030)")
    return str(best.encoding)


def _damaged_lines(data: bytes, encoding: str) -> int:
    """Lines holding bytes `encoding` cannot decode (a newline byte is never part of a UTF-8
    or GB18030 character, so lines split alike before and after decoding)."""
    text = data.decode(encoding, errors=UNDECODABLE)
    damaged: set[int] = set()
    line = position = 0
    for match in _MARKED.finditer(text):
        line += text.count("\n", position, match.start())
        position = match.start()
        damaged.add(line)
    return len(damaged)


def _undecodable(cells: Iterable[object], headers: list[str]) -> RawProblem | None:
    """The cell holding bytes the file's encoding does not decode, if any, and what to do."""
    for index, cell in enumerate(cells):
        if isinstance(cell, str) and _MARKED.search(cell):
            return RawProblem(
                "undecodable bytes (damaged in the export): correct the row at the source and "
                "load it again",
                headers[index] if index < len(headers) else "", _MARKED.sub("\ufffd", cell))
    return None


def _decode(data: bytes) -> tuple[str, str]:
    """The file's text and encoding; undecodable bytes marked (`UNDECODABLE`)."""
    encoding = detect_encoding(data)
    return data.decode(encoding, errors=UNDECODABLE), encoding


def _values(headers: list[str], cells: Sequence[Any]) -> dict[str, Any]:
    """A row by header. Of columns an export names alike (two 联系电话), the first non-empty
    cell, as of several headers feeding one field — not silently the last column's."""
    values: dict[str, Any] = {}
    for header, cell in zip(headers, cells, strict=False):
        if header not in values or (is_blank(values[header]) and not is_blank(cell)):
            values[header] = cell
    return values


def repeated_headers(headers: list[str]) -> list[str]:
    """The (non-empty) headers a file names more than once."""
    named = [h for h in headers if h]
    return list(dict.fromkeys(h for h in named if named.count(h) > 1))


def _csv(path: Path, is_header: HeaderTest | None) -> Table:
    text, encoding = _decode(path.read_bytes())
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
    while headers and not headers[-1]:
        headers.pop()  # a spreadsheet's empty trailing columns, as the XLSX reader drops them
    if not headers:
        raise UnreadableFile("the header row is empty")
    if _undecodable(headers, headers):
        raise UnreadableFile(f"the header row is not readable as {encoding} "
                             "(not UTF-8 or GBK/GB18030)")
    buffered = first[title_rows + 1:]  # data rows read while looking for the header
    damaged_file = _MARKED.search(text) is not None  # else no row needs the per-cell search
    unique = len(set(headers)) == len(headers)

    def numbered() -> Iterator[tuple[int, list[str]]]:
        yield from buffered
        for cells in reader:
            yield reader.line_num, cells

    def rows() -> Iterator[RawRow]:
        for line, cells in numbered():
            if not cells or all(not c.strip() for c in cells):
                continue
            if damaged_file and (damaged := _undecodable(cells, headers)):
                yield RawRow(line, {}, damaged)
                continue
            if len(cells) > len(headers) and not any(c.strip() for c in cells[len(headers):]):
                cells = cells[:len(headers)]  # empty cells beyond the header hold nothing
            if len(cells) != len(headers):
                problem = RawProblem(f"row has {len(cells)} columns, the header has "
                                     f"{len(headers)}")
                yield RawRow(line, dict(zip(headers, cells, strict=False)), problem)
                continue
            yield RawRow(line, dict(zip(headers, cells, strict=True)) if unique
                         else _values(headers, cells))

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
            values = _values(headers, [*cells, *[None] * (len(headers) - len(cells))])
            if extra:
                yield RawRow(line, values,
                             RawProblem(f"row has values beyond the {len(headers)} headers"))
            else:
                yield RawRow(line, values)
        workbook.close()

    return Table(path, headers, rows(), "xlsx", title_rows)


def _jsonl(path: Path) -> Table:
    text, _ = _decode(path.read_bytes())
    lines = text.splitlines()
    headers: list[str] = []
    parsed: list[tuple[int, dict[str, Any] | None, RawProblem | None]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if damaged := _undecodable([line], [""]):
            parsed.append((number, None, damaged))
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            parsed.append((number, None, RawProblem(f"not valid JSON: {exc.msg}")))
            continue
        if not isinstance(value, dict):
            parsed.append((number, None, RawProblem("a JSON Lines row must be an object")))
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
