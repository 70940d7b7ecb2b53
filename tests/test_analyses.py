"""Scoring and ownership on hand-built graphs with hand-computed expectations (SPEC §8)."""

from __future__ import annotations

import datetime as dt

import pytest

from credgraph.graph.driver import Graph
from credgraph.queries.ownership import TooManyPaths, ultimate_owners
from credgraph.queries.risk import RiskModel, assess, noisy_or
from credgraph.rules import Rules
from tests.graphs import AS_OF, record, relate, subject


def test_noisy_or() -> None:
    assert noisy_or([]) == 0
    assert noisy_or([0.6, 0.15]) == pytest.approx(0.66)


def test_decay_half_life(rules: Rules) -> None:
    model = RiskModel(rules)
    a_year_ago = AS_OF - dt.timedelta(days=365)
    assert model.decay(0.3, a_year_ago, AS_OF) == pytest.approx(0.15, abs=1e-3)
    assert model.decay(0.3, AS_OF, AS_OF) == 0.3


@pytest.fixture()
def risky_world(graph: Graph) -> Graph:
    """S (clean-looking company) ← P (its legal rep) → B (listed 失信被执行人); S has its own
    penalties; E is reachable only through an ended shareholding."""
    subject(graph, "S", "德州甲公司")
    subject(graph, "P", "张三", "NATURAL_PERSON")
    subject(graph, "B", "滨州乙公司", region="371602")
    subject(graph, "E", "沧州丙公司", region="130902")
    relate(graph, "P", "S", "LEGAL_REPRESENTATIVE")
    relate(graph, "P", "B", "LEGAL_REPRESENTATIVE")
    relate(graph, "E", "S", "SHAREHOLDER", ratio=0.6, start=dt.date(2019, 1, 1),
           end=dt.date(2025, 1, 1))
    record(graph, "S", "Penalty", "PS1", severity="严重", domain="environment", date=AS_OF,
           publicityUntil=dt.date(2029, 1, 1))
    record(graph, "S", "Penalty", "PS2", severity="一般", domain="tax",
           date=AS_OF - dt.timedelta(days=365), publicityUntil=dt.date(2028, 1, 1))
    record(graph, "S", "Penalty", "PS3", severity="一般", domain="tax",
           date=dt.date(2020, 1, 1), publicityUntil=dt.date(2021, 1, 1))  # publicity over
    record(graph, "S", "Penalty", "PS4", severity="严重", domain="tax", date=AS_OF,
           status="REPAIRED", publicityUntil=dt.date(2029, 1, 1))  # repaired: no risk
    record(graph, "B", "Listing", "LB1", listType="失信被执行人", domain="judicial", date=AS_OF)
    record(graph, "E", "Listing", "LE1", listType="严重失信主体", domain="other",
           date=dt.date(2024, 1, 1))
    return graph


def test_own_and_association_risk(risky_world: Graph, rules: Rules) -> None:
    result = assess(risky_world, rules, "S", 3, AS_OF)
    own = 1 - (1 - 0.6) * (1 - 0.3 * 0.5 ** (365 / 30.4375 / 12))
    assert result.own_risk == pytest.approx(own)
    assert result.own_score == round(100 * own) == 66
    # strength(B) = 0.9 (P→S) × 0.9 (P→B); risk(B) = 0.8
    assert [c.subject for c in result.contributors] == ["B"]
    assert result.contributors[0].strength == pytest.approx(0.81)
    assert result.association_risk == pytest.approx(0.81 * 0.8)
    assert result.score == round(100 * (1 - (1 - own) * (1 - 0.648))) == 88
    assert RiskModel(rules).level(result.score) == "SEVERE"
    assert {s.record["id"] for s in result.signals} == {"PS1", "PS2"}


def test_path_explanation(risky_world: Graph, rules: Rules) -> None:
    path = assess(risky_world, rules, "S", 3, AS_OF).contributors[0].path
    assert [(e.source, e.type, e.target) for e in path] == [
        ("P", "LEGAL_REPRESENTATIVE", "S"), ("P", "LEGAL_REPRESENTATIVE", "B")]


def test_expired_relation_ignored_at_as_of(risky_world: Graph, rules: Rules) -> None:
    now = assess(risky_world, rules, "S", 3, AS_OF)
    assert "E" not in {c.subject for c in now.contributors}
    before = assess(risky_world, rules, "S", 3, dt.date(2024, 6, 30))
    contributors = {c.subject: c for c in before.contributors}
    assert contributors["E"].strength == pytest.approx(0.9)  # SHAREHOLDER ≥ 50 %


def test_depth_bounds_the_walk(risky_world: Graph, rules: Rules) -> None:
    assert assess(risky_world, rules, "S", 1, AS_OF).contributors == []


def test_a_score_of_a_half_rounds_to_even(graph: Graph, rules: Rules) -> None:
    """Score = round(100 · …) to the nearest whole number, a half to the even one (GB/T 8170
    四舍六入五成双): an association of exactly 0.125 scores 12, not 13 (docs/rules.md)."""
    subject(graph, "Z", "德州半分公司")
    subject(graph, "P", "吴某", "NATURAL_PERSON")
    subject(graph, "A", "德州税隐公司")
    relate(graph, "P", "Z", "DIRECTOR")
    relate(graph, "P", "A", "DIRECTOR")
    record(graph, "A", "Listing", "LA", listType="重大税收违法失信主体", domain="tax",
           date=AS_OF)
    result = assess(graph, rules, "Z", 3, AS_OF)
    assert result.association_risk == 0.125  # 0.5 × 0.5 (two 董事 hops) × 0.5, undecayed
    assert (result.association_score, result.score) == (12, 12)


def test_cross_domain_and_region(risky_world: Graph, rules: Rules) -> None:
    result = assess(risky_world, rules, "S", 3, AS_OF)
    assert result.cross_domain  # environment, tax, judicial
    assert not result.cross_region  # one risky associate region (371602) other than S's
    subject(risky_world, "C", "衡水丁公司", region="131102")
    relate(risky_world, "P", "C", "LEGAL_REPRESENTATIVE")
    record(risky_world, "C", "Listing", "LC1", listType="经营异常名录", domain="market",
           date=AS_OF)
    assert assess(risky_world, rules, "S", 3, AS_OF).cross_region


def test_hub_is_cut(graph: Graph, rules: Rules) -> None:
    capped = rules.with_overrides({"risk": {"degree_cap": 3}})
    subject(graph, "S", "德州甲公司")
    subject(graph, "H", "代理记账人", "NATURAL_PERSON")
    relate(graph, "H", "S", "SUPERVISOR")
    for index in range(4):
        subject(graph, f"X{index}", f"被代理公司{index}")
        relate(graph, "H", f"X{index}", "SUPERVISOR")
    record(graph, "X0", "Listing", "LX0", listType="严重失信主体", date=AS_OF)
    record(graph, "H", "Listing", "LH", listType="经营异常名录", date=AS_OF)
    result = assess(graph, capped, "S", 3, AS_OF)
    assert result.cut_hubs == ["H"]
    assert result.truncated
    # the hub itself still counts (one hop); nothing behind it does
    assert [c.subject for c in result.contributors] == ["H"]
    uncapped = assess(graph, rules, "S", 3, AS_OF)
    assert {c.subject for c in uncapped.contributors} == {"H", "X0"}
    # at depth 1 the hub is the last hop: named, but nothing behind it was within reach
    near = assess(graph, capped, "S", 1, AS_OF)
    assert near.cut_hubs == ["H"] and not near.truncated


def test_records_do_not_make_a_hub(graph: Graph, rules: Rules) -> None:
    """An agency that issued many records is not a hub: only subject relations count."""
    capped = rules.with_overrides({"risk": {"degree_cap": 3}})
    subject(graph, "S", "德州甲公司")
    subject(graph, "A", "德州市某局", "AGENCY")
    subject(graph, "B", "德州市主管局", "AGENCY")
    relate(graph, "S", "A", "SHAREHOLDER", ratio=0.6)
    relate(graph, "A", "B", "SUBORDINATE_TO")
    for index in range(6):
        record(graph, "A", "Penalty", f"PA{index}", role="agency", severity="一般",
               date=AS_OF)
    record(graph, "B", "Listing", "LB", listType="失信被执行人", date=AS_OF)
    result = assess(graph, capped, "S", 3, AS_OF)
    assert result.cut_hubs == []
    assert "B" in {c.subject for c in result.contributors}


def test_two_path_ownership(graph: Graph, rules: Rules) -> None:
    subject(graph, "O", "王五", "NATURAL_PERSON")
    for sid in ("A", "B", "C"):
        subject(graph, sid, f"{sid}公司")
    relate(graph, "O", "A", "SHAREHOLDER", ratio=0.4)
    relate(graph, "A", "C", "SHAREHOLDER", ratio=0.5)
    relate(graph, "O", "B", "SHAREHOLDER", ratio=0.3)
    relate(graph, "B", "C", "SHAREHOLDER", ratio=0.2)
    result = ultimate_owners(graph, rules, "C", 0.25, AS_OF)
    assert [(o.id, round(o.share, 6), o.basis) for o in result.owners] == [("O", 0.26, "SHARE")]
    assert sorted(p.ids for p in result.owners[0].paths) == [["O", "A", "C"], ["O", "B", "C"]]
    assert ultimate_owners(graph, rules, "C", 0.3, AS_OF).owners == []


def test_share_sums_every_path_beyond_those_shown(graph: Graph, rules: Rules) -> None:
    """A lattice of holdings (2 companies a layer, each owning half of both below) gives O
    2^4 = 16 paths of 1 × 0.5^4 each: 100 %, however few paths the answer shows ([ownership]
    paths_shown)."""
    subject(graph, "O", "吴十", "NATURAL_PERSON")
    subject(graph, "T", "目标公司")
    for layer in range(1, 5):
        for side in "ab":
            subject(graph, f"L{layer}{side}", f"第{layer}层{side}公司")
    for side in "ab":
        relate(graph, "O", f"L1{side}", "SHAREHOLDER", ratio=1.0)
        relate(graph, f"L4{side}", "T", "SHAREHOLDER", ratio=0.5)
    for layer in range(1, 4):
        for side in "ab":
            for below in "ab":
                relate(graph, f"L{layer}{side}", f"L{layer + 1}{below}", "SHAREHOLDER",
                       ratio=0.5)
    shown = rules.with_overrides({"ownership": {"paths_shown": 5}})
    result = ultimate_owners(graph, shown, "T", 0.25, AS_OF)
    [owner] = result.owners
    assert (owner.id, round(owner.share, 6), owner.basis) == ("O", 1.0, "SUSPECTED_CONTROLLER")
    assert len(owner.paths) == 5 and result.truncated
    assert "16 shareholding paths" in " ".join(owner.evidence)


def test_cycle_is_ignored(graph: Graph, rules: Rules) -> None:
    subject(graph, "X", "赵六", "NATURAL_PERSON")
    subject(graph, "D", "D公司")
    subject(graph, "E", "E公司")
    relate(graph, "X", "D", "SHAREHOLDER", ratio=0.6)
    relate(graph, "D", "E", "SHAREHOLDER", ratio=0.5)
    relate(graph, "E", "D", "SHAREHOLDER", ratio=0.1)
    owners = ultimate_owners(graph, rules, "E", 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6)) for o in owners] == [("X", 0.3)]


def test_cross_holding_group(graph: Graph, rules: Rules) -> None:
    """Six companies each holding 10 % of the five others, a person holding 40 % of each: 326
    simple paths from the person to the first, 0.70928 in all (SPEC §8: cycles ignored). The
    variable-length walk filtered for simple paths afterwards ran past the time limit here."""
    subject(graph, "P", "冯十一", "NATURAL_PERSON")
    group = [f"Q{i}" for i in range(6)]
    for sid in group:
        subject(graph, sid, f"{sid}公司")
        relate(graph, "P", sid, "SHAREHOLDER", ratio=0.4)
    for owner in group:
        for owned in group:
            if owner != owned:
                relate(graph, owner, owned, "SHAREHOLDER", ratio=0.1)
    result = ultimate_owners(graph, rules, "Q0", 0.25, AS_OF)
    [owner] = result.owners
    assert (owner.id, round(owner.share, 6), owner.basis) == ("P", 0.70928,
                                                               "SUSPECTED_CONTROLLER")
    assert len(owner.paths) == 326 and not result.truncated
    assert owner.paths[0].ids == ["P", "Q0"]
    assert all(len(set(path.ids)) == len(path.ids) for path in owner.paths)
    tight = rules.with_overrides({"ownership": {"path_budget": 100}})
    with pytest.raises(TooManyPaths):
        ultimate_owners(graph, tight, "Q0", 0.25, AS_OF)


def test_state_owned_chain(graph: Graph, rules: Rules) -> None:
    subject(graph, "G", "国资委", "AGENCY")
    subject(graph, "SOE", "城投集团")
    subject(graph, "T", "城投水务")
    relate(graph, "G", "SOE", "SHAREHOLDER", ratio=1.0)
    relate(graph, "SOE", "T", "SHAREHOLDER", ratio=0.8)
    owners = ultimate_owners(graph, rules, "T", 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6), o.basis) for o in owners] == [("G", 0.8, "STATE")]


def test_controllers_declared_and_suspected(graph: Graph, rules: Rules) -> None:
    subject(graph, "K", "K公司")
    subject(graph, "Q", "钱七", "NATURAL_PERSON")
    relate(graph, "Q", "K", "ACTUAL_CONTROLLER")
    owners = ultimate_owners(graph, rules, "K", 0.25, AS_OF).owners
    assert [(o.id, o.basis) for o in owners] == [("Q", "ACTUAL_CONTROLLER")]
    # holding no shares, the declared tie is the path shown
    assert [[(e.source, e.target, e.type) for e in path.edges()] for path in owners[0].paths] == [
        [("Q", "K", "ACTUAL_CONTROLLER")]]
    subject(graph, "R", "孙八", "NATURAL_PERSON")
    subject(graph, "H", "控股公司")
    subject(graph, "T", "目标公司")
    relate(graph, "R", "H", "SHAREHOLDER", ratio=0.8)
    relate(graph, "H", "T", "SHAREHOLDER", ratio=0.75)
    owners = ultimate_owners(graph, rules, "T", 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6), o.basis) for o in owners] == [
        ("R", 0.6, "SUSPECTED_CONTROLLER")]
    assert "> 50%" in owners[0].evidence[0]


def test_ended_shareholding_not_counted(graph: Graph, rules: Rules) -> None:
    subject(graph, "O", "周九", "NATURAL_PERSON")
    subject(graph, "C", "C公司")
    relate(graph, "O", "C", "SHAREHOLDER", ratio=0.9, end=dt.date(2025, 1, 1))
    assert ultimate_owners(graph, rules, "C", 0.25, AS_OF).owners == []
    assert len(ultimate_owners(graph, rules, "C", 0.25, dt.date(2024, 1, 1)).owners) == 1
