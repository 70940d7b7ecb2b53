"""Bounded expansion of a subject's live relations, one Cypher query per hop.

Each hop starts from indexed `Subject.id` lookups, keeps only relations live at `asOf`, and
never expands a node whose degree exceeds the cap (a hub, such as a registration agent shared
by hundreds of companies): the hub is reached, reported as cut, and not traversed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from credgraph.graph.driver import Graph
from credgraph.graph.model import RISK_RELATIONS, RelationType, types_pattern
from credgraph.queries.fragments import live

# A hub is judged by its relations to other subjects only: an agency that issued a hundred
# thousand penalties is not a hub for that (answered from the degree store, no expansion).
_SUBJECT_RELATIONS = types_pattern(RISK_RELATIONS)

HOP = f"""
UNWIND $frontier AS fid
MATCH (f:Subject {{id: fid}})-[r]-(n:Subject)
WHERE type(r) IN $types AND {live("r")}
WITH f, r, n LIMIT $budget
RETURN collect({{source: f.id, target: n.id, type: type(r), ratio: r.ratio, role: r.role,
                kind: r.kind, start: r.start, end: r.end, outgoing: startNode(r) = f,
                degree: COUNT {{ (n)-[:{_SUBJECT_RELATIONS}]-() }}}}) AS rows
"""

DEGREE = f"""
MATCH (s:Subject {{id: $id}}) RETURN COUNT {{ (s)-[:{_SUBJECT_RELATIONS}]-() }} AS degree
"""


@dataclass(frozen=True)
class Edge:
    source: str  # as stored: the relation's start node
    target: str
    type: str
    ratio: float | None
    role: str | None
    kind: str | None
    start: dt.date | None
    end: dt.date | None


@dataclass
class Neighbourhood:
    center: str
    depth: int
    # node id -> hop count at which it was first reached
    hops: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple[str, str, str, str], Edge] = field(default_factory=dict)
    # adjacency seen from the expanded node: node -> [(neighbour, edge)]
    adjacency: dict[str, list[tuple[str, Edge]]] = field(default_factory=dict)
    hubs: set[str] = field(default_factory=set)
    truncated: bool = False


def as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value  # type: ignore[return-value]


def expand(graph: Graph, center: str, depth: int, types: list[RelationType], as_of: dt.date,
           degree_cap: int, edge_budget: int) -> Neighbourhood:
    """Breadth-first over live relations; `edge_budget` caps the edges read in total."""
    hood = Neighbourhood(center, depth, hops={center: 0})
    type_names = [t.value for t in types]
    frontier = [center]
    center_degree = graph.read(DEGREE, {"id": center})
    if center_degree and center_degree[0]["degree"] > degree_cap:
        hood.hubs.add(center)
    for hop in range(1, depth + 1):
        if not frontier:
            break
        budget = edge_budget - len(hood.edges)
        if budget <= 0:
            hood.truncated = True
            break
        rows = graph.read_rows(HOP, {"frontier": frontier, "types": type_names,
                                "asOf": as_of, "budget": budget + 1})
        if len(rows) > budget:
            hood.truncated = True
            rows = rows[:budget]
        next_frontier: list[str] = []
        for row in rows:
            source, target = row["source"], row["target"]
            start_id, end_id = (source, target) if row["outgoing"] else (target, source)
            edge = Edge(start_id, end_id, row["type"], row["ratio"], row["role"], row["kind"],
                        as_date(row["start"]), as_date(row["end"]))
            key = (start_id, end_id, edge.type, str(edge.start))
            hood.edges[key] = edge
            hood.adjacency.setdefault(source, []).append((target, edge))
            if target not in hood.hops:
                hood.hops[target] = hop
                if row["degree"] > degree_cap:
                    hood.hubs.add(target)
                    hood.truncated = True
                else:
                    next_frontier.append(target)
        frontier = next_frontier
    return hood
