"""The demo city: deterministic for a seed, loadable, its planted cases present in the graph."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pytest

from credgraph.loaders.bundle import BundleLoader, LoadSummary
from credgraph.loaders.demo import generate
from credgraph.queries.ownership import ultimate_owners
from credgraph.queries.risk import RiskModel, assess
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services

AS_OF = dt.date(2026, 11, 28)


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(tmp_path: Path) -> None:
    generate(tmp_path / "a", subjects=1000, seed=5, as_of=AS_OF)
    generate(tmp_path / "b", subjects=1000, seed=5, as_of=AS_OF)
    generate(tmp_path / "c", subjects=1000, seed=6, as_of=AS_OF)
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a")["legal_persons.csv"] != digest(tmp_path / "c")[
        "legal_persons.csv"]


def test_scale_bounds(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        generate(tmp_path, subjects=999)


@pytest.fixture()
def loaded_city(services: Services, tmp_path: Path) -> tuple[dict, LoadSummary]:  # type: ignore[type-arg]
    counts = generate(tmp_path, subjects=2000, seed=11, as_of=AS_OF)
    assert counts["legal_persons"] > 1000
    summary = BundleLoader(services.graph, services.rules, services.privacy,
                           services.normaliser, today=AS_OF).load([tmp_path])
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    return truth, summary


def test_demo_city(loaded_city, services: Services) -> None:  # type: ignore[no-untyped-def]
    """One load of the demo city, then every check on it (the load is the slow part)."""
    truth, summary = loaded_city
    check_rows_accounted_for(truth, summary)
    check_truth_cases_present(truth, services)
    check_analyses_find_planted_answers(truth, services)


# what the loader's reason says for each defect the generator plants
REASONS = {
    "non-numeric amount": "not a number", "ratio outside 0–100%": "outside 0–100%",
    "duplicate key (the earlier row is rejected)": "duplicate key",
    "row with too many columns": "columns, the header has",
    "row with too few columns": "columns, the header has",
}


def check_rows_accounted_for(truth: dict, summary: LoadSummary) -> None:  # type: ignore[type-arg]
    assert all(f.read == f.loaded + f.rejected for f in summary.files)
    planted = {(f"{bad['file']}.csv", bad["line"]): bad["reason"] for bad in truth["badRows"]}
    assert len(planted) == len(truth["badRows"])
    rejected = {(r.file, r.line): r.reason for r in summary.rejects}
    assert len(rejected) == len(summary.rejects) == summary.rejected
    # every planted bad row is rejected on its own line, for its own reason ...
    wrong = {where: (reason, rejected.get(where)) for where, reason in planted.items()
             if REASONS.get(reason, reason) not in (rejected.get(where) or "")}
    assert wrong == {}
    # ... and besides them only the one ambiguous name (no good row is lost)
    others = {where: reason for where, reason in rejected.items() if where not in planted}
    assert [(file, "ambiguous" in reason) for (file, _), reason in others.items()] == [
        ("penalties.csv", True)]
    # each penalty without an id went to its planted subject, decided by the planted evidence
    resolved = {c["resolvedTo"]: c["decidedBy"] for c in summary.corrections}
    assert resolved == {case["company"]: case["decidedBy"] for case in truth["cases"]
                        if "decidedBy" in case}
    twins = next(c for c in truth["cases"] if c["pattern"] == "resolution_ambiguous")
    [ambiguous] = [r for r in summary.rejects
                   if r.reason.startswith("unresolved subject: ambiguous")]
    assert all(uscc in ambiguous.reason for uscc in twins["companies"])


def check_truth_cases_present(truth: dict, services: Services) -> None:  # type: ignore[type-arg]
    cases = {case["pattern"]: case for case in truth["cases"]}
    graph = services.graph
    two = cases["ownership_two_paths"]
    owner = services.privacy.person_key(parse_id_number(two["owner"]))
    paths = graph.read(
        "MATCH p = (o:Subject {id: $o})-[:SHAREHOLDER*1..3]->(c:Subject {id: $c}) "
        "RETURN reduce(s = 1.0, r IN relationships(p) | s * r.ratio) AS share",
        {"o": owner, "c": two["company"]})
    assert sum(r["share"] for r in paths) == pytest.approx(0.26)
    state = cases["state_ownership"]
    assert graph.read("MATCH (a:Agency {id: $a})-[:SHAREHOLDER]->()-[:SHAREHOLDER]->"
                      "(c {id: $c}) RETURN count(*) AS n",
                      {"a": state["owner"], "c": state["company"]}) == [{"n": 1}]
    r3 = cases["repeat_R3"]
    penalties = graph.read("MATCH ({id: $c})-[:HAS_RECORD]->(p:Penalty) "
                           "RETURN p.severity AS s, p.domain AS d", {"c": r3["company"]})
    assert sorted(p["s"] for p in penalties) == ["一般", "一般", "一般", "严重"]
    assert {p["d"] for p in penalties} == {"food_drug"}
    g1 = cases["G1_agency_debtor"]
    assert graph.read("MATCH (a:Agency {id: $a})-[:HAS_RECORD {role: 'debtor'}]->(j:Judgment) "
                      "WHERE j.fulfilledOn IS NULL MATCH (a)-[:SUBORDINATE_TO]->(s {id: $s}) "
                      "RETURN count(j) AS n", {"a": g1["agency"], "s": g1["superior"]}) == [
        {"n": 1}]
    g3 = cases["G3_conflict_of_interest"]
    official = services.privacy.person_key(parse_id_number(g3["official"]))
    assert graph.read(
        "MATCH (o:Official {id: $o})-[:SERVES_IN]->(a {id: $a}), "
        "(o)-[:FAMILY]-(:NaturalPerson)-[:LEGAL_REPRESENTATIVE]->(x {id: $x}), "
        "(x)-[:HAS_RECORD {role: 'counterparty'}]->(c:Contract {id: $c})"
        "<-[:HAS_RECORD {role: 'agency'}]-(a) RETURN count(*) AS n",
        {"o": official, "a": g3["agency"], "x": g3["company"], "c": g3["contract"]}) == [
        {"n": 1}]
    correction = cases["resolution_correction"]
    assert graph.read("MATCH ({id: $c})-[:HAS_RECORD]->(p:Penalty) RETURN count(p) AS n",
                      {"c": correction["company"]}) == [{"n": 1}]
    hub = cases["hub_cut"]
    agent = services.privacy.person_key(parse_id_number(hub["hub"]))
    degree = graph.read("MATCH (a {id: $a})-[r]-() RETURN count(r) AS n", {"a": agent})
    assert degree[0]["n"] > services.rules.risk.degree_cap


def person(services: Services, number: str) -> str:
    return services.privacy.person_key(parse_id_number(number))


def check_analyses_find_planted_answers(truth: dict, services: Services) -> None:  # type: ignore[type-arg]
    cases = {case["pattern"]: case for case in truth["cases"]}
    graph, rules = services.graph, services.rules
    for pattern, basis in (("ownership_two_paths", "SHARE"), ("ownership_cycle", "SHARE"),
                           ("suspected_controller", "SUSPECTED_CONTROLLER")):
        case = cases[pattern]
        owners = ultimate_owners(graph, rules, case["company"], 0.25, AS_OF).owners
        found = {o.id: o for o in owners}
        owner = found[person(services, case["owner"])]
        assert owner.share == pytest.approx(case["expectedShare"]), pattern
        assert owner.basis == basis, pattern
    state = cases["state_ownership"]
    owners = ultimate_owners(graph, rules, state["company"], 0.25, AS_OF).owners
    assert [(o.id, round(o.share, 6), o.basis) for o in owners] == [
        (state["owner"], state["expectedShare"], "STATE")]
    declared = cases["declared_controller"]
    owners = ultimate_owners(graph, rules, declared["company"], 0.25, AS_OF).owners
    assert [(o.id, o.basis) for o in owners] == [
        (person(services, declared["owner"]), "ACTUAL_CONTROLLER")]

    risky = cases["risky_controller"]
    result = assess(graph, rules, risky["company"], 3, AS_OF)
    assert result.own_score == 0
    assert RiskModel(rules).level(result.score) in ("HIGH", "SEVERE")
    assert result.cross_domain and result.cross_region
    top = result.contributors[0]
    assert top.subject in risky["risky"]
    assert top.path[0].source == person(services, risky["via"])

    hub = cases["hub_cut"]
    result = assess(graph, rules, hub["company"], 3, AS_OF)
    assert person(services, hub["hub"]) in result.cut_hubs
    assert result.contributors == []
