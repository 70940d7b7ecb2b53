"""Government integrity (政务诚信) in the API (SPEC §9): `integrityReport`,
`conflictsOfInterest`, `procurementCheck`, and the county roll-up `countyIntegrity`."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.auth import PII_ROLES, Principal
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import (
    CreditRecord,
    PathStep,
    Subject,
    asks_beyond,
    authorize,
    existing,
    in_thread,
    keys_for,
    path_steps,
    region_prefix,
    services,
    today,
)
from credgraph.graph.model import INTEGRITY_PATTERN_ZH, IntegrityPattern, Label
from credgraph.queries import integrity
from credgraph.schema.regions import region_name


@strawberry.type(description="How many findings of one pattern, and the points they cost")
class PatternCount:
    pattern: str
    title: str
    count: int
    deduction: int


@strawberry.type(description="One 政务诚信 finding with its evidence: the relations (path, "
                             "agency side first) and the records that make it a finding")
class IntegrityFinding:
    pattern: str
    title: str
    severity: str
    summary: str
    path: list[PathStep]
    evidence: list[str]
    records: list[CreditRecord]
    agency: Subject
    subject: Subject | None
    official: Subject | None
    date: dt.date | None
    deduction: int
    key: str


@strawberry.type(description="An agency's integrity: score = base − deductions (never below "
                             "0), findings worst first")
class AgencyIntegrity:
    agency: Subject
    score: int
    rank: int
    deductions: int
    counts: list[PatternCount]
    findings: list[IntegrityFinding]


@strawberry.type(description="A county's (or the city's own agencies') roll-up, worst first")
class CountyIntegrity:
    region: str
    region_name: str | None
    score: int
    rank: int
    deductions: int
    agency_count: int
    flagged_agencies: int
    finding_count: int
    counts: list[PatternCount]
    agencies: list[AgencyIntegrity]


@strawberry.type(description="信用+审批 前置核查: allowed unless a reason bars the supplier")
class ProcurementCheck:
    supplier: Subject
    allowed: bool
    reasons: list[str]
    warnings: list[str]
    records: list[CreditRecord]
    as_of: dt.date


async def _agency(info: Info, value: strawberry.ID | None) -> str | None:
    if value is None:
        return None
    row = await existing(info, str(value))
    if Label.AGENCY.value not in row.get("labels", []):
        raise api_error(ErrorCode.BAD_USER_INPUT,
                        f"{row['id']} is not an agency (机关) but {row.get('kind') or 'a subject'}"
                        ": give an agency's USCC (its second character is 1)")
    return str(row["id"])


async def _official(info: Info, value: strawberry.ID | None) -> str | None:
    if value is None:
        return None
    row = await existing(info, str(value))
    if Label.NATURAL_PERSON.value not in row.get("labels", []):
        raise api_error(ErrorCode.BAD_USER_INPUT,
                        f"{row['id']} is not a natural person, so not an official")
    if not await in_thread(integrity.has_served, services(info).graph, str(row["id"])):
        raise api_error(ErrorCode.BAD_USER_INPUT,
                        f"{row['id']} has never served in an agency (no 任职 on record)")
    return str(row["id"])


def _counts(findings: list[integrity.Finding]) -> list[PatternCount]:
    counts: dict[IntegrityPattern, list[int]] = {}
    for finding in findings:
        entry = counts.setdefault(finding.pattern, [0, 0])
        entry[0] += 1
        entry[1] += finding.weight
    return [PatternCount(pattern=p.value, title=INTEGRITY_PATTERN_ZH[p], count=c, deduction=d)
            for p, (c, d) in sorted(counts.items())]


# An agency's fields but its findings: an answer asking only for these shows no person, so
# none is recorded as revealed (a field added later counts as showing findings: errs to audit).
WITHOUT_FINDINGS = frozenset({"__typename", "agency", "score", "rank", "deductions", "counts"})


class Shaper:
    """Turns findings into GraphQL objects for one caller (names masked as the role says);
    without `findings`, an agency's findings are left out — the answer does not ask for them,
    and shaping them would record their persons as shown."""

    def __init__(self, subjects: dict[str, dict[str, Any]], who: Principal,
                 findings: bool = True) -> None:
        self.subjects = subjects
        self.who = who
        self.findings = findings
        self.name = integrity.names(subjects, who.role not in PII_ROLES)

    def subject(self, sid: str | None) -> Subject | None:
        if sid is None:
            return None
        return Subject.from_row(self.subjects.get(sid) or {"id": sid, "kind": "OTHER_ORG"},
                                self.who)

    def finding(self, f: integrity.Finding) -> IntegrityFinding:
        agency = self.subject(f.agency)
        assert agency is not None
        return IntegrityFinding(
            pattern=f.pattern.value, title=f.title, severity=f.severity.value,
            summary=f.summary(self.name), path=path_steps(f.path, self.subjects, self.who),
            evidence=f.evidence(self.name),
            records=[CreditRecord.from_row(r) for r in f.records], agency=agency,
            subject=self.subject(f.subject), official=self.subject(f.official), date=f.date,
            deduction=f.weight, key=f.key)

    def agency(self, score: integrity.AgencyScore) -> AgencyIntegrity:
        agency = self.subject(score.agency)
        assert agency is not None
        return AgencyIntegrity(agency=agency, score=score.score, rank=score.rank,
                               deductions=score.deductions, counts=_counts(score.findings),
                               findings=[self.finding(f) for f in score.findings]
                               if self.findings else [])

    def county(self, county: integrity.CountyScore) -> CountyIntegrity:
        findings = county.findings
        return CountyIntegrity(
            region=county.region, region_name=region_name(county.region), score=county.score,
            rank=county.rank, deductions=county.deductions, agency_count=len(county.agencies),
            flagged_agencies=sum(1 for a in county.agencies if a.findings),
            finding_count=len(findings), counts=_counts(findings),
            agencies=[self.agency(a) for a in county.agencies])


@strawberry.type
class IntegrityQuery:
    @strawberry.field(description="政务诚信: every agency in scope with its G1–G5 findings and "
                                  "score, worst first; region is a division-code prefix")
    async def integrity_report(self, info: Info, agency: strawberry.ID | None = None,
                               region: str | None = None,
                               as_of: dt.date | None = None) -> list[AgencyIntegrity]:
        who = authorize(info, "integrityReport")
        prefix = region_prefix(region)
        key = await _agency(info, agency)
        svc = services(info)
        report = await in_thread(integrity.integrity_report, svc.graph, svc.rules,
                                 as_of or today(), key, prefix)
        shaper = Shaper(report.subjects, who, asks_beyond(info, (), WITHOUT_FINDINGS))
        # the agencies listed, and the legal persons their findings name
        listed = [a.agency for a in report.agencies]
        audit(info, "integrityReport", [*listed, *integrity.organisations_named(
            (f for a in report.agencies for f in a.findings), report.subjects)])
        return [shaper.agency(a) for a in report.agencies]

    @strawberry.field(description="The integrity report rolled up per county (an agency "
                                  "counts in its own region's code), worst first")
    async def county_integrity(self, info: Info, region: str | None = None,
                               as_of: dt.date | None = None) -> list[CountyIntegrity]:
        who = authorize(info, "countyIntegrity")
        prefix = region_prefix(region)
        svc = services(info)
        report = await in_thread(integrity.integrity_report, svc.graph, svc.rules,
                                 as_of or today(), None, prefix)
        shaper = Shaper(report.subjects, who,
                        asks_beyond(info, ("agencies",), WITHOUT_FINDINGS))
        audit(info, "countyIntegrity", [
            *(a.agency for c in report.counties for a in c.agencies),
            *integrity.organisations_named(
                (f for a in report.agencies for f in a.findings), report.subjects)])
        return [shaper.county(c) for c in report.counties]

    @strawberry.field(description="G3 利益冲突 for an agency, an official (USCC / ID number / "
                                  "key), both, or the whole city; relations live at signing")
    async def conflicts_of_interest(self, info: Info, agency: strawberry.ID | None = None,
                                    official: strawberry.ID | None = None,
                                    as_of: dt.date | None = None) -> list[IntegrityFinding]:
        who = authorize(info, "conflictsOfInterest")
        agency_key = await _agency(info, agency)
        official_key = await _official(info, official)
        svc = services(info)
        tracer = integrity.Tracer(svc.graph, svc.rules)
        found = await in_thread(tracer.conflicts, as_of or today(), agency_key,
                                official_key)
        shaper = Shaper(found.subjects, who)
        audit(info, "conflictsOfInterest", [
            *(k for k in (agency_key, official_key) if k),
            *integrity.organisations_named(found.findings, found.subjects)])
        return [shaper.finding(f) for f in found.findings]

    @strawberry.field(description="信用+审批 前置核查 before an award: allowed false with one "
                                  "reason per restriction; warnings do not bar")
    async def procurement_check(self, info: Info, supplier: strawberry.ID,
                                as_of: dt.date | None = None) -> ProcurementCheck:
        who = authorize(info, "procurementCheck")
        svc = services(info)
        day = as_of or today()
        result = await in_thread(integrity.procurement_check, svc.graph, svc.rules,
                                 keys_for(info, str(supplier)), day, who.role not in PII_ROLES)
        if result is None:
            raise api_error(ErrorCode.NOT_FOUND, "no subject with this id")
        audit(info, "procurementCheck", [result.supplier["id"], *result.named])
        return ProcurementCheck(
            supplier=Subject.from_row(result.supplier, who), allowed=result.allowed,
            reasons=result.reasons, warnings=result.warnings,
            records=[CreditRecord.from_row(r) for r in result.records], as_of=day)
