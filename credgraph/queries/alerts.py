"""Alerts and watchlists: the duty officer's side of monitoring (失信风险预警).

Case workflow of an alert (`updateAlert`), every change kept in its history (who, when, what):

    OPEN         → ACKNOWLEDGED, CONFIRMED, DISMISSED
    ACKNOWLEDGED → OPEN, CONFIRMED, DISMISSED
    CONFIRMED    → OPEN, DISMISSED      (with a comment)
    DISMISSED    → OPEN, CONFIRMED      (with a comment)

Leaving a closed state (CONFIRMED, DISMISSED) reverses a decision, so it needs a comment
saying why; a closed alert goes back to OPEN, never straight to ACKNOWLEDGED. A call that
changes nothing (the status and assignee it already has, no comment) is refused rather than
written into the history as if something had happened; the same status with a comment is a
comment.

Watchlists: `(k:ApiKey)-[:WATCHES]->(s)` is a key's own list; the shared city watchlist is
`(w:Watchlist {id: 'city'})-[:WATCHES]->(s)`. Monitoring watches the union of both.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from credgraph.graph.driver import Graph, Row
from credgraph.graph.model import AlertStatus, Label, Link
from credgraph.queries.monitoring import CITY_WATCHLIST, live_watcher
from credgraph.queries.subjects import SUBJECT_SUMMARY
from credgraph.schema.privacy import scrub
from credgraph.schema.rows import printable

OPEN, ACKNOWLEDGED, CONFIRMED, DISMISSED = (AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED,
                                            AlertStatus.CONFIRMED, AlertStatus.DISMISSED)
TRANSITIONS: dict[AlertStatus, frozenset[AlertStatus]] = {
    OPEN: frozenset({ACKNOWLEDGED, CONFIRMED, DISMISSED}),
    ACKNOWLEDGED: frozenset({OPEN, CONFIRMED, DISMISSED}),
    CONFIRMED: frozenset({OPEN, DISMISSED}),
    DISMISSED: frozenset({OPEN, CONFIRMED}),
}
CLOSED = frozenset({CONFIRMED, DISMISSED})
MAX_ASSIGNEE = 100
MAX_COMMENT = 2000
MAX_ALERT_ID = 64

_ALERT = Label.ALERT.value
_SUBJECT = Label.SUBJECT.value
_WATCHES = Link.WATCHES.value
ALERT_FIELDS = (".id, .rule, .severity, .subject, .summary, .evidence, .records, .fingerprint, "
                ".status, .assignee, .comments, .history, .firstSeen, .lastSeen, .asOf")
_FILTER = ("($status IS NULL OR a.status = $status) AND ($rule IS NULL OR a.rule = $rule) "
           "AND ($subject IS NULL OR a.subject = $subject)")

LIST_ALERTS = f"""
CALL () {{
  MATCH (a:{_ALERT}) WHERE {_FILTER}
  RETURN count(a) AS total
}}
CALL () {{
  MATCH (a:{_ALERT}) WHERE {_FILTER}
    AND ($afterSeen IS NULL OR a.firstSeen < $afterSeen
         OR (a.firstSeen = $afterSeen AND a.id < $afterId))
  WITH a ORDER BY a.firstSeen DESC, a.id DESC LIMIT $limit
  RETURN collect(a {{{ALERT_FIELDS}}}) AS rows
}}
RETURN total, rows
"""
GET_ALERT = f"MATCH (a:{_ALERT} {{id: $id}}) RETURN a {{{ALERT_FIELDS}}} AS alert"
UPDATE_ALERT = f"""
MATCH (a:{_ALERT} {{id: $id}}) WHERE a.status = $before
SET a.status = $status,
    a.assignee = CASE WHEN $setAssignee THEN $assignee ELSE a.assignee END,
    a.comments = coalesce(a.comments, []) + CASE WHEN $comment IS NULL THEN [] ELSE [$comment] END,
    a.history = coalesce(a.history, []) + [$event],
    a.updatedAt = $now
RETURN a {{{ALERT_FIELDS}}} AS alert
"""


class AlertError(ValueError):
    """A request the workflow refuses; the message says what is allowed."""


class AlertNotFound(AlertError):
    pass


@dataclass(frozen=True)
class Page:
    total: int
    rows: list[Row]
    has_next: bool


def list_alerts(graph: Graph, status: AlertStatus | None, rule: str | None,
                subject: str | None, first: int,
                after: tuple[dt.datetime, str] | None) -> Page:
    """A page newest first (first seen, then id); `after` is the (first seen, id) of the last
    alert of the previous page."""
    seen, alert = after if after is not None else (None, None)
    found = graph.read(LIST_ALERTS, {
        "status": status.value if status else None, "rule": rule, "subject": subject,
        "afterSeen": seen, "afterId": alert, "limit": first + 1})
    rows = list(found[0]["rows"]) if found else []
    return Page(int(found[0]["total"]) if found else 0, rows[:first], len(rows) > first)


def get_alert(graph: Graph, alert_id: str) -> Row | None:
    rows = graph.read(GET_ALERT, {"id": alert_id})
    return rows[0]["alert"] if rows else None


def _text(value: str | None, name: str, maximum: int) -> str | None:
    """A person's free text as stored: rid of control characters, trimmed, bounded, any ID
    number masked."""
    if value is None:
        return None
    text = printable(value).strip()
    if len(text) > maximum:
        raise AlertError(f"{name} has at most {maximum} characters")
    return scrub(text)


def update_alert(graph: Graph, alert_id: str, actor: str, role: str,
                 status: AlertStatus | None, assignee: str | None, comment: str | None,
                 now: dt.datetime | None = None) -> Row:
    """Move an alert along the workflow, (un)assign it (assignee "" clears), comment on it."""
    if not 0 < len(alert_id) <= MAX_ALERT_ID:
        raise AlertError(f"malformed alert id: it has 1 to {MAX_ALERT_ID} characters")
    note = _text(comment, "comment", MAX_COMMENT)
    if comment is not None and not note:
        raise AlertError("comment must not be empty")
    person = _text(assignee, "assignee", MAX_ASSIGNEE)
    if status is None and assignee is None and comment is None:
        raise AlertError("nothing to update: give a status, an assignee or a comment")
    row = get_alert(graph, alert_id)
    if row is None:
        raise AlertNotFound("no alert with this id")
    before = AlertStatus(row["status"])
    after = status or before
    current = row.get("assignee")
    if after is before and note is None and (assignee is None or (person or None) == current):
        held = "" if assignee is None else (f" and assigned to {current}" if current
                                            else " and unassigned")
        raise AlertError(f"nothing to change: the alert is already {before.value}{held}; give "
                         "another status or assignee, or a comment")
    if after is not before:
        if after not in TRANSITIONS[before]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[before]))
            raise AlertError(f"an alert {before.value} cannot become {after.value}; "
                             f"allowed: {allowed}")
        if before in CLOSED and not note:
            raise AlertError(f"changing a {before.value} alert reverses a decision: "
                             "give a comment saying why")
    at = now or dt.datetime.now(dt.UTC)
    event = {"at": at.isoformat(), "actor": actor, "role": role, "action": "updated",
             "status": after.value, "previousStatus": before.value,
             "assignee": person if assignee is not None else None, "comment": note}
    rows = graph.write(UPDATE_ALERT, {
        "id": alert_id, "before": before.value, "status": after.value,
        "setAssignee": assignee is not None, "assignee": person or None, "comment": note,
        "event": json.dumps(event, ensure_ascii=False), "now": at})
    if not rows:
        raise AlertError("the alert changed while this update was made; read it and try again")
    updated: Row = rows[0]["alert"]
    return updated


def history(row: Row) -> list[dict[str, Any]]:
    return [json.loads(item) for item in row.get("history") or []]


# -- watchlists ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Watcher:
    """Whose watchlist: an API key's own (`key` = its stored id, or the first characters of
    it as a request's principal carries them), or the shared city watchlist (`key` None)."""

    key: str | None = None

    @property
    def city(self) -> bool:
        return self.key is None

    def match(self, create: bool = False) -> str:
        if self.key is not None:
            return (f"MATCH (o:{Label.API_KEY.value}) WHERE o.id STARTS WITH $key "
                    "AND NOT coalesce(o.revoked, false)")
        verb = "MERGE" if create else "MATCH"
        return f"{verb} (o:{Label.WATCHLIST.value} {{id: $city}})"

    def params(self) -> dict[str, Any]:
        return {"key": self.key, "city": CITY_WATCHLIST}


CITY = Watcher()


def watch(graph: Graph, watcher: Watcher, ids: list[str], actor: str) -> list[str]:
    """Add subjects to a watchlist (idempotent); returns the ids that exist and are watched.
    A subject no list that counts watches yet (never watched, unwatched, or watched only by
    keys since revoked) starts afresh: monitoring state left from an earlier watch is dropped,
    so its first run notes its score and surroundings and raises nothing about them."""
    rows = graph.write(f"""
{watcher.match(create=True)}
WITH o
UNWIND $ids AS sid
MATCH (s:{_SUBJECT} {{id: sid}})
CALL (s) {{
  WITH s WHERE NOT EXISTS {{ MATCH (x)-[:{_WATCHES}]->(s) WHERE {live_watcher("x")} }}
  MATCH (st:{Label.WATCH_STATE.value} {{id: s.id}})
  DELETE st
}}
MERGE (o)-[w:{_WATCHES}]->(s)
ON CREATE SET w.since = datetime(), w.by = $actor
RETURN collect(DISTINCT s.id) AS rows
""", {**watcher.params(), "ids": ids, "actor": actor})
    return list(rows[0]["rows"]) if rows else []


def unwatch(graph: Graph, watcher: Watcher, ids: list[str]) -> list[str]:
    """Remove subjects from a watchlist; returns those that were on it. A subject nobody
    watches any more loses its monitoring state, so a later watch starts afresh."""
    rows = graph.write(f"""
{watcher.match()}
WITH o
UNWIND $ids AS sid
MATCH (o)-[w:{_WATCHES}]->(s:{_SUBJECT} {{id: sid}})
DELETE w
WITH DISTINCT s
CALL (s) {{
  WITH s WHERE NOT EXISTS {{ (s)<-[:{_WATCHES}]-() }}
  MATCH (st:{Label.WATCH_STATE.value} {{id: s.id}})
  DELETE st
}}
RETURN collect(s.id) AS rows
""", {**watcher.params(), "ids": ids})
    return list(rows[0]["rows"]) if rows else []


def watchlist(graph: Graph, watcher: Watcher) -> list[Row]:
    return graph.read_rows(f"""
{watcher.match()}
MATCH (o)-[w:{_WATCHES}]->(s:{_SUBJECT})
WITH s, min(w.since) AS since ORDER BY s.id
RETURN collect(s {{{SUBJECT_SUMMARY}, since: since}}) AS rows
""", watcher.params())


KEYS_BY_NAME = (f"MATCH (k:{Label.API_KEY.value} {{name: $name}}) "
                "WHERE NOT coalesce(k.revoked, false) RETURN collect(k.id) AS rows")


def key_watcher(graph: Graph, name: str) -> Watcher:
    """The watchlist of the API key with this name (`credgraph watch … --key NAME`)."""
    found = graph.read_rows(KEYS_BY_NAME, {"name": name})
    if not found:
        raise AlertError(f"no active API key named {name!r}")
    if len(found) > 1:
        raise AlertError(f"{len(found)} active API keys are named {name!r}; revoke the "
                         "extra ones or use the city watchlist")
    return Watcher(str(found[0]))
