"""integrityReport, countyIntegrity, conflictsOfInterest and procurementCheck through the real
ASGI app and a real Neo4j: answers, evidence, roles, masking and bad input."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from urllib.parse import quote

import pytest

from credgraph.api.auth import Principal, Role
from credgraph.api.integrity import Shaper
from credgraph.graph.driver import Graph
from credgraph.queries.integrity import Tracer
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from tests.conftest import TODAY, Api
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc, raw_id_numbers
from tests.test_integrity import agency, contract, official

GOV = make_uscc("11", "371400", "00400A001")
CG = make_uscc("11", "371481", "00400A002")
A1 = make_uscc("11", "371481", "00400A003")
F = make_uscc("11", "371425", "00400A004")
X = make_uscc("91", "371425", "MA3C00011")
R = make_uscc("91", "371426", "MA3C00012")
CLEAN = make_uscc("91", "371426", "MA3C00013")
OFFICIAL_ID = make_id("371425", "19750310", "123")
SPOUSE_ID = make_id("371425", "19770412", "246")
SIGNED = dt.date(2025, 5, 1)
DAY = dt.timedelta(days=1)


@pytest.fixture()
def city(graph: Graph, services: Services) -> dict[str, str]:
    """A1 owes a judgment 200 days overdue (G1); F awarded a contract to the company of its
    deputy head's spouse (G3) and one to a barred supplier (G4)."""
    o = services.privacy.person_key(parse_id_number(OFFICIAL_ID))
    s = services.privacy.person_key(parse_id_number(SPOUSE_ID))
    agency(graph, GOV, "德州市人民政府", "371400")
    agency(graph, CG, "乐陵市人民政府", "371481", superior=GOV)
    agency(graph, A1, "乐陵市住房和城乡建设局", "371481", superior=CG)
    agency(graph, F, "齐河县财政局", "371425", superior=GOV)
    record(graph, A1, "Judgment", "（2025）鲁1481执1号", role="debtor", dueOn=AS_OF - 200 * DAY,
           amount=380.0, date=AS_OF - 300 * DAY, court="乐陵市人民法院")
    official(graph, o, "王志明", F, "副局长", start=dt.date(2018, 1, 1))
    subject(graph, s, "李秀华", "NATURAL_PERSON")
    for key, number in ((o, OFFICIAL_ID), (s, SPOUSE_ID)):
        graph.write("MATCH (p {id: $id}) SET p.idMasked = $masked",
                    {"id": key, "masked": number[:6] + "********" + number[-4:]})
    relate(graph, o, s, "FAMILY", kind="配偶", start=dt.date(2005, 1, 1))
    subject(graph, X, "齐河县华信商贸有限公司", region="371425")
    relate(graph, s, X, "LEGAL_REPRESENTATIVE", start=dt.date(2019, 1, 1))
    contract(graph, F, X, "DZCG-2025-0001", SIGNED, amount=120.0, contractKind="政府采购")
    subject(graph, R, "平原县恒通物资有限公司", region="371426")
    record(graph, R, "Listing", "MD2025001", listType="政府采购严重违法失信",
           listedOn=dt.date(2025, 1, 1), date=dt.date(2025, 1, 1), authority="德州市财政局")
    contract(graph, F, R, "DZCG-2025-0002", SIGNED, amount=60.0, contractKind="政府采购")
    subject(graph, CLEAN, "平原县诚信物资有限公司", region="371426")
    return {"official": o, "spouse": s}


def data(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    assert not raw_id_numbers(api.last_text)
    return body["data"]


def error(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert body.get("errors"), body
    assert not raw_id_numbers(api.last_text)
    return body["errors"][0]


REPORT = """query($agency: ID, $region: String, $asOf: Date) {
  integrityReport(agency: $agency, region: $region, asOf: $asOf) {
    agency { id name kind } score rank deductions counts { pattern count deduction }
    findings { pattern title severity summary evidence date deduction key
      agency { id } subject { id name } official { id name idMasked }
      path { from { id name } to { id name } type ratio role kind start end }
      records { id kind status date title } } } }"""


def test_integrity_report_ranked_with_evidence(city: dict[str, str], api: Api) -> None:
    report = data(api, REPORT, asOf=AS_OF.isoformat())["integrityReport"]
    assert [(a["agency"]["id"], a["score"], a["rank"]) for a in report] == [
        (F, 100 - 25 - 20, 1), (A1, 100 - 30, 2), (GOV, 100, 3), (CG, 100, 4)]
    f = report[0]
    assert f["counts"] == [{"pattern": "G3", "count": 1, "deduction": 25},
                           {"pattern": "G4", "count": 1, "deduction": 20}]
    conflict, restricted = f["findings"]
    assert (conflict["pattern"], conflict["severity"]) == ("G3", "严重")
    assert conflict["official"] == {"id": city["official"], "name": "王志明",
                                    "idMasked": "371425********" + OFFICIAL_ID[-4:]}
    assert conflict["subject"]["id"] == X
    assert [(s["from"]["id"], s["type"], s["to"]["id"]) for s in conflict["path"]] == [
        (city["official"], "SERVES_IN", F), (city["official"], "FAMILY", city["spouse"]),
        (city["spouse"], "LEGAL_REPRESENTATIVE", X)]
    assert conflict["path"][0]["role"] == "副局长"
    assert conflict["path"][0]["start"] == "2018-01-01"
    assert conflict["path"][1]["kind"] == "配偶"
    assert conflict["evidence"][1] == "王志明 —配偶（2005-01-01 起）→ 李秀华"
    assert conflict["records"] == [{"id": "DZCG-2025-0001", "kind": "CONTRACT",
                                    "status": "ACTIVE", "date": "2025-05-01", "title": None}]
    assert conflict["date"] == "2025-05-01"
    assert "王志明 的配偶 李秀华 为 齐河县华信商贸有限公司 的法定代表人" in conflict["summary"]
    assert restricted["pattern"] == "G4"
    assert [r["id"] for r in restricted["records"]] == ["DZCG-2025-0002", "MD2025001"]
    debtor = report[1]["findings"][0]
    assert debtor["pattern"] == "G1" and debtor["severity"] == "严重"
    assert [(s["from"]["id"], s["type"], s["to"]["id"]) for s in debtor["path"]] == [
        (A1, "SUBORDINATE_TO", CG), (CG, "SUBORDINATE_TO", GOV)]
    assert debtor["key"] == f"G1:{A1}::（2025）鲁1481执1号"


def test_integrity_report_filters(city: dict[str, str], api: Api) -> None:
    one = data(api, REPORT, agency=A1, asOf=AS_OF.isoformat())["integrityReport"]
    assert [a["agency"]["id"] for a in one] == [A1]
    county = data(api, REPORT, region="371481", asOf=AS_OF.isoformat())["integrityReport"]
    assert [a["agency"]["id"] for a in county] == [A1, CG]
    # the prefecture's code covers its counties' agencies too
    city = data(api, REPORT, region="371400", asOf=AS_OF.isoformat())["integrityReport"]
    dezhou = data(api, REPORT, region="3714", asOf=AS_OF.isoformat())["integrityReport"]
    assert {a["agency"]["id"] for a in city} == {a["agency"]["id"] for a in dezhou} > {A1, CG}
    # before the judgment fell due and before anything was signed: all clean
    early = data(api, REPORT, asOf="2024-01-01")["integrityReport"]
    assert {a["score"] for a in early} == {100}


def test_county_integrity(city: dict[str, str], api: Api) -> None:
    counties = data(api, """query($asOf: Date) { countyIntegrity(asOf: $asOf) {
        region regionName score rank deductions agencyCount flaggedAgencies findingCount
        counts { pattern count } agencies { agency { id } score } } }""",
                    asOf=AS_OF.isoformat())["countyIntegrity"]
    assert [(c["region"], c["score"], c["rank"]) for c in counties] == [
        ("371425", 55, 1), ("371481", 70, 2), ("371400", 100, 3)]
    qihe = counties[0]
    assert qihe["regionName"] == "德州市齐河县"
    assert (qihe["agencyCount"], qihe["flaggedAgencies"], qihe["findingCount"]) == (1, 1, 2)
    leling = counties[1]
    assert [a["agency"]["id"] for a in leling["agencies"]] == [A1, CG]


CONFLICTS = """query($agency: ID, $official: ID, $asOf: Date) {
  conflictsOfInterest(agency: $agency, official: $official, asOf: $asOf) {
    pattern severity summary agency { id } official { id name } subject { id }
    path { from { id } type to { id } } records { id } } }"""


def test_conflicts_of_interest(city: dict[str, str], api: Api) -> None:
    by_number = data(api, CONFLICTS, official=OFFICIAL_ID, asOf=AS_OF.isoformat())
    by_key = data(api, CONFLICTS, official=city["official"], asOf=AS_OF.isoformat())
    assert by_number == by_key
    [finding] = by_key["conflictsOfInterest"]
    assert (finding["agency"]["id"], finding["subject"]["id"]) == (F, X)
    assert finding["records"] == [{"id": "DZCG-2025-0001"}]
    assert data(api, CONFLICTS, agency=F, asOf=AS_OF.isoformat())["conflictsOfInterest"] == [
        finding]
    assert data(api, CONFLICTS, agency=A1, asOf=AS_OF.isoformat())["conflictsOfInterest"] == []
    assert data(api, CONFLICTS, asOf="2025-04-30")["conflictsOfInterest"] == []
    admin = data(api, CONFLICTS, "admin", asOf=AS_OF.isoformat())["conflictsOfInterest"]
    assert admin == [finding]


CHECK = """query($supplier: ID!, $asOf: Date) { procurementCheck(supplier: $supplier,
  asOf: $asOf) { supplier { id name } allowed reasons warnings records { id kind } asOf } }"""


def test_procurement_check(city: dict[str, str], api: Api) -> None:
    barred = data(api, CHECK, supplier=R, asOf=AS_OF.isoformat())["procurementCheck"]
    assert barred["allowed"] is False
    assert barred["reasons"] == [
        "列入政府采购严重违法失信名单（名单编号 MD2025001，2025-01-01 列入，"
        "认定部门 德州市财政局）：严重失信名单，限制政府采购"]
    assert barred["records"] == [{"id": "MD2025001", "kind": "LISTING"}]
    assert barred["asOf"] == AS_OF.isoformat()
    clean = data(api, CHECK, supplier=CLEAN)["procurementCheck"]
    assert (clean["allowed"], clean["reasons"], clean["warnings"]) == (True, [], [])
    assert clean["asOf"] == TODAY.isoformat()
    before = data(api, CHECK, supplier=R, asOf="2024-12-31")["procurementCheck"]
    assert before["allowed"] is True


def test_persons_a_warning_names_are_audited(city: dict[str, str], api: Api, graph: Graph,
                                             services: Services) -> None:
    """A warning names the legal representative listed himself: a PII reveal, which the audit
    log records (SPEC §9) as it does any answer showing a person's name."""
    spouse = city["spouse"]
    record(graph, spouse, "Listing", "SX2025007", listType="失信被执行人",
           listedOn=dt.date(2025, 1, 1), date=dt.date(2025, 1, 1), authority="齐河县人民法院")
    warned = data(api, CHECK, supplier=X)["procurementCheck"]
    assert warned["allowed"] is True
    assert [w for w in warned["warnings"] if "李秀华" in w and "SX2025007" in w]
    services.audit.flush()
    logged = graph.read("MATCH (e:AuditEvent {operation: 'procurementCheck'}) "
                        "RETURN e.subjects AS subjects")
    assert [sorted(e["subjects"]) for e in logged] == [sorted([X, spouse])]


ALL = {
    "integrityReport": ("query { integrityReport { score } }", {}),
    "countyIntegrity": ("query { countyIntegrity { score } }", {}),
    "conflictsOfInterest": ("query { conflictsOfInterest { summary } }", {}),
    "procurementCheck": (CHECK, {"supplier": R}),
}


@pytest.mark.parametrize("field", sorted(ALL))
def test_roles(city: dict[str, str], api: Api, field: str) -> None:
    query, variables = ALL[field]
    for role in ("admin", "investigator"):
        data(api, query, role, **variables)
    for role in ("monitor", "partner"):
        found = error(api, query, role, **variables)
        assert found["extensions"]["code"] == "FORBIDDEN"
        assert found["message"] == f"the {role} role may not ask for {field}"
        assert "王志明" not in api.last_text and "李秀华" not in api.last_text
    assert error(api, query, None, **variables)["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(("query", "variables", "code", "words"), [
    (REPORT, {"agency": make_uscc("11", "371481", "00999A999")}, "NOT_FOUND", "no subject"),
    (REPORT, {"agency": X}, "BAD_USER_INPUT", "not an agency"),
    (REPORT, {"agency": "ABC"}, "BAD_USER_INPUT", "malformed id"),
    (REPORT, {"agency": "1" * 5000}, "BAD_USER_INPUT", "at most 64"),
    (REPORT, {"region": "37a"}, "BAD_USER_INPUT", "a 2- or 4-digit prefix"),
    (REPORT, {"region": "3" * 1000}, "BAD_USER_INPUT", "a 2- or 4-digit prefix"),
    (REPORT, {"region": "999999"}, "BAD_USER_INPUT", "unknown region 999999"),
    (REPORT, {"asOf": "2026-13-45"}, "BAD_USER_INPUT", ""),
    (REPORT, {"asOf": "yesterday"}, "BAD_USER_INPUT", ""),
    (CONFLICTS, {"official": X}, "BAD_USER_INPUT", "not a natural person"),
    (CONFLICTS, {"official": SPOUSE_ID}, "BAD_USER_INPUT", "never served"),
    (CONFLICTS, {"official": make_id("371425", "19900101", "555")}, "NOT_FOUND", ""),
    (CONFLICTS, {"agency": R}, "BAD_USER_INPUT", "not an agency"),
    (CHECK, {"supplier": make_uscc("91", "371426", "MA3C09999")}, "NOT_FOUND", ""),
    (CHECK, {"supplier": "91371426MA3C0001"}, "BAD_USER_INPUT", "malformed id"),
])
def test_bad_input(city: dict[str, str], api: Api, query: str, variables: dict[str, Any],
                   code: str, words: str) -> None:
    found = error(api, query, **variables)
    assert found["extensions"]["code"] == code, found
    assert words in found["message"]


def test_names_masked_for_roles_without_pii(city: dict[str, str], services: Services) -> None:
    """Should a role without PII access ever be given these queries, names are masked in every
    field (subjects, path, summary, evidence) and no ID number is shown, masked or not."""
    traced = Tracer(services.graph, services.rules).trace(AS_OF)
    monitor = Principal("k", "job", Role.MONITOR)
    shaped = [Shaper(traced.subjects, monitor).finding(f) for f in traced.findings]
    text = json.dumps([{"summary": f.summary, "evidence": f.evidence,
                        "names": [s.source.name for s in f.path] + [s.target.name for s in f.path],
                        "official": f.official.name if f.official else None,
                        "masked": [f.official.id_masked if f.official else None]}
                       for f in shaped], ensure_ascii=False)
    assert "王*明" in text and "李*华" in text
    assert "王志明" not in text and "李秀华" not in text
    assert "371425****" not in text and not raw_id_numbers(text)


def test_a_report_without_findings_reveals_no_person(city: dict[str, str], api: Api,
                                                     graph: Graph, services: Services) -> None:
    """Scores and ranks name no person: the audit event names none (docs/api.md: only the
    persons an answer shows); asked with its findings, the report names the official and his
    spouse."""
    data(api, "query { integrityReport { score agency { id } } }", asOf=AS_OF.isoformat())
    data(api, "query { countyIntegrity { score agencies { score rank } } }")
    data(api, REPORT, asOf=AS_OF.isoformat())
    services.audit.flush()
    logged = graph.read("MATCH (e:AuditEvent) WHERE e.operation IN "
                        "['integrityReport', 'countyIntegrity'] "
                        "RETURN e.operation AS operation, e.subjects AS subjects ORDER BY e.at")
    persons = {city["official"], city["spouse"]}
    named = [(e["operation"], set(e["subjects"]) & persons) for e in logged]
    assert named[:2] == [("integrityReport", set()), ("countyIntegrity", set())]
    assert set().union(*(found for _, found in named[2:])) == persons
    # the organisations listed and those the findings name, whatever the answer shows
    for event in logged[:3]:
        assert {GOV, CG, A1, F, X, R} <= set(event["subjects"]), event
        assert CLEAN not in event["subjects"]


def test_the_persons_a_finding_shows_are_logged_with_the_stated_purpose(
        city: dict[str, str], api: Api, graph: Graph, services: Services) -> None:
    """A finding's persons are shown after the query's own event is queued, so the reveal
    is an event of its own: it carries the purpose the request states (SPEC §9: every PII
    reveal with its purpose), not none."""
    response = api.client.post(
        "/graphql", json={"query": "query { conflictsOfInterest { summary } }"},
        headers={**api.headers("investigator"), "X-Purpose": quote("案件 2026-31 核查")})
    assert "王志明" in response.text
    services.audit.flush()
    logged = graph.read("MATCH (e:AuditEvent {operation: 'conflictsOfInterest'}) "
                        "RETURN e.subjects AS subjects, e.purpose AS purpose")
    assert city["official"] in {s for e in logged for s in e["subjects"]}
    assert [e["purpose"] for e in logged] == ["案件 2026-31 核查"] * len(logged)
