"""`riskLevels`: the own risk level of many subjects in one call (the desk colours its nodes
with it)."""

from __future__ import annotations

import datetime as dt

import strawberry
from strawberry.types import Info

from credgraph.api.audit import audit
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import RiskLevel, authorize, in_thread, keys_for, services, today
from credgraph.queries.risk_levels import own_risks


@strawberry.type(description="A subject's own risk: its own records only, no associations")
class SubjectRiskLevel:
    id: strawberry.ID
    score: int
    level: RiskLevel
    signals: int


@strawberry.type
class RiskLevelsQuery:
    @strawberry.field(description="Own risk score and level (自身风险) of up to "
                                  "[limits] max_batch_ids subjects; unknown ids are left out")
    async def risk_levels(self, info: Info, ids: list[strawberry.ID],
                          as_of: dt.date | None = None) -> list[SubjectRiskLevel]:
        authorize(info, "riskLevels")
        svc = services(info)
        maximum = svc.rules.limits.max_batch_ids
        if len(ids) > maximum:
            raise api_error(ErrorCode.LIMIT_EXCEEDED,
                            f"{len(ids)} ids are above the maximum of {maximum}")
        keys = [key for value in ids for key in keys_for(info, str(value))]
        found = await in_thread(own_risks, svc.graph, svc.risk_model, keys,
                                as_of or today())
        audit(info, "riskLevels", [r.id for r in found])
        return [SubjectRiskLevel(id=strawberry.ID(r.id), score=r.score, level=RiskLevel(r.level),
                                 signals=r.signals) for r in found]
