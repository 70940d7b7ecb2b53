"""Monitoring (失信风险预警, SPEC §8): the rules, evaluated as of a date over the whole city, and
the run that turns what they find into deduplicated `:Alert` nodes.

A run takes the lock, evaluates every enabled rule (reads only), merges one alert per
fingerprint (rule + subject + the evidence that makes it new), and only then moves each
watched subject's state forward (its last risk score, the records already near it when it
was first watched). State never runs ahead of the alerts it explains, so a run killed at any
point and run again ends with exactly the alerts of one clean run.

The rules (numbers in the rules file's [monitoring]):
- ESCALATION: an active 屡罚不改 escalation not alerted at its level yet (new or raised);
- RISK_RISE: a watched subject's risk score up by ≥ `risk_rise` points since the last run;
- NEAR_RECORD: an active listing or 严重 penalty within `near_hops` live hops of a watched
  subject that was not already there when the subject was first looked at;
- INTEGRITY: a 政务诚信 finding (G1–G5), through the `integrity_findings` seam;
- SEVERE_RECORD: a record dated on or after the day a subject reached SEVERE.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import neo4j.exceptions

from credgraph.graph.driver import Graph, Row
from credgraph.graph.locks import RunLock
from credgraph.graph.model import (
    CONTROL_RELATIONS,
    ESCALATION_LEVEL_ZH,
    RECORD_KIND_ZH,
    RELATIONS,
    RISK_RELATIONS,
    AlertRule,
    AlertStatus,
    EscalationLevel,
    IntegrityPattern,
    Label,
    Link,
    RecordKind,
    RelationType,
    Severity,
    label_predicate,
    types_pattern,
)
from credgraph.outputs import write_lines
from credgraph.queries.escalation import (
    CREATED,
    HISTORIES,
    LIFTED,
    LOWERED,
    StateOn,
    as_it_stood,
    history_events,
    state_on,
    trigger_records,
)
from credgraph.queries.fragments import in_force, live, record_authority
from credgraph.queries.neighbourhood import Edge, as_date, live_hub
from credgraph.queries.risk import RiskModel, assess
from credgraph.queries.subjects import subjects_by_ids
from credgraph.rules import Rules
from credgraph.schema.privacy import mask_name

log = logging.getLogger("credgraph.monitor")

CITY_WATCHLIST = "city"
LOCK_ID = "monitoring"
RECORD_KEYS = ("id", "kind", "domain", "severity", "status", "date", "title", "authority",
               "listType")
RECORD_FIELDS = ", ".join(f".{key}" if key != "authority" else record_authority()
                          for key in RECORD_KEYS)
RISK_WORKERS = 4
BATCH_TIMEOUT = 300.0  # seconds a monitoring read may run (the API's limit is for people)
# the rules that look at watched subjects only
WATCH_RULES = frozenset({AlertRule.RISK_RISE, AlertRule.NEAR_RECORD})

_ALERT = Label.ALERT.value
_WATCHES = Link.WATCHES.value


def live_watcher(var: str) -> str:
    """Cypher: `var` keeps a watchlist that counts — the city's, or an API key's not revoked
    (a revoked key's list is kept, and watches nothing)."""
    return (f"(({var}:{Label.API_KEY.value} AND NOT coalesce({var}.revoked, false)) "
            f"OR {var}:{Label.WATCHLIST.value})")


# -- what the rules read -------------------------------------------------------------------------
WATCHED = f"""
MATCH (o)-[:{_WATCHES}]->(s:{Label.SUBJECT.value})
WHERE {live_watcher("o")}
WITH DISTINCT s
OPTIONAL MATCH (st:{Label.WATCH_STATE.value} {{id: s.id}})
RETURN collect({{id: s.id, score: st.score, baseline: st.baseline, asOf: st.asOf,
                noted: st.updatedAt}}) AS rows
"""

# the escalations standing on the run's date (`state_on` over HISTORIES), read by id: the
# current level and status say what stands today, not what stood on a backdated run's date
ESCALATIONS = f"""
UNWIND $ids AS eid
MATCH (s:{Label.SUBJECT.value})-[:{Link.HAS_ESCALATION.value}]->
      (e:{Label.ESCALATION.value} {{id: eid}})
RETURN collect({{subject: s.id, escalation: e.id, level: e.level, since: date(e.since),
                rules: coalesce(e.rules, []), history: coalesce(e.history, []),
                triggers: [(e)-[:{Link.TRIGGERED_BY.value}]->(r) | r {{{RECORD_FIELDS}}}],
                propagatedFrom: coalesce(e.propagatedFrom, []),
                ties: [(s)-[t:{types_pattern(CONTROL_RELATIONS)}]->(c:{Label.SUBJECT.value})
                       WHERE c.id IN coalesce(e.propagatedFrom, []) AND {live("t")}
                       | {{source: s.id, target: c.id, type: type(t), ratio: t.ratio,
                          role: t.role, kind: t.kind, start: toString(t.start),
                          end: toString(t.end)}}]}}) AS rows
"""

# the records since the day each subject SEVERE on the run's date became so (`$severe`: the
# escalations as they stood then, with that day)
SEVERE_RECORDS = f"""
UNWIND $severe AS severe
MATCH (s:{Label.SUBJECT.value})-[:{Link.HAS_ESCALATION.value}]->
      (:{Label.ESCALATION.value} {{id: severe.escalation}})
WITH s, min(severe.since) AS since
MATCH (s)-[:{Link.HAS_RECORD.value}]->(r)
WHERE r.kind IN $kinds AND r.date <= $asOf AND (since IS NULL OR r.date >= since)
  AND {in_force("r")}
RETURN collect({{subject: s.id, since: since, record: r {{{RECORD_FIELDS}}}}}) AS rows
"""

# A hub is judged by its relations to other subjects, as the risk walk judges it.
HOP = f"""
UNWIND $ids AS id
MATCH (x:{Label.SUBJECT.value} {{id: id}})-[r]-(n:{Label.SUBJECT.value})
WHERE type(r) IN $types AND {live("r")}
RETURN collect({{node: id, neighbour: n.id,
                hub: {live_hub("n")},
                step: {{source: startNode(r).id, target: endNode(r).id, type: type(r),
                       ratio: r.ratio, role: r.role, kind: r.kind,
                       start: toString(r.start), end: toString(r.end)}}}}) AS rows
"""

# An active listing (not removed by the date) or a 严重 penalty still in its publicity period.
NEAR_RECORDS = f"""
UNWIND $ids AS sid
MATCH (s:{Label.SUBJECT.value} {{id: sid}})-[:{Link.HAS_RECORD.value}]->(r)
WHERE r.date <= $asOf AND {in_force("r")} AND (
  ({label_predicate("r", (RecordKind.LISTING,))}
   AND (r.removedOn IS NULL OR r.removedOn > $asOf))
  OR ({label_predicate("r", (RecordKind.PENALTY,))} AND r.severity = $severe
      AND (r.publicityUntil IS NULL OR r.publicityUntil >= $asOf)))
RETURN collect({{subject: sid, record: r {{{RECORD_FIELDS}}}}}) AS rows
"""

# -- what a run writes ---------------------------------------------------------------------------
MERGE_ALERTS = f"""
UNWIND $rows AS row
MATCH (s:{Label.SUBJECT.value} {{id: row.subject}})
MERGE (a:{_ALERT} {{fingerprint: row.fingerprint}})
ON CREATE SET a.id = row.id, a.rule = row.rule, a.subject = row.subject, a.key = row.key,
              a.status = $open, a.comments = [], a.history = [row.created],
              a.firstSeen = $now, a.firstRun = $run
SET a.firstRun = CASE WHEN a.firstRun IN $undelivered THEN $run ELSE a.firstRun END,
    a.lastSeen = $now, a.lastRun = $run, a.asOf = $asOf, a.severity = row.severity,
    a.summary = row.summary, a.evidence = row.evidence, a.records = row.records
MERGE (a)-[:{Link.CONCERNS.value}]->(s)
RETURN collect({{fingerprint: a.fingerprint, id: a.id, status: a.status,
                created: a.firstRun = $run, firstSeen: a.firstSeen, lastSeen: a.lastSeen}})
       AS rows
"""

SAVE_STATE = f"""
UNWIND $rows AS row
MERGE (st:{Label.WATCH_STATE.value} {{id: row.id}})
SET st.score = coalesce(row.score, st.score), st.baseline = coalesce(row.baseline, st.baseline),
    st.asOf = $asOf, st.updatedAt = $now
"""

COUNT_ALERTS = f"MATCH (a:{_ALERT}) RETURN count(a) AS n"

_LOCK = Label.RUN_LOCK.value
_RUN = Label.MONITOR_RUN.value
START_RUN = f"""
CREATE (r:{_RUN} {{id: $id, asOf: $asOf, startedAt: $now, status: 'RUNNING', host: $host,
                  pid: $pid}})
"""
FINISH_RUN = f"""
MATCH (r:{_RUN} {{id: $id}})
SET r += $props, r.finishedAt = datetime()
"""
# The run whose lock a run took over (killed, or stalled past its expiry) — unless it got to
# record how it ended.
CRASHED_RUN = f"""
MATCH (r:{_RUN} {{id: $id}}) WHERE r.status = 'RUNNING'
SET r.status = 'CRASHED', r.finishedAt = datetime()
"""
# Runs that stored alerts but never delivered them (killed, stopped, failed before their
# JSON lines were written): an alert first stored by one is new to the next run that sees it.
UNDELIVERED_RUNS = f"""
MATCH (r:{_RUN}) WHERE r.status <> 'COMPLETED' AND r.id <> $run
RETURN collect(r.id) AS ids
"""
RUN_STATS = f"""
CALL () {{
  MATCH (r:{_RUN})
  RETURN collect({{status: r.status, new: r.new, seconds: r.seconds,
                  finished: r.finishedAt.epochMillis}}) AS runs
}}
CALL () {{
  MATCH (a:{_ALERT})
  WITH a.rule AS rule, a.status AS status, count(*) AS n
  RETURN collect({{rule: rule, status: status, n: n}}) AS alerts
}}
CALL () {{
  MATCH (o)-[:{_WATCHES}]->(s:{Label.SUBJECT.value}) WHERE {live_watcher("o")}
  RETURN count(DISTINCT s) AS watched
}}
RETURN runs, alerts, watched
"""


class MonitorError(Exception):
    """A run cannot start or cannot go on; the message says why and what to do."""


class Interrupted(MonitorError):
    """The run was asked to stop (SIGTERM); nothing half-written is left that a rerun
    would not redo."""


@dataclass(frozen=True)
class IntegrityFinding:
    """What monitoring needs of one 政务诚信 finding (G1–G5)."""

    subject: str
    pattern: str
    severity: str
    summary: str
    path: list[Edge]
    records: list[dict[str, Any]]


def integrity_findings(graph: Graph, rules: Rules, as_of: dt.date) -> list[IntegrityFinding]:
    """Every G1–G5 finding of the city as of a date (政务诚信), raised on the agency it counts
    against, its summary with person names masked."""
    from credgraph.queries.integrity import Tracer, names

    found = Tracer(graph, rules).trace(as_of)
    namer = names(found.subjects, mask_persons=True)
    return [IntegrityFinding(f.agency, f.pattern.value, f.severity.value, f.summary(namer),
                             f.path, f.records) for f in found.findings]


@dataclass
class Hit:
    """One condition a rule found: becomes (or refreshes) the alert of its fingerprint."""

    rule: AlertRule
    subject: str
    key: str  # the evidence that makes it new: a record id, a level, a score change …
    severity: str
    summary: str
    path: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.rule, self.subject, self.key)

    def row(self, at: str, run: str) -> dict[str, Any]:
        fp = self.fingerprint
        return {
            "fingerprint": fp, "id": alert_id(fp), "rule": self.rule.value,
            "subject": self.subject, "key": self.key, "severity": self.severity,
            "summary": self.summary, "evidence": json.dumps(self.path, ensure_ascii=False),
            "records": json.dumps(self.records, ensure_ascii=False, default=_json_default),
            "created": json.dumps({"at": at, "actor": "monitor", "action": "created",
                                   "status": AlertStatus.OPEN.value, "run": run}),
        }


def _occurrence(history: Iterable[str], level: EscalationLevel,
                as_of: dt.date | None = None) -> tuple[str, bool]:
    """From an escalation's append-only history (JSON events; in the order of their dates,
    up to `as_of`, when every event is dated): which occurrence of `level` the escalation
    stands at, as a fingerprint suffix — "" for the first time it reached the level in its
    first opening; else the opening (an escalation lifted and created again is a new one) and,
    when the level was reached again after a lowering (a proposal withdrawn, then proposed
    anew), the count — and whether a lowering brought it to `level` (a SEVERE_PROPOSED
    withdrawn to FOCUS is no escalation to FOCUS). A history without a readable event, or one
    written from the middle (no `created`), is a first occurrence.

    Dates, not the order written, tell an opening: a night made up before the escalation's
    first run lifts it on a day before it was created (created 11-30, lifted 06-15), and the
    next run, finding it LIFTED, creates it again (created 12-01) — read in the order written
    that was a second opening, alerted again beside the first, though the escalation stood on
    every day from 11-30. A `created` while it stands is no new opening."""
    events = list(history_events(history))
    if events and all(isinstance(e.get("asOf"), str) and isinstance(e.get("at"), str)
                      for e in events):
        events.sort(key=lambda e: (e["asOf"], e["at"]))
        if as_of is not None:
            events = [e for e in events if e["asOf"] <= as_of.isoformat()]
    opening, reached, current, lowered = 0, 0, None, False
    for event in events:
        action, at = event.get("action"), event.get("level")
        if action == CREATED and (current is None or opening == 0):
            opening, reached, current, lowered = opening + 1, 0, None, False
        if action == LIFTED:
            current, lowered = None, False
            continue
        if at is None or at == current:
            continue
        if at == level.value:
            if action == LOWERED:
                lowered = True
            else:
                reached, lowered = reached + 1, False
        current = at
    opening = max(opening, 1)
    if reached == 0 or (opening == 1 and reached == 1):
        return "", lowered and reached == 0
    return (f"|{opening}" if reached == 1 else f"|{opening}.{reached}"), False


def fingerprint(rule: AlertRule, subject: str, key: str) -> str:
    return hashlib.sha256(f"{rule.value}|{subject}|{key}".encode()).hexdigest()


def alert_id(fp: str) -> str:
    return "AL" + fp[:20].upper()


@dataclass
class Watched:
    id: str
    score: int | None
    baseline: list[str] | None
    noted: str | None = None  # when the run that noted `score` wrote it (its WatchState)


@dataclass
class Evaluation:
    hits: list[Hit]
    states: list[dict[str, Any]]
    by_rule: dict[str, int]
    seconds: dict[str, float]


@dataclass
class RunResult:
    run: str
    as_of: dt.date
    new: int
    updated: int
    total: int
    by_rule: dict[str, int]
    alerts: list[dict[str, Any]]
    seconds: float

    def counts(self) -> dict[str, int]:
        """What `credgraph monitor run --json` prints (SPEC §9)."""
        return {"new": self.new, "updated": self.updated, "total": self.total}


# -- the rules -----------------------------------------------------------------------------------
def _json_default(value: object) -> str:
    found = as_date(value)
    return found.isoformat() if isinstance(found, dt.date) else str(value)


def _name(row: dict[str, Any] | None) -> str:
    """A subject as a summary names it: persons masked (张*明), for every reader."""
    if not row:
        return "?"
    name = str(row.get("name") or row.get("id") or "?")
    return mask_name(name) if row.get("person") else name


def _record(row: dict[str, Any]) -> dict[str, Any]:
    """A record as an alert keeps it: the fields of RECORD_FIELDS, the date as ISO text."""
    return {k: _json_default(row[k]) if k == "date" and row.get(k) is not None else row.get(k)
            for k in RECORD_KEYS}


def _record_words(record: dict[str, Any]) -> str:
    code = record.get("kind")
    kind = RECORD_KIND_ZH[RecordKind(str(code))] if code in RecordKind.__members__ else "记录"
    date = _json_default(record["date"]) if record.get("date") is not None else "日期不详"
    return f"{kind}「{record.get('title') or record['id']}」{record['id']}（{date}）"


# G1, G2 and G4's path is the accountability trail — the agency's superiors and the officials
# serving in the finding's window —: evidence refreshed by every run, not what makes the
# finding new (an appointment, or an overdue window reaching a new official, raised the same
# default again as a new alert). G3's and G5's path is the finding itself (who serves where,
# whose tie to the supplier).
_TRAIL_PATTERNS = frozenset({IntegrityPattern.G1.value, IntegrityPattern.G2.value,
                             IntegrityPattern.G4.value})


def integrity_key(pattern: str, records: Iterable[Mapping[str, Any]],
                  path: Iterable[Mapping[str, Any]]) -> str:
    """What makes an INTEGRITY finding new: its pattern and records, and for G3 and G5 the
    subjects of its path (for G1, G2 and G4 the path is the trail, refreshed by every run)."""
    who = ({step["source"] for step in path} | {step["target"] for step in path}
           if pattern not in _TRAIL_PATTERNS else set())
    return "|".join([pattern, *sorted(str(r["id"]) for r in records), *sorted(who)])


# The G1/G2/G4 alerts of a store monitored before schema 9 (their key held the trail's subjects
# too), the most recently seen first: each takes the fingerprint the rule now gives its finding.
_TRAIL_ALERTS = f"""
MATCH (a:{_ALERT} {{rule: $rule}}) WHERE split(a.key, '|')[0] IN $patterns
WITH a ORDER BY a.lastSeen DESC, a.id
RETURN collect(a {{.id, .subject, .key, .fingerprint, .records}}) AS rows
"""
_REKEY_ALERTS = f"""
UNWIND $rows AS row
MATCH (a:{_ALERT} {{id: row.id}})
WHERE NOT EXISTS {{ MATCH (:{_ALERT} {{fingerprint: row.fingerprint}}) }}
SET a.fingerprint = row.fingerprint, a.key = row.key
"""


def rekey_trail_alerts(graph: Graph) -> int:
    """Migration 9: give each stored G1/G2/G4 alert the fingerprint the INTEGRITY rule now
    computes for its finding (pattern and records, `integrity_key`), so the first run after
    an upgrade refreshes it — status, assignee, comments and history kept — instead of
    raising the same finding again as a new OPEN alert. Of several alerts of one finding
    (raised again by an appointment on its trail) the one seen last takes it; an alert whose
    new fingerprint another already has is left as it is. Returns how many were re-keyed."""
    rows = graph.read_rows(_TRAIL_ALERTS, {"rule": AlertRule.INTEGRITY.value,
                                           "patterns": sorted(_TRAIL_PATTERNS)}, timeout=300)
    taken = {str(row["fingerprint"]) for row in rows}
    changes = []
    for row in rows:
        pattern = str(row["key"]).split("|", 1)[0]
        key = integrity_key(pattern, json.loads(row["records"] or "[]"), [])
        fp = fingerprint(AlertRule.INTEGRITY, str(row["subject"]), key)
        if fp == row["fingerprint"] or fp in taken:
            continue
        taken.add(fp)
        changes.append({"id": row["id"], "fingerprint": fp, "key": key})
    for start in range(0, len(changes), 1000):
        graph.write(_REKEY_ALERTS, {"rows": changes[start:start + 1000]}, timeout=300)
    return len(changes)


def _edge_step(edge: Edge) -> dict[str, Any]:
    """A step of an alert's evidence as stored: with the kinship (配偶, 父母 …) and the dates a
    path step shows elsewhere — a G3 or NEAR_RECORD path through a 亲属 lost whose it was."""
    return {"source": edge.source, "target": edge.target, "type": edge.type,
            "ratio": edge.ratio, "role": edge.role, "kind": edge.kind,
            "start": edge.start.isoformat() if edge.start else None,
            "end": edge.end.isoformat() if edge.end else None}


def _path_words(steps: list[dict[str, Any]]) -> str:
    return "、".join(RELATIONS[RelationType(s["type"])].zh for s in steps
                    if s["type"] in RelationType.__members__)


class Evaluator:
    """Every enabled rule, as of one date; reads only."""

    def __init__(self, graph: Graph, rules: Rules, as_of: dt.date,
                 checkpoint: Callable[[], None] = lambda: None,
                 risk_model: RiskModel | None = None) -> None:
        self.graph = batch(graph)
        self.rules = rules
        self.section = rules.monitoring
        self.as_of = as_of
        self.checkpoint = checkpoint
        self.risk_model = risk_model or RiskModel(rules)
        self.names: dict[str, dict[str, Any]] = {}

    def evaluate(self) -> Evaluation:
        enabled = set(self.section.enabled)
        rows = self.graph.read_rows(WATCHED)
        # a state a later-dated run left: a run dated before it neither compares with its score
        # (the clock going back is no risk rise) nor saves over it (its known records stay known)
        later = {r["id"] for r in rows if (as_date(r["asOf"]) or self.as_of) > self.as_of}
        watched = [Watched(r["id"], None if r["id"] in later else r["score"], r["baseline"],
                           _iso(r["noted"]) if r["noted"] is not None else None)
                   for r in rows]
        hits: list[Hit] = []
        scores: dict[str, int] = {}
        baselines: dict[str, list[str]] = {}
        seconds: dict[str, float] = {}
        for rule in AlertRule:
            if rule not in enabled or (rule in WATCH_RULES and not watched):
                continue
            started = time.monotonic()
            if rule is AlertRule.ESCALATION:
                hits += self.escalations()
            elif rule is AlertRule.SEVERE_RECORD:
                hits += self.severe_records()
            elif rule is AlertRule.INTEGRITY:
                hits += self.integrity()
            elif rule is AlertRule.NEAR_RECORD:
                near, baselines = self.near_records(watched)
                hits += near
            else:
                rises, scores = self.risk_rises(watched)
                hits += rises
            seconds[rule.value] = round(time.monotonic() - started, 3)
            self.checkpoint()
        unique = {hit.fingerprint: hit for hit in hits}
        states = [{"id": w.id, "score": scores.get(w.id), "baseline": baselines.get(w.id)}
                  for w in watched
                  if (w.id in scores or w.id in baselines) and w.id not in later]
        by_rule: dict[str, int] = {rule.value: 0 for rule in AlertRule}
        for hit in unique.values():
            by_rule[hit.rule.value] += 1
        return Evaluation(list(unique.values()), states, by_rule, seconds)

    def subjects(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        missing = sorted(set(ids) - set(self.names))
        for chunk in _chunks(missing, 5000):
            self.names.update(subjects_by_ids(self.graph, chunk))
        return self.names

    # ESCALATION ---------------------------------------------------------------------------------
    @cached_property
    def standing(self) -> dict[str, StateOn]:
        """Every escalation standing on the run's date, by id, as it stood then (its history:
        a later confirmation, lift or run does not change what stood on a backdated day)."""
        return {node["id"]: state for node in self.graph.read_rows(
                    HISTORIES, {"region": None}, timeout=BATCH_TIMEOUT)
                if (state := state_on(node, self.as_of)) is not None}

    def escalations(self) -> list[Hit]:
        states = self.standing
        # the records each run that decided a level named, as repeatOffenders(asOf) shows them
        decided = trigger_records(self.graph, {key for state in states.values()
                                               for key in state.triggers or ()})
        rows = []
        for chunk in _chunks(sorted(states), 5000):
            for row in self.graph.read_rows(ESCALATIONS, {"ids": chunk, "asOf": self.as_of},
                                            timeout=BATCH_TIMEOUT):
                # as it stood on the run's date: its level, rules and triggers then, no event
                # written by a later run or confirmation
                state = states[row["escalation"]]
                rows.append({**row, **as_it_stood(row, state, self.as_of, decided),
                             "level": state.level.value, "since": state.since})
        rank = {level.value: index for index, level in enumerate(EscalationLevel)}
        highest: dict[str, dict[str, Any]] = {}
        for row in rows:
            if row["level"] not in rank:
                continue
            held = highest.get(row["subject"])
            if held is None or rank[row["level"]] > rank[held["level"]]:
                highest[row["subject"]] = row
        names = self.subjects(set(highest)
                              | {c for row in highest.values() for c in row["propagatedFrom"]})
        severities = self.section.severity.escalation
        hits = []
        for sid, row in sorted(highest.items()):
            level = EscalationLevel(row["level"])
            since = as_date(row["since"])
            words = (f"{_name(names.get(sid))}：屡罚不改升级为{ESCALATION_LEVEL_ZH[level]}"
                     f"（{level.value}）")
            if row["rules"]:
                words += f"，依据规则 {'、'.join(str(r) for r in row['rules'])}"
            if since:
                words += f"，自 {since.isoformat()} 起"
            if row["triggers"]:
                words += f"，触发记录 {len(row['triggers'])} 条"
            if row["propagatedFrom"]:  # 联合惩戒对象: whose SEVERE put the subject here
                words += ("，系严重失信主体 " + "、".join(
                    _name(names.get(c)) for c in sorted(row["propagatedFrom"]))
                    + " 的法定代表人或实际控制人（联合惩戒对象）")
            occurrence, lowered = _occurrence(row["history"], level, self.as_of)
            if lowered:
                continue  # lowered to a level it never reached: nothing was escalated
            # a re-opened escalation, or one raised again after a lowering, is new
            key = f"{level.value}|{row['escalation'] or ''}{occurrence}"
            hits.append(Hit(AlertRule.ESCALATION, sid, key,
                            severities[level].value, words, path=list(row["ties"]),
                            records=[_record(r) for r in row["triggers"]]))
        return hits

    # SEVERE_RECORD ------------------------------------------------------------------------------
    def severe_records(self) -> list[Hit]:
        severe = [{"escalation": eid, "since": state.since}
                  for eid, state in self.standing.items()
                  if state.level is EscalationLevel.SEVERE]
        rows = self.graph.read_rows(SEVERE_RECORDS, {
            "severe": severe, "kinds": [k.value for k in self.section.severe_record_kinds],
            "asOf": self.as_of})
        names = self.subjects(row["subject"] for row in rows)
        severity = self.section.severity.severe_record.value
        hits = []
        for row in rows:
            record = _record(row["record"])
            words = (f"严重失信主体 {_name(names.get(row['subject']))} 新增"
                     f"{_record_words(record)}")
            hits.append(Hit(AlertRule.SEVERE_RECORD, row["subject"], record["id"], severity,
                            words, records=[record]))
        return hits

    # INTEGRITY ----------------------------------------------------------------------------------
    def integrity(self) -> list[Hit]:
        hits = []
        for finding in integrity_findings(self.graph, self.rules, self.as_of):
            records = [_record(r) for r in finding.records]
            path = [_edge_step(e) for e in finding.path]
            key = integrity_key(finding.pattern, records, path)
            hits.append(Hit(AlertRule.INTEGRITY, finding.subject, key, finding.severity,
                            f"政务诚信 {finding.pattern}：{finding.summary}", path, records))
        return hits

    # NEAR_RECORD --------------------------------------------------------------------------------
    def reach(self, watched: list[str]) -> dict[str, dict[str, list[dict[str, Any]]]]:
        """For each watched subject: every subject within `near_hops` live hops with the
        shortest path to it — of the shortest, the strongest (the product of the [relations]
        weights, as riskAssessment weighs a path), ties broken by the steps themselves, so that
        the path an alert shows does not depend on the order the store returns relations in;
        hubs (degree above the risk degree cap) are reached, not crossed."""
        cap = self.rules.risk.degree_cap
        relations = self.rules.relations
        types = [t.value for t in RISK_RELATIONS]
        paths: dict[str, dict[str, list[dict[str, Any]]]] = {w: {w: []} for w in watched}
        strength: dict[str, dict[str, float]] = {w: {w: 1.0} for w in watched}
        frontier: dict[str, set[str]] = {w: {w} for w in watched}
        hubs: set[str] = set()
        for _ in range(self.section.near_hops):
            nodes = sorted({n for fr in frontier.values() for n in fr})
            adjacency: dict[str, list[Row]] = {}
            for chunk in _chunks(nodes, 2000):
                for row in self.graph.read_rows(HOP, {"ids": chunk, "types": types,
                                                      "asOf": self.as_of, "cap": cap}):
                    adjacency.setdefault(row["node"], []).append(row)
                    if row["hub"]:
                        hubs.add(row["neighbour"])
                self.checkpoint()
            next_frontier: dict[str, set[str]] = {}
            for w, nodes_of_w in frontier.items():
                best: dict[str, tuple[tuple[Any, ...], dict[str, Any], str, float]] = {}
                for node in nodes_of_w:
                    if node != w and node in hubs:
                        continue
                    for row in adjacency.get(node, []):
                        neighbour, step = row["neighbour"], row["step"]
                        if neighbour in paths[w]:
                            continue
                        weight = strength[w][node] * relations.weight(step["type"], step["ratio"])
                        rank = (-weight, node, step["type"], step["source"], step["target"],
                                str(step["start"] or ""))
                        if neighbour not in best or rank < best[neighbour][0]:
                            best[neighbour] = (rank, step, node, weight)
                for neighbour, (_, step, node, weight) in best.items():
                    paths[w][neighbour] = [*paths[w][node], step]
                    strength[w][neighbour] = weight
                    next_frontier.setdefault(w, set()).add(neighbour)
            frontier = next_frontier
        return paths

    def near_records(self, watched: list[Watched]) -> tuple[list[Hit], dict[str, list[str]]]:
        paths = self.reach([w.id for w in watched])
        reached = sorted({n for per in paths.values() for n in per})
        records: dict[str, list[dict[str, Any]]] = {}
        for chunk in _chunks(reached, 5000):
            for row in self.graph.read_rows(NEAR_RECORDS, {
                    "ids": chunk, "asOf": self.as_of,
                    "severe": Severity.SEVERE.value}):
                records.setdefault(row["subject"], []).append(_record(row["record"]))
            self.checkpoint()
        recent = (self.as_of - dt.timedelta(days=self.section.lookback_days)).isoformat()
        hits: list[Hit] = []
        baselines: dict[str, list[str]] = {}
        pending: list[tuple[Watched, str, dict[str, Any]]] = []
        for w in watched:
            near = {r["id"]: (node, r) for node in paths[w.id] for r in records.get(node, [])}
            if w.baseline is None:  # first look: what is older than the look-back is known
                known = {rid for rid, (_, r) in near.items() if (r.get("date") or "") < recent}
            else:
                known = set(w.baseline) & set(near)
            baselines[w.id] = sorted(known)
            pending += [(w, node, r) for rid, (node, r) in sorted(near.items())
                        if rid not in known]
        names = self.subjects({w.id for w, _, _ in pending}
                              | {s[k] for w, node, _ in pending for s in paths[w.id][node]
                                 for k in ("source", "target")})
        for w, node, record in pending:
            steps = paths[w.id][node]
            what = _record_words(record)
            if steps:
                words = (f"关注对象 {_name(names.get(w.id))} 的关联方 {_name(names.get(node))}"
                         f"（{len(steps)} 跳，经{_path_words(steps)}）新增{what}")
            else:
                words = f"关注对象 {_name(names.get(w.id))} 新增{what}"
            severity = record.get("severity") or Severity.GENERAL.value
            hits.append(Hit(AlertRule.NEAR_RECORD, w.id, record["id"], severity, words,
                            steps, [record]))
        return hits, baselines

    # RISK_RISE ----------------------------------------------------------------------------------
    def risk_rises(self, watched: list[Watched]) -> tuple[list[Hit], dict[str, int]]:
        """Each watched subject's `riskAssessment`, with a batch job's time limit; one whose
        assessment still runs out of time keeps its last score and is logged."""
        depth = self.rules.risk.default_depth
        def one(w: Watched) -> tuple[Watched, Any]:
            try:
                return w, assess(self.graph, self.rules, w.id, depth, self.as_of, self.risk_model)
            except neo4j.exceptions.ClientError as exc:
                if "TimedOut" not in (exc.code or ""):
                    raise
                log.warning("risk of watched subject %s not assessed: time limit", w.id)
                return w, None

        hits: list[Hit] = []
        scores: dict[str, int] = {}
        pool = ThreadPoolExecutor(max_workers=RISK_WORKERS, thread_name_prefix="credgraph-monitor")
        try:
            for index, (w, result) in enumerate(pool.map(one, watched)):
                if index % 200 == 0:
                    self.checkpoint()
                if result is None:
                    continue
                scores[w.id] = result.score
                if w.score is not None and result.score - w.score >= self.section.risk_rise:
                    hits.append(self.risk_hit(w, result))
        finally:  # a stop request does not wait for thousands of queued assessments
            pool.shutdown(wait=True, cancel_futures=True)
        return hits, scores

    def risk_hit(self, w: Watched, result: Any) -> Hit:
        names = {**result.subjects, **self.subjects([w.id])}
        level = self.risk_model.level(result.score)
        words = (f"关注对象 {_name(names.get(w.id))} 的关联风险评分由 {w.score} 升至 "
                 f"{result.score}（+{result.score - w.score}，{level}）")
        path: list[dict[str, Any]] = []
        signals = result.signals
        if result.contributors and result.association_score >= result.own_score:
            top = result.contributors[0]
            path = [_edge_step(e) for e in top.path]
            signals = top.signals
            words += f"，主要来自关联方 {_name(names.get(top.subject))}（{len(top.path)} 跳）"
        elif result.signals:
            words += "，主要来自自身记录"
        records = [_record(s.record) for s in sorted(signals, key=lambda s: -s.decayed)[:5]]
        # the change, and since which noted score: a rise 14->29 after a fall back to 14 is a
        # new rise, not the old alert (perhaps DISMISSED) seen again; a run re-done after a
        # crash reads the same state, so it gives the same fingerprint
        key = f"{w.score}->{result.score}" + (f"|{w.noted}" if w.noted else "")
        return Hit(AlertRule.RISK_RISE, w.id, key,
                   self.section.severity.risk_rise.value, words, path, records)


def batch(graph: Graph) -> Graph:
    """The same driver with a batch job's time limit (CREDGRAPH_TX_TIMEOUT is for people)."""
    return Graph(graph.driver, graph.database, max(graph.tx_timeout, BATCH_TIMEOUT),
                 graph.retry_time)


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


# -- the run -------------------------------------------------------------------------------------
def check_jsonl(path: Path | None) -> None:
    """Refuse an output path that cannot be written, before any work is done."""
    if path is None or str(path) == "-":
        return
    if path.is_dir():
        raise MonitorError(f"--jsonl {path}: is a folder, give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise MonitorError(f"--jsonl {path}: the folder {parent} does not exist")
    try:
        handle, probe = tempfile.mkstemp(dir=parent, prefix=".credgraph-probe-")
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise MonitorError(f"--jsonl {path}: cannot write in {parent} ({exc.strerror})") from None
    if path.exists() and not os.access(path, os.W_OK):
        raise MonitorError(f"--jsonl {path}: the file is not writable")


def jsonl_lines(alerts: list[dict[str, Any]]) -> Iterator[str]:
    for alert in alerts:
        yield json.dumps(alert, ensure_ascii=False, sort_keys=True, default=_json_default) + "\n"


def write_jsonl(path: Path, alerts: list[dict[str, Any]]) -> None:
    """One alert per line, replaced atomically: a reader never sees half a file."""
    try:
        write_lines(path, jsonl_lines(alerts))
    except OSError as exc:  # a full disk: the half-written temporary file is not left behind
        raise MonitorError(_undelivered(path, exc)) from None


def _undelivered(path: Path, exc: OSError) -> str:
    return (f"--jsonl {path}: cannot be written ({exc.strerror}); the alerts are stored and a "
            "run that can write the file delivers them as new")


class MonitorRun:
    """One evaluation of the monitoring rules and the writes that follow it."""

    def __init__(self, graph: Graph, rules: Rules, as_of: dt.date,
                 risk_model: RiskModel | None = None, batch_size: int = 1000,
                 pause: float = 0.0, stop: Callable[[], bool] = lambda: False) -> None:
        self.graph = batch(graph)
        self.rules = rules
        self.as_of = as_of
        self.risk_model = risk_model
        self.batch_size = batch_size
        self.pause = pause
        self.stop = stop
        self.id = "MR-" + uuid.uuid4().hex[:16]
        self.lock = RunLock(graph, LOCK_ID, self.id, rules.monitoring.lock_minutes * 60)

    def checkpoint(self) -> None:
        if self.stop():
            raise Interrupted("monitoring run stopped on request; run it again to finish")
        self.lock.renew()

    def run(self, jsonl: Path | None = None) -> RunResult:
        check_jsonl(jsonl)
        started = time.monotonic()
        self.lock.acquire()
        try:
            now = dt.datetime.now(dt.UTC)
            if self.lock.taken_over:
                self._crashed(self.lock.taken_over)
            self.graph.write(START_RUN, {"id": self.id, "asOf": self.as_of, "now": now,
                                         "host": self.lock.host, "pid": self.lock.pid})
            try:
                result, completed = self._run(now, started)
                if jsonl is not None and str(jsonl) != "-":
                    write_jsonl(jsonl, result.alerts)
            except BaseException as exc:
                status = "ABORTED" if isinstance(exc, Interrupted) else "FAILED"
                self._finish(self.id, {"status": status,
                                       "seconds": round(time.monotonic() - started, 3)})
                raise
            # COMPLETED once its alerts are delivered: until then they stay new to a re-run
            self.graph.write(FINISH_RUN, {"id": self.id, "props": completed})
            return result
        finally:
            self.lock.release()

    def _crashed(self, run: str) -> None:
        try:
            self.graph.write(CRASHED_RUN, {"id": run})
        except Exception as exc:
            log.warning("could not record run %s as CRASHED: %s", run, type(exc).__name__)

    def _finish(self, run: str, props: dict[str, Any]) -> None:
        """Best-effort bookkeeping of a run that did not complete; its failure is logged,
        the run's own error is what the caller sees."""
        try:
            self.graph.write(FINISH_RUN, {"id": run, "props": props})
        except Exception as exc:
            log.warning("could not record run %s as %s: %s", run, props.get("status"),
                        type(exc).__name__)

    def _run(self, now: dt.datetime, started: float) -> tuple[RunResult, dict[str, Any]]:
        evaluation = Evaluator(self.graph, self.rules, self.as_of, self.checkpoint,
                               self.risk_model).evaluate()
        evaluated = time.monotonic()
        self.lock.renew(force=True)
        at = now.isoformat()
        undelivered = self.graph.read(UNDELIVERED_RUNS, {"run": self.id})[0]["ids"]
        written: list[Row] = []
        for batch in _chunks([h.row(at, self.id) for h in evaluation.hits], self.batch_size):
            self.checkpoint()
            written += self.graph.write(MERGE_ALERTS, {
                "rows": batch, "now": now, "run": self.id, "asOf": self.as_of,
                "open": AlertStatus.OPEN.value, "undelivered": undelivered})[0]["rows"]
            self._breathe()
        # the state moves only after every alert it explains is stored
        for batch in _chunks(evaluation.states, self.batch_size):
            self.checkpoint()
            self.graph.write(SAVE_STATE, {"rows": batch, "asOf": self.as_of, "now": now},)
            self._breathe()
        new = sum(1 for row in written if row["created"])
        total = int(self.graph.read(COUNT_ALERTS)[0]["n"])
        seconds = round(time.monotonic() - started, 3)
        completed = {
            "status": "COMPLETED", "new": new, "updated": len(written) - new, "total": total,
            "seconds": seconds, "evaluateSeconds": round(evaluated - started, 3),
            "hits": json.dumps(evaluation.by_rule),
            "ruleSeconds": json.dumps(evaluation.seconds)}
        alerts = self._export(evaluation.hits, written)
        return RunResult(self.id, self.as_of, new, len(written) - new, total,
                         evaluation.by_rule, alerts, seconds), completed

    def _breathe(self) -> None:
        if self.pause > 0:
            time.sleep(self.pause)

    def _export(self, hits: list[Hit], written: list[Row]) -> list[dict[str, Any]]:
        """The run's alerts for other systems: stable field names, opaque subject keys,
        person names masked — never a raw ID number."""
        stored = {row["fingerprint"]: row for row in written}
        names = subjects_by_ids(self.graph, sorted({h.subject for h in hits}))
        alerts = []
        for hit in hits:
            row = stored.get(hit.fingerprint)
            if row is None:
                continue
            subject = names.get(hit.subject, {"id": hit.subject})
            alerts.append({
                "id": row["id"], "fingerprint": hit.fingerprint, "rule": hit.rule.value,
                "severity": hit.severity, "status": row["status"], "new": row["created"],
                "subject": {"id": hit.subject, "kind": subject.get("kind"),
                            "name": _name(subject), "region": subject.get("region")},
                "summary": hit.summary,
                "evidence": [{"from": s["source"], "to": s["target"], "type": s["type"],
                              "ratio": s["ratio"], "role": s["role"], "kind": s.get("kind"),
                              "start": s.get("start"), "end": s.get("end")}
                             for s in hit.path],
                "records": hit.records, "firstSeen": _iso(row["firstSeen"]),
                "lastSeen": _iso(row["lastSeen"]), "asOf": self.as_of.isoformat(),
            })
        alerts.sort(key=lambda a: (not a["new"], a["rule"], a["id"]))
        return alerts


def _iso(value: Any) -> str:
    native = value.to_native() if hasattr(value, "to_native") else value
    return native.isoformat() if hasattr(native, "isoformat") else str(native)


RECENT_RUNS = f"""
OPTIONAL MATCH (l:{_LOCK} {{id: $id}})
CALL () {{
  MATCH (r:{_RUN})
  WITH r ORDER BY r.startedAt DESC LIMIT $limit
  RETURN collect(r {{.id, .status, .new, .updated, .total, .seconds, asOf: toString(r.asOf),
                    startedAt: toString(r.startedAt)}}) AS runs
}}
RETURN l {{.owner, .host, .pid, expiresAt: toString(l.expiresAt),
          expired: l.expiresAt < datetime()}} AS lock, runs
"""


def recent_runs(graph: Graph, limit: int) -> tuple[Row | None, list[Row]]:
    """The lock as it stands and the last runs, newest first (`credgraph monitor status`)."""
    rows = graph.read(RECENT_RUNS, {"id": LOCK_ID, "limit": limit})
    return (rows[0]["lock"], list(rows[0]["runs"])) if rows else (None, [])


def run_stats(graph: Graph) -> Row:
    """Runs, alerts and watched subjects, for the Prometheus metrics of the API."""
    rows = graph.read(RUN_STATS)
    return rows[0] if rows else {"runs": [], "alerts": [], "watched": 0}
