"""The audit log (审计日志, SPEC §10): who asked what about whom, when, for which purpose.

Events leave the request path at once: `AuditTrail.record` queues one and returns; a writer
thread appends the queue to Neo4j as one `UNWIND` batch every `interval` seconds, or as soon as
`batch` events wait, and `stop()` (the app's shutdown) writes what is left. A write that fails
because Neo4j is away keeps its events queued for the next attempt; an event refused for its
own content is set aside, named in the server log, and the others written. Nothing updates or
deletes an `:AuditEvent`.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import neo4j.exceptions

from credgraph.graph.driver import Graph
from credgraph.graph.model import Label
from credgraph.schema.privacy import scrub
from credgraph.schema.rows import printable

log = logging.getLogger("credgraph.audit")

EVENT = Label.AUDIT_EVENT.value
# `at` travels as ISO text: the driver's conversion of a zoned datetime costs more Python time
# than everything else in the row together.
APPEND = f"UNWIND $rows AS row CREATE (e:{EVENT}) SET e = row, e.at = datetime(row.at)"


def refused(exc: Exception) -> bool:
    """Whether a write failed for what the events hold — a value Neo4j's statement refuses,
    or one the driver cannot encode (a lone surrogate) — rather than for where they go (Neo4j
    away, a database missing), after which the same write can succeed."""
    if isinstance(exc, neo4j.exceptions.ClientError):
        return (exc.code or "").startswith("Neo.ClientError.Statement.")
    return isinstance(exc, ValueError | TypeError)


# A purpose stated in a header or the desk's form (sharing's own bound is a rule, SPEC §9).
MAX_PURPOSE = 200


def kept_purpose(text: str | None) -> str | None:
    """A stated purpose (查询事由) as the log keeps it, wherever it was stated (an argument, the
    X-Purpose header, a report's purpose): control characters dropped, every run of spaces and
    line breaks one space, an ID number masked; None when nothing is left."""
    if text is None:
        return None
    return scrub(" ".join(printable(text).split())) or None


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class AuditEvent:
    """One entry: `subjects` are graph keys (USCC or the opaque `P…` key), never ID numbers."""

    actor: str
    role: str
    operation: str
    subjects: tuple[str, ...]
    purpose: str | None = None
    at: dt.datetime = field(default_factory=utcnow)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    def row(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "actor": self.actor, "role": self.role,
                "operation": self.operation, "subjects": list(self.subjects),
                "purpose": self.purpose}


class AuditTrail:
    """An in-process queue of events and the thread that appends them in batches."""

    def __init__(self, graph: Graph, interval: float, batch: int) -> None:
        self.graph = graph
        self.interval = interval
        self.batch = batch
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()
        self._ready = threading.Condition(self._lock)
        self._writing = threading.Lock()  # one batch in flight, so a flush waits for it
        self._thread: threading.Thread | None = None
        self._stopping = False

    def record(self, event: AuditEvent) -> None:
        with self._ready:
            self._pending.append(event.row())
            if self._thread is None:
                self._stopping = False
                self._thread = threading.Thread(target=self._run, name="audit-writer",
                                                daemon=True)
                self._thread.start()
            if len(self._pending) == 1 or len(self._pending) >= self.batch:
                self._ready.notify()

    def flush(self) -> int:
        """Append every queued event now; returns how many were written."""
        with self._writing:
            with self._lock:
                rows, self._pending = self._pending, []
            if not rows:
                return 0
            try:
                self.graph.write(APPEND, {"rows": rows})
            except Exception as exc:
                if refused(exc):
                    return self._isolate(rows)
                self._requeue(rows)
                raise
            return len(rows)

    def _isolate(self, rows: list[dict[str, Any]]) -> int:
        """A batch refused as written: its events one by one, so that one that can never be
        written (named in the server log, set aside) does not hold back every later event."""
        written = 0
        for n, row in enumerate(rows):
            try:
                self.graph.write(APPEND, {"rows": [row]})
            except Exception as exc:
                if not refused(exc):
                    self._requeue(rows[n:])
                    raise
                log.error("audit event %s (%s by %s) refused, set aside: %s", row["id"],
                          row["operation"], row["actor"], type(exc).__name__)
            else:
                written += 1
        return written

    def _requeue(self, rows: list[dict[str, Any]]) -> None:
        with self._lock:
            self._pending[:0] = rows

    def stop(self) -> None:
        """Write what is queued and stop the writer (a later event starts it again)."""
        with self._ready:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._ready.notify()
        if thread is not None:
            thread.join()
        self.flush()

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._ready:
                while not self._pending and not self._stopping:
                    self._ready.wait()
                if self._stopping:
                    return
                # gather more for up to `interval`, unless a full batch is already waiting
                deadline = time.monotonic() + self.interval
                while len(self._pending) < self.batch and not self._stopping:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._ready.wait(remaining)
            try:
                self.flush()
            except Exception as exc:  # Neo4j away: the events stay queued for the next try
                log.error("audit events not written yet (%d queued): %s", self.pending,
                          type(exc).__name__)
                time.sleep(self.interval)


FILTER = f"""
MATCH (e:{EVENT})
WHERE e.at >= $since
  AND ($subject IS NULL OR $subject IN e.subjects)
  AND ($actor IS NULL OR e.actor = $actor)
"""
COUNT = FILTER + "RETURN count(e) AS total"
PAGE = FILTER + """
  AND ($afterAt IS NULL OR e.at < $afterAt OR (e.at = $afterAt AND e.id < $afterId))
WITH e ORDER BY e.at DESC, e.id DESC LIMIT $limit
RETURN collect(e {.id, .at, .actor, .role, .operation, .subjects, .purpose}) AS rows
"""
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


@dataclass(frozen=True)
class AuditPage:
    entries: list[dict[str, Any]]
    total: int
    has_next: bool


def audit_log(graph: Graph, subject: str | None, actor: str | None, since: dt.datetime | None,
              first: int, after: tuple[dt.datetime, str] | None) -> AuditPage:
    """Events newest first, filtered by subject key, actor and time; `after` is the
    (time, id) of the last entry of the previous page. `total` counts the whole filter."""
    # in UTC, as `at` is stored: Neo4j orders one instant in two offsets apart (13:00+08:00
    # after 05:00Z), so `since` given in China time would miss the event of that very instant
    params: dict[str, Any] = {"subject": subject, "actor": actor,
                              "since": (since or EPOCH).astimezone(dt.UTC)}
    total = int(graph.read(COUNT, params)[0]["total"])
    rows = graph.read_rows(PAGE, {**params, "afterAt": after[0] if after else None,
                                  "afterId": after[1] if after else None, "limit": first + 1})
    for row in rows:
        row["at"] = row["at"].to_native()
    return AuditPage(rows[:first], total, len(rows) > first)
