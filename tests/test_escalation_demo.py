"""The demo city's planted 屡罚不改 cases are all found, through the engine and the API, with
no raw ID number in any answer."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.queries.escalation import (
    confirm_escalation,
    escalations_of,
    run_escalation,
)
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from tests.conftest import Api
from tests.graphs import escalation_levels
from tests.ids import raw_id_numbers

AS_OF = dt.date(2026, 11, 28)


def rules_of(services: Services, sid: str) -> tuple[str, str, list[str]] | None:
    found = escalations_of(services.graph, [sid]).get(sid)
    return (found["level"], found["status"], found["rules"]) if found else None


def test_planted_escalations(services: Services, api: Api, tmp_path: Path) -> None:
    generate(tmp_path, subjects=2000, seed=11, as_of=AS_OF)
    BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                 today=AS_OF).load([tmp_path])
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    cases = {case["pattern"]: case for case in truth["cases"]}
    graph, rules = services.graph, services.rules

    def person(number: str) -> str:
        return services.privacy.person_key(parse_id_number(number))

    def run(day: dt.date) -> dict[str, Any]:
        return run_escalation(graph, rules, day, "demo-test").as_dict()

    # earlier dates first: the stale case was escalated then, the delisted one proposed
    stale, delisted = cases["repeat_outside_window"], cases["repeat_listing_removed"]
    run(dt.date.fromisoformat(stale["escalatedAsOf"]))
    assert rules_of(services, stale["company"]) == ("FOCUS", "ACTIVE", ["R1"])
    run(dt.date.fromisoformat(delisted["proposedAsOf"]))
    assert rules_of(services, delisted["company"]) == ("SEVERE_PROPOSED", "ACTIVE", ["R1", "R3"])

    result = run(AS_OF)
    assert result["created"] + result["unchanged"] + result["raised"] > 0
    assert rules_of(services, stale["company"]) == ("FOCUS", "LIFTED", ["R1"])
    assert rules_of(services, delisted["company"]) == ("FOCUS", "ACTIVE", ["R1"])
    assert rules_of(services, cases["repeat_R1"]["company"]) == ("FOCUS", "ACTIVE", ["R1"])
    assert rules_of(services, cases["repeat_R2"]["company"]) == ("FOCUS", "ACTIVE", ["R2"])
    r3 = cases["repeat_R3"]
    assert rules_of(services, r3["company"]) == ("SEVERE_PROPOSED", "ACTIVE", ["R1", "R3"])
    shell = cases["repeat_R4_shell"]
    for sid in [person(shell["person"]), *shell["companies"]]:
        assert rules_of(services, sid) == ("FOCUS", "ACTIVE", ["R4"]), sid
    swap = cases["repeat_R4_successor"]
    for sid in (person(swap["person"]), swap["old"], swap["new"]):
        assert rules_of(services, sid) == ("FOCUS", "ACTIVE", ["R4"]), sid
    new = escalations_of(graph, [swap["new"]])[swap["new"]]
    assert [t["id"] for t in new["triggers"]] == swap["unpaid"]

    # propagation only after confirmation
    propagation = cases["repeat_propagation"]
    controllers = [person(r3["legalRepresentative"]), person(propagation["actualController"])]
    assert escalation_levels(graph, controllers) == {}
    confirm_on = dt.date.fromisoformat(propagation["confirmOn"])
    confirm_escalation(graph, rules, r3["company"], "告知期满", "demo-admin", confirm_on)
    assert escalation_levels(graph, controllers) == dict.fromkeys(controllers, "FOCUS")
    assert rules_of(services, controllers[1]) == ("FOCUS", "ACTIVE", ["PROPAGATION"])

    # re-offence after a credit repair, once the repair workflow has granted it
    repair = cases["repeat_after_repair"]
    assert rules_of(services, repair["company"]) is None
    graph.write("MATCH (p:Penalty {id: $id}) SET p.status = 'REPAIRED', p.repairedOn = $on "
                "CREATE (:Repair {id: 'RP-1', record: $id, subject: $s, grantedOn: $on})"
                "-[:REPAIRS]->(p)",
                {"id": repair["repaired"], "on": dt.date.fromisoformat(repair["repairedOn"]),
                 "s": repair["company"]})
    again = run(confirm_on)
    assert again["created"] >= 1
    found = escalations_of(graph, [repair["company"]])[repair["company"]]
    assert (found["level"], found["rules"]) == ("FOCUS", ["R5"])
    assert found["repairBlockedUntil"].iso_format() == repair["repairBlockedUntil"]
    assert [t["id"] for t in found["triggers"]] == [repair["reoffence"]]
    assert escalation_levels(graph, [r3["company"]]) == {r3["company"]: "SEVERE"}
    third = run(confirm_on)
    assert (third["created"], third["raised"], third["lifted"], third["lowered"]) == (
        0, 0, 0, 0)

    # through the API: every escalation listed, none with a raw ID number
    body = api.query("""{ repeatOffenders(first: 500) { totalCount edges { node {
        level rules subject { id name idMasked } triggers { id title } } } } }""",
                     role="investigator")
    assert "errors" not in body, body
    listed = body["data"]["repeatOffenders"]  # type: ignore[index]
    ids = {e["node"]["subject"]["id"] for e in listed["edges"]}
    assert {r3["company"], *controllers, person(shell["person"])} <= ids
    assert listed["totalCount"] == len(listed["edges"])
    assert not raw_id_numbers(api.last_text)
