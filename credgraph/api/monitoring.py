"""Monitoring for duty officers and monitoring jobs (失信风险预警, SPEC §9): the alerts queue
with its case workflow, and watchlists (a key's own; the city's, kept by admins)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import strawberry
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.auth import Principal, Role
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import (
    CreditRecord,
    PageInfo,
    PathStep,
    Subject,
    authorize,
    check_first,
    decode_cursor,
    encode_cursor,
    existing,
    in_thread,
    keys_for,
    path_steps,
    services,
)
from credgraph.graph import model
from credgraph.graph.driver import Row
from credgraph.queries import alerts
from credgraph.queries.neighbourhood import Edge
from credgraph.queries.subjects import subjects_by_ids

strawberry.enum(model.AlertStatus)
AlertStatus = model.AlertStatus
ALERTS_PAGE = 50  # SPEC §9's `first`; an explicit null means it too


@strawberry.type(description="One change of an alert: who, when, what")
class AlertEvent:
    at: dt.datetime
    actor: str
    role: str | None
    action: str
    status: AlertStatus | None
    previous_status: AlertStatus | None
    assignee: str | None
    comment: str | None


@strawberry.type(description="A monitoring alert, one per fingerprint (rule + subject + the "
                             "evidence that makes it new)")
class Alert:
    id: strawberry.ID
    rule: str
    severity: str
    subject: Subject
    summary: str
    evidence: list[PathStep]
    records: list[CreditRecord]
    fingerprint: str
    status: AlertStatus
    assignee: str | None
    comments: list[str]
    history: list[AlertEvent]
    first_seen: dt.datetime
    last_seen: dt.datetime
    as_of: dt.date | None


@strawberry.type
class AlertEdge:
    node: Alert
    cursor: str


@strawberry.type
class AlertConnection:
    edges: list[AlertEdge]
    page_info: PageInfo
    total_count: int


def _native(value: Any) -> Any:
    return value.to_native() if hasattr(value, "to_native") else value


def _steps(row: Row) -> list[Edge]:
    """The alert's evidence as stored (an alert last refreshed before kinship and dates were
    stored shows none until its next run)."""
    return [Edge(s["source"], s["target"], s["type"], s.get("ratio"), s.get("role"),
                 s.get("kind"), _day(s.get("start")), _day(s.get("end")))
            for s in json.loads(row.get("evidence") or "[]")]


def _day(value: Any) -> dt.date | None:
    return dt.date.fromisoformat(value[:10]) if isinstance(value, str) and value else None


def _records(row: Row) -> list[CreditRecord]:
    found = []
    for record in json.loads(row.get("records") or "[]"):
        if isinstance(record.get("date"), str):
            record["date"] = dt.date.fromisoformat(record["date"])
        found.append(CreditRecord.from_row(record))
    return found


def _event(item: dict[str, Any]) -> AlertEvent:
    def status(value: str | None) -> model.AlertStatus | None:
        return model.AlertStatus(value) if value else None

    return AlertEvent(at=dt.datetime.fromisoformat(item["at"]), actor=item.get("actor") or "",
                      role=item.get("role"), action=item.get("action") or "",
                      status=status(item.get("status")),
                      previous_status=status(item.get("previousStatus")),
                      assignee=item.get("assignee"), comment=item.get("comment"))


async def alerts_out(info: Info, rows: list[Row], who: Principal) -> list[Alert]:
    """Alerts with their subjects and evidence paths, the subjects read in one query and
    shown as the caller's role may see them."""
    steps = {row["id"]: _steps(row) for row in rows}
    ids = {row["subject"] for row in rows} | {
        sid for path in steps.values() for e in path for sid in (e.source, e.target)}
    subjects = await in_thread(subjects_by_ids, services(info).graph, sorted(ids))

    def subject(sid: str) -> Subject:
        return Subject.from_row(subjects.get(sid) or {"id": sid, "kind": "OTHER_ORG"}, who)

    return [Alert(
        id=strawberry.ID(row["id"]), rule=row["rule"], severity=row["severity"],
        subject=subject(row["subject"]), summary=row["summary"],
        evidence=path_steps(steps[row["id"]], subjects, who), records=_records(row),
        fingerprint=row["fingerprint"], status=model.AlertStatus(row["status"]),
        assignee=row.get("assignee"), comments=list(row.get("comments") or []),
        history=[_event(item) for item in alerts.history(row)],
        first_seen=_native(row["firstSeen"]), last_seen=_native(row["lastSeen"]),
        as_of=_native(row.get("asOf")),
    ) for row in rows]


def _watcher(who: Principal, city: bool) -> alerts.Watcher:
    if not city:
        return alerts.Watcher(who.key_id)
    if who.role is not Role.ADMIN:
        raise api_error(ErrorCode.FORBIDDEN, "only admin keys keep the city watchlist")
    return alerts.CITY


@strawberry.type
class MonitoringQuery:
    @strawberry.field(description="Alerts newest first, filtered by status, rule (ESCALATION, "
                                  "RISK_RISE, NEAR_RECORD, INTEGRITY, SEVERE_RECORD) or subject")
    async def alerts(self, info: Info, status: AlertStatus | None = None,
                     rule: str | None = None, first: int | None = ALERTS_PAGE,
                     after: str | None = None,
                     subject: strawberry.ID | None = None) -> AlertConnection:
        who = authorize(info, "alerts")
        first = ALERTS_PAGE if first is None else first
        check_first(info, first)
        rule_name = None
        if rule is not None:
            rule_name = rule.strip().upper()
            if rule_name not in model.AlertRule.__members__:
                raise api_error(ErrorCode.BAD_USER_INPUT, "rule must be one of " + ", ".join(
                    r.value for r in model.AlertRule))
        subject_key = keys_for(info, str(subject))[0] if subject is not None else None
        start = decode_cursor("alerts", after) if after is not None else None
        page = await in_thread(alerts.list_alerts, services(info).graph, status, rule_name,
                               subject_key, first, start)
        nodes = await alerts_out(info, page.rows, who)
        asked = [subject_key] if subject_key else []
        audit(info, "alerts", list(dict.fromkeys(
            [*asked, *(str(row["subject"]) for row in page.rows)])))
        edges = [AlertEdge(node=node, cursor=encode_cursor("alerts", node.first_seen, node.id))
                 for node in nodes]
        return AlertConnection(
            edges=edges, total_count=page.total,
            page_info=PageInfo(has_next_page=page.has_next,
                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="The subjects on the caller's watchlist, or (admin) on the "
                                  "city watchlist")
    async def watchlist(self, info: Info, city: bool = False) -> list[Subject]:
        who = authorize(info, "watchlist")
        rows = await in_thread(alerts.watchlist, services(info).graph,
                               _watcher(who, city))
        audit(info, "watchlist", [row["id"] for row in rows])
        return [Subject.from_row(row, who) for row in rows]


@strawberry.type
class MonitoringMutation:
    @strawberry.mutation(description="Watch a subject (USCC, ID number or key): monitoring "
                                     "raises RISK_RISE and NEAR_RECORD alerts about it. True "
                                     "once it is watched (also when it already was).")
    async def watch(self, info: Info, id: strawberry.ID, city: bool = False) -> bool:
        who = authorize(info, "watch")
        watcher = _watcher(who, city)
        found = await existing(info, str(id))
        await in_thread(alerts.watch, services(info).graph, watcher, [found["id"]], who.name)
        audit(info, "watch", [found["id"]])
        return True

    @strawberry.mutation(description="Stop watching a subject; false when it was not watched")
    async def unwatch(self, info: Info, id: strawberry.ID, city: bool = False) -> bool:
        who = authorize(info, "unwatch")
        watcher = _watcher(who, city)
        found = await existing(info, str(id))
        removed = await in_thread(alerts.unwatch, services(info).graph, watcher,
                                  [found["id"]])
        audit(info, "unwatch", [found["id"]])
        return bool(removed)

    @strawberry.mutation(description="Work an alert: change its status along the workflow, "
                                     "assign it (\"\" clears), comment; history is kept")
    async def update_alert(self, info: Info, id: strawberry.ID,
                           status: AlertStatus | None = None, assignee: str | None = None,
                           comment: str | None = None) -> Alert:
        who = authorize(info, "updateAlert")
        try:
            row = await in_thread(alerts.update_alert, services(info).graph, str(id), who.name,
                                  who.role.value, status, assignee, comment)
        except alerts.AlertNotFound as exc:
            raise api_error(ErrorCode.NOT_FOUND, str(exc)) from None
        except alerts.AlertError as exc:
            raise api_error(ErrorCode.BAD_USER_INPUT, str(exc)) from None
        answer = (await alerts_out(info, [row], who))[0]
        audit(info, "updateAlert", [str(answer.subject.id)])
        return answer
