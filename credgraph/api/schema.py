"""The GraphQL schema (SPEC §9), composed from one query (and mutation) class per analysis.

Resolvers are thin: they check the caller's role and the arguments, run a `credgraph.queries`
function in a worker thread, and shape the answer. A new analysis adds its module here.
"""

from __future__ import annotations

from strawberry.tools import merge_types

from credgraph.api.investigation import InvestigationQuery
from credgraph.api.sharing import SharingQuery

QUERIES: tuple[type, ...] = (InvestigationQuery, SharingQuery)
MUTATIONS: tuple[type, ...] = ()

Query = merge_types("Query", QUERIES)
Mutation = merge_types("Mutation", MUTATIONS) if MUTATIONS else None
