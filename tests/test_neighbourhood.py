"""The bounded expansion, every hop in one statement: the edge budget left before each hop,
the first reach of a node, hubs reached but not expanded, live-at-date relations."""

from __future__ import annotations

import datetime as dt

from credgraph.graph.driver import Graph
from credgraph.graph.model import RELATIONS, RelationType
from credgraph.queries.neighbourhood import expand, explore, parameters, statement
from tests.graphs import AS_OF, relate, subject

ALL = list(RELATIONS)


def chain(graph: Graph) -> None:
    """C — A — {X0 … X3} and C — B — Y; A has 5 subject relations, C 4, B 2; an ended
    shareholding C — E; a relation C — F that starts after AS_OF."""
    for sid in ("C", "A", "B", "Y", "E", "F"):
        subject(graph, sid, f"公司{sid}")
    relate(graph, "A", "C", "SHAREHOLDER", ratio=0.5)
    relate(graph, "B", "C", "BRANCH_OF")
    relate(graph, "Y", "B", "SHAREHOLDER", ratio=0.1)
    relate(graph, "E", "C", "SHAREHOLDER", ratio=0.3, end=dt.date(2025, 1, 1))
    relate(graph, "F", "C", "SHAREHOLDER", ratio=0.3, start=dt.date(2027, 1, 1))
    for index in range(4):
        subject(graph, f"X{index}", f"子公司{index}")
        relate(graph, "A", f"X{index}", "SHAREHOLDER", ratio=0.2)


def test_two_hops_live_only(graph: Graph) -> None:
    chain(graph)
    hood = expand(graph, "C", 2, ALL, AS_OF, 10, 200)
    assert hood.hops == {"C": 0, "A": 1, "B": 1, "Y": 2, "X0": 2, "X1": 2, "X2": 2, "X3": 2}
    assert len(hood.edges) == 7 and not hood.truncated and hood.hubs == set()
    assert hood.edges[("A", "C", "SHAREHOLDER", "None")].ratio == 0.5
    # the edge back to the centre, seen again from A and B, is one edge
    assert {target for target, _ in hood.adjacency["A"]} == {"C", "X0", "X1", "X2", "X3"}


def test_a_relation_holds_on_its_start_and_end_days(graph: Graph) -> None:
    """SPEC §4: an end in the past carries nothing at a later date — on the end day itself the
    relation still holds (its last day, as a licence's 有效期至), from the next day it does not;
    the start day is its first."""
    chain(graph)
    ended, begun = dt.date(2025, 1, 1), dt.date(2027, 1, 1)
    assert "E" in expand(graph, "C", 1, ALL, ended, 10, 200).hops
    assert "E" not in expand(graph, "C", 1, ALL, ended + dt.timedelta(days=1), 10, 200).hops
    assert "F" in expand(graph, "C", 1, ALL, begun, 10, 200).hops
    assert "F" not in expand(graph, "C", 1, ALL, begun - dt.timedelta(days=1), 10, 200).hops


def test_hub_reached_not_expanded(graph: Graph) -> None:
    chain(graph)
    hood = expand(graph, "C", 2, ALL, AS_OF, 4, 200)
    assert hood.hubs == {"A"} and hood.truncated
    assert set(hood.hops) == {"C", "A", "B", "Y"}


def test_hub_at_the_last_hop_cuts_nothing(graph: Graph) -> None:
    """One hop from C, the hub A is named but nothing was left out: its relations lie beyond
    the depth asked for, so the walk is whole (`truncated` false)."""
    chain(graph)
    hood = expand(graph, "C", 1, ALL, AS_OF, 4, 200)
    assert hood.hubs == {"A"} and not hood.truncated
    assert hood.hops == {"C": 0, "A": 1, "B": 1}


def test_ended_relations_make_no_hub(graph: Graph) -> None:
    """A has 5 live relations; two more that ended, or start later, do not make it a hub at a
    cap of 5 — the degree store counts 7 — but do at a date when they were live."""
    chain(graph)
    subject(graph, "G", "公司G")
    relate(graph, "A", "G", "SHAREHOLDER", ratio=0.1, end=dt.date(2025, 1, 1))
    relate(graph, "A", "F", "SHAREHOLDER", ratio=0.1, start=dt.date(2027, 1, 1))
    hood = expand(graph, "C", 2, ALL, AS_OF, 5, 200)
    assert hood.hubs == set() and not hood.truncated
    assert {"X0", "X1", "X2", "X3"} <= set(hood.hops) and "G" not in hood.hops
    earlier = expand(graph, "C", 2, ALL, dt.date(2024, 6, 1), 5, 200)
    assert earlier.hubs == {"A"} and earlier.truncated


def test_budget_spent_in_the_first_hop(graph: Graph) -> None:
    chain(graph)
    exact = expand(graph, "C", 2, ALL, AS_OF, 10, 2)
    # two edges fit the budget exactly: nothing more was there at hop 1, hop 2 never runs
    assert len(exact.edges) == 2 and exact.truncated
    assert set(exact.hops) == {"C", "A", "B"}
    # at most two more edges at hop 2, of seven there (an edge back to C counts once)
    short = expand(graph, "C", 2, ALL, AS_OF, 10, 4)
    assert 2 <= len(short.edges) <= 4 and short.truncated


def test_types_and_summaries(graph: Graph) -> None:
    chain(graph)
    hood = explore(graph, ["nobody", "C"], 2, [RelationType.BRANCH_OF], AS_OF, 10, 200,
                   summaries=True)
    assert hood is not None and hood.center == "C"
    assert set(hood.hops) == {"C", "B"}
    assert hood.subjects["B"]["name"] == "公司B" and hood.subjects["C"]["kind"] == "ENTERPRISE"
    assert explore(graph, ["nobody"], 1, ALL, AS_OF, 10, 200) is None


def test_summaries_are_those_of_the_nodes_reached(graph: Graph) -> None:
    """A hop reads more rows than a cut budget keeps, and the summaries are taken from what
    it read: the answer holds the summary of each node reached — a node read but cut, a
    hub's far side, an ended relation's end hold none."""
    chain(graph)
    for depth, cap, budget in ((2, 10, 200), (2, 10, 4), (2, 4, 200), (1, 10, 1), (3, 10, 6)):
        hood = explore(graph, ["C"], depth, ALL, AS_OF, cap, budget, summaries=True)
        assert hood is not None
        assert set(hood.subjects) == set(hood.hops), (depth, cap, budget)
        assert all(hood.subjects[sid]["id"] == sid for sid in hood.hops)
    cut = explore(graph, ["C"], 2, ALL, AS_OF, 10, 4, summaries=True)
    assert cut is not None and cut.truncated and len(cut.hops) < 8
    assert not {"E", "F"} & set(cut.subjects)


def test_budget_counts_relations_not_rows(graph: Graph) -> None:
    """A relation seen again from its far side (the edge back to the previous hop) is one
    relation: it spends no budget, so a budget of exactly the neighbourhood's seven live
    relations reads all of them, untruncated, and one fewer reads six."""
    chain(graph)
    exact = expand(graph, "C", 2, ALL, AS_OF, 10, 7)
    assert len(exact.edges) == 7 and not exact.truncated
    short = expand(graph, "C", 2, ALL, AS_OF, 10, 6)
    assert len(short.edges) == 6 and short.truncated
    assert len(short.hops) == 7  # C, A, B and four of X0 … X3, Y



def test_a_pair_sharing_phone_and_address_is_one_edge_of_the_budget(graph: Graph) -> None:
    """A and B share a phone and an address (two SHARES_CONTACT relations, one edge in the
    answer); A — C — D: three edges in all, so a budget of three reaches D untruncated."""
    for sid in ("A", "B", "C", "D"):
        subject(graph, sid, f"公司{sid}")
    relate(graph, "A", "B", "SHARES_CONTACT", key="phone", via="phone")
    relate(graph, "A", "B", "SHARES_CONTACT", key="address", via="address")
    relate(graph, "C", "A", "SHAREHOLDER", ratio=0.6)
    relate(graph, "D", "C", "SHAREHOLDER", ratio=0.6)
    whole = expand(graph, "A", 2, ALL, AS_OF, 10, 3)
    assert set(whole.hops) == {"A", "B", "C", "D"}
    assert len(whole.edges) == 3 and not whole.truncated
    # the one edge says what the pair shares: both (one of the two was kept, at random)
    assert whole.edges[("A", "B", "SHARES_CONTACT", "None")].via == "address,phone"
    # and so does every path through it (a riskAssessment contributor's said one of the two)
    assert {e.via for _, e in whole.adjacency["A"] if e.type == "SHARES_CONTACT"} == {
        "address,phone"}
    assert {e.via for _, e in whole.adjacency["B"]} == {"address,phone"}
    assert expand(graph, "C", 1, ALL, AS_OF, 10, 3).edges[
        ("C", "A", "SHAREHOLDER", "None")].via is None
    short = expand(graph, "A", 2, ALL, AS_OF, 10, 2)
    assert len(short.edges) == 2 and short.truncated


def _db_hits(plan: dict) -> int:
    return int(plan.get("dbHits", 0)) + sum(_db_hits(child) for child in plan.get("children", []))


def _expansion_hits(graph: Graph, companies: int) -> int:
    """Neo4j's db hits for expanding two hops from a person who is the legal representative
    of `companies` companies (a hub at a cap of 5)."""
    graph.write("MATCH (n) DETACH DELETE n")
    subject(graph, "H", "代表人", kind="NATURAL_PERSON")
    for index in range(companies):
        subject(graph, f"K{index}", f"公司{index}")
        relate(graph, "H", f"K{index}", "LEGAL_REPRESENTATIVE")
    with graph.driver.session(database=graph.database) as session:
        summary = session.run("PROFILE " + statement(2, False),
                              parameters(["H"], ALL, AS_OF, 5, 20000)).consume()
    assert summary.profile is not None
    return _db_hits(summary.profile)


def test_a_hub_reached_many_times_is_tested_once(graph: Graph) -> None:
    """A person who is the legal representative of 3,000 companies: the second hop reaches
    them back from every company, and the live-hub test (which reads each of the hub's
    relations) ran once per row — 3,000 × 3,000 relation reads, and riskAssessment at its
    default depth ran into the Cypher time limit. It runs once per node reached: twice the
    companies, about twice the work, not four times."""
    small, large = _expansion_hits(graph, 100), _expansion_hits(graph, 200)
    assert large < 3 * small, (small, large)
