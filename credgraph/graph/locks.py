"""One run at a time for the city-wide batch jobs (monitoring, escalation), across processes
and machines: a `:RunLock` node per job with an owner and an expiry, kept in the graph the
jobs write to, so two deployments sharing a database share the lock too."""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable

from credgraph.graph.driver import Graph, Row
from credgraph.graph.model import Label
from credgraph.graph.server import process_alive

_LOCK = Label.RUN_LOCK.value

# The node is write-locked before it is read (SET first), so two runs claiming at once are
# serialised by Neo4j. A lock is free when nobody holds it, when its expiry passed, or when
# the caller names it stale (its holder's process is gone); `previous` is the run that held
# it until then (a run that never released it: killed, or stalled past its expiry).
ACQUIRE = f"""
MERGE (l:{_LOCK} {{id: $id}})
SET l.claimedAt = datetime()
WITH l, l.owner AS previous,
     (l.owner IS NULL OR l.expiresAt < datetime() OR coalesce(l.owner = $stale, false)) AS free
FOREACH (_ IN CASE WHEN free THEN [1] ELSE [] END |
  SET l.owner = $owner, l.host = $host, l.pid = $pid, l.since = datetime(),
      l.expiresAt = datetime() + duration({{seconds: $ttl}}))
RETURN free, previous, l.owner AS owner, l.host AS host, l.pid AS pid, toString(l.since) AS since,
       toString(l.expiresAt) AS expiresAt
"""
RENEW = f"""
MATCH (l:{_LOCK} {{id: $id}}) WHERE l.owner = $owner
SET l.expiresAt = datetime() + duration({{seconds: $ttl}})
RETURN count(l) AS n
"""
RELEASE = f"""
MATCH (l:{_LOCK} {{id: $id}}) WHERE l.owner = $owner
SET l.owner = null, l.host = null, l.pid = null, l.since = null, l.expiresAt = null
"""

POLL_SECONDS = 1.0

log = logging.getLogger("credgraph.locks")


class LockHeld(Exception):
    """Another run holds the lock; the message names it."""


class LockLost(Exception):
    """The lock expired and another run took it: the holder must stop writing."""


class RunLock:
    """The lock of one job (`job` is the node's id: "monitor", "escalation")."""

    def __init__(self, graph: Graph, job: str, owner: str, ttl_seconds: float) -> None:
        self.graph = graph
        self.job = job
        self.owner = owner
        self.ttl = ttl_seconds
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.renewed = 0.0
        self.taken_over: str | None = None

    def acquire(self, wait: float | None = 0.0,
                waiting: Callable[[Row], None] | None = None) -> None:
        """Take the lock; a lock held by a process of this machine that no longer exists (a
        killed run) is taken over at once, an expired one too. Otherwise wait up to `wait`
        seconds (None: as long as the holder keeps it), calling `waiting(holder)` once, then
        raise LockHeld. A lock taken from a run that never released it names that run in
        `taken_over` (and in the log)."""
        deadline = None if wait is None else time.monotonic() + wait
        told = False
        while True:
            row = self._claim(None)
            if not row["free"] and orphaned(row):
                row = self._claim(row["owner"])
            if row["free"]:
                self.renewed = time.monotonic()
                if row["previous"] is not None and row["previous"] != self.owner:
                    self.taken_over = row["previous"]
                    log.warning("took over the %s lock of run %s, which never released it (its "
                                "process is gone or its lock expired)", self.job,
                                self.taken_over)
                return
            if deadline is not None and time.monotonic() >= deadline:
                raise LockHeld(
                    f"another {self.job} run holds the lock (run {row['owner']} on "
                    f"{row['host']}, pid {row['pid']}, since {row['since']}); it expires at "
                    f"{row['expiresAt']} unless renewed. Nothing was written; run again later.")
            if waiting is not None and not told:
                waiting(row)
                told = True
            time.sleep(POLL_SECONDS)

    def _claim(self, stale: str | None) -> Row:
        return self.graph.write(ACQUIRE, {
            "id": self.job, "owner": self.owner, "host": self.host, "pid": self.pid,
            "ttl": self.ttl, "stale": stale})[0]

    def renew(self, force: bool = False) -> None:
        """Push the expiry on (at most every third of the time to live unless forced)."""
        if not force and time.monotonic() - self.renewed < self.ttl / 3:
            return
        rows = self.graph.write(RENEW, {"id": self.job, "owner": self.owner, "ttl": self.ttl})
        if not rows or rows[0]["n"] == 0:
            raise LockLost(f"the {self.job} lock was lost (it expired and another run took "
                           "it); this run stops without writing more")
        self.renewed = time.monotonic()

    def release(self) -> None:
        """Best effort, for a `finally`: with Neo4j gone the lock expires on its own."""
        try:
            self.graph.write(RELEASE, {"id": self.job, "owner": self.owner})
        except Exception as exc:
            log.warning("could not release the %s lock: %s", self.job, type(exc).__name__)


def orphaned(holder: Row) -> bool:
    """A lock held by a process of this machine that no longer exists (a killed run)."""
    return (holder.get("host") == socket.gethostname() and holder.get("pid") is not None
            and not process_alive(int(holder["pid"])))
