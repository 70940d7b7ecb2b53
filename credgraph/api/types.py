"""GraphQL types and resolver plumbing shared by every part of the schema (SPEC §9): the
subject, its records, relations and paths; the caller's role; argument checks."""

from __future__ import annotations

import base64
import datetime as dt
import json
from collections.abc import Callable
from contextvars import ContextVar
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info
from strawberry.types.nodes import SelectedField, Selection

from credgraph.api.auth import PII_ROLES, Principal
from credgraph.api.errors import ErrorCode, api_error
from credgraph.graph import model
from credgraph.queries import risk
from credgraph.queries.fragments import status_as_of, status_on
from credgraph.queries.neighbourhood import Edge, as_date
from credgraph.queries.subjects import candidate_keys, find_subject, subject_records
from credgraph.rules import LimitRules
from credgraph.schema import regions
from credgraph.schema.identifiers import IdentifierError
from credgraph.schema.privacy import mask_name
from credgraph.schema.regions import region_name
from credgraph.services import Services

if TYPE_CHECKING:
    from credgraph.api.escalation import CreditGrade, Escalation

# GraphQL enums are the declared model's enums.
for _enum in (model.SubjectKind, model.RecordKind, model.RecordStatus, model.RelationType,
              model.EscalationLevel, model.EscalationStatus):
    strawberry.enum(_enum)
SubjectKind = model.SubjectKind
RecordKind = model.RecordKind
RecordStatus = model.RecordStatus
RelationType = model.RelationType
EscalationLevel = model.EscalationLevel


@strawberry.enum
class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    SEVERE = "SEVERE"


T = TypeVar("T")

# Persons whose unmasked name or masked ID number this request's answer shows (PII reveals),
# collected by `Subject.from_row` for the audit log (credgraph.api.audit).
REVEALED: ContextVar[set[str] | None] = ContextVar("revealed", default=None)
# The subjects this request's resolvers found by the ids it sent (`existing`), each with the
# response key of the top-level field that found it: a field refused after that names them
# in its audit event (credgraph.api.audit).
FOUND: ContextVar[list[tuple[str, str]] | None] = ContextVar("found", default=None)
# The day this request is answered as of (`Services.today`, read once a request by the view).
TODAY: ContextVar[dt.date | None] = ContextVar("today", default=None)


def today() -> dt.date:
    """今天 for this request: statuses, and every `asOf` left out."""
    return TODAY.get() or dt.date.today()


def services(info: Info) -> Services:
    svc: Services = info.context["services"]
    return svc


def principal(info: Info) -> Principal:
    found: Principal | None = info.context["principal"]
    if found is None:
        raise api_error(ErrorCode.UNAUTHENTICATED, "send an API key")
    return found


def authorize(info: Info, field: str) -> Principal:
    who = principal(info)
    if not who.may(field):
        raise api_error(ErrorCode.FORBIDDEN,
                        f"the {who.role.value} role may not ask for {field}")
    return who


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    return await run_in_threadpool(fn, *args)


def limits(info: Info) -> LimitRules:
    return services(info).rules.limits


@strawberry.type
class CreditRecord:
    id: strawberry.ID
    kind: RecordKind
    domain: str | None
    severity: str | None
    status: RecordStatus
    date: dt.date | None
    title: str | None
    authority: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any], at: dt.date | None = None) -> CreditRecord:
        """A record with its status today as its dates give it — or on a past date `at`,
        a decision taken later on it not yet made (a row read with `DECISION_FIELDS`)."""
        date = row.get("date")
        status = status_on(row, today()) if at is None else status_as_of(row, at)
        return cls(
            id=strawberry.ID(str(row["id"])), kind=RecordKind(row["kind"]),
            domain=row.get("domain"), severity=row.get("severity"),
            status=RecordStatus(status),
            date=as_date(date),
            title=row.get("title"), authority=row.get("authority"),
        )


@strawberry.type
class Subject:
    id: strawberry.ID
    kind: SubjectKind
    name: str
    region: str | None
    status: str | None
    id_masked: str | None

    @strawberry.field
    def region_name(self) -> str | None:
        return region_name(self.region)

    @strawberry.field(description="The subject's credit records, newest first, with their "
                                  "status today — or, given asOf, those that existed then with "
                                  "their status on that day")
    async def records(self, info: Info, kind: RecordKind | None = None,
                      active_only: bool | None = None, limit: int = 200,
                      as_of: dt.date | None = None) -> list[CreditRecord]:
        check_limit(info, limit)
        svc = services(info)
        rows = await in_thread(subject_records, svc.graph, str(self.id),
                               kind.value if kind else None, bool(active_only), limit,
                               today(), as_of, svc.rules.limits.max_list)
        return [CreditRecord.from_row(row, as_of) for row in rows]

    @strawberry.field(description="屡罚不改: the subject's escalation (null when none; a LIFTED "
                                  "one keeps its history) — or, given asOf, as it stood then")
    async def escalation(self, info: Info, as_of: dt.date | None = None) -> Annotated[
            Escalation, strawberry.lazy("credgraph.api.escalation")] | None:
        from credgraph.api.escalation import subject_escalation

        return await subject_escalation(info, str(self.id), as_of)

    @strawberry.field(description="分级分类: grade A/B/C/D as of a date (default today)")
    async def credit_grade(self, info: Info, as_of: dt.date | None = None) -> Annotated[
            CreditGrade, strawberry.lazy("credgraph.api.escalation")]:
        from credgraph.api.escalation import subject_grade

        return await subject_grade(info, str(self.id), as_of)

    @classmethod
    def from_row(cls, row: dict[str, Any], who: Principal) -> Subject:
        kind = SubjectKind(row.get("kind") or "OTHER_ORG")
        person = kind is SubjectKind.NATURAL_PERSON
        pii = who.role in PII_ROLES
        name = row.get("name") or ""
        revealed = REVEALED.get()
        if person and pii and revealed is not None:
            revealed.add(row["id"])
        return cls(
            id=strawberry.ID(row["id"]), kind=kind,
            name=mask_name(name) if person and not pii else name,
            region=row.get("region"), status=row.get("status"),
            id_masked=row.get("idMasked") if pii else None,
        )


# Subject fields answered from its id alone, without the summary row (`SUBJECT_SUMMARY`): a
# field added to Subject needs the summary unless it is named here.
ID_ONLY_FIELDS = frozenset({"id", "__typename", "records", "escalation", "creditGrade"})


def asks_beyond(info: Info, path: tuple[str, ...], fields: frozenset[str]) -> bool:
    """Whether the resolved field's selection at `path` (field names, fragments followed)
    names a field not in `fields` — directives not evaluated: a field under `@skip` counts."""
    return _asks_beyond([item for field in info.selected_fields
                         for item in getattr(field, "selections", ())], path, fields)


def _asks_beyond(selections: list[Selection], path: tuple[str, ...],
                 fields: frozenset[str]) -> bool:
    for item in selections:
        if not isinstance(item, SelectedField):
            if _asks_beyond(item.selections, path, fields):
                return True
        elif not path:
            if item.name not in fields:
                return True
        elif item.name == path[0] and _asks_beyond(item.selections, path[1:], fields):
            return True
    return False


@strawberry.type
class SubjectMatch:
    subject: Subject
    score: float


@strawberry.type
class Relation:
    source: strawberry.ID
    target: strawberry.ID
    type: RelationType
    ratio: float | None
    role: str | None
    kind: str | None
    start: dt.date | None
    end: dt.date | None
    via: str | None = strawberry.field(
        default=None, description="SHARES_CONTACT (共用联系方式): what the two share — phone, "
        "address, or address,phone")

    @classmethod
    def from_edge(cls, edge: Edge) -> Relation:
        return cls(source=strawberry.ID(edge.source), target=strawberry.ID(edge.target),
                   type=RelationType(edge.type), ratio=edge.ratio, role=edge.role,
                   kind=edge.kind, start=edge.start, end=edge.end, via=edge.via)


@strawberry.type
class AssociationGraph:
    center: Subject
    nodes: list[Subject]
    edges: list[Relation]
    truncated: bool
    cut_hubs: list[strawberry.ID]


@strawberry.type(description="One relation on a path: who, how, with what share, since when")
class PathStep:
    source: Subject = strawberry.field(name="from")
    target: Subject = strawberry.field(name="to")
    type: RelationType
    ratio: float | None
    role: str | None
    kind: str | None = None
    start: dt.date | None = None
    end: dt.date | None = None
    via: str | None = None


@strawberry.type
class RiskSignal:
    record: CreditRecord
    weight: float
    decayed_weight: float
    disputed: bool


@strawberry.type
class RiskContributor:
    subject: Subject
    strength: float
    risk: float
    contribution: float
    path: list[PathStep]
    signals: list[RiskSignal]


@strawberry.type
class DomainRisk:
    domain: str
    name: str
    own_risk: float
    associated_risk: float
    signals: int


@strawberry.type
class RegionRisk:
    region: str
    region_name: str | None
    risk: float
    subjects: int


@strawberry.type
class RiskAssessment:
    subject: Subject
    as_of: dt.date
    score: int
    level: RiskLevel
    own_score: int
    association_score: int
    cross_domain: bool
    cross_region: bool
    domains: list[DomainRisk]
    regions: list[RegionRisk]
    contributors: list[RiskContributor]
    signals: list[RiskSignal]
    cut_hubs: list[strawberry.ID]
    truncated: bool


@strawberry.type(description="Where a page of a connection ends (SPEC §9)")
class PageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class BeneficialOwner:
    owner: Subject
    share: float
    basis: str
    paths: list[list[PathStep]]
    evidence: list[str]


# -- argument checks ---------------------------------------------------------------------------
def check_first(info: Info, first: int) -> None:
    """A connection's page size (SPEC §9): 0 to the rules file's [limits] max_page."""
    maximum = limits(info).max_page
    if first < 0:
        raise api_error(ErrorCode.BAD_USER_INPUT, "first must not be negative")
    if first > maximum:
        raise api_error(ErrorCode.LIMIT_EXCEEDED,
                        f"first {first} is above the maximum page of {maximum}")


def encode_cursor(connection: str, at: dt.datetime, key: str) -> str:
    """An opaque cursor for keyset paging by (time, id), as auditLog and alerts page: the
    connection that gave it out (another one's cursor is refused, not read as a place in this
    one) and the time and id of a page's last entry."""
    raw = json.dumps([connection, at.isoformat(), key]).encode()
    return base64.urlsafe_b64encode(raw).decode()


def decode_cursor(connection: str, text: str) -> tuple[dt.datetime, str]:
    """The (time, id) an `encode_cursor` of `connection` holds; BAD_USER_INPUT otherwise."""
    try:
        values = json.loads(base64.urlsafe_b64decode(text.encode()))
        if (isinstance(values, list) and len(values) == 3 and values[0] == connection
                and all(isinstance(v, str) for v in values)):
            at = dt.datetime.fromisoformat(values[1])
            if at.tzinfo is not None:  # ours always say it: a time without one was made by hand
                return at, values[2]
    except ValueError:
        pass
    raise api_error(ErrorCode.BAD_USER_INPUT, "after is not a cursor this query gave")


def region_prefix(value: str | None) -> str | None:
    """A region argument (every query's `region`) as a code prefix (None: no region asked),
    or BAD_USER_INPUT."""
    if value is None:
        return None
    try:
        return regions.region_prefix(value)
    except ValueError as exc:
        raise api_error(ErrorCode.BAD_USER_INPUT, str(exc)) from None


def check_limit(info: Info, value: int, name: str = "limit") -> None:
    maximum = limits(info).max_list
    if value < 1:
        raise api_error(ErrorCode.BAD_USER_INPUT, f"{name} must be at least 1")
    if value > maximum:
        raise api_error(ErrorCode.LIMIT_EXCEEDED, f"{name} {value} is above the maximum {maximum}")


def check_depth(info: Info, depth: int) -> None:
    maximum = services(info).rules.risk.max_depth
    if depth < 1:
        raise api_error(ErrorCode.BAD_USER_INPUT, "depth must be at least 1")
    if depth > maximum:
        raise api_error(ErrorCode.LIMIT_EXCEEDED,
                        f"depth {depth} is above the maximum of {maximum} hops")


def keys_for(info: Info, value: str) -> list[str]:
    try:
        return candidate_keys(value, services(info).privacy)
    except IdentifierError as exc:
        raise api_error(ErrorCode.BAD_USER_INPUT, f"malformed id: {exc}") from None


async def existing(info: Info, value: str) -> dict[str, Any]:
    row = await in_thread(find_subject, services(info).graph, keys_for(info, value))
    if row is None:
        raise api_error(ErrorCode.NOT_FOUND, "no subject with this id")
    if (found := FOUND.get()) is not None:
        found.append((root_key(info), row["id"]))
    return row


def root_key(info: Info) -> str:
    """The response key (alias, else name) of the top-level field a resolver runs under."""
    path = info.path
    while path.prev is not None:
        path = path.prev
    return str(path.key)


def path_steps(path: list[Edge], subjects: dict[str, dict[str, Any]],
               who: Principal) -> list[PathStep]:
    def subject(sid: str) -> Subject:
        return Subject.from_row(subjects.get(sid) or {"id": sid, "kind": "OTHER_ORG"}, who)

    return [PathStep(source=subject(e.source), target=subject(e.target),
                     type=RelationType(e.type), ratio=e.ratio, role=e.role, kind=e.kind,
                     start=e.start, end=e.end, via=e.via) for e in path]


def signals_out(items: list[risk.Signal]) -> list[RiskSignal]:
    return [RiskSignal(record=CreditRecord.from_row(s.record), weight=s.weight,
                       decayed_weight=round(s.decayed, 6), disputed=s.disputed) for s in items]
