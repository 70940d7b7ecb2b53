"""Monitoring through the real ASGI app: alerts with cursors and totalCount, the case
workflow, watchlists, roles, error codes and the Prometheus metrics."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.queries.monitoring import MonitorRun
from credgraph.rules import Rules
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from tests.conftest import Api
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc

W = make_uscc(org="MA3C0000W")
N = make_uscc(org="MA3C0000N")
PERSON_ID = make_id()
ALERT = """id rule severity summary fingerprint status assignee comments firstSeen lastSeen
  subject { id name } evidence { from { id name } to { id name } type ratio }
  records { id kind date } history { at actor role action status previousStatus comment }"""


def data(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    return body["data"]


def error(api: Api, query: str, role: str | None = "investigator", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert body.get("errors"), body
    return body["errors"][0]


@pytest.fixture()
def city(graph: Graph, services: Services) -> Graph:
    """W watched; N its 60 % shareholder, whose legal representative (a person) is listed."""
    key = services.privacy.person_key(parse_id_number(PERSON_ID))
    subject(graph, W, "德州甲食品有限公司")
    subject(graph, N, "德州乙商贸有限公司")
    subject(graph, key, "张三明", "NATURAL_PERSON")
    relate(graph, N, W, "SHAREHOLDER", ratio=0.6)
    relate(graph, key, N, "LEGAL_REPRESENTATIVE")
    for index in range(3):
        record(graph, key, "Listing", f"L-{index}", listType="失信被执行人", severity="严重",
               date=AS_OF - dt.timedelta(days=index + 1))
    return graph


def watch_and_run(api: Api, graph: Graph, rules: Rules, role: str = "monitor") -> None:
    assert data(api, "mutation($id: ID!) { watch(id: $id) }", role, id=W) == {"watch": True}
    MonitorRun(graph, rules, AS_OF).run()


def test_alerts_connection_with_cursors(city: Graph, api: Api, rules: Rules) -> None:
    watch_and_run(api, city, rules)
    query = """query($first: Int, $after: String, $status: AlertStatus, $rule: String) {
      alerts(first: $first, after: $after, status: $status, rule: $rule) {
        totalCount pageInfo { hasNextPage endCursor } edges { cursor node { """ + ALERT + """
        } } } }"""
    page = data(api, query, first=2)["alerts"]
    assert page["totalCount"] == 3 and page["pageInfo"]["hasNextPage"] is True
    assert len(page["edges"]) == 2
    rest = data(api, query, first=2, after=page["pageInfo"]["endCursor"])["alerts"]
    assert rest["totalCount"] == 3 and rest["pageInfo"]["hasNextPage"] is False
    ids = [e["node"]["id"] for e in page["edges"] + rest["edges"]]
    assert len(set(ids)) == 3
    node = rest["edges"][0]["node"]
    assert node["rule"] == "NEAR_RECORD" and node["status"] == "OPEN"
    assert node["subject"] == {"id": W, "name": "德州甲食品有限公司"}
    assert [(s["from"]["name"], s["type"], s["to"]["name"]) for s in node["evidence"]] == [
        ("德州乙商贸有限公司", "SHAREHOLDER", "德州甲食品有限公司"),
        ("张三明", "LEGAL_REPRESENTATIVE", "德州乙商贸有限公司")]
    assert node["records"][0]["kind"] == "LISTING"
    assert node["history"][0]["action"] == "created"
    assert data(api, query, first=0)["alerts"]["totalCount"] == 3
    assert data(api, query, rule="risk_rise")["alerts"]["totalCount"] == 0
    assert data(api, query, status="DISMISSED")["alerts"]["totalCount"] == 0
    found = data(api, "query($s: ID) { alerts(subject: $s) { totalCount } }", s=N)
    assert found["alerts"]["totalCount"] == 0


def test_connection_limits_and_bad_arguments(city: Graph, api: Api) -> None:
    too_many = error(api, "{ alerts(first: 501) { totalCount } }")
    assert too_many["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert error(api, "{ alerts(first: -1) { totalCount } }")["extensions"]["code"] == \
        "BAD_USER_INPUT"
    bad_cursor = error(api, '{ alerts(after: "not-a-cursor") { totalCount } }')
    assert bad_cursor["extensions"]["code"] == "BAD_USER_INPUT"
    assert "cursor" in bad_cursor["message"]
    bad_rule = error(api, '{ alerts(rule: "NOPE") { totalCount } }')
    assert bad_rule["extensions"]["code"] == "BAD_USER_INPUT"
    assert "NEAR_RECORD" in bad_rule["message"]


def test_a_cursor_of_another_connection_is_refused(city: Graph, api: Api, rules: Rules) -> None:
    """alerts and auditLog page by (time, id) alike: each refuses the other's endCursor
    (BAD_USER_INPUT) instead of reading it as a place in its own order; so is an empty one."""
    watch_and_run(api, city, rules)
    alert_cursor = data(api, "{ alerts(first: 1) { pageInfo { endCursor } } }", "admin")[
        "alerts"]["pageInfo"]["endCursor"]
    audit_cursor = data(api, "{ auditLog(first: 1) { pageInfo { endCursor } } }", "admin")[
        "auditLog"]["pageInfo"]["endCursor"]
    for connection, foreign in (("alerts", audit_cursor), ("auditLog", alert_cursor),
                                ("alerts", "")):
        query = "query($a: String) { " + connection + "(after: $a) { totalCount } }"
        refused = error(api, query, "admin", a=foreign)
        assert refused["extensions"]["code"] == "BAD_USER_INPUT", (connection, foreign)
        assert "cursor" in refused["message"]
    own = data(api, "query($a: String) { alerts(after: $a) { totalCount } }", "admin",
               a=alert_cursor)
    assert own["alerts"]["totalCount"] == 3


def test_monitor_role_works_alerts_and_sees_persons_masked(city: Graph, api: Api,
                                                          rules: Rules) -> None:
    watch_and_run(api, city, rules)
    nodes = data(api, "{ alerts { edges { node { id evidence { from { name } } } } } }",
                 "monitor")["alerts"]["edges"]
    assert {s["from"]["name"] for s in nodes[0]["node"]["evidence"]} == {
        "德州乙商贸有限公司", "张*明"}
    aid = nodes[0]["node"]["id"]
    mutation = """mutation($id: ID!, $status: AlertStatus, $assignee: String, $comment: String) {
      updateAlert(id: $id, status: $status, assignee: $assignee, comment: $comment) {
      """ + ALERT + "} }"
    done = data(api, mutation, "monitor", id=aid, status="ACKNOWLEDGED",
                assignee="值班员")["updateAlert"]
    assert (done["status"], done["assignee"]) == ("ACKNOWLEDGED", "值班员")
    assert done["history"][-1]["actor"] == "test-monitor"
    done = data(api, mutation, "investigator", id=aid, status="DISMISSED",
                comment="误报")["updateAlert"]
    assert done["comments"] == ["误报"]
    assert [(h["status"], h["previousStatus"]) for h in done["history"]] == [
        ("OPEN", None), ("ACKNOWLEDGED", "OPEN"), ("DISMISSED", "ACKNOWLEDGED")]
    unchanged = error(api, mutation, "admin", id=aid, status="DISMISSED")
    assert unchanged["extensions"]["code"] == "BAD_USER_INPUT"
    assert unchanged["message"].startswith("nothing to change: the alert is already DISMISSED")
    refused = error(api, mutation, "admin", id=aid, status="OPEN")
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert "comment" in refused["message"]
    reopened = data(api, mutation, "admin", id=aid, status="OPEN", comment="新线索\x00")
    assert reopened["updateAlert"]["status"] == "OPEN"
    assert reopened["updateAlert"]["comments"][-1] == "新线索"  # no control character stored
    blank = error(api, mutation, "admin", id=aid, comment="\x00\x01")
    assert blank["extensions"]["code"] == "BAD_USER_INPUT"
    unknown = error(api, mutation, id="AL0000", status="OPEN")
    assert unknown["extensions"]["code"] == "NOT_FOUND"
    for malformed in ("", "A" * 65, "A" * 100_000):  # as every other id argument
        refused = error(api, mutation, id=malformed, status="OPEN")
        assert refused["extensions"]["code"] == "BAD_USER_INPUT"
        assert "malformed alert id" in refused["message"]


def test_partner_may_not_monitor(city: Graph, api: Api) -> None:
    for document in ["{ alerts { totalCount } }", "{ watchlist { id } }",
                     f'mutation {{ watch(id: "{W}") }}', f'mutation {{ unwatch(id: "{W}") }}',
                     'mutation { updateAlert(id: "AL1", status: OPEN) { id } }']:
        found = error(api, document, "partner")
        assert found["extensions"]["code"] == "FORBIDDEN", document


def test_watchlists_per_key_and_for_the_city(city: Graph, api: Api) -> None:
    watch = "mutation($id: ID!, $city: Boolean!) { watch(id: $id, city: $city) }"
    unwatch = "mutation($id: ID!, $city: Boolean!) { unwatch(id: $id, city: $city) }"
    assert data(api, watch, "investigator", id=PERSON_ID, city=False)["watch"] is True
    assert data(api, watch, "investigator", id=PERSON_ID, city=False)["watch"] is True
    listed = data(api, "{ watchlist { id name kind } }", "investigator")["watchlist"]
    assert [(s["name"], s["kind"]) for s in listed] == [("张三明", "NATURAL_PERSON")]
    assert data(api, "{ watchlist { id } }", "monitor")["watchlist"] == []
    forbidden = error(api, watch, "investigator", id=W, city=True)
    assert forbidden["extensions"]["code"] == "FORBIDDEN"
    assert data(api, watch, "admin", id=W, city=True)["watch"] is True
    assert data(api, "{ watchlist(city: true) { id } }", "admin")["watchlist"] == [{"id": W}]
    assert data(api, unwatch, "investigator", id=PERSON_ID, city=False)["unwatch"] is True
    assert data(api, unwatch, "investigator", id=PERSON_ID, city=False)["unwatch"] is False
    unknown = error(api, watch, id=make_uscc(org="MA3C0000Y"), city=False)
    assert unknown["extensions"]["code"] == "NOT_FOUND"
    malformed = error(api, watch, id="91371402MA3C0000", city=False)
    assert malformed["extensions"]["code"] == "BAD_USER_INPUT"
    assert PERSON_ID not in api.last_text


def test_metrics_count_runs_and_alerts(city: Graph, api: Api, rules: Rules) -> None:
    watch_and_run(api, city, rules)
    MonitorRun(city, rules, AS_OF).run()
    response = api.client.get("/metrics", headers=api.headers("monitor"))
    text = response.text
    assert response.status_code == 200
    assert 'credgraph_monitor_runs_total{status="COMPLETED"} 2.0' in text
    assert "credgraph_monitor_alerts_raised_total 3.0" in text
    assert 'credgraph_monitor_alerts{rule="NEAR_RECORD",status="OPEN"} 3.0' in text
    assert "credgraph_monitor_watched_subjects 1.0" in text
    assert "credgraph_monitor_last_run_seconds" in text


def test_reading_alerts_and_watchlists_is_audited(city: Graph, api: Api, rules: Rules,
                                                 services: Services) -> None:
    """SPEC §9: every investigative query names its subjects — an alert list names the
    subjects alerted on (and, as any answer, the persons whose names it showed)."""
    watch_and_run(api, city, rules)
    data(api, "{ alerts { edges { node { subject { id } } } } }", "monitor")
    data(api, "{ alerts { edges { node { evidence { from { name } } } } } }", "investigator")
    data(api, "{ watchlist { id } }", "monitor")
    asked = "query($id: ID!) { alerts(subject: $id) { totalCount } }"
    assert data(api, asked, "monitor", id=N)["alerts"]["totalCount"] == 0
    services.audit.flush()
    logged = services.graph.read(
        "MATCH (e:AuditEvent) WHERE e.operation IN ['alerts', 'watchlist'] "
        "RETURN e.operation AS op, e.role AS role, e.subjects AS subjects ORDER BY e.at")
    person = services.privacy.person_key(parse_id_number(PERSON_ID))
    assert [(e["op"], e["role"], sorted(e["subjects"])) for e in logged] == [
        ("alerts", "monitor", [W]), ("alerts", "investigator", sorted([W, person])),
        ("watchlist", "monitor", [W]), ("alerts", "monitor", [N])]
