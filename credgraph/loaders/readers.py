"""Reading bundle files: CSV (UTF-8 with or without BOM, GBK/GB18030 — detected), XLSX (first
sheet) and JSON Lines, each row with its line number and a note when its shape is wrong."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charset_normalizer import from_bytes

SUFFIXES = (".csv", ".xlsx", ".jsonl", ".ndjson")
csv.field_size_limit(10_000_000)


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


def _csv(path: Path) -> Table:
    data = path.read_bytes()
    encoding = detect_encoding(data)
    text = data.decode(encoding, errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        headers = [h.strip() for h in next(reader)]
    except StopIteration:
        raise UnreadableFile("the file is empty (no header row)") from None
    if not any(headers):
        raise UnreadableFile("the header row is empty")

    def rows() -> Iterator[RawRow]:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not c.strip() for c in cells):
                continue
            if len(cells) != len(headers):
                problem = (f"row has {len(cells)} columns, the header has {len(headers)}")
                yield RawRow(line, dict(zip(headers, cells, strict=False)), problem)
                continue
            yield RawRow(line, dict(zip(headers, cells, strict=True)))

    return Table(path, headers, rows(), encoding)


def _xlsx(path: Path) -> Table:
    from openpyxl import load_workbook

    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise UnreadableFile(f"not a readable XLSX workbook ({type(exc).__name__})") from None
    sheet = workbook.worksheets[0]
    iterator = sheet.iter_rows(values_only=True)
    try:
        headers = ["" if h is None else str(h).strip() for h in next(iterator)]
    except StopIteration:
        raise UnreadableFile("the first sheet is empty") from None
    while headers and not headers[-1]:
        headers.pop()

    def rows() -> Iterator[RawRow]:
        for line, cells in enumerate(iterator, start=2):
            if all(c is None or str(c).strip() == "" for c in cells):
                continue
            extra = [c for c in cells[len(headers):] if c is not None and str(c).strip()]
            values = {h: cells[i] if i < len(cells) else None for i, h in enumerate(headers)}
            if extra:
                yield RawRow(line, values, f"row has values beyond the {len(headers)} headers")
            else:
                yield RawRow(line, values)
        workbook.close()

    return Table(path, headers, rows(), "xlsx")


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


def read_table(path: Path) -> Table:
    if not path.exists():
        raise UnreadableFile("no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            return _csv(path)
        if suffix == ".xlsx":
            return _xlsx(path)
        if suffix in (".jsonl", ".ndjson"):
            return _jsonl(path)
    except OSError as exc:
        raise UnreadableFile(exc.strerror or str(exc)) from None
    raise UnreadableFile(f"unknown file type {suffix!r} (use .csv, .xlsx or .jsonl)")
