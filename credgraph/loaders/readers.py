"""Reading bundle files: CSV (UTF-8 with or without BOM, UTF-16 with one, GBK/GB18030 —
detected), XLSX (first sheet) and JSON Lines, each row with its line number and a note when its
shape is wrong."""

from __future__ import annotations

import codecs
import contextlib
import csv
import io
import itertools
import json
import math
import re
import sys
import zipfile
from collections.abc import Callable, Container, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charset_normalizer.md import mess_ratio

from credgraph.schema.identifiers import FORMAT_CHARS
from credgraph.schema.rows import is_blank

SUFFIXES = (".csv", ".xlsx", ".jsonl", ".ndjson")
# No cell is longer than its file, which is read whole: csv's own limit on a field would stop
# the load mid-bundle (an uncaught csv.Error); a long cell is the row's problem instead, over
# MAX_TEXT rejected by validation like any other.
csv.field_size_limit(sys.maxsize)
# A sheet exported by a government system often opens with a title row or two (德州市行政处罚
#信息公示表, 导出时间 …) above the real header; this many rows are searched for it.
TITLE_ROWS = 5
# A workbook's number cell holds a double (ECMA-376: a cell of type n is an xsd:double), which
# keeps every integer up to 2**53 and no 18-digit one: Excel shows 3.70102199001105E+17 for an
# ID number typed into a number cell, and some writers (Go's excelize, others) save that
# double's 18 digits in full, ending in 000 — the same lost digits, which openpyxl reads as
# an exact int. Read as the double it is, so that an identifier in it is `digits lost`, not
# another person's number that happens to pass the check (one in eleven does).
_DOUBLE_EXACT = 2 ** 53

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
_LINE_FEED = re.compile("\r?\n")
# Byte order marks and the encodings they announce (UTF-32's before UTF-16's, whose marks
# they begin with).
BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"), (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"))
# Without a mark, the encodings a bundle's text is read in, preferred in this order on a tie:
# GB18030 is a superset of GBK (and GB2312).
UNMARKED = ("utf-8", "gb18030")
UNICODE_ENCODINGS = frozenset({"utf-8", *(name for _, name in BOMS)})


def _gb2312_ideographs() -> str:
    """The 6,763 ideographs of GB2312 (its rows 16–87: everyday simplified Chinese) as the
    ranges of a regular expression's character class."""
    points = []
    for lead in range(0xB0, 0xF8):
        for trail in range(0xA1, 0xFF):
            with contextlib.suppress(UnicodeDecodeError):  # row 55 ends at F9
                points.append(ord(bytes((lead, trail)).decode("gb2312")))
    ranges: list[list[int]] = []
    for point in sorted(points):
        if ranges and ranges[-1][1] == point - 1:
            ranges[-1][1] = point
        else:
            ranges.append([point, point])
    return "".join(chr(first) if first == last else f"{chr(first)}-{chr(last)}"
                   for first, last in ranges)


# A character that plain Chinese text in GBK does not hold besides ASCII: anything but the
# ideographs of GB2312, CJK punctuation, full-width forms and the few symbols an export writes
# (·—‘’“”…×№). Big5 read as GBK gives kana, Greek, box drawing, private use; Shift-JIS gives
# ideographs GBK added to GB2312 (トヨタ reads 僩儓僞, 株式会社 姅幃夛幮): text holding none of
# them needs no mess detector, which took 测试0 … 测试24 for a mess. Text holding one (a rare
# or traditional character in a GBK export too) is judged by the detector.
_BEYOND_PLAIN_CJK = re.compile(
    "[^\x00-\x7f\u3000-\u303f" + _gb2312_ideographs() + "\uff01-\uff5e\uffe0-\uffe6"
    "\u00b7\u00d7\u2014\u2018\u2019\u201c\u201d\u2026\u2116\udc00-\udcff\u200b-\u200d"
    "\u2060\ufeff]")
READ_ENCODINGS = "UTF-8, UTF-16 or UTF-32 with a byte order mark, or GBK/GB18030"
# Text in which charset-normalizer's mess detector finds this much mess (its own threshold
# for a wrong decoding) is not in the encoding it was decoded with; pieces of this many
# characters, at most MESS_PIECES spread over the file, are measured.
MESS_THRESHOLD = 0.2
MESS_PIECE = 100_000
MESS_PIECES = 10
_RUN = re.compile(r"(.)\1{3,}", re.DOTALL)  # one character four times or more
# Control characters a cell may hold (an escape or a backspace pasted from a terminal): bytes
# below 0x80 are the same characters in UTF-8 and GB18030, so they tell no decoding from the
# other, and the cells lose them anyway (free text is rid of control characters). The
# detector finds a single escape anywhere a mess (its ratio 1.0), which refused the whole
# file as 'cannot detect the text encoding'. NUL stays measured: it is what UTF-16 without
# a byte order mark reads as.
_CONTROLS = re.compile("[\x01-\x08\x0b\x0c\x0e-\x1f\x7f]")


# Files that are no text at all, as a clerk renames them to .csv: what each is, and what to do.
ZIP_MAGIC = b"PK\x03\x04"  # an XLSX workbook is a zip
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # an old .xls, or an encrypted workbook
BINARY_SIGNATURES = (
    (ZIP_MAGIC, "a ZIP archive — an XLSX workbook named .csv, or a zip: name a workbook "
                     ".xlsx, unpack a zip"),
    (OLE_MAGIC, "an old Excel .xls workbook (or another Office "
                                          "document): save it as .xlsx or as CSV UTF-8"),
    (b"%PDF-", "a PDF document: export the data as CSV or XLSX"),
    (b"\x1f\x8b", "a gzip archive: unpack it"),
    (b"Rar!\x1a\x07", "a RAR archive: unpack it"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive: unpack it"),
)


class UnreadableFile(Exception):
    """The file as a whole cannot be read; the message names it and says why."""


@dataclass(frozen=True)
class RawProblem:
    """Why a whole row is rejected before its values are read, and where."""

    reason: str
    column: str = ""
    value: str = ""


UNSAVED = ("a formula without its saved result (a workbook written by a program): open and "
           "save it in Excel or WPS, or export it as CSV")


@dataclass(frozen=True)
class RawRow:
    line: int
    values: dict[str, Any]
    problem: RawProblem | None = None  # a shape error that rejects the whole row
    # XLSX cells holding a formula whose result the workbook did not save, by header
    unsaved: dict[str, str] | None = None

    def refused(self, read: Container[str]) -> RawProblem | None:
        """Why the row is rejected whole, given the headers the load reads (an unsaved
        formula in a column no field reads — a program's 序号 =ROW()-1 — rejects nothing)."""
        if self.problem is not None or not self.unsaved:
            return self.problem
        header = next((h for h in self.unsaved if h in read), None)
        return None if header is None else RawProblem(UNSAVED, header, self.unsaved[header])


@dataclass
class Table:
    path: Path
    headers: list[str]
    rows: Iterator[RawRow]
    encoding: str
    title_rows: int = 0  # rows above the header, skipped
    notes: list[str] = field(default_factory=list)  # what the reader left, for the summary


def _find_header(first: list[list[str]], is_header: HeaderTest | None) -> int:
    """Index of the header among the first rows: the first that `is_header` accepts, else 0
    (and the caller's missing-column error names what the first row lacks)."""
    if is_header is not None:
        for index, cells in enumerate(first):
            if is_header(cells):
                return index
    return 0


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
    """The file's text and encoding, undecodable bytes marked (`UNDECODABLE`). Only the
    encodings the bundle's documentation promises are read: the one a byte order mark names,
    else UTF-8 or GB18030 (`_unmarked`). A GB18030 decoding whose text is a mess (Big5 or
    Shift-JIS read as GBK: private-use characters, kana, box drawing) is not the file's; none
    left, the file is refused rather than loaded as garbage. A Unicode decoding, or one of
    plain Chinese text (`_BEYOND_PLAIN_CJK`: GB2312's ideographs), is not judged so: Big5 or
    Shift-JIS bytes are no valid UTF-8 nor read as plain Chinese (kana, Greek, box drawing,
    ideographs outside GB2312), and the detector found names followed by digits
    (测试0, 李娜12 … in 25 rows) a mess and refused the whole load. An
    archive or a workbook renamed .csv (`BINARY_SIGNATURES`) is refused saying what it is."""
    binary = next((what for magic, what in BINARY_SIGNATURES if data.startswith(magic)), None)
    if binary:
        raise UnreadableFile(f"not text but {binary}")
    announced = next((name for bom, name in BOMS if data.startswith(bom)), None)
    decodings = ([(announced, data.decode(announced, errors=UNDECODABLE))] if announced
                 else _unmarked(data))
    for encoding, text in decodings:
        judged = encoding not in UNICODE_ENCODINGS and _BEYOND_PLAIN_CJK.search(text)
        if not judged or not _messy(text):
            return text, encoding
    raise UnreadableFile(f"cannot detect the text encoding (not {READ_ENCODINGS})")


def _unmarked(data: bytes) -> Iterator[tuple[str, str]]:
    """The text as UTF-8 and as GB18030, fewest damaged lines first (UTF-8 first on a tie): a
    damaged line does not make an export another encoding — its row is rejected, the others
    load — but one that leaves most lines damaged is not the file's and is left out. Those
    that decode every byte come first, cheaply found; the others' lines are counted only when
    none of those is the file's."""
    whole = []
    for name in UNMARKED:
        try:
            text = data.decode(name)
        except UnicodeDecodeError:
            continue
        whole.append(name)
        yield name, text
    lines = data.count(b"\n") + 1
    damaged = {name: _damaged_lines(data, name, lines // 2 + 1)
               for name in UNMARKED if name not in whole}
    for name in sorted(damaged, key=damaged.__getitem__):
        if damaged[name] * 2 <= lines:
            yield name, data.decode(name, errors=UNDECODABLE)


def _damaged_lines(data: bytes, encoding: str, enough: int) -> int:
    """Lines holding bytes `encoding` cannot decode, counted up to `enough` (a newline byte is
    never part of a UTF-8 or GB18030 character, so lines split alike before and after
    decoding); each line decoded on its own, so that a wrong encoding costs no error handler
    call per character."""
    damaged = 0
    for line in data.split(b"\n"):
        try:
            line.decode(encoding)
        except UnicodeDecodeError:
            damaged += 1
            if damaged >= enough:
                break
    return damaged


def _messy(text: str) -> bool:
    """Whether charset-normalizer's mess detector finds any measured piece of the text (its
    damaged lines, format and control characters left out) as messy as text decoded in the
    wrong encoding. Format characters (FORMAT_CHARS: zero-width spaces, a stray U+FEFF) that
    copying from a web page leaves around ids are unprintable to the detector, so a few in a
    short file made its UTF-8 "a mess"; the wrong decodings it is there for give kana,
    private-use characters and box drawing, not these. A run of one character is measured as
    three of it: the detector finds a long one (a cell of 德 a million times) a mess, and a file
    holding it was refused whole where the cell alone is too long — a wrong decoding gives no
    such runs. A line holding bytes the encoding cannot decode is rejected as its row, so the
    rest of it is not measured either: a GBK export with one line appended in UTF-8 read as
    that line's mojibake (private-use characters) around its damaged bytes, and was refused
    whole where the line alone is damaged."""
    step = max(len(text) // MESS_PIECES, MESS_PIECE)
    return any(mess_ratio(_measured(text[start:start + MESS_PIECE]), MESS_THRESHOLD)
               >= MESS_THRESHOLD for start in range(0, len(text), step))


def _measured(piece: str) -> str:
    """A piece of text as `_messy` measures it."""
    if _MARKED.search(piece):
        piece = "".join(line for line in piece.splitlines(keepends=True)
                        if not _MARKED.search(line))
    return _RUN.sub(r"\1\1\1", _CONTROLS.sub("", FORMAT_CHARS.sub("", piece)))


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


class _Lines:
    """A text's lines for csv.reader, keeping those `taken` since the last record, noting when
    it has read them all, and reading some `again` before the rest."""

    def __init__(self, text: str) -> None:
        self._rest = io.StringIO(text, newline="")
        self._again: list[str] = []  # in reverse, the next last
        self.taken: list[str] = []
        self.ended = False

    def again(self, lines: list[str]) -> None:
        self._again.extend(reversed(lines))
        self.ended = False

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            line = self._again.pop()
        else:
            try:
                line = next(self._rest)
            except StopIteration:
                self.ended = True
                raise
        self.taken.append(line)
        return line


def _records(text: str) -> Iterator[tuple[int, list[str], str | None]]:
    """The CSV records of a text ending in a line break, each with the line it ends on, or the
    reason it is refused. A quote that never closes, or closes only where a later row's quote
    opens, makes csv read the lines after it into one field, silently: a record that takes
    several lines (or runs to the end of the text) and is not well quoted is refused, given
    with the line it starts on, and the lines after that one are read again as records of
    their own — each is loaded or rejected, and counted. A well-quoted field may hold line
    breaks (a cell's Alt+Enter in Excel)."""
    lines = _Lines(text)
    end = 0
    for cells in csv.reader(lines):
        taken, lines.taken = lines.taken, []
        start = end + 1
        if (len(taken) > 1 or lines.ended) and not _well_quoted(taken):
            until = ("the end of the file" if lines.ended
                     else f"line {start + len(taken) - 1}")
            yield start, cells, f"unclosed quote: the field runs from line {start} to {until}"
            lines.again(taken[1:])
            end = start
            continue
        end += len(taken)
        yield end, cells, None


def _well_quoted(lines: list[str]) -> bool:
    """Whether the lines are CSV as strict as Python's csv reads it: each quote closed, and
    followed by a delimiter or a line break."""
    try:
        for _ in csv.reader(lines, strict=True):
            pass
    except csv.Error:
        return False
    return True


def _unclosed(reason: str, cells: list[str], headers: list[str]) -> RawProblem:
    """A record refused for its quotes, named by the column of its last field — where the
    quote opened that took the lines after it — and that field's first line."""
    column = headers[len(cells) - 1] if 0 < len(cells) <= len(headers) else ""
    return RawProblem(reason, column,
                      re.split("[\r\n]", cells[-1], maxsplit=1)[0] if cells else "")


def _csv(path: Path, is_header: HeaderTest | None) -> Table:
    text, encoding = _decode(path.read_bytes())
    if text and not text.endswith(("\n", "\r")):
        text += "\n"  # the last line's break ends its record, which `_records` expects
    records = _records(text)
    first: list[tuple[int, list[str], str | None]] = []
    for record in records:
        first.append(record)
        if len(first) > TITLE_ROWS:
            break
    if not first:
        raise UnreadableFile("the file is empty (no header row)")
    title_rows = _find_header([[c.strip() for c in cells] for _, cells, _ in first], is_header)
    _, header_cells, header_refused = first[title_rows]
    if header_refused:
        raise UnreadableFile(f"the header row: {header_refused}")
    headers = [c.strip() for c in header_cells]
    while headers and not headers[-1]:
        headers.pop()  # a spreadsheet's empty trailing columns, as the XLSX reader drops them
    if not headers:
        raise UnreadableFile("the header row is empty")
    if _undecodable(headers, headers):
        raise UnreadableFile(f"the header row is not readable as {encoding} "
                             f"(not {READ_ENCODINGS})")
    buffered = first[title_rows + 1:]  # data rows read while looking for the header
    damaged_file = _MARKED.search(text) is not None  # else no row needs the per-cell search
    unique = len(set(headers)) == len(headers)

    def rows() -> Iterator[RawRow]:
        for line, cells, refused in itertools.chain(buffered, records):
            if refused:
                yield RawRow(line, {}, _unclosed(refused, cells, headers))
                continue
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
        # the formulas beside their saved results: a workbook a script wrote has none saved
        formulas = (load_workbook(path, read_only=True, data_only=False)
                    if _has_formulas(path) else None)
    except Exception as exc:  # openpyxl raises many kinds for a broken workbook
        raise UnreadableFile(f"not a readable XLSX workbook ({_not_a_workbook(path, exc)})"
                             ) from None
    sheet = workbook.worksheets[0]
    notes = [f"sheet {other.title!r} is not read (only the first sheet is)"
             for other in workbook.worksheets[1:] if _has_values(other)]
    iterator = sheet.iter_rows(values_only=True)
    formula_rows: Iterator[tuple[Any, ...]] = (
        formulas.worksheets[0].iter_rows(values_only=True) if formulas else iter(()))
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
        for _ in range(title_rows + 1):
            next(formula_rows, None)
        for line, cells in enumerate(numbered(), start=title_rows + 2):
            written = next(formula_rows, ())
            if all(c is None or str(c).strip() == "" for c in cells) and not any(
                    _unsaved(c) for c in written):
                continue
            cells = tuple(_as_stored(c) for c in cells)
            extra = [c for c in cells[len(headers):] if c is not None and str(c).strip()]
            values = _values(headers, [*cells, *[None] * (len(headers) - len(cells))])
            unsaved = {headers[i]: str(c)[:200] for i, c in enumerate(written[:len(headers)])
                       if (i >= len(cells) or cells[i] is None) and _unsaved(c)}
            if extra:
                yield RawRow(line, values,
                             RawProblem(f"row has values beyond the {len(headers)} headers"))
            else:
                yield RawRow(line, values, unsaved=unsaved or None)
        workbook.close()
        if formulas:
            formulas.close()

    return Table(path, headers, rows(), "xlsx", title_rows, notes)


# An encrypted OOXML package (a workbook saved with a password to open) is an OLE compound
# file, as an old .xls is, holding a stream of this name.
_ENCRYPTED_PACKAGE = "EncryptedPackage".encode("utf-16-le")


def _not_a_workbook(path: Path, exc: Exception) -> str:
    """Why a .xlsx file did not open, as the clerk can act on it: a workbook saved with a
    password, an old .xls or a CSV named .xlsx were all 'BadZipFile'."""
    with path.open("rb") as handle:
        start = handle.read(1 << 16)
    if start.startswith(OLE_MAGIC):
        if _ENCRYPTED_PACKAGE in start or _ENCRYPTED_PACKAGE in path.read_bytes():
            return ("it is protected by a password to open: save it again without one, or "
                    "export it as CSV UTF-8")
        return "it is an old Excel .xls workbook: save it as .xlsx or as CSV UTF-8"
    if start.startswith(ZIP_MAGIC):
        return f"a damaged or incomplete workbook, {type(exc).__name__}: save it again"
    if not any(start.startswith(magic) for magic, _ in BINARY_SIGNATURES) and start and (
            b"\x00" not in start[:4096] or start.startswith((b"\xff\xfe", b"\xfe\xff"))):
        return "it is text, not a workbook — a CSV named .xlsx? name it .csv"
    return type(exc).__name__


def _as_stored(cell: Any) -> Any:
    """A number cell as the workbook holds it: an integer past what a double keeps exactly
    is the double (its last digits lost), as Excel shows it."""
    if type(cell) is int and abs(cell) > _DOUBLE_EXACT:
        try:
            return float(cell)
        except OverflowError:  # beyond any double: no identifier, refused as the amount it is
            return cell
    return cell


# a cell's formula element, <f> or <x:f t="shared" …/> (not <filterColumn>, <formula1>)
_FORMULA = re.compile(rb"<(?:[A-Za-z0-9_]+:)?f[ >/]")


def _has_formulas(path: Path) -> bool:
    """Whether any sheet of the workbook holds a formula: a scan of its XML, so that a
    workbook without any (most exports) is parsed once, not twice."""
    with zipfile.ZipFile(path) as archive:
        for name in archive.namelist():
            if not (name.startswith("xl/worksheets/") and name.endswith(".xml")):
                continue
            with archive.open(name) as part:
                tail = b""
                while chunk := part.read(1 << 20):
                    if _FORMULA.search(tail + chunk):
                        return True
                    tail = chunk[-16:]
    return False


def _unsaved(cell: Any) -> bool:
    """A formula as the workbook holds it (`=1+1`): its result, if saved, is read instead."""
    return isinstance(cell, str) and cell.startswith("=")


def _has_values(sheet: Any) -> bool:
    """Whether a sheet holds any value in its first rows (a template's empty Sheet2 does not)."""
    for cells in itertools.islice(sheet.iter_rows(values_only=True), TITLE_ROWS + 20):
        if any(c is not None and str(c).strip() for c in cells):
            return True
    return False


class _Object(dict[str, Any]):
    """A JSON object as a row reads it: of a key the object gives twice, the first non-empty
    value (as of two CSV columns named alike, `_values`), the repeated keys noted."""

    repeated: list[str]


def _object(pairs: list[tuple[str, Any]]) -> _Object:
    value = _Object()
    value.repeated = []
    for key, item in pairs:
        if key in value:
            if key not in value.repeated:
                value.repeated.append(key)
            if not is_blank(value[key]) or is_blank(item):
                continue
        value[key] = item
    return value


def _no_constant(name: str) -> Any:
    """NaN, Infinity and -Infinity, which Python's json reads and writes but JSON has not
    (RFC 8259): read, a company was stored named "nan" and a phone "inf"."""
    raise ValueError(f"{name} is not a JSON value (write null for no value)")


def _finite(text: str) -> float:
    """A JSON number with a fraction or exponent as a float; one past any float (1e400) would
    read as inf — stored as the text "inf", as NaN and Infinity were."""
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"the number {text[:20]} is past any float (write it as text)")
    return number


def _json_int(text: str) -> int | float:
    """A JSON integer as the exports that write one read it: a double (RFC 8259 §6), exact up
    to 2**53 — an 18-digit ID number written as a number by a JavaScript export comes with its
    last digits rounded (…031000), so one past that is the double, and an identifier
    in it `digits lost` as in an XLSX number cell, never another person's number."""
    return _as_stored(int(text))


def _json_line(line: str) -> Any:
    """One line's JSON value; ValueError saying why it is none a person can act on."""
    try:
        return json.loads(line, object_pairs_hook=_object, parse_constant=_no_constant,
                          parse_float=_finite, parse_int=_json_int)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{exc.msg} (column {exc.colno})") from None
    except RecursionError:  # [[[[… deeper than the interpreter's stack
        raise ValueError("nested too deeply") from None
    except ValueError as exc:
        if "integer string conversion" in str(exc):  # more digits than Python converts
            raise ValueError("a number of more than "
                             f"{sys.get_int_max_str_digits()} digits") from None
        raise


def _jsonl(path: Path) -> Table:
    """One JSON object a line. Lines end at a line feed (CRLF too) and nowhere else: U+2028,
    U+2029, U+0085 or a form feed may stand unescaped inside a JSON string, and splitting
    there (str.splitlines) broke a row in two and shifted every line number after it. A line
    that is no JSON a row can be (malformed, NaN, a number of thousands of digits, nested past
    the stack) rejects its row; a file that is one JSON array spread over lines (a pretty
    printed export) is not JSON Lines and is refused whole."""
    text, _ = _decode(path.read_bytes())
    lines = _LINE_FEED.split(text)
    headers: list[str] = []
    parsed: list[tuple[int, dict[str, Any] | None, RawProblem | None]] = []
    repeated: dict[str, int] = {}  # a key given twice in one object → its first line
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if damaged := _undecodable([line], [""]):
            parsed.append((number, None, damaged))
            continue
        try:
            value = _json_line(line)
        except ValueError as exc:
            parsed.append((number, None, RawProblem(f"not valid JSON: {exc}")))
            continue
        if not isinstance(value, dict):
            parsed.append((number, None, RawProblem("a JSON Lines row must be an object")))
            continue
        for key in value:
            if key not in headers:
                headers.append(str(key))
        for key in getattr(value, "repeated", ()):
            repeated.setdefault(key, number)
        parsed.append((number, value, None))
    if not headers and text.lstrip().startswith("["):
        raise UnreadableFile("one JSON array, not JSON Lines: write one object a line "
                             "(json.dumps of each row, no indent)")
    notes = [f"key {key!r} given more than once in one object (first on line {line}); "
             "a row's first non-empty one is read" for key, line in repeated.items()]

    def rows() -> Iterator[RawRow]:
        for number, value, problem in parsed:
            yield RawRow(number, value or {}, problem)

    return Table(path, headers, rows(), "jsonl", notes=notes)


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
