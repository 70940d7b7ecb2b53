"""Credit repair (信用修复): eligibility by severity, domain, fulfilment and re-offending, the
grant's nodes, and repaired records leaving risk but not history — against a real Neo4j."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.loaders.derive import add_months
from credgraph.queries.fragments import in_force, in_force_at
from credgraph.queries.repair import Refused, request_repair
from credgraph.rules import Rules, RulesError
from credgraph.services import Services
from tests.conftest import TODAY, Api
from tests.graphs import record, relate, subject
from tests.ids import make_uscc

S = make_uscc(org="MA3C00001")
B = make_uscc(org="MA3C00002")
AGENCY = make_uscc(prefix="11", org="004187451")
PERSON = "P" + "B" * 24
DECIDED = dt.date(2025, 3, 31)  # month ends: +3 months is 2025-06-30, +12 is 2026-03-31
PROMISE = "本单位承诺依法诚信经营，不再发生同类违法行为。"


@pytest.fixture()
def world(graph: Graph) -> Graph:
    subject(graph, S, "德州市甲食品有限公司")
    subject(graph, B, "德州市乙商贸有限公司")
    subject(graph, AGENCY, "德州市德城区市场监督管理局", "AGENCY")
    subject(graph, PERSON, "张三明", "NATURAL_PERSON")
    relate(graph, PERSON, S, "LEGAL_REPRESENTATIVE")
    relate(graph, PERSON, B, "LEGAL_REPRESENTATIVE")
    return graph


def penalty(graph: Graph, rid: str, severity: str = "一般", decided: dt.date = DECIDED,
            owner: str = S, **props: Any) -> None:
    record(graph, owner, "Penalty", rid, severity=severity, date=decided, domain="market",
           title="未按规定公示年度报告", authority="德州市德城区市场监督管理局",
           publicityUntil=dt.date(2099, 1, 1), **props)
    graph.write("MATCH (r:Penalty {id: $id}), (a:Subject {id: $a}) CREATE (r)-[:ISSUED_BY]->(a)",
                {"id": rid, "a": AGENCY})


@pytest.mark.parametrize(("severity", "months"), [("轻微", 0), ("一般", 3), ("严重", 12)])
def test_minimum_publicity_boundaries(world: Graph, rules: Rules, severity: str,
                                      months: int) -> None:
    penalty(world, "P-1", severity)
    earliest = add_months(DECIDED, months)
    before = request_repair(world, rules, "P-1", PROMISE, "desk", earliest - dt.timedelta(1))
    assert not before.eligible
    assert before.earliest == earliest
    assert f"minimum publicity period ({months} months for a {severity} penalty" in before.reason
    assert before.repair is None
    assert world.read("MATCH (r:Penalty {id: 'P-1'}) RETURN r.status AS s")[0]["s"] == "ACTIVE"
    at = request_repair(world, rules, "P-1", PROMISE, "desk", earliest)
    assert at.eligible and at.earliest == earliest
    assert at.record["status"] == "REPAIRED"


def test_a_domain_has_its_own_period(world: Graph, rules: Rules) -> None:
    food = rules.with_overrides({"repair": {"domain_months": {"market": {"一般": 6}}}})
    penalty(world, "P-1", "一般")
    day = add_months(DECIDED, 3)
    assert request_repair(world, rules.with_overrides({}), "P-1", PROMISE, "desk",
                          day - dt.timedelta(1)).earliest == day
    refused = request_repair(world, food, "P-1", PROMISE, "desk", day)
    assert not refused.eligible and refused.earliest == add_months(DECIDED, 6)
    assert request_repair(world, food, "P-1", PROMISE, "desk", add_months(DECIDED, 6)).eligible


@pytest.mark.parametrize(("key", "said"), [("食品药品", "(write food_drug)"), ("fod_drug", "")])
def test_a_domain_period_for_no_domain_is_refused(rules: Rules, key: str, said: str) -> None:
    """A key naming no domain would leave the domain on the default period (repaired months
    early) without a word: the rules do not load, naming the key."""
    with pytest.raises(RulesError) as raised:
        rules.with_overrides({"repair": {"domain_months": {key: {"一般": 6}}}})
    assert f"[repair.domain_months.{key}] is not a domain{' ' + said if said else ''}" in str(
        raised.value)
    assert "food_drug" in str(raised.value)


def test_the_grant_writes_repair_commitment_and_status(world: Graph, rules: Rules) -> None:
    penalty(world, "P-1", "严重")
    day = dt.date(2026, 6, 30)
    decision = request_repair(world, rules, "P-1", PROMISE, "desk-admin", day)
    assert decision.eligible and decision.repair is not None
    found = world.read("""
        MATCH (x:Repair)-[:REPAIRS]->(r:Penalty {id: 'P-1'})
        MATCH (s:Subject)-[h:HAS_RECORD]->(c:Commitment {id: x.commitment})
        RETURN x {.record, .subject, .grantedOn, .actor, .severity, .publicityMonths} AS x,
               r.status AS status, r.repairedOn AS repairedOn, s.id AS owner, h.role AS role,
               c {.kind, .status, .content, .commitmentKind, .madeOn} AS c""")
    assert len(found) == 1
    row = found[0]
    assert row["x"] == {"record": "P-1", "subject": S, "grantedOn": day, "actor": "desk-admin",
                        "severity": "严重", "publicityMonths": 12}
    assert (row["status"], row["repairedOn"], row["owner"], row["role"]) == (
        "REPAIRED", day, S, "subject")
    assert row["c"] == {"kind": "COMMITMENT", "status": "ACTIVE", "content": PROMISE,
                        "commitmentKind": "信用修复", "madeOn": day}
    again = request_repair(world, rules, "P-1", PROMISE, "desk", day)
    assert not again.eligible and again.reason.startswith(f"already repaired on {day}")
    assert world.read("MATCH (x:Repair) RETURN count(x) AS n")[0]["n"] == 1


def test_unfulfilled_penalty_is_not_repairable(world: Graph, rules: Rules) -> None:
    penalty(world, "P-1", "一般")
    world.write("""
        MATCH (s:Subject {id: $s}), (a:Subject {id: $a})
        CREATE (s)-[:HAS_RECORD {role: 'debtor'}]->(j:Judgment {id: '（2025）鲁1402执1号',
               kind: 'JUDGMENT', status: 'ACTIVE', date: date('2025-05-10'),
               dueOn: date('2025-06-10')})<-[:HAS_RECORD {role: 'creditor'}]-(a)""",
                {"s": S, "a": AGENCY})
    day = dt.date(2026, 6, 30)
    refused = request_repair(world, rules, "P-1", PROMISE, "desk", day)
    assert not refused.eligible and refused.earliest is None
    assert "enforcement case （2025）鲁1402执1号 of the issuing authority" in refused.reason
    world.write("MATCH (j:Judgment) SET j.fulfilledOn = date('2026-01-05')")
    assert request_repair(world, rules, "P-1", PROMISE, "desk", day).eligible


def test_a_note_saying_unpaid_blocks_repair(world: Graph, rules: Rules) -> None:
    penalty(world, "P-1", "一般", note="罚款未缴纳")
    refused = request_repair(world, rules, "P-1", PROMISE, "desk", dt.date(2026, 6, 30))
    assert not refused.eligible and "its note says 未缴纳" in refused.reason
    world.write("MATCH (r:Penalty {id: 'P-1'}) SET r.note = '罚款已缴纳'")
    assert request_repair(world, rules, "P-1", PROMISE, "desk", dt.date(2026, 6, 30)).eligible


def test_reoffending_after_a_repair_bars_repair_for_twelve_months(world: Graph,
                                                                   rules: Rules) -> None:
    penalty(world, "P-1", "一般", decided=dt.date(2024, 1, 10))
    penalty(world, "P-2", "一般", decided=dt.date(2024, 2, 10))
    granted = dt.date(2024, 6, 1)
    assert request_repair(world, rules, "P-1", PROMISE, "desk", granted).eligible
    penalty(world, "P-3", "一般", decided=dt.date(2024, 9, 15))  # 3.5 months after the repair
    barred_until = dt.date(2025, 9, 15)
    refused = request_repair(world, rules, "P-2", PROMISE, "desk", dt.date(2025, 1, 1))
    assert not refused.eligible and refused.earliest == barred_until
    assert "re-offended: penalty P-3 of 2024-09-15 came within 12 months of the repair of " \
           "P-1 on 2024-06-01, which bars repair until 2025-09-15" in refused.reason
    assert not request_repair(world, rules, "P-3", PROMISE, "desk",
                              barred_until - dt.timedelta(1)).eligible
    assert request_repair(world, rules, "P-2", PROMISE, "desk", barred_until).eligible


def test_a_repair_granted_when_the_bar_ends_became_possible_that_day(world: Graph,
                                                                     rules: Rules) -> None:
    """Granted on the day a re-offence bar ends, the repair became possible that day, not when
    the minimum publicity ended months before (found by a held-out review: earliestDate and
    the Repair's eligibleFrom said the publicity end, as if the bar had never been)."""
    penalty(world, "P-1", "一般", decided=dt.date(2025, 1, 10))
    assert request_repair(world, rules, "P-1", PROMISE, "desk", dt.date(2025, 5, 1)).eligible
    penalty(world, "P-2", "一般", decided=dt.date(2026, 5, 1))  # 12 months to the day after
    barred_until = dt.date(2027, 5, 1)
    refused = request_repair(world, rules, "P-2", PROMISE, "desk", barred_until - dt.timedelta(1))
    assert not refused.eligible and refused.earliest == barred_until
    granted = request_repair(world, rules, "P-2", PROMISE, "desk", barred_until)
    assert granted.eligible and granted.earliest == barred_until
    assert granted.repair is not None and granted.repair["eligibleFrom"] == barred_until
    assert ("minimum publicity period (3 months) ended on 2026-08-01" in granted.reason
            and "the re-offence bar ended on 2027-05-01" in granted.reason), granted.reason


def test_a_new_penalty_after_the_window_is_no_reoffence(world: Graph, rules: Rules) -> None:
    penalty(world, "P-1", "一般", decided=dt.date(2024, 1, 10))
    assert request_repair(world, rules, "P-1", PROMISE, "desk", dt.date(2024, 6, 1)).eligible
    penalty(world, "P-2", "一般", decided=dt.date(2025, 6, 2))  # 12 months and a day later
    assert request_repair(world, rules, "P-2", PROMISE, "desk", dt.date(2025, 9, 2)).eligible


def test_a_penalty_whose_publicity_ended_has_nothing_to_repair(world: Graph,
                                                               rules: Rules) -> None:
    """A penalty past its 公示期 no longer counts nor is published, yet was repaired: EXPIRED
    became REPAIRED and the repair started a re-offence window and a repair bar (R5) (left
    as found by a held-out review of the repair calendar). Now eligible: false, saying so."""
    ended = dt.date(2026, 1, 10)
    record(world, S, "Penalty", "P-old", severity="一般", date=dt.date(2025, 1, 10),
           domain="market", publicityUntil=ended)
    record(world, S, "Penalty", "P-stored", severity="一般", date=dt.date(2024, 1, 10),
           domain="market", status="EXPIRED")
    for rid in ("P-old", "P-stored"):
        decision = request_repair(world, rules, rid, PROMISE, "desk", dt.date(2026, 6, 30))
        assert not decision.eligible and decision.earliest is None
        assert "nothing to repair" in decision.reason
    assert "公示期) ended on 2026-01-10" in request_repair(
        world, rules, "P-old", PROMISE, "desk", dt.date(2026, 6, 30)).reason
    assert world.read("MATCH (x:Repair) RETURN count(x) AS n") == [{"n": 0}]
    # on its last day of publicity it is still repairable
    assert request_repair(world, rules, "P-old", PROMISE, "desk", ended).eligible


def test_only_penalties_are_repaired(world: Graph, rules: Rules) -> None:
    record(world, S, "Listing", "L-1", listType="经营异常名录", date=DECIDED)
    with pytest.raises(Refused, match="only administrative penalties"):
        request_repair(world, rules, "L-1", PROMISE, "desk", dt.date(2026, 6, 30))


def test_in_force_and_its_python_twin_agree(graph: Graph) -> None:
    day = dt.date(2026, 6, 30)
    cases = {
        "plain": {"status": "ACTIVE"},
        "disputed": {"status": "DISPUTED"},
        "repaired": {"status": "REPAIRED", "repairedOn": day},
        "revoked": {"status": "REVOKED", "revokedOn": day},
        "revoked-undated": {"status": "REVOKED"},
        "corrected": {"status": "ACTIVE", "correctedOn": day},
    }
    for rid, props in cases.items():
        graph.write("CREATE (r:Penalty {id: $id}) SET r += $props", {"id": rid, "props": props})
    query = f"MATCH (r:Penalty) WHERE {in_force('r')} RETURN collect(r.id) AS ids"
    counted = {}
    for at in (day - dt.timedelta(1), day):
        cypher = set(graph.read(query, {"asOf": at})[0]["ids"])
        assert cypher == {rid for rid, props in cases.items() if in_force_at(props, at)}
        counted[at] = cypher
    assert counted == {day - dt.timedelta(1): {"plain", "disputed", "repaired", "revoked"},
                       day: {"plain", "disputed", "corrected"}}


# -- through the API -------------------------------------------------------------------------
REQUEST = """mutation($id: ID!, $c: String!) { requestRepair(recordId: $id, commitment: $c) {
  eligible earliestDate reason record { id status } repair { id grantedOn commitment
  commitmentText subject record { id } } } }"""
RISK = """query($id: ID!, $asOf: Date) { riskAssessment(id: $id, asOf: $asOf) { ownScore
  associationScore signals { record { id status } } } }"""
RECORDS = 'query($id: ID!) { subject(id: $id) { records { id status } } }'


def ok(api: Api, query: str, role: str = "admin", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    return body["data"]


def code(api: Api, query: str, role: str = "admin", **variables: Any) -> str:
    body = api.query(query, role, **variables)
    assert body.get("errors"), body
    return str(body["errors"][0]["extensions"]["code"])


def test_repaired_record_leaves_risk_but_stays_in_history(world: Graph, api: Api) -> None:
    today = TODAY
    yesterday = (today - dt.timedelta(1)).isoformat()
    penalty(world, "P-1", "严重", decided=today - dt.timedelta(days=400))
    before = ok(api, RISK, id=S)["riskAssessment"]
    before_yesterday = ok(api, RISK, id=S, asOf=yesterday)["riskAssessment"]
    associated = ok(api, RISK, id=B)["riskAssessment"]["associationScore"]
    assert before["ownScore"] > 0 and associated > 0
    decision = ok(api, REQUEST, id="P-1", c=PROMISE)["requestRepair"]
    assert decision["eligible"] and decision["record"] == {"id": "P-1", "status": "REPAIRED"}
    assert decision["repair"]["grantedOn"] == today.isoformat()
    assert decision["repair"]["commitmentText"] == PROMISE
    assert decision["repair"]["subject"] == S
    after = ok(api, RISK, id=S)["riskAssessment"]
    assert after["ownScore"] == 0 and after["signals"] == []
    assert ok(api, RISK, id=B)["riskAssessment"]["associationScore"] == 0
    # an earlier asOf still counts the record as it was (showing its status of today)
    then = ok(api, RISK, id=S, asOf=yesterday)["riskAssessment"]
    assert then["ownScore"] == before_yesterday["ownScore"] > 0
    assert then["signals"] == [{"record": {"id": "P-1", "status": "REPAIRED"}}]
    records = ok(api, RECORDS, id=S)["subject"]["records"]
    assert {"id": "P-1", "status": "REPAIRED"} in records
    assert any(r["id"] == decision["repair"]["commitment"] for r in records)
    listed = ok(api, "query($s: ID) { repairs(subject: $s) { id record { id } grantedOn } }",
                "investigator", s=S)["repairs"]
    assert listed == [{"id": decision["repair"]["id"], "record": {"id": "P-1"},
                       "grantedOn": today.isoformat()}]


def test_refusal_through_the_api(world: Graph, api: Api) -> None:
    today = TODAY
    penalty(world, "P-1", "一般", decided=today - dt.timedelta(days=10))
    decision = ok(api, REQUEST, id="P-1", c=PROMISE)["requestRepair"]
    assert decision["eligible"] is False and decision["repair"] is None
    assert decision["earliestDate"] == add_months(today - dt.timedelta(days=10), 3).isoformat()
    assert decision["record"] == {"id": "P-1", "status": "ACTIVE"}


def test_bad_repair_requests(world: Graph, api: Api) -> None:
    penalty(world, "P-1", "一般")
    record(world, S, "License", "LIC-1", date=DECIDED)
    assert code(api, REQUEST, id="NO-SUCH", c=PROMISE) == "NOT_FOUND"
    assert code(api, REQUEST, id="LIC-1", c=PROMISE) == "BAD_USER_INPUT"
    assert code(api, REQUEST, id="P-1", c="   ") == "BAD_USER_INPUT"
    assert code(api, REQUEST, id="P-1", c="诺" * 2001) == "BAD_USER_INPUT"
    assert code(api, REQUEST, "investigator", id="P-1", c=PROMISE) == "FORBIDDEN"
    assert code(api, REQUEST, "monitor", id="P-1", c=PROMISE) == "FORBIDDEN"
    assert world.read("MATCH (n) WHERE n:Repair OR n:Commitment RETURN count(n) AS n")[0][
        "n"] == 0


def test_services_rules_change_the_period(world: Graph, services: Services) -> None:
    penalty(world, "P-1", "一般", decided=TODAY - dt.timedelta(days=120))
    strict = services.with_rules(services.rules.with_overrides(
        {"repair": {"min_publicity_months": {"一般": 12}}}))
    decision = ok(Api(strict), REQUEST, id="P-1", c=PROMISE)["requestRepair"]
    assert decision["eligible"] is False
    assert "(12 months for a 一般 penalty" in decision["reason"]
