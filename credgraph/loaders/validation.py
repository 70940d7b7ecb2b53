"""Rows of a bundle file validated and prepared, in this process or in a pool of worker
processes (no shared interpreter lock), the outcomes coming back in file order.

Validation is the loader's CPU work (pydantic, check digits, name normalisation, HMAC keys):
a pool of one process per core feeds the writer — or the bulk stage — while the main process
reads the next rows. What runs in a worker is exactly what runs in process, so a load's
rejects, summary and graph do not depend on the number of workers.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
import time
from collections import Counter, deque
from collections.abc import Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import NamedTuple

from credgraph.graph.driver import batched
from credgraph.graph.server import process_alive
from credgraph.loaders.prepare import Prepared, Preparer, RowRejected
from credgraph.loaders.readers import RawRow
from credgraph.schema.rows import (
    MISSING,
    ROW_MODELS,
    department,
    display_value,
    header_map,
    parse_row,
    row_columns,
    row_values,
)

# A smaller file is validated before worker processes would have started.
PARALLEL_FROM_BYTES = 2_000_000
CHUNK_ROWS = 2_000
WATCH_SECONDS = 1.0  # how often a worker checks that its loader still runs


class Rejection(NamedTuple):
    column: str
    value: str
    reason: str
    # for a row lacking required fields: the department that sent it, and those fields' columns
    department: str | None = None
    missing: tuple[str, ...] = ()


class Outcome(NamedTuple):
    """One row: its line, the write or why it is refused, and its key (for the file's
    last-occurrence-wins rule, applied by the caller)."""

    line: int
    result: Prepared | Rejection
    key: str | None


@dataclass(frozen=True)
class FileShape:
    """What validating a row of one file needs besides the row."""

    kind: str
    mapping: dict[str, str]  # header → field
    columns: dict[str, str]  # field → header, for error messages
    # header → field of the fields fed by several headers: only these can be read from
    # another header than `columns` names (empty for most files: no per-row search)
    shared: dict[str, str]

    @classmethod
    def of(cls, kind: str, headers: list[str]) -> FileShape:
        """The shape of a file with these headers; a field fed by several headers is named
        in messages by the first, or by the one a row's value came from."""
        mapping = header_map(ROW_MODELS[kind], headers)
        columns: dict[str, str] = {}
        for header, field_name in mapping.items():
            columns.setdefault(field_name, header)
        fed = Counter(mapping.values())
        shared = {header: name for header, name in mapping.items() if fed[name] > 1}
        return cls(kind, mapping, columns, shared)


def validate(preparer: Preparer, shape: FileShape, rows: Iterable[RawRow]) -> list[Outcome]:
    model = ROW_MODELS[shape.kind]
    outcomes = []
    for raw in rows:
        problem = raw.refused(shape.mapping)
        if problem is not None:
            outcomes.append(Outcome(raw.line, Rejection(problem.column,
                                                        display_value(problem.value),
                                                        problem.reason), None))
            continue
        values = row_values(shape.mapping, raw.values)
        # a field fed by several headers is named by the one this row's value came from
        read_from = row_columns(shape.shared, raw.values, shape.columns)
        parsed = parse_row(model, values, {**shape.columns, **read_from} if read_from
                           else shape.columns)
        if isinstance(parsed, list):
            first = parsed[0]
            more = (f" (and {len(parsed) - 1} more problem(s) in this row)"
                    if len(parsed) > 1 else "")
            missing = tuple(p.column for p in parsed if p.reason == MISSING)
            sender = department(model, values) if missing else None
            outcomes.append(Outcome(raw.line, Rejection(first.column, first.value,
                                                        first.reason + more, sender, missing),
                                    None))
            continue
        key = str(getattr(parsed, model.key)) if model.key else None
        try:
            prepared = preparer.prepare(shape.kind, parsed)
        except RowRejected as exc:
            missing = (exc.column,) if exc.reason == MISSING else ()
            sender = department(model, dict(parsed)) if missing else None
            outcomes.append(Outcome(raw.line, Rejection(read_from.get(exc.column, exc.column),
                                                        exc.value, exc.reason, sender, missing),
                                    key))
            continue
        prepared.columns = read_from or None
        outcomes.append(Outcome(raw.line, prepared, key))
    return outcomes


_worker_preparer: Preparer | None = None


def _start_worker(preparer: Preparer, loader: int | None = None) -> None:
    global _worker_preparer
    _worker_preparer = preparer
    gc.disable()
    if loader is not None:
        threading.Thread(target=_exit_with, args=(loader,), daemon=True,
                         name="loader-watch").start()


def _exit_with(loader: int) -> None:
    """In a worker: exit once the loader that started the pool is gone. A loader killed
    outright (kill -9, the OOM killer) never shuts its pool down, and the workers, each
    holding both ends of the pool's queue, waited for work for ever — two idle processes
    of ~110 MB and the forkserver left behind by each killed load."""
    while process_alive(loader):
        time.sleep(WATCH_SECONDS)
    os._exit(0)


def _validate_in_worker(shape: FileShape, rows: list[RawRow]) -> list[Outcome]:
    assert _worker_preparer is not None, "worker not initialised"
    outcomes = validate(_worker_preparer, shape, rows)
    gc.collect(1)
    return outcomes


class Validator:
    """Validation for one load: in process, or by `workers` processes (0: one per core) for
    files of at least `parallel_from_bytes`. Close it (or use it as a context) to stop them."""

    def __init__(self, preparer: Preparer, workers: int = 1,
                 parallel_from_bytes: int = PARALLEL_FROM_BYTES) -> None:
        self.preparer = preparer
        self.workers = workers if workers > 0 else (os.cpu_count() or 1)
        self.parallel_from_bytes = parallel_from_bytes
        self._pool: ProcessPoolExecutor | None = None
        self._collecting = True

    def outcomes(self, shape: FileShape, rows: Iterable[RawRow],
                 size: int) -> Iterator[Outcome]:
        """Every row's outcome in file order; `size` (bytes) decides whether workers help."""
        if self.workers <= 1 or size < self.parallel_from_bytes:
            for chunk in batched(rows, CHUNK_ROWS):
                yield from validate(self.preparer, shape, chunk)
                gc.collect(1)
            return
        pool = self._started()
        waiting: deque[Future[list[Outcome]]] = deque()
        for chunk in batched(rows, CHUNK_ROWS):
            waiting.append(pool.submit(_validate_in_worker, shape, chunk))
            if len(waiting) > 2 * self.workers:
                yield from waiting.popleft().result()
                gc.collect(1)
        while waiting:
            yield from waiting.popleft().result()

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            # forkserver: the loader's process holds driver and writer threads, which a fork
            # would copy mid-flight.
            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("forkserver"),
                initializer=_start_worker, initargs=(self.preparer, os.getpid()))
        return self._pool

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)
            self._pool = None

    def __enter__(self) -> Validator:
        """Automatic garbage collection paused for the load, young generations collected
        after each chunk: a load keeps millions of objects alive (the bulk stage, key
        caches), and the collector's full passes over them cost more than validating."""
        self._collecting = gc.isenabled()
        gc.disable()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self._collecting:
            gc.enable()

