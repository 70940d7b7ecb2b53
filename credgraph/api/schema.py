"""The GraphQL schema (SPEC §9), composed from one query (and mutation) class per analysis.

Resolvers are thin: they check the caller's role and the arguments, run a `credgraph.queries`
function in a worker thread, and shape the answer. A new analysis adds its module here.
"""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from credgraph.api.audit import AuditQuery
from credgraph.api.escalation import EscalationMutation, EscalationQuery
from credgraph.api.integrity import IntegrityQuery
from credgraph.api.investigation import InvestigationQuery, rule_defaults
from credgraph.api.monitoring import MonitoringMutation, MonitoringQuery
from credgraph.api.risk_levels import RiskLevelsQuery
from credgraph.api.sharing import SharingQuery
from credgraph.api.workflow import WorkflowMutation, WorkflowQuery
from credgraph.rules import Rules

QUERIES: tuple[type, ...] = (InvestigationQuery, RiskLevelsQuery, EscalationQuery,
                             IntegrityQuery, MonitoringQuery, WorkflowQuery, AuditQuery,
                             SharingQuery)
MUTATIONS: tuple[type, ...] = (EscalationMutation, MonitoringMutation, WorkflowMutation)

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS) if MUTATIONS else None


def advertise_rule_defaults(schema: strawberry.Schema, rules: Rules) -> None:
    """Set the defaults that come from the rules file on a built schema: the query classes are
    shared by every app, but each app has its own rules and its own built schema. GraphQL then
    fills in the rule's number for a left-out argument, as introspection shows it."""
    query = schema._schema.query_type
    assert query is not None
    for (field, argument), value in rule_defaults(rules).items():
        query.fields[field].args[argument].default_value = value
