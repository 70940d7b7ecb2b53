"""Bounded expansion of a subject's live relations, every hop in one Cypher statement.

Each hop starts from indexed `Subject.id` lookups, keeps only relations live at `asOf`, and
never expands a node with more live relations than the cap (a hub, such as a registration
agent shared by hundreds of companies): the hub is reached, reported as cut, and not traversed.

The hops run inside one statement — one round trip however deep, where one query per hop cost
a round trip (about 1 ms on the benchmark machine) each — and the statement applies the same
rules as the Python loop that reads its answer: the edge budget left before each hop, the first
reach of a node, the hub test. The budget counts distinct relations: a relation seen again from
its far side (every edge back to the previous hop, or between two nodes of one hop) is returned
for the paths but spends nothing, so `associations(limit: n)` answers n relations when there
are n or more. A relation is counted as the answer shows it, by its ends, type and start: a
shared phone and a shared address of one pair are one SHARES_CONTACT edge. A hop reads at most
4 × (budget + 1) rows, enough to tell whether more than the budget left is there: a pair holds
one such relation twice at most (phone and address), a relation already counted shows from one
end only (the other was expanded before), a new one from both ends at most.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace
from functools import cache
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import RELATIONS, RISK_RELATIONS, RelationType, types_pattern
from credgraph.queries.fragments import live
from credgraph.queries.subjects import SUBJECT_SUMMARY

# A hub is judged by its relations to other subjects only: an agency that issued a hundred
# thousand penalties is not a hub for that (answered from the degree store, no expansion).
_SUBJECT_RELATIONS = types_pattern(RISK_RELATIONS)
# Every declared relation type in the pattern (records and workflow links never scanned);
# the caller's choice among them is the $types filter.
_DECLARED = types_pattern(list(RELATIONS))


def live_hub(node: str) -> str:
    """Whether a node has more subject relations live at $asOf than the cap (a hub). Its
    relations of every kind are counted first, one read, where each subject relation type is
    a read of its own: at or under the cap it is no hub, and most nodes end there. Above it,
    its subject relations from the degree store, then — only when those are over the cap too —
    the live ones one by one: an ended relation makes no hub (SPEC §4: it carries nothing at
    a later date)."""
    return (f"CASE WHEN COUNT {{ ({node})--() }} <= $cap THEN false"
            f" WHEN COUNT {{ ({node})-[:{_SUBJECT_RELATIONS}]-() }} <= $cap THEN false"
            f" ELSE COUNT {{ ({node})-[d:{_SUBJECT_RELATIONS}]-() WHERE {live('d')} }} > $cap END")


@cache
def statement(depth: int, summaries: bool) -> str:
    """The expansion `depth` hops deep: the centre (the first of $keys that exists), whether
    it is a hub, and for each hop the rows read (`rows`, at most the budget left) and whether
    more were there (`over`). With `summaries`, `nodes` holds the summary of every subject a
    hop read (a superset of those kept): taken from the nodes the hops hold, where looking
    each kept id up again cost an index seek per node."""
    reached = ", [] AS reached" if summaries else ""
    nodes = f"""
CALL (reached) {{
  UNWIND reached AS s
  WITH DISTINCT s
  RETURN collect(s {{{SUBJECT_SUMMARY}}}) AS nodes
}}""" if summaries else ", [] AS nodes"
    return f"""
UNWIND $keys AS key
MATCH (s:Subject {{id: key}})
WITH s LIMIT 1
WITH s AS c, s {{{SUBJECT_SUMMARY}}} AS centre,
     {live_hub("s")} AS hub
WITH c, centre, hub, [] AS steps, [c.id] AS seen, [] AS keys, [c.id] AS frontier{reached}
{"".join(_hop(hop == depth, summaries) for hop in range(1, depth + 1))}{nodes}
RETURN centre, hub, steps, nodes
"""


def _hop(last: bool, summaries: bool) -> str:
    """One hop of `statement`; the last needs neither the edges counted nor a frontier. The
    hub test runs once per node the hop reaches, not once per relation reaching it: a hop
    back to a person who represents 3,000 companies reached them 3,000 times, and each test
    read the person's 3,000 relations."""
    follow = "" if last else """,
         collect(DISTINCT CASE WHEN NOT x.target IN seen AND NOT x.hub
                               THEN x.target END) AS frontier"""
    count = "" if last else """
CALL (keys, rows) {
  UNWIND keys + [x IN rows | x.key] AS key
  RETURN collect(DISTINCT key) AS counted
}"""
    kept = "keys, [] AS frontier" if last else "counted AS keys, frontier"
    near = ", collect(s) AS near" if summaries else ""
    carried = ", reached + near AS reached" if summaries else ""
    reached = ", reached" if summaries else ""
    return f"""
WITH c, centre, hub, steps, seen, keys{reached},
     CASE WHEN $budget > size(keys) THEN frontier ELSE [] END AS frontier
CALL (frontier) {{
  UNWIND frontier AS fid
  MATCH (f:Subject {{id: fid}})-[r:{_DECLARED}]-(s:Subject)
  WHERE type(r) IN $types AND {live("r")}
  WITH f, r, s LIMIT 4 * $limit
  WITH s, collect([f, r]) AS reaching
  WITH s, reaching, {live_hub("s")} AS is_hub
  UNWIND reaching AS pair
  WITH pair[0] AS f, pair[1] AS r, s, is_hub
  WITH f.id AS source, r, s, s.id AS target, startNode(r) = f AS outgoing, is_hub
  RETURN collect({{source: source, target: target, type: type(r), ratio: r.ratio,
                  role: r.role, kind: r.kind, via: r.via, start: r.start, end: r.end,
                  outgoing: outgoing,
                  key: CASE WHEN outgoing THEN source + '|' + target ELSE target + '|' + source
                       END + '|' + type(r) + '|' + coalesce(toString(r.start), ''),
                  hub: is_hub}}) AS found{near}
}}
WITH c, centre, hub, steps, seen, keys, found{carried}, $budget - size(keys) AS budget
CALL (found, keys) {{
  UNWIND found AS x
  WITH x WHERE NOT x.key IN keys
  RETURN collect(DISTINCT x.key) AS fresh
}}
WITH c, centre, hub, steps, seen, keys, found{reached},
     CASE WHEN budget > 0 THEN fresh[..budget] ELSE [] END AS allowed,
     size(fresh) > budget AS over
WITH c, centre, hub, steps, seen, keys, over{reached},
     [x IN found WHERE x.key IN keys OR x.key IN allowed] AS rows
CALL (rows, seen) {{
  UNWIND rows AS x
  RETURN collect(DISTINCT CASE WHEN NOT x.target IN seen THEN x.target END) AS fresh{follow}
}}{count}
WITH c, centre, hub, steps + [{{rows: rows, over: over}}] AS steps, seen + fresh AS seen{reached},
     {kept}"""


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
    via: str | None = None  # a SHARES_CONTACT's: phone, address, or both (address,phone)


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
    # id -> summary (SUBJECT_SUMMARY) of the centre, and of every node reached when asked for
    subjects: dict[str, dict[str, Any]] = field(default_factory=dict)


def warm_up(graph: Graph, max_depth: int, types: list[RelationType]) -> None:
    """Plan every expansion statement before a request needs it: a cold server takes seconds
    to plan the chained subqueries, inside the first request's time limit. The parameters
    have the types of a real call (plans are cached per query and parameter types)."""
    for depth in range(1, max_depth + 1):
        for summaries in (False, True):
            graph.read(statement(depth, summaries),
                       parameters(["warm-up"], types, dt.date.today(), 1, 1), timeout=120)


def parameters(keys: list[str], types: list[RelationType], as_of: dt.date, degree_cap: int,
               edge_budget: int) -> dict[str, Any]:
    """What `statement` is run with (a hop reads at most the budget plus one, to tell
    whether more was there)."""
    return {"keys": keys, "types": [t.value for t in types], "asOf": as_of, "cap": degree_cap,
            "budget": edge_budget, "limit": edge_budget + 1}


def as_date(value: object) -> dt.date | None:
    if value is None:
        return None
    to_native = getattr(value, "to_native", None)
    return to_native() if to_native else value  # type: ignore[return-value]


def expand(graph: Graph, center: str, depth: int, types: list[RelationType], as_of: dt.date,
           degree_cap: int, edge_budget: int) -> Neighbourhood:
    """Breadth-first over live relations; `edge_budget` caps the edges read in total."""
    found = explore(graph, [center], depth, types, as_of, degree_cap, edge_budget)
    return found or Neighbourhood(center, depth, hops={center: 0})


def explore(graph: Graph, keys: list[str], depth: int, types: list[RelationType],
            as_of: dt.date, degree_cap: int, edge_budget: int,
            summaries: bool = False) -> Neighbourhood | None:
    """`expand` around the first of `keys` that names a subject (None if none does), in one
    round trip; `subjects` holds what an answer shows of the centre and, with `summaries`, of
    every node."""
    answer = graph.read(statement(depth, summaries),
                        parameters(keys, types, as_of, degree_cap, edge_budget))
    if not answer:
        return None
    centre = answer[0]["centre"]
    center = centre["id"]
    hood = Neighbourhood(center, depth, hops={center: 0})
    if answer[0]["hub"]:
        hood.hubs.add(center)
    frontier = [center]
    for hop, step in enumerate(answer[0]["steps"], start=1):
        if not frontier:
            break
        budget = edge_budget - len(hood.edges)
        if budget <= 0:
            hood.truncated = True
            break
        if step["over"]:
            hood.truncated = True
        next_frontier: list[str] = []
        for row in step["rows"]:
            source, target = row["source"], row["target"]
            start_id, end_id = (source, target) if row["outgoing"] else (target, source)
            edge = Edge(start_id, end_id, row["type"], row["ratio"], row["role"], row["kind"],
                        as_date(row["start"]), as_date(row["end"]), row["via"])
            key = (start_id, end_id, edge.type, str(edge.start))
            if (seen := hood.edges.get(key)) and seen.via and edge.via and seen.via != edge.via:
                # a pair sharing a phone and an address: one edge, saying both
                edge = replace(edge, via=",".join(sorted({*seen.via.split(","), edge.via})))
            hood.edges[key] = edge
            hood.adjacency.setdefault(source, []).append((target, edge))
            if target not in hood.hops:
                hood.hops[target] = hop
                if row["hub"]:
                    # named either way (the desk marks it), but only a hub short of the
                    # depth leaves relations out that the walk would have followed
                    hood.hubs.add(target)
                    hood.truncated = hood.truncated or hop < depth
                else:
                    next_frontier.append(target)
        frontier = next_frontier
    # a pair sharing a phone and an address was read as two relations: every path through it
    # (a contributor's in riskAssessment) shows the one edge saying both, as `edges` does
    for node, pairs in hood.adjacency.items():
        hood.adjacency[node] = [
            (target, hood.edges[(e.source, e.target, e.type, str(e.start))])
            for target, e in pairs]
    if summaries:
        hood.subjects = {row["id"]: row for row in answer[0]["nodes"] if row["id"] in hood.hops}
    hood.subjects[center] = centre
    return hood
