"""屡罚不改 and 分级分类 through the real app and Neo4j: every query, mutation and role."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.graph.locks import RunLock
from credgraph.services import Services
from tests.conftest import TODAY, Api
from tests.graphs import record, relate, subject


def days(n: int) -> dt.date:
    return TODAY - dt.timedelta(days=n)


def penalty(graph: Graph, sid: str, pid: str, date: dt.date, severity: str = "一般",
            domain: str = "food_drug") -> None:
    record(graph, sid, "Penalty", pid, date=date, severity=severity, domain=domain,
           publicityUntil=date + dt.timedelta(days=365), title="销售不符合食品安全标准的食品")


USCC_A = "91371402MA3C0000A6"
USCC_B = "91371402MA3C0000B9"
USCC_C = "91371403MA3C0000CT"
USCC_D = "91371402MA3C0000DF"
UNKNOWN = "91371402MA3C0000EJ"
PERSON = "P" + "1" * 24


@pytest.fixture()
def city(graph: Graph) -> Graph:
    """A (德城区, R1 → FOCUS), B (德城区, R2 → FOCUS), C (陵城区, R1 + 严重 → SEVERE_PROPOSED)
    with legal representative P (a person) ; D clean."""
    subject(graph, USCC_A, "德州甲食品有限公司")
    subject(graph, USCC_B, "德州乙商贸有限公司")
    subject(graph, USCC_C, "德州丙食品有限公司", region="371403")
    subject(graph, USCC_D, "德州丁科技有限公司")
    subject(graph, PERSON, "张三丰", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = '371402********1234'", {"id": PERSON})
    relate(graph, PERSON, USCC_C, "LEGAL_REPRESENTATIVE")
    return graph


def plant(graph: Graph, age: int) -> None:
    """The penalties, `age` days before today at the newest."""
    for index in range(3):
        penalty(graph, USCC_A, f"A{index}", days(age + 30 * index))
        penalty(graph, USCC_C, f"C{index}", days(age + 30 * index))
    penalty(graph, USCC_C, "C9", days(age), severity="严重")
    for index, domain in enumerate(["food_drug", "tax", "environment", "land", "fire"]):
        penalty(graph, USCC_B, f"B{index}", days(age + index), domain=domain)


def data(api: Api, query: str, role: str = "admin", **variables: object) -> dict[str, Any]:
    body = api.query(query, role=role, **variables)
    assert "errors" not in body, body
    result: dict[str, Any] = body["data"]  # type: ignore[assignment]
    return result


def error(api: Api, query: str, role: str = "admin", **variables: object) -> tuple[str, str]:
    body = api.query(query, role=role, **variables)
    errors: list[dict[str, Any]] = body["errors"]  # type: ignore[assignment]
    return errors[0]["extensions"]["code"], errors[0]["message"]


RUN = "mutation($asOf: Date) { runEscalation(asOf: $asOf) { asOf created raised unchanged " \
      "lifted lowered } }"
CONFIRM = """mutation($s: ID!, $note: String!) { confirmEscalation(subject: $s, note: $note) {
  level status since confirmedOn confirmedBy measures
  history { action level actor note } subject { id } } }"""
OFFENDERS = """query($asOf: Date, $level: EscalationLevel, $region: String, $first: Int,
                     $after: String) {
  repeatOffenders(asOf: $asOf, level: $level, region: $region, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { id level status rules reasons since measures inspectionRatio
      proposedOn earliestConfirmation
      subject { id name regionName creditGrade { grade score } escalation { level } }
      triggers { id kind severity domain date }
      history { at action level actor } } } } }"""
PLAN = "query($region: String, $size: Int!, $seed: Int!) { inspectionPlan(region: $region, " \
       "size: $size, seed: $seed) { id creditGrade { grade inspectionRatio } } }"
SUBJECT = """query($id: ID!) { subject(id: $id) { id name
  escalation { level status rules propagatedFrom triggers { id } history { action } }
  creditGrade { grade score inspectionRatio cappedBy deductions { reason points } } } }"""


def test_a_run_before_the_calendar_is_refused(api: Api, city: Graph) -> None:
    """As of 0001-01-01 a run's window starts before year 1: BAD_USER_INPUT (it was INTERNAL),
    and nothing written."""
    plant(city, 10)
    assert data(api, RUN)["runEscalation"]["created"] == 3
    code, message = error(api, RUN, asOf="0001-01-01")
    assert code == "BAD_USER_INPUT" and "too early" in message, message
    page = data(api, OFFENDERS, role="investigator")["repeatOffenders"]
    assert page["totalCount"] == 3
    assert {edge["node"]["status"] for edge in page["edges"]} == {"ACTIVE"}


def test_a_run_while_another_runs_is_refused(api: Api, city: Graph) -> None:
    """One escalation run at a time: runEscalation while `credgraph escalate` holds the lock
    is LIMIT_EXCEEDED naming the run, and writes nothing; once it is released the run goes."""
    plant(city, 10)
    holder = RunLock(city, "escalation", "ER-cron", 600)
    holder.acquire()
    code, message = error(api, RUN)
    assert code == "LIMIT_EXCEEDED" and "run ER-cron" in message, message
    assert city.read("MATCH (e:Escalation) RETURN count(e) AS n") == [{"n": 0}]
    holder.release()
    assert data(api, RUN)["runEscalation"]["created"] == 3


def test_a_run_is_audited_with_the_subjects_it_changed(api: Api, city: Graph,
                                                       services: Services) -> None:
    """runEscalation is a mutation: its audit event names the subjects whose escalation it
    opened (a second run, changing nothing, names none)."""
    plant(city, 10)
    data(api, RUN)
    data(api, RUN)
    services.audit.flush()
    runs = city.read("MATCH (e:AuditEvent {operation: 'runEscalation'}) "
                     "RETURN e.subjects AS subjects")
    escalated = city.read("MATCH (s:Subject)-[:HAS_ESCALATION]->() RETURN collect(s.id) AS ids")
    assert len(escalated[0]["ids"]) == 3
    assert sorted(sorted(r["subjects"]) for r in runs) == [[], sorted(escalated[0]["ids"])]


def test_a_confirmation_is_audited_with_the_persons_it_escalated(api: Api, city: Graph,
                                                                 services: Services) -> None:
    """confirmEscalation puts the company's legal representative at FOCUS (联合惩戒对象): its
    audit event names him after the company, so that his auditLog finds who did it."""
    plant(city, 45)
    data(api, RUN, asOf=days(40).isoformat())
    data(api, CONFIRM, s=USCC_C, note="告知期满无异议，列入名单")
    services.audit.flush()
    events = city.read("MATCH (e:AuditEvent {operation: 'confirmEscalation'}) "
                       "RETURN e.subjects AS subjects")
    assert [event["subjects"] for event in events] == [[USCC_C, PERSON]]


def test_run_and_list(api: Api, city: Graph) -> None:
    plant(city, 10)
    run = data(api, RUN)["runEscalation"]
    assert run == {"asOf": TODAY.isoformat(), "created": 3, "raised": 0, "unchanged": 0,
                   "lifted": 0, "lowered": 0}
    again = data(api, RUN, asOf=TODAY.isoformat())["runEscalation"]
    assert (again["created"], again["unchanged"]) == (0, 3)

    page = data(api, OFFENDERS, role="investigator", first=2)["repeatOffenders"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"]
    first, second = (edge["node"] for edge in page["edges"])
    assert (first["subject"]["id"], first["level"], first["rules"]) == (
        USCC_C, "SEVERE_PROPOSED", ["R1", "R3"])
    assert first["subject"]["regionName"] == "德州市陵城区"
    # 100 − 3 × 5 − 15 (严重) − 20 (SEVERE_PROPOSED), answered in one query for the page
    assert first["subject"]["creditGrade"] == {"grade": "D", "score": 50}
    assert first["subject"]["escalation"] == {"level": "SEVERE_PROPOSED"}
    assert first["earliestConfirmation"] == (TODAY + dt.timedelta(days=30)).isoformat()
    assert sorted(t["id"] for t in first["triggers"]) == ["C0", "C1", "C2", "C9"]
    assert first["triggers"][0]["date"] == days(10).isoformat()  # newest first
    assert first["history"][0]["action"] == "created"
    assert first["history"][0]["actor"] == "test-admin"
    assert second["level"] == "FOCUS" and second["inspectionRatio"] == 0.6
    rest = data(api, OFFENDERS, role="monitor", first=2,
                after=page["pageInfo"]["endCursor"])["repeatOffenders"]
    assert rest["totalCount"] == 3 and not rest["pageInfo"]["hasNextPage"]
    seen = [e["node"]["subject"]["id"] for e in page["edges"] + rest["edges"]]
    assert sorted(seen) == sorted([USCC_A, USCC_B, USCC_C])

    by_level = data(api, OFFENDERS, level="FOCUS")["repeatOffenders"]
    assert {e["node"]["subject"]["id"] for e in by_level["edges"]} == {USCC_A, USCC_B}
    everyone = {USCC_A, USCC_B, USCC_C}
    for region, expected in (("371403", {USCC_C}), ("371402", {USCC_A, USCC_B}),
                             ("371400", everyone), ("37", everyone), ("130902", set())):
        found = data(api, OFFENDERS, region=region)["repeatOffenders"]
        assert {e["node"]["subject"]["id"] for e in found["edges"]} == expected, region
        assert found["totalCount"] == len(expected)
    assert data(api, OFFENDERS, first=0)["repeatOffenders"]["totalCount"] == 3
    # as of a date before the run's: nothing was open yet
    yesterday = data(api, OFFENDERS, asOf=days(1).isoformat())["repeatOffenders"]
    assert yesterday["totalCount"] == 0
    assert data(api, OFFENDERS, asOf=TODAY.isoformat())["repeatOffenders"]["totalCount"] == 3


def test_bad_input(api: Api, city: Graph) -> None:
    assert error(api, OFFENDERS, first=501) [0] == "LIMIT_EXCEEDED"
    assert error(api, OFFENDERS, first=-1)[0] == "BAD_USER_INPUT"
    code, message = error(api, OFFENDERS, after="not-a-cursor")
    assert code == "BAD_USER_INPUT" and "cursor" in message
    assert error(api, OFFENDERS, after="esc1:!!!")[0] == "BAD_USER_INPUT"
    code, message = error(api, OFFENDERS, region="999999")
    assert code == "BAD_USER_INPUT" and "unknown region" in message
    assert error(api, OFFENDERS, region="德州")[0] == "BAD_USER_INPUT"
    assert error(api, OFFENDERS, level="HIGH")[0] == "BAD_USER_INPUT"
    assert error(api, OFFENDERS, asOf="2026/13/45")[0] == "BAD_USER_INPUT"
    assert error(api, 'query { repeatOffenders(asOf: "yesterday") { totalCount } }')[0] == \
        "BAD_USER_INPUT"
    assert error(api, RUN, asOf="20261")[0] == "BAD_USER_INPUT"
    assert error(api, PLAN, size=0, seed=1)[0] == "BAD_USER_INPUT"
    assert error(api, PLAN, size=1001, seed=1)[0] == "LIMIT_EXCEEDED"
    assert error(api, PLAN, size=5, seed=1, region="12345")[0] == "BAD_USER_INPUT"


def test_a_confirmation_note_is_bounded_by_the_rules_text_length(services: Services) -> None:
    """confirmEscalation's note is one of the desk's free texts: [repair] max_text bounds it,
    as it bounds a commitment, an objection's reason and a resolution's note — it was a
    2,000 of its own, which a deployment changing max_text did not move."""
    shipped = Api(services)
    code, message = error(shipped, CONFIRM, s=UNKNOWN, note="因" * 2001)
    assert code == "BAD_USER_INPUT" and "2000" in message
    tight = Api(services.with_rules(services.rules.with_overrides({"repair": {"max_text": 10}})))
    code, message = error(tight, CONFIRM, s=UNKNOWN, note="告知期满无异议，列入名单")
    assert code == "BAD_USER_INPUT" and "10 characters" in message
    assert error(tight, CONFIRM, s=UNKNOWN, note="告知期满")[0] == "NOT_FOUND"
    roomy = Api(services.with_rules(services.rules.with_overrides({"repair": {"max_text": 3000}})))
    assert error(roomy, CONFIRM, s=UNKNOWN, note="因" * 2500)[0] == "NOT_FOUND"


def test_confirm_workflow(api: Api, city: Graph) -> None:
    plant(city, 45)
    data(api, RUN, asOf=days(40).isoformat())  # proposed 40 days ago: the notice period is over
    code, message = error(api, CONFIRM, s=USCC_A, note="确认")
    assert code == "BAD_USER_INPUT" and "FOCUS" in message
    assert error(api, CONFIRM, s="91371402MA3C0000XX", note="x")[0] == "BAD_USER_INPUT"
    assert error(api, CONFIRM, s=UNKNOWN, note="x")[0] == "NOT_FOUND"
    assert error(api, CONFIRM, s=USCC_C, note="  ")[0] == "BAD_USER_INPUT"
    for role in ("investigator", "monitor", "partner"):
        assert error(api, CONFIRM, role=role, s=USCC_C, note="确认")[0] == "FORBIDDEN"
    confirmed = data(api, CONFIRM, s=USCC_C, note="告知期满无异议，列入名单")["confirmEscalation"]
    assert (confirmed["level"], confirmed["confirmedOn"], confirmed["since"]) == (
        "SEVERE", TODAY.isoformat(), TODAY.isoformat())
    assert confirmed["confirmedBy"] == "test-admin"
    assert "限制政府采购" in confirmed["measures"]
    assert [h["action"] for h in confirmed["history"]] == ["created", "confirmed"]
    assert confirmed["history"][-1]["note"] == "告知期满无异议，列入名单"
    code, message = error(api, CONFIRM, s=USCC_C, note="again")
    assert code == "BAD_USER_INPUT" and "already confirmed" in message
    # the legal representative is now a 联合惩戒对象
    person = data(api, SUBJECT, role="investigator", id=PERSON)["subject"]
    assert person["escalation"]["level"] == "FOCUS"
    assert person["escalation"]["rules"] == ["PROPAGATION"]
    assert person["escalation"]["propagatedFrom"] == [USCC_C]
    company = data(api, SUBJECT, id=USCC_C)["subject"]
    assert company["creditGrade"]["grade"] == "D"
    assert company["creditGrade"]["cappedBy"] in (None, "escalation SEVERE")


def test_confirm_before_the_notice_period(api: Api, city: Graph) -> None:
    plant(city, 10)
    data(api, RUN, asOf=days(5).isoformat())
    earliest = (days(5) + dt.timedelta(days=30)).isoformat()
    code, message = error(api, CONFIRM, s=USCC_C, note="确认")
    assert code == "BAD_USER_INPUT" and earliest in message
    assert data(api, SUBJECT, id=USCC_C)["subject"]["escalation"]["level"] == "SEVERE_PROPOSED"
    assert data(api, SUBJECT, id=PERSON)["subject"]["escalation"] is None


def test_subject_fields_and_masking(api: Api, city: Graph) -> None:
    plant(city, 10)
    data(api, RUN)
    clean = data(api, SUBJECT, role="monitor", id=USCC_D)["subject"]
    assert clean["escalation"] is None
    assert clean["creditGrade"] == {"grade": "A", "score": 100, "inspectionRatio": 0.05,
                                    "cappedBy": None, "deductions": []}
    a = data(api, SUBJECT, role="investigator", id=USCC_A)["subject"]
    assert a["escalation"]["level"] == "FOCUS"
    assert sorted(t["id"] for t in a["escalation"]["triggers"]) == ["A0", "A1", "A2"]
    assert a["creditGrade"]["score"] == 100 - 3 * 5 - 10
    assert a["creditGrade"]["grade"] == "B"
    masked = data(api, "query { subject(id: \"" + PERSON + "\") { name } }", role="monitor")
    assert masked["subject"]["name"] == "张*丰"


@pytest.mark.parametrize(("role", "allowed"), [
    ("admin", {"repeatOffenders", "inspectionPlan", "runEscalation", "confirmEscalation"}),
    ("investigator", {"repeatOffenders", "inspectionPlan"}),
    ("monitor", {"repeatOffenders", "inspectionPlan"}),
    ("partner", set()),
])
def test_roles(api: Api, city: Graph, role: str, allowed: set[str]) -> None:
    calls = {
        "repeatOffenders": ("query { repeatOffenders { totalCount } }", {}),
        "inspectionPlan": (PLAN, {"size": 2, "seed": 1}),
        "runEscalation": (RUN, {}),
        "confirmEscalation": (CONFIRM, {"s": USCC_C, "note": "x"}),
    }
    for name, (query, variables) in calls.items():
        body = api.query(query, role=role, **variables)
        codes = [e["extensions"]["code"] for e in body.get("errors") or []]  # type: ignore[union-attr]
        if name in allowed:
            assert "FORBIDDEN" not in codes, (role, name, body)
        else:
            assert codes == ["FORBIDDEN"], (role, name, body)
    assert api.query(RUN, role=None)  # no key: refused before GraphQL
    assert api.last_status == 401


def test_inspection_plan(api: Api, city: Graph) -> None:
    plant(city, 10)
    data(api, RUN)
    for index in range(20):
        subject(city, f"X{index:02}", f"德州戊{index}有限公司")
    subject(city, "GOV", "德州市德城区市场监督管理局", "AGENCY")
    first = data(api, PLAN, role="monitor", region="371402", size=5, seed=42)["inspectionPlan"]
    assert len(first) == 5
    assert "GOV" not in {s["id"] for s in first}
    assert data(api, PLAN, region="371402", size=5, seed=42)["inspectionPlan"] == first
    # an investigator draws the same plan (SPEC §9 limits inspectionPlan to no role)
    assert data(api, PLAN, role="investigator", region="371402", size=5, seed=42)[
        "inspectionPlan"] == first
    everyone = data(api, PLAN, region="371402", size=1000, seed=1)["inspectionPlan"]
    assert {s["id"] for s in everyone} == {USCC_A, USCC_B, USCC_D} | {
        f"X{i:02}" for i in range(20)}
    # quotas first: B ⌈0.2 × 1⌉ = 1 (A), C ⌈0.6 × 1⌉ = 1 (B), A ⌈0.05 × 21⌉ = 2
    assert {USCC_A, USCC_B} <= {s["id"] for s in everyone[:4]}
    assert sorted(s["creditGrade"]["grade"] for s in everyone[:4]) == ["A", "A", "B", "C"]
