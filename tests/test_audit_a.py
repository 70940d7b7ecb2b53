"""Findings of an independent audit against SPEC §8/§9 on a hand-built city: each test names
what the answer must be, computed by hand."""

from __future__ import annotations

from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import RELATIONS
from credgraph.queries.neighbourhood import expand
from tests.conftest import Api
from tests.graphs import AS_OF, relate, subject

ALL = list(RELATIONS)


S = "91371402MA3C00001A"


def star(graph: Graph, centre: str = "C") -> None:
    """C — A, C — B; A — X0 … X3; B — Y: seven relations within two hops of C, of which the
    two at hop 1 are seen again (from A and from B) at hop 2."""
    for sid in (centre, "A", "B", "Y"):
        subject(graph, sid, f"公司{sid}")
    relate(graph, "A", centre, "SHAREHOLDER", ratio=0.5)
    relate(graph, "B", centre, "BRANCH_OF")
    relate(graph, "Y", "B", "SHAREHOLDER", ratio=0.1)
    for index in range(4):
        subject(graph, f"X{index}", f"子公司{index}")
        relate(graph, "A", f"X{index}", "SHAREHOLDER", ratio=0.2)


def test_budget_counts_distinct_relations_not_rows(graph: Graph) -> None:
    """An edge seen again from the far side is one relation: it must not use up the budget
    (`associations(limit:)` caps the relations returned, SPEC §9)."""
    star(graph)
    exact = expand(graph, "C", 2, ALL, AS_OF, 10, 7)
    assert len(exact.edges) == 7 and not exact.truncated
    short = expand(graph, "C", 2, ALL, AS_OF, 10, 6)
    assert len(short.edges) == 6 and short.truncated
    assert len(short.hops) == 7  # C, A, B and four of X0 … X3, Y


def _associations(api: Api, limit: int) -> Any:
    body = api.query("""query($id: ID!, $l: Int) { associations(id: $id, depth: 2, limit: $l)
        { truncated edges { source target type } } }""", id=S, l=limit)
    assert "errors" not in body, body
    return body["data"]["associations"]  # type: ignore[index]


def test_associations_limit_equal_to_the_relations(graph: Graph, api: Api) -> None:
    star(graph, S)
    everything = _associations(api, 7)
    assert len(everything["edges"]) == 7 and not everything["truncated"]
    capped = _associations(api, 6)
    assert len(capped["edges"]) == 6 and capped["truncated"]
