"""`credgraph load --bulk`: a first load into an empty local database through
`neo4j-admin database import full`, which writes the store directly instead of through
transactions.

Rows are read, validated, resolved and derived by the same `BundleLoader` code as the
transactional path (same rejects, same summary, same keys and encryption); only the write
differs: the graph the MERGE statements of `loaders/writes.py` would build is staged as CSV files
— subjects merged in memory in file order, exactly as successive `SET n += props` would — and
imported with the server stopped. Rows whose subject must be found by name (关联补正) need the
full-text index of a running database, so they are held back and written transactionally after
the import; so are the rows that restate a record, relation or post an earlier row staged (a
second file of the same kind), which the MERGE after the import applies as it would have; and
so are the relation and post rows whose end neither the stage nor those rows hold by then.
"""

from __future__ import annotations

import csv
import ctypes
import datetime as dt
import io
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.maintenance import count_nodes
from credgraph.graph.migrations import migrate
from credgraph.graph.model import RECORD_LABELS, RELATIONS, Label, Link, RelationType
from credgraph.graph.server import ADMIN_CLASS, LocalNeo4j, ServerError
from credgraph.loaders.bundle import (
    RECORD_FILES,
    BundleError,
    BundleLoader,
    FileSummary,
    LoadSummary,
    ProgressHook,
    RejectRow,
    readable_bundle,
)
from credgraph.loaders.prepare import Prepared
from credgraph.loaders.writes import CONTACT_PROPERTIES
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy, scrub
from credgraph.settings import Settings

# Nodes that may already be in a database a bulk load replaces: keys are carried over, the
# schema version is rebuilt by the migrations that follow the import.
CARRIED_LABELS = (Label.API_KEY,)
ALLOWED_BEFORE = (Label.SCHEMA_VERSION, *CARRIED_LABELS)

CARRIED = """
MATCH (n:ApiKey)
RETURN collect(n {.*}) AS rows
"""


class BulkRefused(BundleError):
    """The bulk path cannot be used here; the transactional `credgraph load` can."""


def _type(value: Any) -> str | None:
    """The neo4j-admin header type of a Python value (None: no value, no column)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, dt.datetime) or hasattr(value, "to_native"):
        return "datetime"
    if isinstance(value, dt.date):
        return "date"
    if isinstance(value, (list, tuple)):
        return "string[]"
    return "string"


class _Bare(float):
    """A cell the C csv writer leaves unquoted — it quotes whatever is not a number — and
    writes as `text`."""

    text = ""

    def __new__(cls, text: str) -> _Bare:
        bare = super().__new__(cls, 0.0)
        bare.text = text
        return bare

    def __str__(self) -> str:
        return self.text


# An absent property: an empty unquoted field (a quoted empty field is an empty string).
ABSENT = _Bare("")


def _temporal(value: Any) -> str:
    return str(value.isoformat())


def _array(value: Any) -> str:
    return ";".join(str(v) for v in value)


def _boolean(value: Any) -> str:
    return "true" if value else "false"


# The columns whose values the csv writer cannot write as they are. Strings are quoted (an
# empty string stays an empty string), numbers are not (`str` of a float is its repr).
CELL_FORMATS: dict[str, Callable[[Any], str]] = {
    "boolean": _boolean, "date": _temporal, "datetime": _temporal, "string[]": _array}


@dataclass
class CsvGroup:
    """One file of the import: a header and rows whose properties share it."""

    path: Path
    label_or_type: str
    multiline: bool = False


@dataclass
class ImportStage:
    """The graph of a first load, as neo4j-admin CSV files under `folder`."""

    folder: Path
    subjects: dict[str, tuple[set[str], dict[str, Any]]] = field(default_factory=dict)
    node_files: list[CsvGroup] = field(default_factory=list)
    relationship_files: list[CsvGroup] = field(default_factory=list)
    # records by label and key, relationships by type, ends and key: each staged once
    claimed: set[tuple[str, ...]] = field(default_factory=set)
    # one file per label (or type) and header: batches with the same columns append to it
    _groups: dict[tuple[str, tuple[str, ...]], CsvGroup] = field(default_factory=dict)

    # -- subjects: merged in memory in load order ---------------------------------------------
    def merge_subject(self, key: str, labels: Iterable[str], props: dict[str, Any],
                      on_create: dict[str, Any] | None = None) -> None:
        """`MERGE (n:Subject {id}) ON CREATE SET n += on_create SET n:labels, n += props`."""
        found = self.subjects.get(key)
        if found is None:
            found = ({Label.SUBJECT.value}, {"id": key, **(on_create or {})})
            self.subjects[key] = found
        found[0].update(labels)
        _set_all(found[1], props)

    def subject_labels(self, key: str) -> set[str] | None:
        found = self.subjects.get(key)
        return found[0] if found else None

    def claim(self, identity: tuple[str, ...]) -> bool:
        """Whether a record or relationship is new to the stage, which now holds it: neo4j-admin
        takes each node once, and a repeat must update it as a MERGE would."""
        if identity in self.claimed:
            return False
        self.claimed.add(identity)
        return True

    # -- files ----------------------------------------------------------------------------------
    def _write(self, name: str, id_header: list[str], cells: list[list[Any]],
               columns: list[str], label_or_type: str, target: list[CsvGroup]) -> None:
        """Rows into a CSV file, given column by column: `cells` holds the id columns of
        `id_header`, then the properties named by `columns`, each typed by the first value it
        has (a column no row fills is left out). The C csv writer writes the rows; only the
        columns holding an absent value or a value it cannot write are rewritten first."""
        rows = len(cells[0])
        if not rows:
            return
        lead = len(id_header)
        head = list(id_header)
        kept = cells[:lead]
        for column, values in zip(columns, cells[lead:], strict=True):
            found = next((_type(v) for v in values if v is not None), None)
            if found is None:
                continue
            head.append(f"{column}:{found}")
            form = CELL_FORMATS.get(found)
            if form is not None:
                kept.append([ABSENT if v is None else form(v) for v in values])
            elif None in values:
                kept.append([ABSENT if v is None else v for v in values])
            else:
                kept.append(values)
        key = (label_or_type, tuple(head))
        group = self._groups.get(key)
        if group is None:
            path = self.folder / f"{len(self._groups) + 1:05d}-{name}.csv"
            path.write_text(",".join(head) + "\n", encoding="utf-8")
            group = self._groups[key] = CsvGroup(path, label_or_type)
            target.append(group)
        buffer = io.StringIO()
        csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\n").writerows(
            zip(*kept, strict=True))
        body = buffer.getvalue()
        # a field holding a line break makes the file multiline for neo4j-admin
        group.multiline = group.multiline or "\r" in body or body.count("\n") > rows
        with group.path.open("a", encoding="utf-8", newline="") as handle:
            handle.write(body)

    def write_nodes(self, label: str, labels: str, group: str,
                    rows: list[dict[str, Any]]) -> None:
        columns = sorted({k for row in rows for k in row if k != "id"})
        self._write(f"nodes-{label}", [f"id:ID({group})"],
                    [[row["id"] for row in rows],
                     *([row.get(c) for row in rows] for c in columns)],
                    columns, labels, self.node_files)

    def write_relationships(self, rtype: str, start_group: str, end_group: str,
                            rows: list[tuple[str, str, dict[str, Any]]]) -> None:
        """Relationships the caller made unique (claimed, or unique by construction)."""
        if not rows:
            return
        columns = sorted({k for _, _, props in rows for k in props})
        self._write(f"rels-{rtype}", [f":START_ID({start_group})", f":END_ID({end_group})"],
                    [[s for s, _, _ in rows], [t for _, t, _ in rows],
                     *([p.get(c) for _, _, p in rows] for c in columns)],
                    columns, rtype, self.relationship_files)

    def write_shared_contacts(self, cap: int) -> dict[str, int]:
        """共用联系方式 as `SHARED_CONTACTS` derives it in a running database: every pair of
        subjects with the same phone (or address) in a group of 2 to `cap`, from the smaller id
        to the larger."""
        pairs: dict[str, int] = {}
        for via in CONTACT_PROPERTIES:
            groups: dict[Any, list[str]] = {}
            for key, (_, props) in self.subjects.items():
                value = props.get(via)
                if value is not None and value != "":
                    groups.setdefault(value, []).append(key)
            rows: list[tuple[str, str, dict[str, Any]]] = []
            for members in groups.values():
                if 2 <= len(members) <= cap:
                    ordered = sorted(members)
                    rows.extend((a, b, {"key": via, "via": via})
                                for i, a in enumerate(ordered) for b in ordered[i + 1:])
            pairs[via] = len(rows)
            self.write_relationships(RelationType.SHARES_CONTACT.value, Label.SUBJECT.value,
                                     Label.SUBJECT.value, rows)
        return pairs

    def write_subjects(self, chunk: int = 200_000) -> None:
        """Subjects grouped by labels and property names, after every file is staged."""
        groups: dict[tuple[tuple[str, ...], tuple[str, ...]], list[dict[str, Any]]] = {}
        for labels, props in self.subjects.values():
            signature = (tuple(sorted(labels)), tuple(sorted(props)))
            groups.setdefault(signature, []).append(props)
        for (names, _), rows in groups.items():
            for start in range(0, len(rows), chunk):
                self.write_nodes("subjects", ":".join(names), Label.SUBJECT.value,
                                 rows[start:start + chunk])


def _set_all(target: dict[str, Any], props: dict[str, Any]) -> None:
    """`SET n += props`: a null removes the property."""
    for key, value in props.items():
        if value is None:
            target.pop(key, None)
        else:
            target[key] = value


class BulkLoader(BundleLoader):
    """The bulk path: stage, stop the server, import, start, migrate, then finish what needs a
    running database (name resolution, shared contacts)."""

    def __init__(self, settings: Settings, graph: Graph, rules: Rules, privacy: Privacy,
                 normaliser: NameNormaliser, today: dt.date | None = None,
                 batch_size: int = 5000, progress: ProgressHook | None = None,
                 workers: int = 1) -> None:
        super().__init__(graph, rules, privacy, normaliser, today, batch_size, progress,
                         workers)
        self.settings = settings
        self.server = LocalNeo4j(settings)
        self.stage = ImportStage(settings.server_dir / "import" / "bulk")
        self._deferred: list[tuple[str, list[tuple[int, Prepared]], FileSummary, RejectRow]] = []
        self._imported = False
        self.saved: list[tuple[Path, Path]] = []
        self.timings: dict[str, float] = {}

    # -- the checks that make bulk safe -------------------------------------------------------
    def refuse_unless_empty(self) -> None:
        if self.settings.external:
            raise BulkRefused("--bulk builds a local database offline; NEO4J_URI names an "
                              "external server: load without --bulk")
        others = count_nodes(self.graph, exclude=[label.value for label in ALLOWED_BEFORE])
        if others:
            raise BulkRefused(f"--bulk needs an empty database and this one holds {others:,} "
                              "nodes: load without --bulk to update it")

    def load(self, paths: list[Path], derive_contacts: bool = True) -> LoadSummary:
        started = time.monotonic()
        self.refuse_unless_empty()
        shutil.rmtree(self.stage.folder, ignore_errors=True)
        self.stage.folder.mkdir(parents=True)
        carried = self.graph.read_rows(CARRIED)
        summary = LoadSummary()
        try:
            with self.validator:
                self._load_files(readable_bundle(paths, summary.warnings), summary)
            contacts = (self.stage.write_shared_contacts(self.rules.resolution.contact_group_cap)
                        if derive_contacts else {})
            self.stage.write_subjects()
            if carried:
                self.stage.write_nodes("keys", Label.API_KEY.value, Label.API_KEY.value,
                                       carried)
            self.timings["staged"] = time.monotonic() - started
            self._import()
            self.timings["imported"] = time.monotonic() - started
        finally:
            shutil.rmtree(self.stage.folder, ignore_errors=True)
        self._imported = True
        migrate(self.graph)
        self.timings["migrated"] = time.monotonic() - started
        for kind, pending, result, reject in self._deferred:
            super()._flush(kind, pending, result, reject, summary)
        self._settle_waiting(summary)
        self.timings["resolved"] = time.monotonic() - started
        summary.shared_contacts = contacts
        summary.seconds = time.monotonic() - started
        return summary

    def _settle_waiting(self, summary: LoadSummary) -> None:
        """Once every file is staged, the waiting rows whose end the stage now holds are staged;
        the others wait on for the rows written after the import — a record found by name
        creates its issuer (an agency an official's post names) only then — and are rejected
        only if their end is still unknown after them, as the transactional load does."""
        if self._imported:
            super()._settle_waiting(summary)
            return
        waiting, self._waiting = self._waiting or [], []
        for kind, pending, result, reject in waiting:
            self._flush(kind, pending, result, reject, summary)

    # -- staging instead of writing -------------------------------------------------------------
    def _flush(self, kind: str, pending: list[tuple[int, Prepared]], result: FileSummary,
               reject: RejectRow, summary: LoadSummary) -> None:
        if self._imported:
            super()._flush(kind, pending, result, reject, summary)
            return
        by_name = [(line, p) for line, p in pending if p.resolve is not None]
        checked = self._check_references(kind, [(line, p) for line, p in pending
                                                if p.resolve is None], result, reject)
        later: list[tuple[int, Prepared]] = []
        ready: list[Prepared] = []
        for line, prepared in sorted(by_name + checked, key=lambda item: item[0]):
            identity = _identity(kind, prepared)
            fresh = identity is None or self.stage.claim(identity)
            if fresh and prepared.resolve is None:
                ready.append(prepared)
            else:
                later.append((line, prepared))
        if later:
            self._deferred.append((kind, later, result, reject))
        self._stage(kind, ready)
        self._superiors.extend({"from": p.data["id"], "to": p.superior}
                               for p in ready if p.superior)
        result.loaded += len(ready)

    def _known_subjects(self, ids: set[str]) -> dict[str, set[str]]:
        if self._imported:
            return super()._known_subjects(ids)
        return {key: labels for key in ids if (labels := self.stage.subject_labels(key))}

    def _link_superiors(self, summary: LoadSummary) -> None:
        links, self._superiors = self._superiors, []
        usable = []
        for link in links:
            if self.stage.subject_labels(link["to"]) is None:
                summary.warnings.append(f"{link['from']}: superior {link['to']} is not loaded; "
                                        "SUBORDINATE_TO not created")
            # the identity a relations row's 隶属 claims (type, ends): a tie given as a relation
            # is not made again from the column, as SUBORDINATE does in a running database
            elif self.stage.claim((RelationType.SUBORDINATE_TO.value, link["from"], link["to"])):
                usable.append((link["from"], link["to"], {"key": ""}))
        self.stage.write_relationships(RelationType.SUBORDINATE_TO.value, Label.SUBJECT.value,
                                       Label.SUBJECT.value, usable)

    def _stage(self, kind: str, prepared: list[Prepared]) -> None:
        stage, subject = self.stage, Label.SUBJECT.value
        if kind == "legal_persons":
            for p in prepared:
                labels = [Label.LEGAL_PERSON.value] + ([Label.AGENCY.value]
                                                       if p.data["agency"] else [])
                stage.merge_subject(p.data["id"], labels, p.data["props"])
        elif kind == "natural_persons":
            for p in prepared:
                stage.merge_subject(p.data["id"], [Label.NATURAL_PERSON.value],
                                    p.data["props"], {"idEnc": p.data["idEnc"]})
        elif kind == "officials":
            serves = []
            for p in prepared:
                stage.merge_subject(p.data["id"], [Label.NATURAL_PERSON.value,
                                                   Label.OFFICIAL.value],
                                    p.data["props"], {"idEnc": p.data["idEnc"]})
                serves.append((p.data["id"], p.data["agency"],
                               {"key": p.data["key"], **_present(p.data["defaults"]),
                                **_present(p.data["rel"])}))
            stage.write_relationships(RelationType.SERVES_IN.value, subject, subject, serves)
        elif kind == "relations":
            by_type: dict[RelationType, list[tuple[str, str, dict[str, Any]]]] = {}
            for p in prepared:
                assert p.relation is not None
                if p.relation is RelationType.SERVES_IN and p.data["from"] in stage.subjects:
                    # a person who serves in an agency (任职) is an official
                    stage.merge_subject(p.data["from"], [Label.OFFICIAL.value], {})
                by_type.setdefault(p.relation, []).append(
                    (p.data["from"], p.data["to"], {"key": p.data["key"],
                                                    **_present(p.data["defaults"]),
                                                    **_present(p.data["props"])}))
            for rtype, rows in by_type.items():
                stage.write_relationships(RELATIONS[rtype].type, subject, subject, rows)
        else:
            self._stage_records(kind, prepared)

    def _stage_records(self, kind: str, prepared: list[Prepared]) -> None:
        stage, subject = self.stage, Label.SUBJECT.value
        label = RECORD_LABELS[RECORD_FILES[kind]].value
        nodes: list[dict[str, Any]] = []
        parties: list[tuple[str, str, dict[str, Any]]] = []
        issued: list[tuple[str, str, dict[str, Any]]] = []
        for p in prepared:
            data = p.data
            nodes.append({"id": data["id"], **_present(data["defaults"]),
                          **_present(data["props"]), "status": data["status"]})
            for party in data["parties"]:
                labels = [Label.NATURAL_PERSON.value] if party["person"] else [
                    Label.LEGAL_PERSON.value]
                if party["agency"]:
                    labels.append(Label.AGENCY.value)
                if party["id"] in stage.subjects:
                    stage.merge_subject(party["id"], labels, {})
                else:
                    stage.merge_subject(party["id"], labels, {}, _present(party["stub"]))
                parties.append((party["id"], data["id"], {"role": str(party["role"])}))
            if data["issuer"] is not None:
                issuer = data["issuer"]
                if issuer not in stage.subjects:
                    stage.merge_subject(issuer, [Label.LEGAL_PERSON.value], {},
                                        _present(data["issuerStub"] or {}))
                if data["issuerAgency"]:
                    stage.merge_subject(issuer, [Label.AGENCY.value], {})
                issued.append((data["id"], issuer, {}))
        stage.write_nodes(label, label, label, nodes)
        stage.write_relationships(Link.HAS_RECORD.value, subject, label, parties)
        stage.write_relationships(Link.ISSUED_BY.value, label, subject, issued)

    # -- the import itself ------------------------------------------------------------------
    def _import(self) -> None:
        """Stop the server, import into a fresh store, start again. A failed import puts the
        previous database back before the error is raised."""
        databases = self.server.data_dir / "databases" / self.settings.neo4j_database
        transactions = self.server.data_dir / "transactions" / self.settings.neo4j_database
        saved = [(folder, folder.with_name(folder.name + ".before-bulk"))
                 for folder in (databases, transactions) if folder.exists()]
        self.server.stop()
        # until the server starts again a marker names the folders moved aside: a loader
        # killed meanwhile leaves them for the next start to put back (`recover_bulk`)
        self.saved = saved
        self.server.mark_bulk(saved)
        for folder, backup in saved:
            shutil.rmtree(backup, ignore_errors=True)
            folder.rename(backup)
        try:
            self._run_import()
        except BaseException:
            self.server.put_back(saved)
            self.server.start()
            raise
        self.server.clear_bulk_mark()  # first: a backup without its marker is only litter
        for _, backup in saved:
            shutil.rmtree(backup, ignore_errors=True)
        self.server.start()

    def _run_import(self) -> None:
        lib = self.server.ensure_jars()
        self.server.write_conf()
        command = [self.server.java(), f"-Xmx{self.settings.heap}", "-cp", f"{lib}/*",
                   ADMIN_CLASS, "database", "import", "full", self.settings.neo4j_database,
                   "--overwrite-destination=true",
                   "--id-type=string", "--skip-duplicate-nodes=false",
                   "--skip-bad-relationships=false", "--bad-tolerance=0",
                   f"--report-file={self.stage.folder / 'import.report'}",
                   f"--threads={max(os.cpu_count() or 2, 2)}", "--verbose"]
        multiline = [str(g.path) for g in (*self.stage.node_files,
                                           *self.stage.relationship_files) if g.multiline]
        if multiline:
            command += ["--multiline-fields-format=v2", f"--multiline-fields={','.join(multiline)}"]
        command += [f"--nodes={g.label_or_type}={g.path}" for g in self.stage.node_files]
        command += [f"--relationships={g.label_or_type}={g.path}"
                    for g in self.stage.relationship_files]
        env = dict(os.environ, NEO4J_HOME=str(self.server.home),
                   NEO4J_CONF=str(self.server.conf_dir))
        started = time.monotonic()
        # the import dies with the loader (a killed load leaves no import writing on into the
        # store the next start puts the previous database back over), and the marker names it
        process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True, env=env, cwd=self.server.home,
                                   preexec_fn=_die_with_parent)
        self.server.mark_bulk(self.saved, process.pid)
        stdout, stderr = process.communicate()
        result = subprocess.CompletedProcess(command, process.returncode, stdout, stderr)
        self.timings["importTool"] = time.monotonic() - started
        if result.returncode != 0:
            lines = [line.strip() for line in (result.stdout + result.stderr).splitlines()
                     if line.strip() and not line.startswith(("\tat ", "\t... ", "....."))]
            # --verbose: the exception chain names the entry that stopped the import
            causes = [line.removeprefix("Caused by: ") for line in lines
                      if line.startswith("Caused by:")]
            detail = causes[-1] if causes else "\n".join(lines[-8:])
            raise ServerError(f"neo4j-admin import failed (exit {result.returncode}); the "
                              f"previous database is kept:\n{scrub(detail)}")


# prctl resolved here, in the loader, so that the forked child only calls it
_PRCTL = ctypes.CDLL(None, use_errno=True).prctl if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    """In the import's child process: SIGKILL when the loader that started it dies (Linux)."""
    if _PRCTL is not None:
        _PRCTL(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _identity(kind: str, prepared: Prepared) -> tuple[str, ...] | None:
    """What a row stages once: a record by label and key, a relation or a post (任职) by type
    and ends; subjects are merged in memory instead."""
    data = prepared.data
    if kind in RECORD_FILES:
        return (RECORD_LABELS[RECORD_FILES[kind]].value, data["id"])
    if kind == "relations":
        # by its ends only: a second row of a tie (another start date, or none) is written
        # after the import as the transactional load writes it (an undated edge taken over)
        assert prepared.relation is not None
        return (RELATIONS[prepared.relation].type, data["from"], data["to"])
    if kind == "officials":  # by its ends only, as a relation
        return (RelationType.SERVES_IN.value, data["id"], data["agency"])
    return None


def _present(props: dict[str, Any]) -> dict[str, Any]:
    """Properties with a value: on a new node `SET += {x: null}` stores nothing."""
    return {k: v for k, v in props.items() if v is not None}
