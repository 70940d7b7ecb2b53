"""The GraphQL schema (SPEC §9). Resolvers are thin: they check the caller's role and the
arguments, run a `credgraph.queries` function in a worker thread, and shape the answer."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from enum import StrEnum
from typing import Any, TypeVar

import strawberry
from starlette.concurrency import run_in_threadpool
from strawberry.types import Info

from credgraph.api.auth import PII_ROLES, Principal
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.services import Services
from credgraph.graph import model
from credgraph.queries import ownership, risk
from credgraph.queries.neighbourhood import Edge, as_date, expand
from credgraph.queries.subjects import (
    candidate_keys,
    find_subject,
    subject_records,
    subjects_by_ids,
)
from credgraph.schema.identifiers import IdentifierError
from credgraph.schema.privacy import mask_name
from credgraph.schema.regions import region_name

# GraphQL enums are the declared model's enums.
for _enum in (model.SubjectKind, model.RecordKind, model.RecordStatus, model.RelationType):
    strawberry.enum(_enum)
SubjectKind = model.SubjectKind
RecordKind = model.RecordKind
RecordStatus = model.RecordStatus
RelationType = model.RelationType


@strawberry.enum
class RiskLevel(StrEnum):
    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    SEVERE = "SEVERE"


T = TypeVar("T")


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


def limits(info: Info) -> dict[str, Any]:
    return services(info).rules.section("limits")


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
    def from_row(cls, row: dict[str, Any]) -> CreditRecord:
        date = row.get("date")
        return cls(
            id=strawberry.ID(str(row["id"])), kind=RecordKind(row["kind"]),
            domain=row.get("domain"), severity=row.get("severity"),
            status=RecordStatus(row.get("status") or "ACTIVE"),
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

    @strawberry.field
    async def records(self, info: Info, kind: RecordKind | None = None,
                      active_only: bool | None = None, limit: int = 200) -> list[CreditRecord]:
        check_limit(info, limit)
        rows = await in_thread(subject_records, services(info).graph, str(self.id),
                               kind.value if kind else None, bool(active_only), limit)
        return [CreditRecord.from_row(row) for row in rows]

    @classmethod
    def from_row(cls, row: dict[str, Any], who: Principal) -> Subject:
        kind = SubjectKind(row.get("kind") or "OTHER_ORG")
        person = kind is SubjectKind.NATURAL_PERSON
        pii = who.role in PII_ROLES
        name = row.get("name") or ""
        return cls(
            id=strawberry.ID(row["id"]), kind=kind,
            name=mask_name(name) if person and not pii else name,
            region=row.get("region"), status=row.get("status"),
            id_masked=row.get("idMasked") if pii else None,
        )


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

    @classmethod
    def from_edge(cls, edge: Edge) -> Relation:
        return cls(source=strawberry.ID(edge.source), target=strawberry.ID(edge.target),
                   type=RelationType(edge.type), ratio=edge.ratio, role=edge.role,
                   kind=edge.kind, start=edge.start, end=edge.end)


@strawberry.type
class AssociationGraph:
    center: Subject
    nodes: list[Subject]
    edges: list[Relation]
    truncated: bool
    cut_hubs: list[strawberry.ID]


@strawberry.type(description="One relation on a path: who, how, with what share")
class PathStep:
    source: Subject = strawberry.field(name="from")
    target: Subject = strawberry.field(name="to")
    type: RelationType
    ratio: float | None
    role: str | None


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


@strawberry.type
class BeneficialOwner:
    owner: Subject
    share: float
    basis: str
    paths: list[list[PathStep]]
    evidence: list[str]


# -- argument checks ---------------------------------------------------------------------------
def check_limit(info: Info, value: int, name: str = "limit") -> None:
    maximum = int(limits(info)["max_list"])
    if value < 1:
        raise api_error(ErrorCode.BAD_USER_INPUT, f"{name} must be at least 1")
    if value > maximum:
        raise api_error(ErrorCode.LIMIT_EXCEEDED, f"{name} {value} is above the maximum {maximum}")


def check_depth(info: Info, depth: int) -> None:
    maximum = int(services(info).rules.section("risk")["max_depth"])
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
    return row


def path_steps(path: list[Edge], subjects: dict[str, dict[str, Any]],
               who: Principal) -> list[PathStep]:
    def subject(sid: str) -> Subject:
        return Subject.from_row(subjects.get(sid) or {"id": sid, "kind": "OTHER_ORG"}, who)

    return [PathStep(source=subject(e.source), target=subject(e.target),
                     type=RelationType(e.type), ratio=e.ratio, role=e.role) for e in path]


def signals_out(items: list[risk.Signal]) -> list[RiskSignal]:
    return [RiskSignal(record=CreditRecord.from_row(s.record), weight=s.weight,
                       decayed_weight=round(s.decayed, 6), disputed=s.disputed) for s in items]


@strawberry.type
class Query:
    @strawberry.field(description="A subject by USCC, raw ID number (hashed on arrival) or key")
    async def subject(self, info: Info, id: strawberry.ID) -> Subject | None:
        who = authorize(info, "subject")
        row = await in_thread(find_subject, services(info).graph, keys_for(info, str(id)))
        return Subject.from_row(row, who) if row else None

    @strawberry.field(description="Subjects by name: normalised, full-text candidates re-ranked")
    async def search_subjects(self, info: Info, name: str, kind: SubjectKind | None = None,
                              region: str | None = None, limit: int = 10) -> list[SubjectMatch]:
        who = authorize(info, "searchSubjects")
        check_limit(info, limit)
        if not name.strip() or len(name) > 200:
            raise api_error(ErrorCode.BAD_USER_INPUT, "name must have 1 to 200 characters")
        if region is not None and not (region.isdigit() and 2 <= len(region) <= 6):
            raise api_error(ErrorCode.BAD_USER_INPUT, "region must be 2 to 6 digits")
        svc = services(info)
        candidates = await in_thread(
            lambda: svc.resolver.candidates(name, kind.value if kind else None, limit,
                                            region=region))
        rows = await in_thread(subjects_by_ids, svc.graph, [c.id for c in candidates])
        return [SubjectMatch(subject=Subject.from_row(rows[c.id], who), score=c.score / 100)
                for c in candidates if c.id in rows]

    @strawberry.field(description="Live relations around a subject, fan-out capped")
    async def associations(
        self, info: Info, id: strawberry.ID, depth: int = 2,
        types: list[RelationType] | None = None, limit: int = 200, as_of: dt.date | None = None,
    ) -> AssociationGraph:
        who = authorize(info, "associations")
        check_depth(info, depth)
        check_limit(info, limit)
        center = await existing(info, str(id))
        svc = services(info)
        cap = int(svc.rules.section("risk")["degree_cap"])
        hood = await in_thread(expand, svc.graph, center["id"], depth,
                               list(types or model.RELATIONS), as_of or dt.date.today(), cap,
                               limit)
        rows = await in_thread(subjects_by_ids, svc.graph, sorted(hood.hops))
        return AssociationGraph(
            center=Subject.from_row(center, who),
            nodes=[Subject.from_row(rows[i], who) for i in sorted(hood.hops) if i in rows],
            edges=[Relation.from_edge(e) for e in hood.edges.values()],
            truncated=hood.truncated, cut_hubs=[strawberry.ID(h) for h in sorted(hood.hubs)],
        )

    @strawberry.field(description="Own and association risk (关联风险) as of a date")
    async def risk_assessment(self, info: Info, id: strawberry.ID, depth: int = 3,
                              as_of: dt.date | None = None) -> RiskAssessment:
        who = authorize(info, "riskAssessment")
        check_depth(info, depth)
        center = await existing(info, str(id))
        svc = services(info)
        day = as_of or dt.date.today()
        result = await in_thread(risk.assess, svc.graph, svc.rules, center["id"], depth, day,
                                 svc.risk_model)
        names = svc.rules.section("domains")["names"]
        return RiskAssessment(
            subject=Subject.from_row(center, who), as_of=day, score=result.score,
            level=RiskLevel(svc.risk_model.level(result.score)),
            own_score=result.own_score, association_score=result.association_score,
            cross_domain=result.cross_domain, cross_region=result.cross_region,
            domains=[DomainRisk(domain=d, name=names.get(d, d), own_risk=round(v["own"], 6),
                                associated_risk=round(v["associated"], 6),
                                signals=int(v["signals"]))
                     for d, v in sorted(result.domains.items(),
                                        key=lambda kv: -(kv[1]["own"] + kv[1]["associated"]))],
            regions=[RegionRisk(region=r, region_name=region_name(r), risk=round(v["risk"], 6),
                                subjects=int(v["subjects"]))
                     for r, v in sorted(result.regions.items(), key=lambda kv: -kv[1]["risk"])],
            contributors=[
                RiskContributor(
                    subject=Subject.from_row(result.subjects[c.subject], who),
                    strength=round(c.strength, 6), risk=round(c.risk, 6),
                    contribution=round(c.contribution, 6),
                    path=path_steps(c.path, result.subjects, who),
                    signals=signals_out(c.signals))
                for c in result.contributors],
            signals=signals_out(result.signals),
            cut_hubs=[strawberry.ID(h) for h in result.cut_hubs], truncated=result.truncated,
        )

    @strawberry.field(description="Beneficial owners (受益所有人) and state owners of a company")
    async def ultimate_owners(self, info: Info, id: strawberry.ID, threshold: float = 0.25,
                              as_of: dt.date | None = None) -> list[BeneficialOwner]:
        who = authorize(info, "ultimateOwners")
        if not 0 < threshold <= 1:
            raise api_error(ErrorCode.BAD_USER_INPUT, "threshold must be above 0 and at most 1")
        center = await existing(info, str(id))
        svc = services(info)
        result = await in_thread(ownership.ultimate_owners, svc.graph, svc.rules, center["id"],
                                 threshold, as_of or dt.date.today())
        out = []
        for owner in result.owners:
            paths = [path_steps(
                [Edge(p.ids[i], p.ids[i + 1], "SHAREHOLDER", p.ratios[i], None, None, None, None)
                 for i in range(len(p.ratios))], result.subjects, who) for p in owner.paths]
            out.append(BeneficialOwner(
                owner=Subject.from_row(result.subjects[owner.id], who),
                share=round(owner.share, 6), basis=owner.basis, paths=paths,
                evidence=owner.evidence))
        return out

