"""Every query, error code, limit and role through the real ASGI app and a real Neo4j."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
import strawberry
from graphql import GraphQLError

from credgraph.api.app import error_code
from credgraph.api.schema import Mutation, Query
from credgraph.graph.driver import Graph
from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import Privacy, mask_id_number
from credgraph.services import Services
from tests.conftest import TEST_SECRET, TODAY, Api
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc

S = "91371402MA3C00001A"
RAW = make_id(region="371402", born="19900307", seq="003")  # the legal rep's, ends in X
PKEY = Privacy(TEST_SECRET.encode()).person_key(parse_id_number(RAW))
MASKED = mask_id_number(RAW)


@pytest.fixture()
def world(graph: Graph, services: Services) -> Graph:
    subject(graph, "S", "德州市甲食品有限公司")
    subject(graph, PKEY, "张三明", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = $masked, p.idEnc = $sealed",
                {"id": PKEY, "masked": MASKED,
                 "sealed": services.privacy.encrypt(parse_id_number(RAW))})
    subject(graph, "B", "滨州市乙商贸有限公司", region="371602")
    subject(graph, "O", "王五", "NATURAL_PERSON")
    relate(graph, PKEY, "S", "LEGAL_REPRESENTATIVE")
    relate(graph, PKEY, "B", "LEGAL_REPRESENTATIVE")
    relate(graph, "O", "S", "SHAREHOLDER", ratio=0.4)
    record(graph, "S", "Penalty", "德城市监罚〔2026〕1号", severity="一般", domain="food_drug",
           date=AS_OF - dt.timedelta(days=30), publicityUntil=dt.date(2027, 6, 1),
           title="销售不符合食品安全标准的食品", authority="德州市德城区市场监督管理局")
    record(graph, "B", "Listing", "L-1", listType="失信被执行人", domain="judicial",
           date=AS_OF - dt.timedelta(days=10))
    return graph


def data(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    return body["data"]


def error(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert body.get("errors"), body
    return body["errors"][0]


def test_ids_are_validated(world: Graph, api: Api) -> None:
    found = error(api, 'query { subject(id: "S") { name } }')
    assert found["extensions"]["code"] == "BAD_USER_INPUT"
    assert "18 characters" in found["message"]


@pytest.fixture()
def company(world: Graph) -> str:
    world.write("MATCH (s {id: 'S'}) SET s.id = $id", {"id": S})
    return S


def test_subject_records(company: str, api: Api, graph: Graph) -> None:
    """Several records of several kinds and statuses: each filter visibly removes some."""
    for rid, status, day in (("P-repaired", "REPAIRED", 20), ("P-disputed", "DISPUTED", 40),
                             ("P-expired", "EXPIRED", 50)):
        record(graph, company, "Penalty", rid, status=status, severity="一般", domain="tax",
               date=AS_OF - dt.timedelta(days=day))
    record(graph, company, "Listing", "L-S", listType="经营异常名录", domain="market",
           date=AS_OF - dt.timedelta(days=5))
    record(graph, company, "License", "X-S", status="REVOKED", date=AS_OF)

    def ids(arguments: str) -> list[str]:
        query = "query($id: ID!) { subject(id: $id) { records" + arguments + " { id } } }"
        return [r["id"] for r in data(api, query, id=company)["subject"]["records"]]

    penalty = "德城市监罚〔2026〕1号"
    # newest first
    assert ids("") == ["X-S", "L-S", "P-repaired", penalty, "P-disputed", "P-expired"]
    assert ids("(kind: PENALTY)") == ["P-repaired", penalty, "P-disputed", "P-expired"]
    assert ids("(activeOnly: true)") == ["L-S", penalty, "P-disputed"]
    assert ids("(kind: PENALTY, activeOnly: true)") == [penalty, "P-disputed"]
    assert ids("(kind: PENALTY, activeOnly: false)") == ids("(kind: PENALTY)")
    assert ids("(kind: LICENSE, activeOnly: true)") == []
    result = data(api, """query($id: ID!) { subject(id: $id) { name regionName
        records(kind: PENALTY, activeOnly: true) { id kind domain severity status date title
        authority } } }""", id=company)["subject"]
    assert result["regionName"] == "德州市德城区"
    assert result["records"][0] == {
        "id": penalty, "kind": "PENALTY", "domain": "food_drug", "severity": "一般",
        "status": "ACTIVE", "date": "2026-05-31", "title": "销售不符合食品安全标准的食品",
        "authority": "德州市德城区市场监督管理局"}
    assert result["records"][1]["status"] == "DISPUTED"


def test_record_status_follows_its_dates(company: str, api: Api, graph: Graph) -> None:
    """A record stored ACTIVE at the last load whose 公示期 has ended, whose licence lapsed
    (有效期至), whose listing was removed or whose judgment was fulfilled since reads EXPIRED
    today, and drops out of activeOnly."""
    today = TODAY
    past, future = today - dt.timedelta(days=1), today + dt.timedelta(days=1)
    record(graph, company, "Penalty", "P-ended", severity="一般", domain="tax",
           date=today - dt.timedelta(days=400), publicityUntil=past)
    record(graph, company, "Penalty", "P-ends-today", severity="一般", domain="tax",
           date=today - dt.timedelta(days=300), publicityUntil=today)
    record(graph, company, "Listing", "L-removed", listType="经营异常名录", domain="market",
           date=today - dt.timedelta(days=200), removedOn=today)
    record(graph, company, "Listing", "L-removing", listType="经营异常名录", domain="market",
           date=today - dt.timedelta(days=190), removedOn=future)
    record(graph, company, "Judgment", "J-done", domain="judicial",
           date=today - dt.timedelta(days=100), fulfilledOn=past)
    record(graph, company, "Judgment", "J-open", domain="judicial",
           date=today - dt.timedelta(days=90), fulfilledOn=future)
    record(graph, company, "Penalty", "P-repaired-late", status="REPAIRED", severity="一般",
           domain="tax", date=today - dt.timedelta(days=80), publicityUntil=past)
    record(graph, company, "License", "X-lapsed", domain="market",
           date=today - dt.timedelta(days=700), validTo=past)
    record(graph, company, "License", "X-valid-today", domain="market",
           date=today - dt.timedelta(days=600), validTo=today)

    rows = data(api, "query($id: ID!) { subject(id: $id) { records { id status } } }",
                id=company)["subject"]["records"]
    status = {row["id"]: row["status"] for row in rows}
    assert {k: status[k] for k in ("P-ended", "P-ends-today", "L-removed", "L-removing",
                                   "J-done", "J-open", "P-repaired-late", "X-lapsed",
                                   "X-valid-today")} == {
        "P-ended": "EXPIRED", "P-ends-today": "ACTIVE", "L-removed": "EXPIRED",
        "L-removing": "ACTIVE", "J-done": "EXPIRED", "J-open": "ACTIVE",
        "P-repaired-late": "REPAIRED", "X-lapsed": "EXPIRED", "X-valid-today": "ACTIVE"}
    active = data(api, "query($id: ID!) { subject(id: $id) { records(activeOnly: true) { id } } }",
                  id=company)["subject"]["records"]
    assert {"P-ends-today", "L-removing", "J-open", "X-valid-today"} <= {r["id"] for r in active}
    assert not {"P-ended", "L-removed", "J-done", "X-lapsed"} & {r["id"] for r in active}


def test_records_and_escalation_as_of_a_date(company: str, api: Api, graph: Graph) -> None:
    """`records` and `Subject.escalation` took no asOf (left as found by the asOf review):
    an investigator could not see a subject's records or level as an earlier riskAssessment
    or repeatOffenders(asOf) saw them. Given asOf, records are those that existed then with
    their status on that day — a later repair, objection, end of publicity not yet — and the
    escalation is the level it had then."""
    today = TODAY
    then = today - dt.timedelta(days=20)
    record(graph, company, "Penalty", "P-repaired-since", status="REPAIRED", severity="一般",
           domain="tax", date=today - dt.timedelta(days=200), repairedOn=today,
           publicityUntil=today + dt.timedelta(days=100))
    record(graph, company, "Penalty", "P-published-then", severity="一般", domain="tax",
           date=today - dt.timedelta(days=400), publicityUntil=today - dt.timedelta(days=5))
    record(graph, company, "Penalty", "P-disputed-since", status="DISPUTED", severity="一般",
           domain="tax", date=today - dt.timedelta(days=150))
    graph.write("MATCH (r:Penalty {id: 'P-disputed-since'}) CREATE (:Objection {id: 'O-1', "
                "status: 'OPEN', filedOn: $today})-[:OBJECTS_TO]->(r)", {"today": today})
    record(graph, company, "Penalty", "P-later", severity="一般", domain="tax",
           date=today - dt.timedelta(days=2))
    history = [json.dumps({"asOf": (today - dt.timedelta(days=60)).isoformat(),
                           "at": "2026-01-01T00:00:00+00:00", "action": "created",
                           "level": "FOCUS", "rules": ["R1"]}),
               json.dumps({"asOf": (today - dt.timedelta(days=1)).isoformat(),
                           "at": "2026-01-02T00:00:00+00:00", "action": "raised",
                           "level": "SEVERE_PROPOSED", "rules": ["R3"]})]
    graph.write("MATCH (s:Subject {id: $id}) CREATE (s)-[:HAS_ESCALATION]->(:Escalation "
                "{id: 'E-' + $id, subject: $id, level: 'SEVERE_PROPOSED', status: 'ACTIVE', "
                "since: $since, proposedOn: $since, rules: ['R3'], history: $history})",
                {"id": company, "since": today - dt.timedelta(days=1), "history": history})
    query = """query($id: ID!, $asOf: Date, $active: Boolean) { subject(id: $id) {
        records(kind: PENALTY, asOf: $asOf, activeOnly: $active) { id status }
        escalation(asOf: $asOf) { level status rules } } }"""

    def answer(day: dt.date | None, active: bool = False) -> tuple[dict[str, str], Any]:
        found = data(api, query, id=company, asOf=day.isoformat() if day else None,
                     active=active)["subject"]
        return {r["id"]: r["status"] for r in found["records"]}, found["escalation"]

    now, level_now = answer(None)
    assert (now["P-repaired-since"], now["P-published-then"], now["P-disputed-since"]) == (
        "REPAIRED", "EXPIRED", "DISPUTED")
    assert "P-later" in now and level_now["level"] == "SEVERE_PROPOSED"
    past, level_then = answer(then)
    assert "P-later" not in past
    assert (past["P-repaired-since"], past["P-published-then"], past["P-disputed-since"]) == (
        "ACTIVE", "ACTIVE", "ACTIVE")
    assert level_then == {"level": "FOCUS", "status": "ACTIVE", "rules": ["R1"]}
    active, _ = answer(then, active=True)
    assert {"P-repaired-since", "P-published-then"} <= set(active)
    assert answer(today - dt.timedelta(days=90))[1] is None


def test_a_contracts_authority_is_its_government_party(company: str, api: Api,
                                                       graph: Graph) -> None:
    """A contract names its agency as a party (政府方), not as an authority: the credit report's
    机关 shows that party's name (bd0ccb2), while `records` answered `authority: null` for the
    same record — today and as of a date (found by review comparing `records(asOf)` with the
    report's record list on the demo city). Both read one rule now."""
    agency = make_uscc(prefix="11", org="MB3C0R011")
    subject(graph, agency, "德州市财政局", kind="AGENCY")
    record(graph, company, "Contract", "ZFCG-2026-9", role="counterparty", domain="contract",
           date=TODAY - dt.timedelta(days=20), title="办公设备采购", subjectDefault=True,
           dueOn=TODAY - dt.timedelta(days=5))
    graph.write("MATCH (a:Subject {id: $a}), (r:Contract {id: 'ZFCG-2026-9'}) "
                "CREATE (a)-[:HAS_RECORD {role: 'agency'}]->(r)", {"a": agency})
    record(graph, company, "Penalty", "P-own-authority", severity="一般", domain="tax",
           date=TODAY - dt.timedelta(days=30), authority="国家税务总局德州市德城区税务局")
    query = """query($id: ID!, $asOf: Date) { subject(id: $id) {
        today: records { id authority } then: records(asOf: $asOf) { id authority } } }"""
    found = data(api, query, id=company, asOf=(TODAY - dt.timedelta(days=1)).isoformat())
    for listed in (found["subject"]["today"], found["subject"]["then"]):
        authorities = {r["id"]: r["authority"] for r in listed}
        assert authorities["ZFCG-2026-9"] == "德州市财政局"
        assert authorities["P-own-authority"] == "国家税务总局德州市德城区税务局"
    # the contract's default as a risk signal names the same 机关 (it said null: review of
    # the day's diff)
    signals = data(api, "query($id: ID!) { riskAssessment(id: $id, depth: 1) { signals { "
                        "record { id authority } } } }", id=company)["riskAssessment"]["signals"]
    assert {"id": "ZFCG-2026-9", "authority": "德州市财政局"} in [s["record"] for s in signals]


def test_signal_records_show_todays_status(company: str, api: Api, graph: Graph) -> None:
    """A penalty that counted a year ago shows, as every record does, its status today."""
    today = TODAY
    record(graph, company, "Penalty", "P-then", severity="严重", domain="tax",
           date=today - dt.timedelta(days=500), publicityUntil=today - dt.timedelta(days=1))
    signals = data(api, """query($id: ID!, $asOf: Date) { riskAssessment(id: $id, asOf: $asOf)
        { signals { record { id status } } } }""", id=company,
                   asOf=(today - dt.timedelta(days=365)).isoformat())["riskAssessment"]["signals"]
    assert {"id": "P-then", "status": "EXPIRED"} in [s["record"] for s in signals]


def test_the_api_answers_as_of_its_clock(company: str, services: Services, api: Api,
                                         graph: Graph) -> None:
    """`Services.today` is the API's today: statuses and every left-out asOf follow it, so a
    deployment (or a test) can set the day it answers as of."""
    record(graph, company, "Penalty", "P-clock", severity="严重", domain="tax",
           date=AS_OF - dt.timedelta(days=30), publicityUntil=AS_OF + dt.timedelta(days=10))
    query = """query($id: ID!) { subject(id: $id) { records { id status } }
        riskAssessment(id: $id) { asOf signals { record { id status } } } }"""

    def clock_penalty(answer: Any) -> tuple[Any, Any, Any]:
        records = [r for r in answer["subject"]["records"] if r["id"] == "P-clock"]
        signals = [s["record"] for s in answer["riskAssessment"]["signals"]
                   if s["record"]["id"] == "P-clock"]
        return answer["riskAssessment"]["asOf"], records, signals

    then = Services.build(services.settings, graph, services.rules, services.privacy,
                          today=lambda: AS_OF)
    try:
        assert clock_penalty(data(Api(then), query, id=company)) == (
            AS_OF.isoformat(), [{"id": "P-clock", "status": "ACTIVE"}],
            [{"id": "P-clock", "status": "ACTIVE"}])
    finally:
        then.audit.stop()
    # the session's today, months later: over, and no longer a signal
    assert clock_penalty(data(api, query, id=company)) == (
        TODAY.isoformat(), [{"id": "P-clock", "status": "EXPIRED"}], [])


def test_search_subjects(company: str, api: Api) -> None:
    matches = data(api, """{ searchSubjects(name: "甲食品有限责任公司", limit: 3)
        { score subject { id name } } }""")["searchSubjects"]
    assert matches[0]["subject"]["id"] == company
    assert 0.8 < matches[0]["score"] <= 1.0
    assert data(api, '{ searchSubjects(name: "甲食品", region: "3716") { subject { id } } }')[
        "searchSubjects"] == []
    # a prefecture's code covers its counties, as in repeatOffenders and inspectionPlan
    for code, found in (("371400", [company]), ("370000", [company]), ("371402", [company]),
                        ("371600", [])):
        matches = data(api, """query($region: String) { searchSubjects(name: "甲食品",
            region: $region) { subject { id } } }""", region=code)["searchSubjects"]
        assert [m["subject"]["id"] for m in matches] == found, code
    # a region no division code has is a mistake to say, not an empty answer
    search = 'query($region: String) { searchSubjects(name: "甲食品", region: $region) { score } }'
    for code, message in (("99", "no region code starts with 99"),
                          ("999999", "unknown region 999999"), ("371", "2- or 4-digit")):
        found = error(api, search, region=code)
        assert (found["extensions"]["code"], message in found["message"]) == (
            "BAD_USER_INPUT", True), found
    # full-width digits are digits; a development zone's code (no division) is in its city
    for code, found in (("３７１４", [company]), ("371471", [])):
        matches = data(api, search.replace("score", "subject { id }"),
                       region=code)["searchSubjects"]
        assert [m["subject"]["id"] for m in matches] == found, code


def test_associations(company: str, api: Api, world: Graph) -> None:
    graph = data(api, """query($id: ID!) { associations(id: $id, depth: 2) { truncated
        center { id } nodes { id } edges { source target type ratio } } }""",
                 id=company)["associations"]
    assert graph["center"]["id"] == company
    assert sorted(n["id"] for n in graph["nodes"]) == sorted(["B", "O", PKEY, company])
    assert {"source": "O", "target": company, "type": "SHAREHOLDER", "ratio": 0.4} in graph[
        "edges"]
    assert not graph["truncated"]
    only = data(api, """query($id: ID!) { associations(id: $id, depth: 2,
        types: [SHAREHOLDER]) { nodes { id } } }""", id=company)["associations"]
    assert sorted(n["id"] for n in only["nodes"]) == sorted(["O", company])
    capped = data(api, """query($id: ID!) { associations(id: $id, depth: 2, limit: 1)
        { truncated edges { type } } }""", id=company)["associations"]
    assert capped["truncated"] and len(capped["edges"]) == 1
    # 共用联系方式: what the two share, which the answer did not say
    relate(world, company, "B", "SHARES_CONTACT", key="phone", via="phone")
    shared = data(api, """query($id: ID!) { associations(id: $id, depth: 1,
        types: [SHARES_CONTACT]) { edges { source target type via } } }""",
                  id=company)["associations"]
    assert shared["edges"] == [{"source": company, "target": "B", "type": "SHARES_CONTACT",
                                "via": "phone"}]


def test_association_edges_in_one_order(api: Api, graph: Graph) -> None:
    """One graph, one answer: the edges come ordered by source, target, type and start, not
    in the order the store holds a node's relations — which differed between a `load --bulk`
    and the normal load of the same bundle (found by the held-out review comparing the two)."""
    centre = make_uscc("91", "371402")
    subject(graph, centre, "德州市丙商贸有限公司")
    for owner in ("Q", "K", "X", "M"):  # neither the order written nor its reverse is sorted
        subject(graph, owner, f"股东{owner}", "NATURAL_PERSON")
        relate(graph, owner, centre, "SHAREHOLDER", ratio=0.2)
    relate(graph, "K", centre, "DIRECTOR")
    relate(graph, "K", centre, "LEGAL_REPRESENTATIVE", start=dt.date(2020, 1, 1))
    relate(graph, "K", centre, "LEGAL_REPRESENTATIVE", start=dt.date(2012, 1, 1))
    edges = data(api, """query($id: ID!) { associations(id: $id, depth: 1) {
        edges { source target type start } } }""", id=centre)["associations"]["edges"]
    assert [(e["source"], e["type"], e["start"]) for e in edges] == [
        ("K", "DIRECTOR", None), ("K", "LEGAL_REPRESENTATIVE", "2012-01-01"),
        ("K", "LEGAL_REPRESENTATIVE", "2020-01-01"), ("K", "SHAREHOLDER", None),
        ("M", "SHAREHOLDER", None), ("Q", "SHAREHOLDER", None), ("X", "SHAREHOLDER", None)]


def test_association_nodes_show_what_the_selection_asks(company: str, api: Api,
                                                        services: Services) -> None:
    """Nodes asked for their ids (and what is read by id) are answered without their
    summaries — so no person's name is revealed, and the audit names only the centre; a
    summary field asked for directly, through a fragment or an inline fragment, or under
    `@skip`, is the stored one."""
    shown = {company: ("德州市甲食品有限公司", "ENTERPRISE"),
             "B": ("滨州市乙商贸有限公司", "ENTERPRISE"),
             PKEY: ("张三明", "NATURAL_PERSON"), "O": ("王五", "NATURAL_PERSON")}
    plain = data(api, """query($id: ID!) { associations(id: $id) { center { name }
        nodes { id __typename records { id } } } }""", id=company)["associations"]
    assert plain["center"] == {"name": "德州市甲食品有限公司"}
    assert {n["id"] for n in plain["nodes"]} == set(shown)
    assert {n["id"]: [r["id"] for r in n["records"]] for n in plain["nodes"]}["B"] == ["L-1"]
    services.audit.flush()
    assert services.graph.read("MATCH (e:AuditEvent) RETURN e.subjects AS subjects") == [
        {"subjects": [company]}]
    for nodes, fragment in (
            ("nodes { id name kind }", ""),
            ("nodes { id ...Shown }", "fragment Shown on Subject { name kind }"),
            ("nodes { id ... on Subject { name } ... { kind } }", ""),
            ("nodes { id kind name @skip(if: false) }", "")):
        answer = data(api, "query($id: ID!) { associations(id: $id) { " + nodes + " } } "
                      + fragment, id=company)["associations"]
        assert {n["id"]: (n["name"], n["kind"]) for n in answer["nodes"]} == shown, nodes


def test_risk_assessment(company: str, api: Api) -> None:
    result = data(api, """query($id: ID!, $asOf: Date) { riskAssessment(id: $id, asOf: $asOf) {
        score level ownScore associationScore crossDomain crossRegion
        domains { domain name ownRisk associatedRisk signals }
        regions { region regionName risk subjects }
        contributors { subject { id } strength risk
          path { from { name } to { name } type ratio } signals { record { id } weight } } } }""",
                  id=company, asOf=AS_OF.isoformat())["riskAssessment"]
    own = 0.3 * 0.5 ** (30 / 30.4375 / 12)
    listing = 0.8 * 0.5 ** (10 / 30.4375 / 12)
    assert result["ownScore"] == round(100 * own)
    assert result["associationScore"] == round(100 * 0.81 * listing)
    assert result["score"] == round(100 * (1 - (1 - own) * (1 - 0.81 * listing)))
    assert result["level"] == "HIGH"
    assert result["crossDomain"] and not result["crossRegion"]
    top = result["contributors"][0]
    assert top["subject"]["id"] == "B" and top["strength"] == pytest.approx(0.81)
    assert [(s["from"]["name"], s["type"], s["to"]["name"]) for s in top["path"]] == [
        ("张三明", "LEGAL_REPRESENTATIVE", "德州市甲食品有限公司"),
        ("张三明", "LEGAL_REPRESENTATIVE", "滨州市乙商贸有限公司")]
    assert top["signals"] == [{"record": {"id": "L-1"}, "weight": 0.8}]
    assert result["domains"] == [
        {"domain": "judicial", "name": "司法", "ownRisk": 0,
         "associatedRisk": pytest.approx(0.81 * listing, abs=1e-5), "signals": 1},
        {"domain": "food_drug", "name": "食品药品", "ownRisk": pytest.approx(own, abs=1e-5),
         "associatedRisk": 0, "signals": 1}]
    assert result["regions"] == [{"region": "371602", "regionName": "滨州市滨城区",
                                  "risk": pytest.approx(0.81 * listing, abs=1e-5),
                                  "subjects": 1}]


@pytest.mark.parametrize("day", ["2026-W26-2", "20260630", "2026-06-30T00:00:00",
                                 "２０２６-06-30", "2026-06-30\n"])
def test_an_as_of_is_a_day_written_yyyy_mm_dd(company: str, api: Api, day: str) -> None:
    """Found by a held-out review of asOf: strawberry's `Date` read whatever Python's
    `date.fromisoformat` reads — the ISO week date 2026-W26-2 answered as of 2026-06-23, and
    20260630 was a date — where every `--as-of` of the command line and the report's
    `asOf` say YYYY-MM-DD. Now each is BAD_USER_INPUT, as a variable and as a literal."""
    query = "query($asOf: Date) { riskAssessment(id: $id, asOf: $asOf) { score } }"
    found = error(api, query.replace("$id", f'"{company}"'), asOf=day)
    assert found["extensions"]["code"] == "BAD_USER_INPUT"
    assert "YYYY-MM-DD" in found["message"]
    literal = f'{{ riskAssessment(id: "{company}", asOf: {json.dumps(day)}) {{ score }} }}'
    assert error(api, literal)["extensions"]["code"] == "BAD_USER_INPUT"
    assert data(api, query.replace("$id", f'"{company}"'), asOf=AS_OF.isoformat())


def test_ultimate_owners(company: str, api: Api) -> None:
    owners = data(api, """query($id: ID!) { ultimateOwners(id: $id) { owner { id name }
        share basis evidence paths { from { id } to { id } ratio } } }""",
                  id=company)["ultimateOwners"]
    assert owners == [{"owner": {"id": "O", "name": "王五"}, "share": 0.4, "basis": "SHARE",
                       "evidence": ["effective share 40.00%"],
                       "paths": [[{"from": {"id": "O"}, "to": {"id": company}, "ratio": 0.4}]]}]


# SPEC §9's arguments with a default: nullable, the default shown (introspection prints it as
# GraphQL source)
SPEC_DEFAULTS = {
    ("searchSubjects", "limit"): "10", ("associations", "depth"): "2",
    ("associations", "limit"): "200", ("riskAssessment", "depth"): "3",
    ("ultimateOwners", "threshold"): "0.25", ("repeatOffenders", "first"): "50",
    ("alerts", "first"): "50", ("auditLog", "first"): "100",
}
QUERY_ARGUMENTS = """{ __type(name: "Query") {
    fields { name args { name defaultValue type { kind } } } } }"""


def advertised(api: Api) -> dict[tuple[str, str], tuple[str, str | None]]:
    """(field, argument) → (the argument type's kind, its default) as introspection shows."""
    fields = data(api, QUERY_ARGUMENTS)["__type"]["fields"]
    return {(f["name"], a["name"]): (a["type"]["kind"], a["defaultValue"])
            for f in fields for a in f["args"]}


def test_defaults_are_nullable_and_shown(company: str, api: Api, services: Services) -> None:
    shown = advertised(api)
    assert {key: shown[key] for key in SPEC_DEFAULTS} == {
        key: ("SCALAR", value) for key, value in SPEC_DEFAULTS.items()}
    # the rules file's numbers: a deployment that changes them sees its own
    changed = services.with_rules(services.rules.with_overrides(
        {"risk": {"default_depth": 2}, "ownership": {"threshold": 0.5}}))
    other = advertised(Api(changed))
    assert other[("riskAssessment", "depth")] == ("SCALAR", "2")
    assert other[("ultimateOwners", "threshold")] == ("SCALAR", "0.5")


def test_schema_of_the_classes_shows_the_spec_defaults() -> None:
    """A schema made straight from the query classes, without `build_schema` and its rules (a
    schema export, a checker's `strawberry.Schema(query=Query, mutation=Mutation)`), shows
    SPEC §9's defaults too: depth 3 and threshold 0.25 read `= null` there."""
    schema = strawberry.Schema(query=Query, mutation=Mutation)
    result = schema.execute_sync(QUERY_ARGUMENTS)
    assert result.errors is None and result.data is not None
    shown = {(f["name"], a["name"]): a["defaultValue"]
             for f in result.data["__type"]["fields"] for a in f["args"]}
    assert {key: shown[key] for key in SPEC_DEFAULTS} == SPEC_DEFAULTS


def test_null_means_the_default(company: str, api: Api) -> None:
    def both(query: str, **nulls: None) -> Any:
        """The answer with the arguments null, once it is the answer without them."""
        left_out = data(api, query, id=company)
        assert data(api, query, id=company, **nulls) == left_out
        return left_out

    search = '{ searchSubjects(name: "甲食品有限公司", limit: $l) { subject { id } } }'
    matches = data(api, "query($l: Int) " + search, l=None)["searchSubjects"]
    assert matches == data(api, "query($l: Int) " + search)["searchSubjects"]
    assert [m["subject"]["id"] for m in matches] == [company]
    hood = both("""query($id: ID!, $d: Int, $l: Int) { associations(id: $id, depth: $d,
        limit: $l) { truncated nodes { id } } }""", d=None, l=None)["associations"]
    # two hops reach B through the legal representative; nothing is cut at 200 relations
    assert sorted(n["id"] for n in hood["nodes"]) == sorted(["B", "O", PKEY, company])
    assert not hood["truncated"]
    risk = both("""query($id: ID!, $d: Int) { riskAssessment(id: $id, depth: $d,
        asOf: "2026-06-30") { contributors { subject { id } } } }""", d=None)
    assert [c["subject"]["id"] for c in risk["riskAssessment"]["contributors"]] == ["B"]
    owners = both("""query($id: ID!, $t: Float) { ultimateOwners(id: $id, threshold: $t)
        { owner { id } share } }""", t=None)["ultimateOwners"]
    assert owners == [{"owner": {"id": "O"}, "share": 0.4}]
    for field in ("repeatOffenders", "alerts"):
        page = data(api, "query($f: Int) { " + field + "(first: $f) { totalCount edges "
                    "{ cursor } } }", "admin", f=None)[field]
        assert page == {"totalCount": 0, "edges": []}
    # the questions above are in the log, fewer than a page of 100
    log = data(api, "query($f: Int) { auditLog(first: $f) { totalCount edges { node "
                    "{ operation } } } }", "admin", f=None)["auditLog"]
    assert log["totalCount"] == len(log["edges"]) > 0


def test_not_found(company: str, api: Api) -> None:
    other = "91371402MA3C00002" + "8"
    from stdnum.cn import uscc
    other = other[:17] + uscc.calc_check_digit(other[:17])
    assert data(api, f'{{ subject(id: "{other}") {{ id }} }}')["subject"] is None
    found = error(api, f'{{ riskAssessment(id: "{other}") {{ score }} }}')
    assert found["extensions"]["code"] == "NOT_FOUND"


def test_associations_limit_counts_relations(graph: Graph, api: Api) -> None:
    """`limit` caps the relations answered: a neighbourhood of exactly `limit` relations is
    answered whole, its hop-1 relations seen again from hop 2 spending nothing."""
    centre = make_uscc(region="371402", org="MA3C0LMT1")
    subject(graph, centre, "限额中心公司")
    for sid in ("A", "B", "Y", "X0", "X1", "X2", "X3"):
        subject(graph, sid, f"公司{sid}")
    relate(graph, "A", centre, "SHAREHOLDER", ratio=0.5)
    relate(graph, "B", centre, "BRANCH_OF")
    relate(graph, "Y", "B", "SHAREHOLDER", ratio=0.1)
    for index in range(4):
        relate(graph, "A", f"X{index}", "SHAREHOLDER", ratio=0.2)
    query = """query($id: ID!, $l: Int) { associations(id: $id, depth: 2, limit: $l)
               { truncated edges { source target type } } }"""
    whole = data(api, query, id=centre, l=7)["associations"]
    assert len(whole["edges"]) == 7 and not whole["truncated"]
    capped = data(api, query, id=centre, l=6)["associations"]
    assert len(capped["edges"]) == 6 and capped["truncated"]


@pytest.mark.parametrize(("query", "fragment"), [
    ('{ riskAssessment(id: "%s", depth: 5) { score } }', "above the maximum of 4 hops"),
    ('{ associations(id: "%s", limit: 100000) { truncated } }', "above the maximum"),
    ('{ searchSubjects(name: "甲", limit: 5000) { score } }', "above the maximum"),
    ("{ a0: subject(id: \"%s\") { id } " + " ".join(
        f'a{i}: subject(id: "%s") {{ id }}' for i in range(1, 40)) + " }", "aliases found"),
    ("{ subject(id: \"%s\") { records { id } " + "name " * 2100 + "} }", "tokens"),
])
def test_limits(company: str, api: Api, query: str, fragment: str) -> None:
    found = error(api, query.replace("%s", company))
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert fragment in found["message"]
    # the same document again is answered from the parser and validation caches: same refusal
    assert error(api, query.replace("%s", company)) == found


def test_query_depth_limit(company: str, services: Services) -> None:
    nested = "{ riskAssessment(id: \"%s\") { contributors { path { from { records { id } } } } } }"
    strict = services.with_rules(services.rules.with_overrides({"limits": {"max_query_depth": 3}}))
    found = error(Api(strict), nested % company)
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "maximum operation depth" in found["message"]


class SlowGraph(Graph):
    """A graph whose reads of many rows (the analyses', not the key's or the subject's
    lookups) first run a statement far longer than its time limit."""

    def read_rows(self, cypher: str, params: Any = None, timeout: float | None = None) -> Any:
        self.read("UNWIND range(1, 10000000000) AS i WITH i WHERE i < 0 RETURN count(i)",
                  None, timeout)
        return super().read_rows(cypher, params, timeout)


def test_cypher_timeout_is_limit_exceeded(company: str, services: Services) -> None:
    """A real Cypher timeout through the API: a statement running far longer than a
    deployment's transaction time limit, here half a second, in front of the resolver's
    reads. (Seven companies holding shares in each other made the share-path walk time out;
    it now answers them: tests/test_analyses.py, test_cross_holding_group.)"""
    graph = SlowGraph(services.graph.driver, services.graph.database, tx_timeout=0.5)
    hurried = Api(Services.build(services.settings, graph, services.rules, services.privacy))
    found = error(hurried, "query($id: ID!) { ultimateOwners(id: $id) { share } }", id=company)
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert found["message"] == "the query ran longer than the time limit"
    assert hurried.last_status == 200


CROSS_HOLDINGS = """
UNWIND range(0, $size - 1) AS i
CREATE (:Subject:LegalPerson {id: 'G' + i, name: '集团' + i, kind: 'ENTERPRISE'})
WITH count(*) AS created
MATCH (a:Subject), (b:Subject) WHERE a.id STARTS WITH 'G' AND b.id STARTS WITH 'G' AND a <> b
CREATE (a)-[:SHAREHOLDER {key: '', ratio: 0.1}]->(b)
WITH count(*) AS linked
MATCH (g:Subject {id: 'G0'}), (c:Subject {id: $company})
CREATE (g)-[:SHAREHOLDER {key: '', ratio: 0.6}]->(c)
"""


def test_too_many_share_paths_is_limit_exceeded(company: str, services: Services) -> None:
    """Ten companies all holding shares in each other above the target have about a million
    simple paths within [ownership] max_depth, more than its path_budget: LIMIT_EXCEEDED,
    saying why, not a walk that runs until the server gives up."""
    services.graph.write(CROSS_HOLDINGS, {"company": company, "size": 10})
    found = error(Api(services), "query($id: ID!) { ultimateOwners(id: $id) { share } }",
                  id=company)
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "shareholding paths" in found["message"]


def test_bad_input(company: str, api: Api) -> None:
    assert error(api, f'{{ ultimateOwners(id: "{company}", threshold: 1.5) {{ share }} }}')[
        "extensions"]["code"] == "BAD_USER_INPUT"
    assert error(api, '{ searchSubjects(name: "%s") { score } }' % ("甲" * 300))[
        "extensions"]["code"] == "BAD_USER_INPUT"
    assert error(api, f'{{ riskAssessment(id: "{company}", depth: "x") {{ score }} }}')[
        "extensions"]["code"] == "BAD_USER_INPUT"
    assert error(api, "{ subject(id: ) }")["extensions"]["code"] == "BAD_USER_INPUT"


def test_internal_errors_hide_details(caplog: pytest.LogCaptureFixture) -> None:
    wrapped = GraphQLError("boom", original_error=RuntimeError(f"secret {RAW.lower()}"))
    assert error_code(wrapped) == ("INTERNAL", "internal error; the server log has the details")
    assert f"RuntimeError: secret {MASKED}" in caplog.text  # logged, masked
    assert RAW not in caplog.text.upper()


def test_missing_and_unknown_keys(company: str, api: Api) -> None:
    response = api.client.post("/graphql", json={"query": "{ subject(id: \"x\") { id } }"})
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    response = api.client.post("/graphql", json={"query": "{ __typename }"},
                               headers={"Authorization": "Bearer cg_not-a-key"})
    assert response.status_code == 401


@pytest.mark.parametrize("field", [
    '{ subject(id: "%s") { id } }', '{ searchSubjects(name: "甲") { score } }',
    '{ associations(id: "%s") { truncated } }', '{ riskAssessment(id: "%s") { score } }',
    '{ ultimateOwners(id: "%s") { share } }'])
def test_partner_may_not_investigate(company: str, api: Api, field: str) -> None:
    found = error(api, field.replace("%s", company), role="partner")
    assert found["extensions"]["code"] == "FORBIDDEN"


def test_monitor_sees_masked_names(company: str, api: Api) -> None:
    assert error(api, f'{{ ultimateOwners(id: "{company}") {{ share }} }}', role="monitor")[
        "extensions"]["code"] == "FORBIDDEN"
    query = f'{{ subject(id: "{PKEY}") {{ name idMasked }} }}'
    assert data(api, query, role="monitor")["subject"] == {"name": "张*明", "idMasked": None}
    assert data(api, query)["subject"] == {"name": "张三明", "idMasked": MASKED}


def test_rate_limit(company: str, services: Services) -> None:
    strict = services.with_rules(
        services.rules.with_overrides({"limits": {"requests_per_minute": 2}}))
    api = Api(strict)
    answers = [api.client.post("/graphql", json={"query": "{ __typename }"},
                               headers=api.headers()) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    # two a minute: the next one in 30 s (less what the three requests took), said both ways
    wait = int(answers[2].headers["retry-after"])
    assert 25 <= wait <= 30
    assert f"retry in {wait} s" in answers[2].json()["errors"][0]["message"]


def test_health_metrics_and_explorer(company: str, api: Api) -> None:
    assert api.client.get("/healthz").status_code == 200
    assert api.client.get("/metrics", headers=api.headers("investigator")).status_code == 403
    metrics = api.client.get("/metrics", headers=api.headers("admin"))
    assert "credgraph_http_requests_total" in metrics.text
    page = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert "/explorer/graphiql.js" in page.text and "unpkg" not in page.text
    asset = api.client.get("/explorer/graphiql.js")
    assert asset.status_code == 200 and len(asset.content) > 100_000
    assert api.client.get("/explorer/package.json").status_code == 404
    assert api.client.get("/explorer/../../etc/passwd").status_code in (401, 404)


def test_explorer_page_is_public_but_a_query_is_not(company: str, api: Api) -> None:
    """GET /graphql asking for HTML is the explorer page, public; with a `query` parameter it
    is a GraphQL request and needs a key whatever it accepts — it ran without one, and
    answered introspection (the whole schema) to anyone (found by a held-out security
    review)."""
    for accept in ("text/html", "text/html;q=0.1, application/json", "*/*, text/html"):
        for query in ("{ __schema { queryType { fields { name } } } }", "{ __typename }",
                      '{ __type(name: "Subject") { name } }', ""):
            answer = api.client.get("/graphql", params={"query": query},
                                    headers={"Accept": accept})
            assert answer.status_code == 401, (accept, query, answer.text)
            assert answer.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
            assert "__schema" not in answer.text and "Query" not in answer.text
    page = api.client.get("/graphql", headers={"Accept": "text/html"})
    assert page.status_code == 200 and "graphiql" in page.text.lower()


FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９ｘ")
RAW_FORMS = [RAW, RAW.lower(), RAW.translate(FULL_WIDTH),
             f"{RAW[:6]} {RAW[6:14]} {RAW[14:]}"]


def test_no_raw_id_number_in_any_response(company: str, api: Api,
                                          caplog: pytest.LogCaptureFixture) -> None:
    """The legal representative asked for by the raw number in every way it is written, and
    malformed numbers: answers and errors name the person by key and masked number only."""
    mistyped = RAW[:-1] + "0"
    texts = []
    for form in RAW_FORMS:
        for query in ('{ subject(id: "%s") { id name idMasked } }',
                      '{ riskAssessment(id: "%s", asOf: "2026-06-30") { subject { id idMasked } '
                      'contributors { subject { id } path { from { id idMasked } } } } }',
                      '{ associations(id: "%s") { center { id } nodes { id idMasked } } }',
                      '{ searchSubjects(name: "%s") { subject { id } } }'):
            body = api.query(query % form)
            texts.append(api.last_text)
            if not query.startswith("{ searchSubjects"):
                assert "errors" not in body, body
                assert PKEY in api.last_text and MASKED in api.last_text
        for bad in (mistyped, mistyped.lower(), form[:-2]):
            # in the document itself, which a GraphQL error log line would quote
            found = error(api, '{ subject(id: "' + bad + '") { id } }')
            assert found["extensions"]["code"] == "BAD_USER_INPUT"
            texts.append(api.last_text)
    texts.append(caplog.text)
    leaked = [text for text in texts
              if RAW in text.upper() or mistyped in text.upper() or RAW_SHAPE.search(text)]
    assert leaked == []


RAW_SHAPE = re.compile(r"(?<![0-9０-９])[0-9０-９]{17}[0-9０-９XxＸｘ](?![0-9０-９])")
