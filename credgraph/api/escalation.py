"""屡罚不改 and 分级分类 in the API (SPEC §9): `repeatOffenders`, `inspectionPlan`,
`runEscalation`, `confirmEscalation`, and what `Subject.escalation` / `Subject.creditGrade`
answer."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.auth import Principal
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import (
    CreditRecord,
    PageInfo,
    Subject,
    authorize,
    existing,
    in_thread,
    limits,
    principal,
    region_prefix,
    services,
    today,
)
from credgraph.graph.locks import LockHeld
from credgraph.graph.model import EscalationLevel, EscalationStatus
from credgraph.queries import escalation as engine
from credgraph.queries.grading import Grade, credit_grades, inspection_plan
from credgraph.queries.neighbourhood import as_date
from credgraph.queries.subjects import subjects_by_ids
from credgraph.rules import Rules
from credgraph.schema.rows import printable

PAGE = 50  # SPEC §9's `repeatOffenders(first)`; an explicit null means it too
_CURSOR_PREFIX = "esc1:"


@strawberry.type(description="One step of an escalation's append-only history")
class EscalationEvent:
    at: dt.datetime
    action: str = strawberry.field(description="created, raised, lowered, updated, confirmed, "
                                               "lifted")
    level: EscalationLevel | None
    actor: str | None
    note: str | None
    as_of: dt.date | None
    rules: list[str]

    @classmethod
    def from_json(cls, text: str) -> EscalationEvent:
        data = json.loads(text)
        return cls(at=dt.datetime.fromisoformat(data["at"]), action=data["action"],
                   level=EscalationLevel(data["level"]) if data.get("level") else None,
                   actor=data.get("actor"), note=data.get("note"),
                   as_of=dt.date.fromisoformat(data["asOf"]) if data.get("asOf") else None,
                   rules=list(data.get("rules") or []))


@strawberry.type(description="屡罚不改: a subject's escalation, with its rules, triggering "
                             "records, measures and history")
class Escalation:
    id: strawberry.ID
    subject: Subject
    level: EscalationLevel
    status: EscalationStatus
    rules: list[str]
    reasons: list[str]
    triggers: list[CreditRecord]
    since: dt.date = strawberry.field(description="when the current level was reached")
    opened_on: dt.date | None
    proposed_on: dt.date | None
    earliest_confirmation: dt.date | None = strawberry.field(
        description="SEVERE_PROPOSED: the first day confirmEscalation is allowed")
    confirmed_on: dt.date | None
    confirmed_by: str | None
    lifted_on: dt.date | None
    measures: list[str]
    inspection_ratio: float
    propagated_from: list[strawberry.ID]
    repair_blocked_until: dt.date | None = strawberry.field(
        description="re-offended after a credit repair: no repair before this date")
    history: list[EscalationEvent]

    @classmethod
    def from_row(cls, row: dict[str, Any], who: Principal, rules: Rules,
                 as_of: dt.date | None = None) -> Escalation:
        """An escalation row; its triggering records with their status on `as_of` (default
        today)."""
        proposed = as_date(row.get("proposedOn"))
        waiting = (row["status"] == EscalationStatus.ACTIVE.value and proposed is not None
                   and row["level"] == EscalationLevel.SEVERE_PROPOSED.value)
        triggers = sorted(row.get("triggers") or [],
                          key=lambda r: (str(as_date(r.get("date")) or ""), r["id"]),
                          reverse=True)
        since = as_date(row.get("since"))
        assert since is not None
        return cls(
            id=strawberry.ID(row["id"]), subject=Subject.from_row(row["subjectRow"], who),
            level=EscalationLevel(row["level"]), status=EscalationStatus(row["status"]),
            rules=list(row.get("rules") or []), reasons=list(row.get("reasons") or []),
            triggers=[CreditRecord.from_row(r, as_of) for r in triggers], since=since,
            opened_on=as_date(row.get("openedOn")), proposed_on=proposed,
            earliest_confirmation=engine.earliest_confirmation(rules, proposed)
            if waiting and proposed else None,
            confirmed_on=as_date(row.get("confirmedOn")), confirmed_by=row.get("confirmedBy"),
            lifted_on=as_date(row.get("liftedOn")), measures=list(row.get("measures") or []),
            inspection_ratio=float(row.get("inspectionRatio") or 0.0),
            propagated_from=[strawberry.ID(i) for i in row.get("propagatedFrom") or []],
            repair_blocked_until=as_date(row.get("repairBlockedUntil")),
            history=[EscalationEvent.from_json(e) for e in row.get("history") or []],
        )


@strawberry.type
class EscalationEdge:
    node: Escalation
    cursor: str


@strawberry.type
class EscalationConnection:
    edges: list[EscalationEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type(description="What a run of the escalation rules changed")
class EscalationRun:
    as_of: dt.date
    created: int
    raised: int
    unchanged: int
    lifted: int
    lowered: int = strawberry.field(description="SEVERE_PROPOSED withdrawn to FOCUS (e.g. a "
                                                "listing removed), or SEVERE left with only "
                                                "propagation")


@strawberry.type
class GradeDeduction:
    reason: str
    points: int


@strawberry.type(description="分级分类: A/B/C/D, its score and the 双随机 inspection ratio")
class CreditGrade:
    grade: str
    score: int
    inspection_ratio: float
    capped_by: str | None
    deductions: list[GradeDeduction]

    @classmethod
    def from_grade(cls, grade: Grade) -> CreditGrade:
        return cls(grade=grade.grade, score=grade.score, inspection_ratio=grade.inspection_ratio,
                   capped_by=grade.capped_by,
                   deductions=[GradeDeduction(reason=r, points=p) for r, p in grade.deductions])


# -- helpers for Subject's fields: one query per request for all subjects of an answer ----------
def _loader(info: Info, name: str, load: Callable[[list[Any]], Awaitable[list[Any]]],
            ) -> DataLoader[Any, Any]:
    loaders: dict[str, DataLoader[Any, Any]] = info.context.setdefault("loaders", {})
    if name not in loaders:
        loaders[name] = DataLoader(load_fn=load)
    return loaders[name]


async def subject_escalation(info: Info, subject: str,
                             as_of: dt.date | None = None) -> Escalation | None:
    svc = services(info)

    async def load(ids: list[str]) -> list[dict[str, Any] | None]:
        rows = await in_thread(engine.escalations_of, svc.graph, ids)
        return [rows.get(sid) for sid in ids]

    row = await _loader(info, "escalation", load).load(subject)
    if row is not None and as_of is not None:
        row = await in_thread(engine.escalation_on, svc.graph, svc.rules, row, as_of)
    return Escalation.from_row(row, principal(info), svc.rules, as_of) if row else None


async def subject_grade(info: Info, subject: str, as_of: dt.date | None) -> CreditGrade:
    svc = services(info)

    async def load(keys: list[tuple[str, dt.date]]) -> list[Grade | None]:
        found: dict[tuple[str, dt.date], Grade] = {}
        for day in {day for _, day in keys}:
            ids = [sid for sid, other in keys if other == day]
            grades = await in_thread(credit_grades, svc.graph, svc.rules, ids, day)
            found.update({(sid, day): grade for sid, grade in grades.items()})
        return [found.get(key) for key in keys]

    grade = await _loader(info, "creditGrade", load).load((subject, as_of or today()))
    if grade is None:
        raise api_error(ErrorCode.NOT_FOUND, "no subject with this id")
    return CreditGrade.from_grade(grade)


# -- argument checks -----------------------------------------------------------------------------
def encode_cursor(rank: int, eid: str) -> str:
    raw = json.dumps([rank, eid], ensure_ascii=False).encode()
    return _CURSOR_PREFIX + base64.urlsafe_b64encode(raw).decode()


def decode_cursor(cursor: str) -> tuple[int, str]:
    try:
        if not cursor.startswith(_CURSOR_PREFIX) or len(cursor) > 400:
            raise ValueError(cursor)
        rank, eid = json.loads(base64.urlsafe_b64decode(cursor[len(_CURSOR_PREFIX):]))
        if not isinstance(rank, int) or not isinstance(eid, str):
            raise ValueError(cursor)
        return rank, eid
    except (ValueError, TypeError, binascii.Error):
        raise api_error(ErrorCode.BAD_USER_INPUT,
                        "malformed cursor: pass an endCursor or cursor from a previous page"
                        ) from None


def check_first(info: Info, first: int) -> None:
    maximum = limits(info).max_page
    if first < 0:
        raise api_error(ErrorCode.BAD_USER_INPUT, "first must not be negative")
    if first > maximum:
        raise api_error(ErrorCode.LIMIT_EXCEEDED, f"first {first} is above the maximum {maximum}")


@strawberry.type
class EscalationQuery:
    @strawberry.field(description="屡罚不改: escalated subjects, worst level first. Without asOf "
                                  "the ACTIVE ones; with asOf those open on that date")
    async def repeat_offenders(
        self, info: Info, as_of: dt.date | None = None, level: EscalationLevel | None = None,
        region: str | None = None, first: int | None = PAGE, after: str | None = None,
    ) -> EscalationConnection:
        who = authorize(info, "repeatOffenders")
        first = PAGE if first is None else first
        check_first(info, first)
        prefix = region_prefix(region)
        start = decode_cursor(after) if after is not None else None
        svc = services(info)
        page = await in_thread(engine.list_escalations, svc.graph, svc.rules, as_of,
                               level.value if level else None, prefix, first, start)
        edges = [EscalationEdge(node=Escalation.from_row(row, who, svc.rules, as_of),
                                cursor=encode_cursor(int(row["rank"]), row["id"]))
                 for row in page.rows]
        audit(info, "repeatOffenders", [str(row["subject"]) for row in page.rows])
        return EscalationConnection(
            edges=edges, total_count=page.total,
            page_info=PageInfo(has_next_page=page.has_next,
                               end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="双随机: a reproducible sample of a region's trading legal "
                                  "persons (agencies excluded), the worst grade first, weighted "
                                  "by each grade's inspection ratio; the same seed and data "
                                  "give the same list")
    async def inspection_plan(self, info: Info, size: int, seed: int, region: str | None = None,
                              as_of: dt.date | None = None) -> list[Subject]:
        who = authorize(info, "inspectionPlan")
        maximum = limits(info).max_list
        if size < 1:
            raise api_error(ErrorCode.BAD_USER_INPUT, "size must be at least 1")
        if size > maximum:
            raise api_error(ErrorCode.LIMIT_EXCEEDED, f"size {size} is above the maximum "
                                                      f"{maximum}")
        prefix = region_prefix(region)
        svc = services(info)
        drawn = await in_thread(inspection_plan, svc.graph, svc.rules, prefix, size, seed,
                                as_of or today())
        rows = await in_thread(subjects_by_ids, svc.graph, [d.subject for d in drawn])
        audit(info, "inspectionPlan", [d.subject for d in drawn])
        return [Subject.from_row(rows[d.subject], who) for d in drawn if d.subject in rows]


@strawberry.type
class EscalationMutation:
    @strawberry.mutation(description="Run the escalation rules over the whole city as of a date "
                                     "(default today); safe to repeat")
    async def run_escalation(self, info: Info, as_of: dt.date | None = None) -> EscalationRun:
        who = authorize(info, "runEscalation")
        svc = services(info)
        day = as_of or today()
        try:
            engine.check_run_date(svc.rules, day)
        except engine.EscalationRefused as exc:
            raise api_error(ErrorCode.BAD_USER_INPUT, str(exc)) from None
        try:
            result = await in_thread(engine.run_escalation, svc.graph, svc.rules, day, who.name)
        except LockHeld as exc:
            raise api_error(ErrorCode.LIMIT_EXCEEDED, f"one escalation run at a time: {exc}") \
                from None
        audit(info, "runEscalation", result.changed)
        return EscalationRun(as_of=day, created=result.created, raised=result.raised,
                             unchanged=result.unchanged, lifted=result.lifted,
                             lowered=result.lowered)

    @strawberry.mutation(description="Confirm a SEVERE_PROPOSED escalation as SEVERE (列入严重"
                                     "失信主体名单) after the notice period")
    async def confirm_escalation(self, info: Info, subject: strawberry.ID,
                                 note: str) -> Escalation:
        who = authorize(info, "confirmEscalation")
        svc = services(info)
        # one of the desk's free texts, bounded as a commitment or an objection's reason is
        maximum = svc.rules.repair.max_text
        note = printable(note).strip()
        if not note or len(note) > maximum:
            raise api_error(ErrorCode.BAD_USER_INPUT,
                            f"note must have 1 to {maximum} characters: say why")
        found = await existing(info, str(subject))
        try:
            row = await in_thread(engine.confirm_escalation, svc.graph, svc.rules, found["id"],
                                  note, who.name, today())
        except engine.EscalationRefused as exc:
            raise api_error(ErrorCode.BAD_USER_INPUT, str(exc)) from None
        # the subject confirmed, then the persons it made 联合惩戒对象 (their FOCUS is this
        # mutation's doing: an auditLog(subject:) of one of them finds it)
        audit(info, "confirmEscalation", [found["id"], *row.get("propagatedTo", [])])
        return Escalation.from_row(row, who, svc.rules)
