"""Risk scoring branches (SPEC §8) on hand-built graphs: judgment and contract signals,
disputed records, shareholder weight bands, level boundaries, the strongest of several paths,
the edge budget; the ownership fallback controller; and per rule section, an override that
changes the answer."""

from __future__ import annotations

import datetime as dt
import itertools
from pathlib import Path

import pytest

from credgraph.graph.driver import Graph
from credgraph.queries.ownership import ultimate_owners
from credgraph.queries.risk import RiskModel, assess
from credgraph.rules import Rules, RulesError
from credgraph.services import Services
from tests.conftest import Api
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_uscc


def decayed(weight: float, since: dt.date) -> float:
    return weight * 0.5 ** ((AS_OF - since).days / 30.4375 / 12)


def own_ids(graph: Graph, rules: Rules, sid: str = "S") -> set[str]:
    return {s.record["id"] for s in assess(graph, rules, sid, 1, AS_OF).signals}


def test_unfulfilled_judgment_is_a_signal_of_the_debtor(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    subject(graph, "K", "德州债权公司")
    due = AS_OF - dt.timedelta(days=200)
    filed = dt.date(2025, 1, 1)
    record(graph, "S", "Judgment", "J-due", role="debtor", date=filed, dueOn=due)
    graph.write("MATCH (k {id: 'K'}), (j:Judgment {id: 'J-due'}) "
                "CREATE (k)-[:HAS_RECORD {role: 'creditor'}]->(j)")
    record(graph, "S", "Judgment", "J-later", role="debtor", date=filed,
           dueOn=AS_OF + dt.timedelta(days=1))  # not due yet
    record(graph, "S", "Judgment", "J-paid", role="debtor", date=filed, dueOn=due,
           fulfilledOn=AS_OF - dt.timedelta(days=1))
    record(graph, "S", "Judgment", "J-paid-after", role="debtor", date=filed, dueOn=due,
           fulfilledOn=AS_OF + dt.timedelta(days=30))  # unpaid as of AS_OF
    result = assess(graph, rules, "S", 1, AS_OF)
    assert sorted(s.record["id"] for s in result.signals) == ["J-due", "J-paid-after"]
    weight = rules.risk.signals.judgment_unfulfilled
    assert [s.weight for s in result.signals] == [weight, weight]
    # decayed from the due date, not from filing
    assert result.signals[0].decayed == pytest.approx(decayed(weight, due))
    assert result.own_risk == pytest.approx(1 - (1 - decayed(weight, due)) ** 2)
    assert own_ids(graph, rules, "K") == set()  # the creditor carries no risk


def test_contract_default_is_a_signal_of_the_counterparty(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    subject(graph, "A", "德州市某局", "AGENCY")
    due = AS_OF - dt.timedelta(days=100)
    record(graph, "S", "Contract", "HT-default", role="counterparty", date=dt.date(2025, 1, 1),
           dueOn=due, subjectDefault=True)
    graph.write("MATCH (a {id: 'A'}), (c:Contract {id: 'HT-default'}) "
                "CREATE (a)-[:HAS_RECORD {role: 'agency'}]->(c)")
    record(graph, "S", "Contract", "HT-kept", role="counterparty", date=dt.date(2025, 1, 1),
           dueOn=due, subjectDefault=False)
    result = assess(graph, rules, "S", 1, AS_OF)
    assert [(s.record["id"], s.weight) for s in result.signals] == [
        ("HT-default", rules.risk.signals.contract_default)]
    assert result.own_risk == pytest.approx(decayed(rules.risk.signals.contract_default, due))
    assert own_ids(graph, rules, "A") == set()  # the agency's side is not the subject's default
    # not before its due date, nor once fulfilled
    assert assess(graph, rules, "S", 1, due - dt.timedelta(days=1)).signals == []
    assert assess(graph, rules, "S", 1, due).signals == []
    graph.write("MATCH (c:Contract {id: 'HT-default'}) SET c.fulfilledOn = $d",
                {"d": AS_OF - dt.timedelta(days=10)})
    assert assess(graph, rules, "S", 1, AS_OF).signals == []
    assert len(assess(graph, rules, "S", 1, AS_OF - dt.timedelta(days=11)).signals) == 1


def test_government_default_is_a_signal_of_the_agency(graph: Graph, rules: Rules) -> None:
    """SPEC §8 'contract default by the subject': the agency is the subject of its own
    default (政府方违约) — explicit, or a blank 政府方违约 on an overdue contract the
    counterparty did not default on (G2's reading); never the counterparty's."""
    subject(graph, "A", "德州市某局", "AGENCY")
    subject(graph, "S", "德州甲公司")
    due = AS_OF - dt.timedelta(days=100)
    for cid, props in (("HT-gov", {"govDefault": True}),
                       ("HT-blank", {}),
                       ("HT-theirs", {"subjectDefault": True}),
                       ("HT-no", {"govDefault": False}),
                       ("HT-done", {"govDefault": True, "fulfilledUndated": True}),
                       ("HT-later", {"govDefault": True, "due": AS_OF}),
                       # the counterparty's default, performed since on a day not given
                       ("HT-paid", {"subjectDefault": True, "fulfilledUndated": True})):
        record(graph, "S", "Contract", cid, role="counterparty", date=dt.date(2025, 1, 1),
               dueOn=props.pop("due", due), **props)
        graph.write("MATCH (a {id: 'A'}), (c:Contract {id: $c}) "
                    "CREATE (a)-[:HAS_RECORD {role: 'agency'}]->(c)", {"c": cid})
    result = assess(graph, rules, "A", 1, AS_OF)
    weight = rules.risk.signals.contract_default
    assert sorted((s.record["id"], s.weight) for s in result.signals) == [
        ("HT-blank", weight), ("HT-gov", weight)]
    assert result.own_risk == pytest.approx(1 - (1 - decayed(weight, due)) ** 2)
    assert own_ids(graph, rules, "S") == {"HT-theirs"}  # the counterparty's own default only


def test_disputed_records_count_and_are_flagged(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    for rid, status in (("P-active", "ACTIVE"), ("P-disputed", "DISPUTED"),
                        ("P-repaired", "REPAIRED"), ("P-revoked", "REVOKED")):
        record(graph, "S", "Penalty", rid, status=status, severity="严重", domain="tax",
               date=AS_OF, publicityUntil=dt.date(2029, 1, 1))
    result = assess(graph, rules, "S", 1, AS_OF)
    flags = {s.record["id"]: s.disputed for s in result.signals}
    assert flags == {"P-active": False, "P-disputed": True}
    severe = rules.risk.signals.penalty_severe
    assert result.own_risk == pytest.approx(1 - (1 - severe) ** 2)


def test_disputed_flag_in_the_api(services: Services) -> None:
    company = make_uscc(org="MA3C00021")
    subject(services.graph, company, "德州甲公司")
    record(services.graph, company, "Penalty", "P-disputed", status="DISPUTED", severity="一般",
           domain="tax", date=AS_OF, publicityUntil=dt.date(2029, 1, 1))
    body = Api(services).query("""query($id: ID!) { riskAssessment(id: $id, asOf: "2026-06-30")
        { ownScore signals { record { id status } weight disputed } } }""", id=company)
    assert body["data"] == {"riskAssessment": {"ownScore": 30, "signals": [
        {"record": {"id": "P-disputed", "status": "DISPUTED"}, "weight": 0.3,
         "disputed": True}]}}


@pytest.mark.parametrize(("ratio", "weight"), [
    (1.0, 0.9), (0.5, 0.9), (0.49, 0.7), (0.25, 0.7), (0.2, 0.4), (0.05, 0.4), (0.049, 0.2),
    (0.0, 0.2), (None, 0.4),
])
def test_shareholder_weight_bands(rules: Rules, ratio: float | None, weight: float) -> None:
    assert rules.relations.weight("SHAREHOLDER", ratio) == weight


def test_shareholder_weights_on_the_graph(graph: Graph, rules: Rules) -> None:
    """Each shareholder listed with weight 1.0: its strength is its band's weight."""
    subject(graph, "S", "德州甲公司")
    ratios = {"H60": 0.6, "H30": 0.3, "H10": 0.1, "H01": 0.01, "HNONE": None}
    for sid, ratio in ratios.items():
        subject(graph, sid, f"股东{sid}")
        relate(graph, sid, "S", "SHAREHOLDER", **({"ratio": ratio} if ratio is not None else {}))
        record(graph, sid, "Listing", f"L-{sid}", listType="严重失信主体", date=AS_OF)
    found = {c.subject: c.strength for c in assess(graph, rules, "S", 1, AS_OF).contributors}
    assert found == {"H60": 0.9, "H30": 0.7, "H10": 0.4, "H01": 0.2, "HNONE": 0.4}


@pytest.mark.parametrize(("score", "level"), [
    (0, "LOW"), (19, "LOW"), (20, "MEDIUM"), (49, "MEDIUM"), (50, "HIGH"), (79, "HIGH"),
    (80, "SEVERE"), (100, "SEVERE"),
])
def test_level_boundaries(rules: Rules, score: int, level: str) -> None:
    assert RiskModel(rules).level(score) == level


def test_strength_is_the_strongest_path(graph: Graph, rules: Rules) -> None:
    """X is one weak hop away (shared contact, 0.3) and two strong hops away (the same legal
    representative, 0.9 × 0.9): the longer, stronger path counts, not the first found nor a
    sum. Y is one strong hop away (branch, 0.9) and two weaker ones: the short one counts."""
    for sid in ("S", "X", "Y"):
        subject(graph, sid, f"{sid}公司")
    subject(graph, "P", "张三", "NATURAL_PERSON")
    subject(graph, "Q", "李四", "NATURAL_PERSON")
    relate(graph, "S", "X", "SHARES_CONTACT", via="phone")
    relate(graph, "P", "S", "LEGAL_REPRESENTATIVE")
    relate(graph, "P", "X", "LEGAL_REPRESENTATIVE")
    relate(graph, "Y", "S", "BRANCH_OF")
    relate(graph, "Q", "S", "DIRECTOR")
    relate(graph, "Q", "Y", "DIRECTOR")
    for sid in ("X", "Y"):
        record(graph, sid, "Listing", f"L-{sid}", listType="严重失信主体", date=AS_OF)
    found = {c.subject: c for c in assess(graph, rules, "S", 2, AS_OF).contributors}
    assert found["X"].strength == pytest.approx(0.81)
    assert [(e.source, e.target) for e in found["X"].path] == [("P", "S"), ("P", "X")]
    assert found["Y"].strength == pytest.approx(0.9)
    assert [(e.source, e.target, e.type) for e in found["Y"].path] == [("Y", "S", "BRANCH_OF")]
    only_one_hop = {c.subject: c.strength for c in assess(graph, rules, "S", 1, AS_OF).contributors}
    assert only_one_hop == {"X": pytest.approx(0.3), "Y": pytest.approx(0.9)}


def test_edge_budget_truncates(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    for index in range(6):
        subject(graph, f"B{index}", f"分公司{index}")
        relate(graph, f"B{index}", "S", "BRANCH_OF")
        record(graph, f"B{index}", "Listing", f"L{index}", listType="经营异常名录", date=AS_OF)
    full = assess(graph, rules, "S", 2, AS_OF)
    assert not full.truncated and len(full.contributors) == 6
    tight = assess(graph, rules.with_overrides({"risk": {"edge_budget": 4}}), "S", 2, AS_OF)
    assert tight.truncated
    assert len(tight.contributors) == 4
    assert tight.association_risk < full.association_risk


def test_fallback_controller_is_the_largest_owner_in_office(graph: Graph, rules: Rules) -> None:
    """No declared controller and nobody above 50 %: the largest beneficial owner who is also
    legal representative or director is the suspected controller — not simply the largest."""
    subject(graph, "C", "目标公司")
    shares = {"P45": 0.45, "P40": 0.40, "P30": 0.30, "P10": 0.10}
    for sid, ratio in shares.items():
        subject(graph, sid, f"股东{sid}", "NATURAL_PERSON")
        relate(graph, sid, "C", "SHAREHOLDER", ratio=ratio)
    relate(graph, "P40", "C", "DIRECTOR")
    relate(graph, "P30", "C", "LEGAL_REPRESENTATIVE")
    relate(graph, "P10", "C", "LEGAL_REPRESENTATIVE")  # in office, but not a beneficial owner
    owners = ultimate_owners(graph, rules, "C", 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6), o.basis) for o in owners] == [
        ("P45", 0.45, "SHARE"), ("P40", 0.4, "SUSPECTED_CONTROLLER"), ("P30", 0.3, "SHARE")]
    assert owners[1].evidence == [
        "largest beneficial owner (40.00%) who is also legal representative or director"]
    relate(graph, "P45", "C", "ACTUAL_CONTROLLER")  # a declared controller ends the guessing
    owners = ultimate_owners(graph, rules, "C", 0.25, AS_OF).owners
    assert [(o.id, o.basis) for o in owners] == [
        ("P45", "ACTUAL_CONTROLLER"), ("P40", "SHARE"), ("P30", "SHARE")]


# -- an override per rule section changes the answer ---------------------------------------------
def two_hop_world(services: Services) -> str:
    """A company whose risk is two hops away: S ← P (legal rep) → B (listed)."""
    company, other = make_uscc(org="MA3C00031"), make_uscc(org="MA3C00032")
    subject(services.graph, company, "德州甲公司")
    subject(services.graph, other, "德州乙公司")
    subject(services.graph, "P" + "B" * 24, "张三", "NATURAL_PERSON")
    relate(services.graph, "P" + "B" * 24, company, "LEGAL_REPRESENTATIVE")
    relate(services.graph, "P" + "B" * 24, other, "LEGAL_REPRESENTATIVE")
    record(services.graph, other, "Listing", "L-B", listType="严重失信主体", date=AS_OF)
    return company


RISK = """query($id: ID!) { riskAssessment(id: $id, asOf: "2026-06-30") {
  associationScore contributors { subject { name } } } }"""


def test_risk_default_depth_rule(services: Services) -> None:
    company = two_hop_world(services)
    default = Api(services).query(RISK, id=company)["data"]
    assert services.rules.risk.default_depth >= 2
    assert default["riskAssessment"]["contributors"] == [  # type: ignore[index]
        {"subject": {"name": "德州乙公司"}}]
    shallow = services.with_rules(services.rules.with_overrides({"risk": {"default_depth": 1}}))
    answer = Api(shallow).query(RISK, id=company)["data"]["riskAssessment"]  # type: ignore[index]
    assert answer == {"associationScore": 0, "contributors": []}
    deep = Api(shallow).query(RISK.replace('asOf: "2026-06-30"', 'asOf: "2026-06-30", depth: 2'),
                              id=company)["data"]
    assert deep == default  # an explicit depth still wins


OWNERS = "query($id: ID!) { ultimateOwners(id: $id) { owner { name } share basis } }"


def test_ownership_threshold_rule(services: Services) -> None:
    company = make_uscc(org="MA3C00041")
    subject(services.graph, company, "德州甲公司")
    subject(services.graph, "P" + "C" * 24, "王五", "NATURAL_PERSON")
    relate(services.graph, "P" + "C" * 24, company, "SHAREHOLDER", ratio=0.2)
    assert Api(services).query(OWNERS, id=company)["data"] == {"ultimateOwners": []}
    lower = services.with_rules(services.rules.with_overrides({"ownership": {"threshold": 0.15}}))
    assert Api(lower).query(OWNERS, id=company)["data"] == {"ultimateOwners": [
        {"owner": {"name": "王五"}, "share": 0.2, "basis": "SHARE"}]}


def test_ownership_max_depth_rule(graph: Graph, rules: Rules) -> None:
    """O holds C through three companies (four hops): followed only when max_depth allows."""
    subject(graph, "O", "周九", "NATURAL_PERSON")
    chain = ["O", "H1", "H2", "H3", "C"]
    for sid in chain[1:]:
        subject(graph, sid, f"{sid}公司")
    for holder, held in itertools.pairwise(chain):
        relate(graph, holder, held, "SHAREHOLDER", ratio=0.9)
    assert rules.ownership.max_depth >= 4
    found = ultimate_owners(graph, rules, "C", 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6)) for o in found] == [("O", round(0.9 ** 4, 6))]
    shallow = rules.with_overrides({"ownership": {"max_depth": 3}})
    assert ultimate_owners(graph, shallow, "C", 0.25, AS_OF).owners == []


@pytest.mark.parametrize(("override", "key"), [
    ({"risk": {"defualt_depth": 2}}, "risk.defualt_depth"),
    ({"ownership": {"treshold": 0.2}}, "ownership.treshold"),
    ({"relations": {"shareholder": {"band": []}}}, "relations.shareholder.band"),
    ({"limits": {"max_list": "many"}}, "limits.max_list"),
])
def test_a_typo_in_an_override_names_the_key(rules: Rules, override: dict[str, object],
                                             key: str) -> None:
    with pytest.raises(RulesError, match=f"\\[{key}\\]"):
        rules.with_overrides(override)


@pytest.mark.parametrize(("override", "key"), [
    ({"relations": {"LEGAL_REPRESENTATIVE": -0.5}}, "relations.LEGAL_REPRESENTATIVE"),
    ({"relations": {"shareholder": {"bands": [[0.5, 90], [0, 0.2]]}}},
     "relations.shareholder.bands.0.1"),
    ({"relations": {"shareholder": {"unknown_ratio_weight": 1.2}}},
     "relations.shareholder.unknown_ratio_weight"),
    ({"risk": {"signals": {"penalty_severe": 1.7}}}, "risk.signals.penalty_severe"),
    ({"risk": {"signals": {"listing": {"失信被执行人": -1}}}}, "risk.signals.listing.失信被执行人"),
    ({"ownership": {"threshold": 1.5}}, "ownership.threshold"),
    ({"ownership": {"control_share": -0.1}}, "ownership.control_share"),
    ({"grade": {"inspection_ratio": {"D": 1.5}}}, "grade.inspection_ratio.D"),
    ({"escalation": {"levels": {"FOCUS": {"inspection_ratio": 60}}}},
     "escalation.levels.FOCUS.inspection_ratio"),
])
def test_a_weight_or_share_outside_0_to_1_names_the_key(rules: Rules,
                                                         override: dict[str, object],
                                                         key: str) -> None:
    """A negative relation weight, a signal of 1.7 or an ownership threshold of 1.5 (a
    percentage typed for a fraction) were taken, and `serve`, `escalate` … ran with scores
    outside 0–100 and owners no share can reach; they are refused at start, naming the key."""
    with pytest.raises(RulesError, match=f"\\[{key}\\] Input should be "):
        rules.with_overrides(override)


def test_a_typo_in_a_rules_file_names_the_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "deployment.toml"
    path.write_text("[risk]\nhalf_life_month = 6\n", encoding="utf-8")
    with pytest.raises(RulesError) as raised:
        Rules.load(path)
    assert "deployment.toml" in str(raised.value)
    assert "[risk.half_life_month]" in str(raised.value)
    path.write_text("[risk]\nhalf_life_months = 6\n", encoding="utf-8")
    assert Rules.load(path).risk.half_life_months == 6
