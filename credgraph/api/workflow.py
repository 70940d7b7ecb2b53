"""The credit-repair desk (信用修复与异议, SPEC §8, §9): repair requests, objections and their
decisions, each one transaction and audited."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, TypeVar

import strawberry
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import (
    FOUND,
    CreditRecord,
    RecordStatus,
    authorize,
    check_limit,
    in_thread,
    keys_for,
    root_key,
    services,
    today,
)
from credgraph.graph import model
from credgraph.queries import objections as desk
from credgraph.queries import repair
from credgraph.queries.neighbourhood import as_date
from credgraph.schema.privacy import scrub
from credgraph.schema.rows import printable

for _enum in (model.ObjectionStatus, model.ObjectionOutcome):
    strawberry.enum(_enum)
ObjectionStatus = model.ObjectionStatus
ObjectionOutcome = model.ObjectionOutcome

MAX_ID = 200
T = TypeVar("T")


@strawberry.type
class Repair:
    id: strawberry.ID
    record: CreditRecord
    subject: strawberry.ID
    granted_on: dt.date
    commitment: strawberry.ID = strawberry.field(description="the :Commitment record's id")
    commitment_text: str | None


@strawberry.type
class RepairDecision:
    eligible: bool
    earliest_date: dt.date | None = strawberry.field(
        description="eligible: the day it became repairable; not: the first day the time "
                    "rules allow (none when only fulfilment or an objection stands in the way)")
    reason: str
    record: CreditRecord
    repair: Repair | None


@strawberry.type
class Objection:
    id: strawberry.ID
    record: CreditRecord = strawberry.field(description="the record objected to, as it is now")
    reason: str
    status: ObjectionStatus
    outcome: ObjectionOutcome | None
    note: str | None
    filed_at: dt.datetime
    resolved_at: dt.datetime | None
    filed_by: str | None
    resolved_by: str | None
    previous_status: RecordStatus | None = strawberry.field(
        description="the record's status when the objection was filed")
    corrected_record: CreditRecord | None = strawberry.field(
        description="CORRECT: the new version, which supersedes the record")

    @classmethod
    def from_view(cls, view: desk.ObjectionView) -> Objection:
        row = view.objection
        return cls(
            id=strawberry.ID(row["id"]), record=CreditRecord.from_row(view.record),
            reason=row["reason"], status=ObjectionStatus(row["status"]),
            outcome=ObjectionOutcome(row["outcome"]) if row.get("outcome") else None,
            note=row.get("note"), filed_at=native(row["filedAt"]),
            resolved_at=native(row["resolvedAt"]) if row.get("resolvedAt") else None,
            filed_by=row.get("filedBy"), resolved_by=row.get("resolvedBy"),
            previous_status=RecordStatus(row["previousStatus"]) if row.get("previousStatus")
            else None,
            corrected_record=CreditRecord.from_row(view.corrected) if view.corrected else None)


@strawberry.input(description="The corrected fields of a record (resolveObjection CORRECT); "
                              "only those given change, each only where the record's kind "
                              "has it")
class RecordCorrection:
    subject: strawberry.ID | None = strawberry.field(
        default=None, description="the subject the record really belongs to (any id form)")
    date: dt.date | None = None
    title: str | None = None
    authority: str | None = None
    domain: str | None = None
    severity: str | None = None
    content: str | None = None
    fine: float | None = None
    confiscation: float | None = None
    publicity_until: dt.date | None = None
    list_type: str | None = None
    removed_on: dt.date | None = None
    amount: float | None = None
    due_on: dt.date | None = None
    fulfilled_on: dt.date | None = None


# the graph's property names of RecordCorrection's fields
CORRECTION_PROPS = {"publicity_until": "publicityUntil", "list_type": "listType",
                    "removed_on": "removedOn", "due_on": "dueOn", "fulfilled_on": "fulfilledOn"}


def native(value: Any) -> Any:
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value


def text(info: Info, value: str, name: str) -> str:
    """Free text a person typed (a reason, a note, a commitment), bounded, rid of control
    characters as a bundle's text is (nothing but them is empty), with any ID number in it
    masked before it is stored or echoed (SPEC §6)."""
    maximum = services(info).rules.repair.max_text
    stripped = printable(value).strip()
    if not stripped:
        raise api_error(ErrorCode.BAD_USER_INPUT, f"{name} must not be empty")
    if len(stripped) > maximum:
        raise api_error(ErrorCode.BAD_USER_INPUT,
                        f"{name} has {len(stripped)} characters; at most {maximum}")
    return scrub(stripped)


def identifier(value: str, name: str) -> str:
    stripped = value.strip()
    if not 0 < len(stripped) <= MAX_ID:
        raise api_error(ErrorCode.BAD_USER_INPUT, f"{name} must have 1 to {MAX_ID} characters")
    return stripped


async def desk_call(info: Info, fn: Callable[..., T], *args: Any) -> T:
    """A desk operation in a worker thread, its refusals as the contract's error codes."""
    try:
        return await in_thread(fn, *args)
    except (repair.NotFound, repair.Refused) as exc:
        # the refused field's audit names the subjects of the record it was about
        if (found := FOUND.get()) is not None:
            found.extend((root_key(info), subject) for subject in exc.subjects)
        code = ErrorCode.NOT_FOUND if isinstance(exc, repair.NotFound) else \
            ErrorCode.BAD_USER_INPUT
        raise api_error(code, scrub(str(exc))) from None


def repair_out(row: dict[str, Any]) -> Repair:
    return Repair(id=strawberry.ID(row["id"]), record=CreditRecord.from_row(row["record"]),
                  subject=strawberry.ID(row["subject"]),
                  granted_on=as_date(row["grantedOn"]) or today(),
                  commitment=strawberry.ID(row["commitment"]),
                  commitment_text=row.get("commitmentText"))


@strawberry.type
class WorkflowQuery:
    @strawberry.field(description="Objections (异议), newest first, by status, subject or record")
    async def objections(self, info: Info, status: ObjectionStatus | None = None,
                         subject: strawberry.ID | None = None,
                         record_id: strawberry.ID | None = None,
                         limit: int = 100) -> list[Objection]:
        authorize(info, "objections")
        check_limit(info, limit)
        key = keys_for(info, str(subject))[0] if subject is not None else None
        record_id_ = identifier(str(record_id), "recordId") if record_id is not None else None
        views = await in_thread(desk.objections, services(info).graph, status, key, record_id_,
                                limit)
        audit(info, "objections", [key] if key else [s for v in views for s in v.subjects])
        return [Objection.from_view(view) for view in views]

    @strawberry.field(description="Credit repairs (信用修复) granted, newest first")
    async def repairs(self, info: Info, subject: strawberry.ID | None = None,
                      record_id: strawberry.ID | None = None, limit: int = 100) -> list[Repair]:
        authorize(info, "repairs")
        check_limit(info, limit)
        key = keys_for(info, str(subject))[0] if subject is not None else None
        record_id_ = identifier(str(record_id), "recordId") if record_id is not None else None
        rows = await in_thread(repair.repairs, services(info).graph, key, record_id_, limit)
        audit(info, "repairs", [key] if key else [row["subject"] for row in rows])
        return [repair_out(row) for row in rows]


@strawberry.type
class WorkflowMutation:
    @strawberry.mutation(description="Ask for a penalty's credit repair, judged as of today "
                                     "with the subject's credit commitment (信用承诺)")
    async def request_repair(self, info: Info, record_id: strawberry.ID,
                             commitment: str) -> RepairDecision:
        who = authorize(info, "requestRepair")
        record_id_ = identifier(str(record_id), "recordId")
        promise = text(info, commitment, "commitment")
        svc = services(info)
        decision = await desk_call(info, repair.request_repair, svc.graph, svc.rules, record_id_,
                                   promise, who.name, today())
        audit(info, "requestRepair", repair.record_subjects(decision.record))
        return RepairDecision(
            eligible=decision.eligible, earliest_date=decision.earliest,
            reason=decision.reason, record=CreditRecord.from_row(decision.record),
            repair=repair_out({**decision.repair, "record": decision.record,
                               "commitmentText": promise}) if decision.repair else None)

    @strawberry.mutation(description="Object to a record (异议): it becomes DISPUTED, still "
                                     "counting but flagged, until the objection is resolved")
    async def file_objection(self, info: Info, record_id: strawberry.ID,
                             reason: str) -> Objection:
        who = authorize(info, "fileObjection")
        record_id_ = identifier(str(record_id), "recordId")
        why = text(info, reason, "reason")
        view = await desk_call(info, desk.file_objection, services(info).graph, record_id_, why,
                               who.name, who.role.value, today())
        audit(info, "fileObjection", view.subjects)
        return Objection.from_view(view)

    @strawberry.mutation(description="Decide an objection: UPHOLD (the record stands), CORRECT "
                                     "(a new version with `corrections`, the old one kept) or "
                                     "REVOKE (revoked, stops counting)")
    async def resolve_objection(self, info: Info, id: strawberry.ID, outcome: ObjectionOutcome,
                                note: str, corrections: RecordCorrection | None = None
                                ) -> Objection:
        who = authorize(info, "resolveObjection")
        objection_id = identifier(str(id), "id")
        why = text(info, note, "note")
        changes = None
        if corrections is not None:
            changes = {CORRECTION_PROPS.get(name, name): value
                       for name, value in vars(corrections).items() if value is not None}
            for name in ("title", "authority", "content"):
                if name in changes:
                    changes[name] = text(info, changes[name], name)
            if "subject" in changes:
                changes["subject"] = keys_for(info, str(changes["subject"]))[0]
        svc = services(info)
        view = await desk_call(info, desk.resolve_objection, svc.graph, svc.rules, objection_id,
                               outcome, why, changes, who.name, today())
        audit(info, "resolveObjection",
              [*view.subjects, *([changes["subject"]] if changes and "subject" in changes
                                 else [])])
        return Objection.from_view(view)
