"""`credgraph load`: a bundle of files in dependency order, every row loaded or rejected with
its reason (loaded + rejected = read), written in batched managed transactions."""

from __future__ import annotations

import csv
import datetime as dt
import itertools
import operator
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import ENDPOINT_LABELS, RecordKind
from credgraph.loaders.prepare import (
    STICKY_STATUSES,
    Prepared,
    Preparer,
    RowRejected,
    SubjectRef,
)
from credgraph.loaders.readers import (
    SUFFIXES,
    Table,
    UnreadableFile,
    read_table,
    repeated_headers,
)
from credgraph.loaders.sources import STORED_INPUTS, with_stored
from credgraph.loaders.subjects import write_legal_persons, write_natural_persons
from credgraph.loaders.validation import FileShape, Rejection, Validator
from credgraph.loaders.writes import (
    SUBORDINATE,
    derive_shared_contacts,
    existing_subjects,
    stored_records,
    write_officials,
    write_records,
    write_relations,
)
from credgraph.queries.resolution import Resolver
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy, scrub
from credgraph.schema.rows import (
    ROW_MODELS,
    BundleRow,
    header_map,
    is_blank,
    row_key,
    row_values,
)

# Dependency order: subjects before the relations and records that point at them.
FILE_ORDER = ("legal_persons", "natural_persons", "officials", "relations", "penalties",
              "licenses", "listings", "judgments", "contracts", "commitments")
FILE_ALIASES: dict[str, tuple[str, ...]] = {
    "legal_persons": ("legal_persons", "法人", "法人及非法人组织", "企业"),
    "natural_persons": ("natural_persons", "自然人"),
    "officials": ("officials", "公职人员"),
    "relations": ("relations", "关联关系"),
    "penalties": ("penalties", "行政处罚"),
    "licenses": ("licenses", "licences", "行政许可"),
    "listings": ("listings", "信用名单", "名单"),
    "judgments": ("judgments", "执行案件", "失信被执行"),
    "contracts": ("contracts", "政府合同", "合同"),
    "commitments": ("commitments", "信用承诺", "承诺"),
}
RECORD_FILES: dict[str, RecordKind] = {
    "penalties": RecordKind.PENALTY, "licenses": RecordKind.LICENSE,
    "listings": RecordKind.LISTING, "judgments": RecordKind.JUDGMENT,
    "contracts": RecordKind.CONTRACT, "commitments": RecordKind.COMMITMENT,
}
OUTPUT_PREFIXES = ("rejects", "corrections", "missing", "truth")
# Files of a folder the load does not read that a department may well have meant as data: not
# skipped in silence, since a `.json` export of penalties left out without a word is a
# night's penalties lost.
NEAR_MISSES = {
    ".json": "JSON Lines (one object a line) is read from a .jsonl file: rename it",
    ".xls": "an old Excel workbook is not read: save it as .xlsx or as CSV UTF-8",
}
# A refused row whose file names no department (subjects and relations have no such column).
NO_DEPARTMENT = "(not given)"


class BundleError(Exception):
    """The load cannot run: an unknown or unreadable file, named in the message."""


@dataclass
class Reject:
    file: str
    line: int
    column: str
    value: str
    reason: str


@dataclass
class FileSummary:
    file: str
    kind: str
    encoding: str = ""
    read: int = 0
    loaded: int = 0
    rejected: int = 0
    corrected: int = 0
    seconds: float = 0.0
    reasons: Counter[str] = field(default_factory=Counter)
    # a field's column as the file's header names it (统一社会信用代码 for subject_id)
    headers: dict[str, str] = field(default_factory=dict, repr=False)

    def header(self, column: str) -> str:
        return self.headers.get(column, column)

    @property
    def balanced(self) -> bool:
        return self.read == self.loaded + self.rejected


@dataclass
class LoadSummary:
    files: list[FileSummary] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    corrections: list[dict[str, Any]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    shared_contacts: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    # (file, department, column) → rows refused lacking that required field
    missing: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    @property
    def read(self) -> int:
        return sum(f.read for f in self.files)

    @property
    def loaded(self) -> int:
        return sum(f.loaded for f in self.files)

    @property
    def rejected(self) -> int:
        return sum(f.rejected for f in self.files)

    def as_json(self, rejects_file: Path | None = None) -> dict[str, Any]:
        return {
            "files": [{**{k: v for k, v in asdict(f).items() if k not in ("reasons", "headers")},
                       "reasons": dict(f.reasons)} for f in self.files],
            "read": self.read, "loaded": self.loaded, "rejected": self.rejected,
            "balanced": all(f.balanced for f in self.files),
            "corrections": self.corrections, "warnings": self.warnings,
            "sharedContacts": self.shared_contacts, "seconds": round(self.seconds, 2),
            "rowsPerSecond": round(self.read / self.seconds) if self.seconds else None,
            "rejectsFile": scrub(str(rejects_file)) if rejects_file else None,
        }


# an aside may hold brackets of its own: (and 1 more problem(s) in this row)
_ASIDE = re.compile(r" \((?:[^()]|\([^()]*\))*\)")
_QUOTED = re.compile(r"'[^']*'")
_NUMBER = re.compile(r"\d[\d,.\-]*")


def reason_key(reason: str) -> str:
    """What the summary counts a rejected row under: the reason before its details (after a
    colon) without its asides in brackets, its quoted values as `'…'` and its numbers as `N`
    — `有效期至 (valid_to) before 有效期自 (valid_from)` is `有效期至 before 有效期自`,
    `future date 2027-01-10 (after 2026-12-01)` is `future date N`, and the rows of texts of
    4,001 and of a million characters count as one reason, not one reason each."""
    kept = _ASIDE.sub("", reason.split(":")[0]).strip()
    return _NUMBER.sub("N", _QUOTED.sub("'…'", kept))


def missing_columns(model: type[BundleRow], mapping: dict[str, str]) -> list[str]:
    """Required fields no header of the file feeds."""
    fed = set(mapping.values())
    return [name for name, info in model.model_fields.items()
            if info.is_required() and name not in fed]


def header_test(model: type[BundleRow]) -> Callable[[list[str]], bool]:
    """Whether a row of cells is this file's header: it names every required field."""
    return lambda cells: not missing_columns(model, header_map(model, cells))


def file_kind(path: Path) -> str | None:
    """The bundle file a name stands for: legal_persons.csv, Legal-Persons_2026.xlsx, 法人.csv."""
    stem = _file_stem(path.stem)
    for kind, aliases in FILE_ALIASES.items():
        if any(stem.startswith(_file_stem(alias)) for alias in aliases):
            return kind
    return None


def _file_stem(name: str) -> str:
    return "".join(char for char in name.lower() if char not in "_- ")


def _column_names(model: type[BundleRow], field: str) -> str:
    """A field as a file names it: its English key and its Chinese names (authority/处罚机关),
    so that a clerk whose export has Chinese headers sees which one is missing."""
    alias = model.model_fields[field].validation_alias
    names = [str(choice) for choice in getattr(alias, "choices", ())] or [field]
    return "/".join(dict.fromkeys([field, *names]))


def open_bundle_file(kind: str, path: Path) -> tuple[Table, FileShape]:
    """A bundle file's rows and the shape of its header; a file that cannot be read, or lacks a
    required column, is a BundleError naming it."""
    model = ROW_MODELS[kind]
    try:
        table = read_table(path, header_test(model))
    except UnreadableFile as exc:
        raise BundleError(f"{path}: {exc}") from None
    shape = FileShape.of(kind, table.headers)
    missing = missing_columns(model, shape.mapping)
    if missing:
        named = ", ".join(_column_names(model, name) for name in missing)
        raise BundleError(f"{path}: missing required column(s) {named} "
                          f"for {kind} (headers: {_headers_shown(table.headers)})")
    return table, shape


HEADER_SHOWN = 60  # characters of a header an error shows
HEADERS_SHOWN = 40  # headers an error lists


def _headers_shown(headers: list[str]) -> str:
    """A file's headers as an error lists them: each cut, and no more than HEADERS_SHOWN. A
    file that is one line (no line break in 1 GB) is one header that long, which the error
    printed whole — twice, on stderr and in `--json`."""
    shown = [h if len(h) <= HEADER_SHOWN else f"{h[:HEADER_SHOWN]}… ({len(h):,} characters)"
             for h in headers[:HEADERS_SHOWN]]
    if len(headers) > HEADERS_SHOWN:
        shown.append(f"… and {len(headers) - HEADERS_SHOWN:,} more")
    return ", ".join(shown)


def readable_bundle(paths: list[Path], warnings: list[str]) -> list[tuple[str, Path]]:
    """The bundle's files (`discover`), each opened once before anything is written: a file
    that cannot be read stops the load with nothing of the bundle loaded (exit 2), rather than
    after the files before it were written without their summary and rejects."""
    files = discover(paths, warnings)
    for kind, path in files:
        open_bundle_file(kind, path)
    return files


def header_kind(path: Path) -> str | None:
    """The kind whose required columns a file's header names — the most demanding when several
    do (officials before natural persons, penalties before licences) — or None."""
    tests = {kind: header_test(model) for kind, model in ROW_MODELS.items()}
    try:
        table = read_table(path, lambda cells: any(test(cells) for test in tests.values()))
    except UnreadableFile:
        return None
    fits = [kind for kind, test in tests.items() if test(table.headers)]
    if not fits:
        return None
    return max(fits, key=lambda kind: len(missing_columns(ROW_MODELS[kind], {})))


BLANK_BYTES = b"\xef\xbb\xbf\xff\xfe \t\r\n\x00"  # byte-order marks, blanks, UTF-16's zeros


def _empty(path: Path) -> bool:
    """Nothing at all, or only a byte-order mark and blank lines (a header-only file is not
    empty: it says which kind it is and loads as no rows)."""
    size = path.stat().st_size
    return size == 0 or (size <= 64 and not path.read_bytes().strip(BLANK_BYTES))


def discover(paths: list[Path], warnings: list[str] | None = None) -> list[tuple[str, Path]]:
    """Files of the bundle with their kinds, in dependency order. A file is known by its name,
    else by its header (处罚信息.csv with the 双公示 penalty columns); a file named on the
    command line that is neither is an error, one in a folder (a manifest, a data dictionary)
    is skipped with a warning. A file given more than once (itself and its folder, or by two
    spellings of its path) is loaded once, with a warning: loaded twice, its rows were counted
    twice."""
    found: list[tuple[str, Path]] = []
    given: dict[Path, Path] = {}  # each file's resolved path → the path it was first given by
    notes = warnings if warnings is not None else []
    empty = False
    for path in paths:
        if path.is_dir():
            entries = sorted(p for p in path.iterdir()
                             if not p.stem.lower().startswith(OUTPUT_PREFIXES))
            for entry in entries:
                # a link to nothing is a file of the bundle that cannot be read, not no file
                if entry.is_symlink() and not entry.exists() and (
                        entry.suffix.lower() in SUFFIXES):
                    raise BundleError(f"{entry}: cannot be read — a symbolic link to "
                                      f"{os.readlink(entry)}, which does not exist")
            files = [p for p in entries if p.is_file()]
            candidates = [p for p in files if p.suffix.lower() in SUFFIXES]
            unread = [scrub(f"{p.name}: skipped — {NEAR_MISSES[p.suffix.lower()]}")
                      for p in files if p.suffix.lower() in NEAR_MISSES]
            unread += [scrub(f"{p.name}/: skipped — a folder inside the folder is not read: "
                             "name it on the command line to load it")
                       for p in entries if p.is_dir() and not p.name.startswith(".")]
            if not candidates:
                raise BundleError(f"{path}: no .csv, .xlsx or .jsonl files in this folder"
                                  + "".join(f"; {note}" for note in unread))
            notes.extend(unread)
        elif path.exists():
            candidates = [path]
        else:
            raise BundleError(f"{path}: no such file or folder")
        for candidate in candidates:
            resolved = candidate.resolve()
            if resolved in given:
                notes.append(scrub(f"{candidate.name}: given more than once "
                                   f"({given[resolved]}, {candidate}); loaded once"))
                continue
            given[resolved] = candidate
            if _empty(candidate):
                # one department's empty daily export must not stop the night's load
                notes.append(scrub(f"{candidate.name}: empty (no header, no rows); nothing "
                                   "read"))
                empty = True
                continue
            kind = file_kind(candidate)
            if kind is None and (kind := header_kind(candidate)) is not None:
                notes.append(scrub(f"{candidate.name}: loaded as {kind}, which its header "
                                   "matches"))
            if kind is None:
                if candidate is path:
                    raise BundleError(f"{candidate}: unknown file; name it after one of "
                                      f"{', '.join(FILE_ORDER)}")
                notes.append(scrub(f"{candidate.name}: skipped — neither its name nor its "
                                   "header is a bundle file's"))
                continue
            found.append((kind, candidate))
    if not found and not empty:
        raise BundleError(f"{', '.join(map(str, paths))}: no bundle file; name files after "
                          f"{', '.join(FILE_ORDER)}")
    return sorted(found, key=lambda item: (FILE_ORDER.index(item[0]), str(item[1])))


ProgressHook = Callable[[str, int], None]
RejectRow = Callable[[int, str, str, str], None]  # (line, column, value, reason)


class BundleLoader:
    def __init__(self, graph: Graph, rules: Rules, privacy: Privacy, normaliser: NameNormaliser,
                 today: dt.date | None = None, batch_size: int = 5000,
                 progress: ProgressHook | None = None, workers: int = 1) -> None:
        self.graph = graph
        self.rules = rules
        self.today = today or dt.date.today()
        self.preparer = Preparer(rules, privacy, normaliser, self.today)
        self.validator = Validator(self.preparer, workers)
        self.resolver = Resolver(graph, rules, normaliser)
        self.batch_size = batch_size
        self.progress = progress
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="credgraph-writer")
        self._inflight: Future[None] | None = None
        self._superiors: list[dict[str, str]] = []
        # relation and post rows whose end is not loaded yet, checked again once every file
        # is in (`_check_references`); None while that last check runs
        self._waiting: list[tuple[str, list[tuple[int, Prepared]], FileSummary, RejectRow]] | None
        self._waiting = []

    def load(self, paths: list[Path], derive_contacts: bool = True) -> LoadSummary:
        started = time.monotonic()
        summary = LoadSummary()
        with self.validator:
            self._load_files(readable_bundle(paths, summary.warnings), summary)
        if derive_contacts:
            cap = self.rules.resolution.contact_group_cap
            summary.shared_contacts = derive_shared_contacts(self.graph, cap)
        summary.seconds = time.monotonic() - started
        return summary

    def _load_files(self, files: list[tuple[str, Path]], summary: LoadSummary) -> None:
        """The bundle's files in order, each kind's one after another. A key given by several
        rows of a kind is loaded from the last — in the last of its files, in name order, as
        the last row of a file wins within it: a later file restates or corrects an earlier
        one — and each earlier row is rejected naming the winner, so that `loaded` counts the
        rows whose values the graph holds."""
        for kind, group in itertools.groupby(files, key=operator.itemgetter(0)):
            paths = [path for _, path in group]
            winners = self._last_lines(kind, paths)
            for path in paths:
                summary.files.append(self.load_file(kind, path, summary, winners))
            # after every file of the kind: an agency's superior may stand in a later file
            # (legal_persons_z.csv), as loading the same bundle again would find it
            self._link_superiors(summary)
        self._settle_waiting(summary)

    def _settle_waiting(self, summary: LoadSummary) -> None:
        """The relation and post rows that waited for an end (`_check_references`), in file
        order, each group after the writes before it: an official's post that waited for its
        agency creates the official a waiting relation (his spouse's 配偶) may end at."""
        waiting, self._waiting = self._waiting or [], None
        try:
            for kind, pending, result, reject in waiting:
                self._await_write()
                self._flush(kind, pending, result, reject, summary)
            self._await_write()
        finally:
            self._waiting = []

    # -- one file ---------------------------------------------------------------------------
    def load_file(self, kind: str, path: Path, summary: LoadSummary,
                  winners: dict[str, tuple[Path, int]]) -> FileSummary:
        """One file of the bundle; `winners` (`_last_lines`) says where each key of its kind
        is loaded from."""
        started = time.monotonic()
        model = ROW_MODELS[kind]
        # a file's name is shown (summary, warnings, rejects, missing fields) scrubbed: an
        # export named after a person (处罚_371402….csv) must not put the number in them
        shown = scrub(path.name)
        result = FileSummary(file=scrub(str(path)), kind=kind)

        table, shape = open_bundle_file(kind, path)
        result.encoding = table.encoding
        result.headers = dict(shape.columns)
        if table.title_rows:
            summary.warnings.append(f"{shown}: {table.title_rows} title row(s) above the "
                                    "header skipped")
        summary.warnings.extend(scrub(f"{shown}: {note}") for note in table.notes)
        if repeated := repeated_headers(table.headers):
            summary.warnings.append(f"{shown}: column(s) {', '.join(repeated)} appear more "
                                    "than once; a row's first non-empty one is read")

        def reject(line: int, column: str, value: str, reason: str,
                   department: str | None = None, missing: tuple[str, ...] = ()) -> None:
            reason = scrub(reason)
            result.rejected += 1
            result.reasons[reason_key(reason)] += 1
            summary.rejects.append(Reject(shown, line, result.header(column),
                                          scrub(value), reason))
            sender = scrub(department or NO_DEPARTMENT)
            for lacking in missing:  # every required field the row lacks, not only the first
                summary.missing[(shown, sender, result.header(lacking))] += 1

        pending: list[tuple[int, Prepared]] = []
        for line, prepared, key in self.validator.outcomes(shape, table.rows,
                                                           path.stat().st_size):
            result.read += 1
            if self.progress and result.read % 1000 == 0:
                self.progress(kind, 1000)
            if isinstance(prepared, Rejection):
                reject(line, *prepared)
                continue
            if key is not None and (winner := winners.get(key, (path, line))) != (path, line):
                file, at = winner
                where = ("this file:" if file == path
                         else f"this bundle: {scrub(file.name)}")
                reject(line, model.key, key, f"duplicate key {key!r} in {where} line {at} wins")
                continue
            pending.append((line, prepared))
            if len(pending) >= self.batch_size:
                self._flush(kind, pending, result, reject, summary)
                pending = []
        if pending:
            self._flush(kind, pending, result, reject, summary)
        self._await_write()
        if self.progress:
            self.progress(kind, result.read % 1000)
        result.seconds = round(time.monotonic() - started, 3)
        return result

    def _last_lines(self, kind: str, paths: list[Path]) -> dict[str, tuple[Path, int]]:
        """First pass over a kind's files: the file and line of each key's last occurrence
        (its value as the load reads it: the first non-empty of the headers feeding it) that
        validates — a restating row the load rejects does not hide an earlier good one; of a
        key no row of which validates, the last."""
        model = ROW_MODELS[kind]
        last: dict[str, tuple[Path, int]] = {}
        if not model.key:
            return last
        repeated: dict[str, list[tuple[Path, int]]] = {}
        for path in paths:
            table, shape = open_bundle_file(kind, path)
            # only the key's headers: the whole mapping per row cost a dict of every field
            feeding = {h: f for h, f in shape.mapping.items() if f == model.key}
            for raw in table.rows:
                if raw.refused(shape.mapping):
                    continue
                value = row_values(feeding, raw.values).get(model.key)
                if not is_blank(value):
                    key = row_key(model, value)
                    if key in last:
                        repeated.setdefault(key, [last[key]]).append((path, raw.line))
                    last[key] = (path, raw.line)
        if repeated:
            valid = self._valid_places(kind, paths, {place for places in repeated.values()
                                                     for place in places})
            for key, places in repeated.items():
                last[key] = next((place for place in reversed(places) if place in valid),
                                 places[-1])
        return last

    def _valid_places(self, kind: str, paths: list[Path],
                      places: set[tuple[Path, int]]) -> set[tuple[Path, int]]:
        """Of the rows at `places` (the few whose key recurs), those that validate."""
        valid: set[tuple[Path, int]] = set()
        for path in paths:
            lines = {line for file, line in places if file == path}
            if not lines:
                continue
            table, shape = open_bundle_file(kind, path)
            rows = (raw for raw in table.rows if raw.line in lines)
            for line, prepared, _ in self.validator.outcomes(shape, rows, 0):
                if not isinstance(prepared, Rejection):
                    valid.add((path, line))
        return valid

    # -- one batch --------------------------------------------------------------------------
    def _flush(self, kind: str, pending: list[tuple[int, Prepared]], result: FileSummary,
               reject: RejectRow, summary: LoadSummary) -> None:
        pending = self._resolve_names(pending, result, reject, summary)
        pending = self._check_references(kind, pending, result, reject)
        pending = self._weigh_stored(kind, pending, reject)
        if not pending:
            return
        self._await_write()
        self._inflight = self._writer.submit(self._write, kind, pending)
        self._superiors.extend({"from": p.data["id"], "to": p.superior}
                               for _, p in pending if p.superior)
        result.loaded += len(pending)

    def _await_write(self) -> None:
        """Writes run one batch behind the parsing, on the other core; errors surface here."""
        if self._inflight is not None:
            inflight, self._inflight = self._inflight, None
            inflight.result()

    def _write(self, kind: str, pending: list[tuple[int, Prepared]]) -> None:
        rows = [prepared.data for _, prepared in pending]
        if kind == "legal_persons":
            write_legal_persons(self.graph, rows, self.batch_size)
        elif kind == "natural_persons":
            write_natural_persons(self.graph, rows, self.batch_size)
        elif kind == "officials":
            write_officials(self.graph, rows, self.batch_size)
        elif kind == "relations":
            by_type: dict[Any, list[dict[str, Any]]] = {}
            for _, prepared in pending:
                by_type.setdefault(prepared.relation, []).append(prepared.data)
            for rtype, batch in by_type.items():
                write_relations(self.graph, rtype, batch, self.batch_size)
        else:
            write_records(self.graph, RECORD_FILES[kind], rows, self.batch_size,
                          STICKY_STATUSES, {p.data["id"] for _, p in pending if p.stored})

    def _resolve_names(self, pending: list[tuple[int, Prepared]], result: FileSummary,
                       reject: RejectRow,
                       summary: LoadSummary) -> list[tuple[int, Prepared]]:
        """Rows whose party has no usable id: attached to the subject the evidence singles
        out (关联补正, reported with that evidence), else rejected saying why."""
        waiting = [p.resolve.lookup for _, p in pending if p.resolve]
        if not waiting:
            return pending
        resolutions = iter(self.resolver.resolve_many(waiting))
        kept = []
        for line, prepared in pending:
            unresolved = prepared.resolve
            if unresolved is None:
                kept.append((line, prepared))
                continue
            resolution = next(resolutions)
            name = unresolved.lookup.name
            column = (prepared.columns or {}).get(unresolved.column, unresolved.column)
            match = resolution.match
            if match is None:
                reject(line, column, name, f"{resolution.reason}; {unresolved.problem}")
                continue
            try:
                ref = self.preparer.subject_ref(unresolved.column, match.id, match.name)
            except RowRejected as exc:
                reject(line, column, name, f"unresolved subject: {exc.reason}")
                continue
            prepared.attach(ref, unresolved.role)
            result.corrected += 1
            summary.corrections.append({
                "file": Path(result.file).name, "line": line,
                "column": result.header(column),
                "name": name,
                "resolvedTo": match.id, "resolvedName": match.name, "score": match.score,
                "evidence": [e.value for e in resolution.evidence],
                "decidedBy": resolution.decided_by.value if resolution.decided_by else None,
                "reason": scrub(unresolved.problem),
            })
            kept.append((line, prepared))
        return kept

    def _check_references(self, kind: str, pending: list[tuple[int, Prepared]],
                          result: FileSummary, reject: RejectRow) -> list[tuple[int, Prepared]]:
        """Relations need both ends to exist, with the kinds the model declares. A row whose
        end is not loaded waits for the end of the load: a record of a later file may name
        that subject (and stub it), as it would for the next load of the same bundle — the
        row is rejected only if the end is still unknown then."""
        ids = {ref.key for _, p in pending if p.must_exist for _, ref in p.refs}
        known = self._known_subjects(ids)
        kept = []
        waiting = []
        for line, prepared in pending:
            if not prepared.must_exist:
                kept.append((line, prepared))
                continue
            problem = None
            for column, ref in prepared.refs:
                if ref.key not in known:
                    problem = (column, _shown(ref), "relation to an unknown subject")
                    break
            if problem is not None and self._waiting is not None:
                waiting.append((line, prepared))
                continue
            if problem is None:
                for column, ref, end in prepared.expect:
                    if ENDPOINT_LABELS[end] not in known[ref.key]:
                        problem = (column, _shown(ref), prepared.expect_reason)
                        break
            if problem:
                reject(line, *problem)
                continue
            kept.append((line, prepared))
        if waiting and self._waiting is not None:
            self._waiting.append((kind, waiting, result, reject))
        return kept

    def _weigh_stored(self, kind: str, pending: list[tuple[int, Prepared]],
                      reject: RejectRow
                      ) -> list[tuple[int, Prepared]]:
        """What the batch's records already stored decides, in one read — which are stored
        at all too, for the writer's choice of CREATE or MERGE. A record an
        objection corrected keeps its old version as it was and the corrected one in force
        (SPEC §8): a later row of the source changes neither — it is refused, naming the
        latest version (`…#v3` once `…#v2` was corrected too), for the department to answer
        with a new objection. A record of a
        file lacking some of the columns its derived values come from (a penalty's severity,
        a licence's status, a contract's default) derives them from what it stores in their
        place."""
        record_kind = RECORD_FILES.get(kind)
        if record_kind is None or not pending:
            return pending
        inputs = tuple(STORED_INPUTS[kind]) if any(p.derived_from for _, p in pending) else ()
        found = stored_records(self.graph, record_kind, [p.data["id"] for _, p in pending],
                               inputs)
        column = ROW_MODELS[kind].key or "id"
        kept = []
        for line, prepared in pending:
            stored = found.get(prepared.data["id"])
            prepared.stored = stored is not None
            if stored is not None and stored["current"] is not None:
                now = f" ({stored['currentStatus']})" if stored.get("currentStatus") else ""
                reject(line, column, prepared.data["id"],
                       f"corrected by an objection on {stored['on']}: its latest version is "
                       f"{stored['current']}{now} and every version before it is kept as it "
                       "was; a later row of the source changes none of them (file a new "
                       "objection to change the record)")
                continue
            if stored is not None and stored["decided"] and (
                    moved := _moved_parties(prepared.data, stored["parties"])):
                reject(line, column, prepared.data["id"],
                       f"{stored['status']} through the credit desk (a repair or an objection) "
                       f"for {moved}: a row naming another party would move the decision to a "
                       "subject it was not made for; the record keeps its parties (the "
                       "department corrects a record's subject by an objection)")
                continue
            if stored is not None and prepared.derived_from is not None:
                self._derive_from_stored(kind, prepared, prepared.derived_from,
                                         stored["inputs"])
            kept.append((line, prepared))
        return kept

    def _derive_from_stored(self, kind: str, prepared: Prepared, absent: frozenset[str],
                            stored: dict[str, Any]) -> None:
        """The derived values again, from the row and what is stored in place of the columns
        the file lacks; what else those columns give stays as stored (`keep_absent`)."""
        props = prepared.data["props"]
        derived = self.preparer.derived(kind, with_stored(kind, props, absent, stored))
        if "status" in derived:
            prepared.data["status"] = derived.pop("status")
        props.update({prop: value for prop, value in derived.items() if prop in props})

    def _known_subjects(self, ids: set[str]) -> dict[str, set[str]]:
        """The labels of the subjects among `ids` that exist."""
        return existing_subjects(self.graph, ids)

    def _link_superiors(self, summary: LoadSummary) -> None:
        """SUBORDINATE_TO (隶属) once every file of subjects is in, wherever the superior
        stood."""
        links, self._superiors = self._superiors, []
        if not links:
            return
        known = existing_subjects(self.graph, {link["to"] for link in links})
        usable = [link for link in links if link["to"] in known]
        for link in links:
            if link["to"] not in known:
                summary.warnings.append(
                    f"{link['from']}: superior {link['to']} is not loaded; "
                    "SUBORDINATE_TO not created")
        self.graph.write_batches(SUBORDINATE, usable, self.batch_size)


def _shown(ref: SubjectRef) -> str:
    """A relation end as a reject shows it: a person by the masked number the row gave (or
    the opaque key), so the steward can find the row's person."""
    return str(ref.stub.get("idMasked") or ref.key) if ref.person else ref.key


def _write_table(path: Path, columns: Sequence[str], rows: Iterable[Sequence[object]]) -> None:
    """One of a load's own files (rejects, corrections, missing fields): a header, then rows."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(columns)
            writer.writerows(rows)
    except OSError as exc:  # a full disk: no half file left that reads as a whole one
        path.unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from exc


REJECT_COLUMNS = ("file", "line", "column", "value", "reason")


def write_rejects(rejects: list[Reject], path: Path) -> None:
    """The files in the order loaded, each one's rows by line (a row refused when its batch
    was written, or by name resolution, is found late)."""
    order = {name: index for index, name in enumerate(dict.fromkeys(r.file for r in rejects))}
    ranked = sorted(rejects, key=lambda item: (order[item.file], item.line))
    _write_table(path, REJECT_COLUMNS,
                 ((item.file, item.line, item.column, item.value, item.reason) for item in ranked))


CORRECTION_COLUMNS = ("file", "line", "column", "name", "resolvedTo", "resolvedName", "score",
                      "decidedBy", "reason")


def beside_rejects(rejects: Path, what: str) -> Path:
    """A file of a load written beside its rejects file and named after it (rejects.csv →
    corrections.csv, rejects-0601.csv → corrections-0601.csv, bad.csv → bad.corrections.csv),
    so that two loads' files in one folder are kept apart and the quality report reads those
    of the load whose rejects it is given."""
    name = rejects.name
    if name.startswith("rejects"):
        return rejects.with_name(what + name.removeprefix("rejects"))
    return rejects.with_name(f"{rejects.stem}.{what}.csv")


def corrections_path(rejects: Path) -> Path:
    """Where the rows attached by name (关联补正) are written."""
    return beside_rejects(rejects, "corrections")


def missing_path(rejects: Path) -> Path:
    """Where the rows refused for a missing required field are counted by department."""
    return beside_rejects(rejects, "missing")


def probe_writable(folder: Path) -> None:
    """Make `folder` if missing and write a file in it, removed at once; OSError when that
    cannot be done (under a file, on a read-only disk, a place the user may not write)."""
    folder.mkdir(parents=True, exist_ok=True)
    handle, probe = tempfile.mkstemp(dir=folder, prefix=".credgraph-probe-")
    os.close(handle)
    os.unlink(probe)


def check_outputs(rejects: Path) -> None:
    """Refuse, before anything is read or written, a rejects file — or the corrections and
    missing-fields files named after it — that cannot be written (a folder, a place the user
    may not write): the files are written once the rows are in the graph, and a load that ran
    and then lost its rejects would break "every row loaded or rejected with its reason".
    Raises BundleError (exit 2)."""
    for path in (rejects, corrections_path(rejects), missing_path(rejects)):
        if path.is_dir():
            raise BundleError(f"--rejects {rejects}: {path} is a folder; give a file name")
        parent = path.parent if str(path.parent) else Path(".")
        try:
            probe_writable(parent)
        except OSError as exc:
            raise BundleError(f"--rejects {rejects}: cannot write in {parent} "
                              f"({exc.strerror})") from None
        if path.exists() and not os.access(path, os.W_OK):
            raise BundleError(f"--rejects {rejects}: {path} is not writable")


MISSING_COLUMNS = ("file", "department", "column", "rows")


def write_missing(missing: Counter[tuple[str, str, str]], path: Path) -> None:
    """Rows refused for a missing required field, by file, department and column, most first:
    what each source department must send complete (缺失必填字段)."""
    counted = sorted(missing.items(), key=lambda kv: (-kv[1], kv[0]))
    _write_table(path, MISSING_COLUMNS, ((*where, rows) for where, rows in counted))


def write_corrections(corrections: list[dict[str, Any]], path: Path) -> None:
    """The 关联补正 of a load, for the data-quality report and the source's owners."""
    _write_table(path, CORRECTION_COLUMNS,
                 ([row.get(column, "") for column in CORRECTION_COLUMNS] for row in corrections))


def _moved_parties(data: dict[str, Any], stored: list[list[str]]) -> str | None:
    """The stored parties a record's row would unlink, as the writer unlinks them (every link
    the row does not give, but of a role its file has no column for, `keptRoles`: a column
    there but empty unlinks as surely as one naming another subject), or None when it keeps
    them all."""
    given = {tuple(key) for key in data.get("partyKeys") or []}
    kept = set(data.get("keptRoles") or [])
    gone = sorted(sid for sid, role in stored if role not in kept and (sid, role) not in given)
    return ", ".join(gone) or None
