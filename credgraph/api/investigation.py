"""The investigator's queries (SPEC §9 core): subject, search, associations, association
risk (关联风险) and beneficial owners (受益所有人)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import (
    ID_ONLY_FIELDS,
    AssociationGraph,
    BeneficialOwner,
    DomainRisk,
    RegionRisk,
    Relation,
    RelationType,
    RiskAssessment,
    RiskContributor,
    RiskLevel,
    Subject,
    SubjectKind,
    SubjectMatch,
    asks_beyond,
    authorize,
    check_depth,
    check_limit,
    existing,
    in_thread,
    keys_for,
    path_steps,
    region_prefix,
    services,
    signals_out,
    today,
)
from credgraph.graph import model
from credgraph.queries import ownership, risk
from credgraph.queries.neighbourhood import explore
from credgraph.queries.subjects import find_subject, subjects_by_ids
from credgraph.rules import Rules
from credgraph.schema.regions import region_name

# SPEC §9's defaults; an explicit null means the default too (the arguments are nullable)
SEARCH_LIMIT = 10
ASSOCIATION_DEPTH = 2
ASSOCIATION_LIMIT = 200
# The shipped rules file's numbers, shown by a schema made straight from these classes;
# `advertise_rule_defaults` puts a deployment's own on the schema each app builds.
SHIPPED_RULES = Rules.load()


def rule_defaults(rules: Rules) -> dict[tuple[str, str], int | float]:
    """(field, argument) → the default the schema advertises for the arguments whose default is
    a rules-file number: SPEC §9's depth 3 and threshold 0.25 with the shipped rules, and a
    deployment's own number when its rules file changes them, so introspection tells the truth.
    The resolvers read the same rule when the argument is null."""
    return {("riskAssessment", "depth"): rules.risk.default_depth,
            ("ultimateOwners", "threshold"): rules.ownership.threshold}


@strawberry.type
class InvestigationQuery:
    @strawberry.field(description="A subject by USCC, raw ID number (hashed on arrival) or key")
    async def subject(self, info: Info, id: strawberry.ID) -> Subject | None:
        who = authorize(info, "subject")
        keys = keys_for(info, str(id))
        row = await in_thread(find_subject, services(info).graph, keys)
        found = Subject.from_row(row, who) if row else None
        audit(info, "subject", [row["id"] if row else keys[0]])
        return found

    @strawberry.field(description="Subjects by name: normalised, full-text candidates re-ranked")
    async def search_subjects(self, info: Info, name: str, kind: SubjectKind | None = None,
                              region: str | None = None,
                              limit: int | None = SEARCH_LIMIT) -> list[SubjectMatch]:
        who = authorize(info, "searchSubjects")
        limit = SEARCH_LIMIT if limit is None else limit
        check_limit(info, limit)
        if not name.strip() or len(name) > 200:
            raise api_error(ErrorCode.BAD_USER_INPUT, "name must have 1 to 200 characters")
        prefix = region_prefix(region)
        svc = services(info)
        candidates = await in_thread(
            lambda: svc.resolver.candidates(name, kind.value if kind else None, limit,
                                            region=prefix))
        rows = await in_thread(subjects_by_ids, svc.graph, [c.id for c in candidates])
        # a full-text hit sharing nothing of the name's core (only a county name) is no match
        matches = [SubjectMatch(subject=Subject.from_row(rows[c.id], who),
                                score=round(c.score / 100, 4))
                   for c in candidates if c.id in rows and c.score > 0]
        audit(info, "searchSubjects", [str(m.subject.id) for m in matches])
        return matches

    @strawberry.field(description="Live relations around a subject, fan-out capped")
    async def associations(
        self, info: Info, id: strawberry.ID, depth: int | None = ASSOCIATION_DEPTH,
        types: list[RelationType] | None = None, limit: int | None = ASSOCIATION_LIMIT,
        as_of: dt.date | None = None,
    ) -> AssociationGraph:
        who = authorize(info, "associations")
        depth = ASSOCIATION_DEPTH if depth is None else depth
        limit = ASSOCIATION_LIMIT if limit is None else limit
        check_depth(info, depth)
        check_limit(info, limit)
        keys = keys_for(info, str(id))
        svc = services(info)
        cap = svc.rules.risk.degree_cap
        # the centre, the hops and — when the answer shows more of them than their ids — every
        # node's summary, in one round trip
        summaries = asks_beyond(info, ("nodes",), ID_ONLY_FIELDS)
        hood = await in_thread(explore, svc.graph, keys, depth,
                               list(types or model.RELATIONS), as_of or today(), cap,
                               limit, summaries)
        if hood is None:
            raise api_error(ErrorCode.NOT_FOUND, "no subject with this id")
        center = hood.subjects[hood.center]
        answer = AssociationGraph(
            center=Subject.from_row(center, who),
            nodes=[Subject.from_row(hood.subjects[i] if summaries else
                                    hood.subjects.get(i, {"id": i}), who)
                   for i in sorted(hood.hops)],
            # in one order whatever the store's: the relations of a node come back in the
            # order its store holds them, which a bulk import and transactional writes of
            # the same rows do not share
            edges=[Relation.from_edge(hood.edges[key]) for key in sorted(hood.edges)],
            truncated=hood.truncated, cut_hubs=[strawberry.ID(h) for h in sorted(hood.hubs)],
        )
        audit(info, "associations", [center["id"]])
        return answer

    @strawberry.field(description="Own and association risk (关联风险) as of a date; depth "
                                  "defaults to the rules file's [risk] default_depth")
    async def risk_assessment(self, info: Info, id: strawberry.ID,
                              depth: int | None = SHIPPED_RULES.risk.default_depth,
                              as_of: dt.date | None = None) -> RiskAssessment:
        who = authorize(info, "riskAssessment")
        svc = services(info)
        hops = depth if depth is not None else svc.rules.risk.default_depth
        check_depth(info, hops)
        center = await existing(info, str(id))
        day = as_of or today()
        result = await in_thread(risk.assess, svc.graph, svc.rules, center["id"], hops, day,
                                 svc.risk_model)
        answer = RiskAssessment(
            subject=Subject.from_row(center, who), as_of=day, score=result.score,
            level=RiskLevel(svc.risk_model.level(result.score)),
            own_score=result.own_score, association_score=result.association_score,
            cross_domain=result.cross_domain, cross_region=result.cross_region,
            domains=[DomainRisk(domain=d.domain, name=d.name, own_risk=round(d.own, 6),
                                associated_risk=round(d.associated, 6), signals=d.signals)
                     for d in result.ranked_domains(svc.rules)],
            regions=[RegionRisk(region=r.region, region_name=region_name(r.region),
                                risk=round(r.risk, 6), subjects=r.subjects)
                     for r in result.ranked_regions()],
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
        audit(info, "riskAssessment", [center["id"]])
        return answer

    @strawberry.field(description="Beneficial owners (受益所有人) and state owners of a company; "
                                  "threshold defaults to the rules file's [ownership] threshold")
    async def ultimate_owners(self, info: Info, id: strawberry.ID,
                              threshold: float | None = SHIPPED_RULES.ownership.threshold,
                              as_of: dt.date | None = None) -> list[BeneficialOwner]:
        who = authorize(info, "ultimateOwners")
        svc = services(info)
        share = threshold if threshold is not None else svc.rules.ownership.threshold
        if not 0 < share <= 1:
            raise api_error(ErrorCode.BAD_USER_INPUT, "threshold must be above 0 and at most 1")
        center = await existing(info, str(id))
        result = await in_thread(ownership.ultimate_owners, svc.graph, svc.rules, center["id"],
                                 share, as_of or today())
        owners = [BeneficialOwner(
            owner=Subject.from_row(result.subjects[owner.id], who),
            share=round(owner.share, 6), basis=owner.basis,
            paths=[path_steps(p.edges(), result.subjects, who) for p in owner.paths],
            evidence=owner.evidence) for owner in result.owners]
        audit(info, "ultimateOwners", [center["id"]])
        return owners
