"""The audit log: an entry for every investigative query, PII reveal and mutation, never a raw
ID number; written off the request path yet surviving a restart; `auditLog` for admins with
paging; revoked keys refused; `keys list` and `keys revoke`."""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from typing import Any
from urllib.parse import quote

import neo4j.exceptions
import pytest
import strawberry
from click.testing import CliRunner
from starlette.testclient import TestClient
from strawberry.types import Info

from credgraph.api.app import create_app
from credgraph.api.audit import AuditReveals
from credgraph.api.auth import KeyStore, Principal, Role
from credgraph.api.types import REVEALED, Subject
from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.server import LocalNeo4j
from credgraph.queries.audit import AuditEvent, AuditTrail
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from credgraph.settings import Settings
from tests.conftest import TODAY, Api
from tests.graphs import record, relate, subject
from tests.ids import make_id, make_uscc, raw_id_numbers

S = make_uscc(org="MA3C00001")
NUMBER = make_id(region="371402", born="19800101", seq="011")
LOG = """query($subject: ID, $actor: String, $since: DateTime, $first: Int, $after: String) {
  auditLog(subject: $subject, actor: $actor, since: $since, first: $first, after: $after) {
    totalCount pageInfo { hasNextPage endCursor }
    edges { cursor node { at actor role operation subjects purpose } } } }"""


@pytest.fixture()
def world(graph: Graph, services: Services) -> str:
    """A company and its legal representative, a person known by a raw ID number."""
    person = services.privacy.person_key(parse_id_number(NUMBER))
    subject(graph, S, "德州市甲食品有限公司")
    subject(graph, person, "张三明", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = $masked",
                {"id": person, "masked": NUMBER[:6] + "********" + NUMBER[-4:]})
    relate(graph, person, S, "LEGAL_REPRESENTATIVE")
    relate(graph, person, S, "SHAREHOLDER", ratio=0.6)
    record(graph, S, "Penalty", "P-1", severity="一般", domain="market",
           date=TODAY - dt.timedelta(days=400), publicityUntil=dt.date(2099, 1, 1))
    return person


def ok(api: Api, query: str, role: str = "admin", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    return body["data"]


def events(services: Services) -> list[dict[str, Any]]:
    services.audit.flush()
    rows = services.graph.read("MATCH (e:AuditEvent) RETURN properties(e) AS e ORDER BY e.at")
    return [row["e"] for row in rows]


def test_every_operation_is_audited_without_raw_id_numbers(world: str, api: Api,
                                                           services: Services) -> None:
    person = world
    calls = [
        (f'{{ subject(id: "{NUMBER}") {{ name idMasked }} }}', "subject", [person]),
        ('{ searchSubjects(name: "甲食品") { subject { id } } }', "searchSubjects", [S]),
        (f'{{ associations(id: "{S}") {{ nodes {{ id name }} }} }}', "associations",
         [S, person]),
        (f'{{ riskAssessment(id: "{S}") {{ score }} }}', "riskAssessment", [S]),
        (f'{{ ultimateOwners(id: "{S}") {{ owner {{ name }} }} }}', "ultimateOwners",
         [S, person]),
        ('mutation { fileObjection(recordId: "P-1", reason: "有误") { id } }',
         "fileObjection", [S]),
        (f'{{ objections(subject: "{S}") {{ id }} }}', "objections", [S]),
        ('mutation { requestRepair(recordId: "P-1", commitment: "承诺") { eligible } }',
         "requestRepair", [S]),
        (f'{{ repairs(subject: "{S}") {{ id }} }}', "repairs", [S]),
    ]
    for query, _, _ in calls:
        ok(api, query, "investigator" if "mutation" not in query else "admin")
    objection = services.graph.read("MATCH (o:Objection) RETURN o.id AS id")[0]["id"]
    ok(api, f'mutation {{ resolveObjection(id: "{objection}", outcome: UPHOLD, note: "维持") '
            '{ id } }')
    logged = events(services)
    expected = [(op, subjects) for _, op, subjects in calls] + [("resolveObjection", [S])]
    assert [(e["operation"], e["subjects"]) for e in logged] == expected
    roles = {(e["actor"], e["role"]) for e in logged}
    assert roles == {("test-investigator", "investigator"), ("test-admin", "admin")}
    assert not raw_id_numbers(json.dumps([{k: str(v) for k, v in e.items()} for e in logged],
                                        ensure_ascii=False))


def test_a_refused_request_is_audited_as_not_answered(world: str, api: Api,
                                                      services: Services) -> None:
    """Who tried what is kept also when it was refused before any resolver recorded it: a
    partner asking for a subject, an investigator running an admin's mutation, a sharedCheck
    over its batch limit — with the codes they were answered with, the purpose stated, and
    no subject (the ids sent were never checked)."""
    calls = [
        (f'{{ subject(id: "{NUMBER}") {{ name }} }}', "partner", "FORBIDDEN"),
        ('mutation { runEscalation { created } }', "investigator", "FORBIDDEN"),
        ('query($ids: [ID!]!) { sharedCheck(ids: $ids, purpose: "核查") { id } }', "partner",
         "LIMIT_EXCEEDED"),
    ]
    for query, role, code in calls:
        response = api.client.post(
            "/graphql", json={"query": query, "variables": {"ids": [S] * 1001}},
            headers={**api.headers(role), "X-Purpose": "case-9"})
        assert response.json()["errors"][0]["extensions"]["code"] == code
    ok(api, f'{{ subject(id: "{S}") {{ id }} }}', "investigator")  # answered: one event
    logged = [(e["actor"], e["operation"], e["subjects"], e.get("purpose"))
              for e in events(services)]
    assert logged == [
        ("test-partner", "subject (not answered: FORBIDDEN)", [], "case-9"),
        ("test-investigator", "runEscalation (not answered: FORBIDDEN)", [], "case-9"),
        ("test-partner", "sharedCheck (not answered: LIMIT_EXCEEDED)", [], "case-9"),
        ("test-investigator", "subject", [S], None)]
    assert NUMBER not in json.dumps(logged, ensure_ascii=False)


def test_a_request_refused_at_validation_is_audited(world: str, api: Api,
                                                    services: Services) -> None:
    """A request that fails GraphQL validation never executes, so no resolver or execution
    hook saw it: a partner's sharedCheck without its required `purpose` argument, or a
    request with more aliases than the limit, left no trace, while the same sharedCheck
    with a blank purpose was on record. Both are kept now, with the header's purpose."""
    calls = [
        (f'{{ sharedCheck(ids: ["{S}"]) {{ id }} }}', "partner", "BAD_USER_INPUT"),
        ("{ " + " ".join(f'a{n}: sharedCheck(ids: ["{S}"], purpose: "p") {{ id }}'
                         for n in range(31)) + " }", "partner", "LIMIT_EXCEEDED"),
        (f'{{ subject(id: "{S}") {{ id nope }} }}', "investigator", "BAD_USER_INPUT"),
        # a field no schema has is kept as such: its name may hold anything, an ID number too
        (f'{{ subject(id: "{S}") {{ id }} x{NUMBER}: subject(id: "{S}") {{ id }} '
         f'y{NUMBER} {{ id }} z{"q" * 5000} }}', "investigator", "BAD_USER_INPUT"),
    ]
    for query, role, code in calls:
        response = api.client.post("/graphql", json={"query": query},
                                   headers={**api.headers(role), "X-Purpose": "case-7"})
        assert response.json()["errors"][0]["extensions"]["code"] == code
    logged = [(e["actor"], e["operation"], e["subjects"], e.get("purpose"))
              for e in events(services)]
    assert logged == [
        ("test-partner", "sharedCheck (not answered: BAD_USER_INPUT)", [], "case-7"),
        ("test-partner", "sharedCheck (not answered: LIMIT_EXCEEDED)", [], "case-7"),
        ("test-investigator", "subject (not answered: BAD_USER_INPUT)", [], "case-7"),
        ("test-investigator", "subject+unknown field (not answered: BAD_USER_INPUT)", [],
         "case-7")]


def test_a_refusal_after_the_subject_was_found_names_it(world: str, api: Api,
                                                       services: Services) -> None:
    """A confirmEscalation refused once its subject was found (nothing proposed to confirm,
    a notice period running) was audited with no subject, so `auditLog(subject:)` did not
    show the attempt; an id found nowhere still names nobody."""
    confirm = 'mutation($s: ID!) { confirmEscalation(subject: $s, note: "期满") { level } }'
    unknown = make_uscc(org="MA3C00009")
    for sid, code in ((S, "BAD_USER_INPUT"), (unknown, "NOT_FOUND")):
        body = api.query(confirm, "admin", s=sid)
        assert body["errors"][0]["extensions"]["code"] == code
    assert [(e["operation"], e["subjects"]) for e in events(services)] == [
        ("confirmEscalation (not answered: BAD_USER_INPUT)", [S]),
        ("confirmEscalation (not answered: NOT_FOUND)", [])]


def test_a_sharing_call_refused_after_its_purpose_keeps_that_purpose(
        world: str, api: Api, services: Services) -> None:
    """A partner states its purpose the contract's way, as `sharedCheck`'s argument, without
    an `X-Purpose` header: a batch over the limit is refused after the purpose was checked,
    and its event keeps that purpose (masked as every purpose is) — who tried what, and why.
    A purpose refused itself (empty) is not kept."""
    query = 'query($ids: [ID!]!, $p: String!) { sharedCheck(ids: $ids, purpose: $p) { id } }'
    for purpose in (f"批量核查 {NUMBER}", "  "):
        response = api.client.post(
            "/graphql", json={"query": query, "variables": {"ids": [S] * 1001, "p": purpose}},
            headers=api.headers("partner"))
        assert response.json()["errors"][0]["extensions"]["code"] in (
            "LIMIT_EXCEEDED", "BAD_USER_INPUT")
    logged = [(e["operation"], e["subjects"], e.get("purpose")) for e in events(services)]
    masked = f"批量核查 {NUMBER[:6]}********{NUMBER[-4:]}"
    assert logged == [("sharedCheck (not answered: LIMIT_EXCEEDED)", [], masked),
                      ("sharedCheck (not answered: BAD_USER_INPUT)", [], None)]


def test_a_field_refused_beside_an_answered_one_is_audited(world: str, api: Api,
                                                            services: Services) -> None:
    """A partner that asks for a person's `subject` (or under an alias) in the same request as
    an answered `sharedCheck` is refused that field — and the refusal is in the log beside the
    sharedCheck's event, as it is when asked alone: an answered field must not hide who tried
    what."""
    query = (f'{{ sharedCheck(ids: ["{S}"], purpose: "核查") {{ id }} '
             f'subject(id: "{NUMBER}") {{ name }} '
             f'who: subject(id: "{S}") {{ name }} }}')
    response = api.client.post("/graphql", json={"query": query},
                               headers={**api.headers("partner"), "X-Purpose": "case-9"})
    body = response.json()
    assert {e["extensions"]["code"] for e in body["errors"]} == {"FORBIDDEN"}
    logged = [(e["actor"], e["operation"], e["subjects"], e.get("purpose"))
              for e in events(services)]
    assert logged == [
        ("test-partner", "sharedCheck", [S], "核查"),
        ("test-partner", "subject (not answered: FORBIDDEN)", [], "case-9")]
    assert NUMBER not in json.dumps(logged, ensure_ascii=False)


def test_a_field_refused_beside_names_whom_it_was_about(world: str, api: Api,
                                                       services: Services) -> None:
    """A field refused beside an answered one named no subject, even when its resolver had
    found one by the id sent (a confirmEscalation with nothing to confirm beside a watch — or
    a riskAssessment stopped by the time limit beside a subject); and one refused beside an
    answered field of the same name (two subjects under aliases) was not in the log at all
    (found by a held-out security review). Each is now kept, naming what it had found."""
    person = world
    body = api.query(f'mutation {{ watch(id: "{S}") '
                     f'confirmEscalation(subject: "{NUMBER}", note: "期满") {{ level }} }}',
                     "admin")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    body = api.query(f'{{ a: subject(id: "{S}") {{ id }} '
                     f'b: subject(id: "{S[:-1]}?") {{ id }} }}', "investigator")
    assert body["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"
    assert [(e["operation"], e["subjects"]) for e in events(services)] == [
        ("watch", [S]),
        ("confirmEscalation (not answered: BAD_USER_INPUT)", [person]),
        ("subject", [S]),
        ("subject (not answered: BAD_USER_INPUT)", [])]


def test_pii_reveals_name_the_persons_shown(world: str, api: Api, services: Services,
                                           graph: Graph) -> None:
    person = world
    record(graph, person, "Penalty", "P-2", severity="严重", domain="market",
           date=TODAY - dt.timedelta(days=30), publicityUntil=dt.date(2099, 1, 1))
    query = f'{{ riskAssessment(id: "{S}") {{ contributors {{ subject {{ id name }} }} }} }}'
    shown = ok(api, query, "investigator")["riskAssessment"]["contributors"]
    assert shown == [{"subject": {"id": person, "name": "张三明"}}]
    assert ok(api, query, "monitor")["riskAssessment"]["contributors"] == [
        {"subject": {"id": person, "name": "张*明"}}]  # masked: no reveal
    assert [e["subjects"] for e in events(services)] == [[S, person], [S]]


@strawberry.type
class Forgetful:
    @strawberry.field
    def someone(self, info: Info, id: str) -> Subject:
        return Subject.from_row({"id": id, "kind": "NATURAL_PERSON", "name": "张三明"},
                                info.context["principal"])


def test_an_unaudited_reveal_is_still_audited(world: str, services: Services) -> None:
    """A resolver that forgets `audit()` but shows a person: the extension records it."""
    schema = strawberry.Schema(query=Forgetful, extensions=[AuditReveals])
    context = {"principal": Principal("k", "tester", Role.INVESTIGATOR), "services": services}
    result = schema.execute_sync(f'{{ someone(id: "{world}") {{ name }} }}',
                                 context_value=context)
    assert result.errors is None and result.data == {"someone": {"name": "张三明"}}
    assert REVEALED.get() is None
    assert [(e["operation"], e["subjects"], e["actor"]) for e in events(services)] == [
        ("someone", [world], "tester")]


def test_purpose_header(world: str, api: Api, services: Services) -> None:
    api.client.post("/graphql", json={"query": f'{{ riskAssessment(id: "{S}") {{ score }} }}'},
                    headers={**api.headers("investigator"),
                             "X-Purpose": quote("案件 2026-17 核查")})
    assert [e["purpose"] for e in events(services)] == ["案件 2026-17 核查"]


def test_purpose_header_in_utf8_as_sent(world: str, api: Api, services: Services) -> None:
    """A header of raw UTF-8 bytes (curl -H 'X-Purpose: 案件 17') was kept as the Latin-1
    reading of its bytes, 'æ¡ä»¶ 17'; Latin-1 that is not UTF-8 stays as sent."""
    for value in ("案件 2026-18 核查".encode(), "Café".encode("latin-1")):
        api.client.post("/graphql", json={"query": f'{{ subject(id: "{S}") {{ id }} }}'},
                        headers=[*api.headers("investigator").items(), ("X-Purpose", value)])
    assert [e["purpose"] for e in events(services)] == ["案件 2026-18 核查", "Café"]


def test_purpose_header_without_control_characters(world: str, api: Api,
                                                    services: Services) -> None:
    """The header kept a NUL and a line break in the log (percent-encoded, they pass HTTP),
    which the purpose argument of sharedCheck drops: one cleaning for every stated purpose."""
    api.client.post("/graphql", json={"query": f'{{ subject(id: "{S}") {{ id }} }}'},
                    headers={**api.headers("investigator"),
                             "X-Purpose": quote("案件\n\x00 2026-19\t 核查")})
    assert [e["purpose"] for e in events(services)] == ["案件 2026-19 核查"]


def test_audit_log_filters_and_pages(world: str, api: Api, services: Services) -> None:
    for _ in range(3):
        ok(api, f'{{ riskAssessment(id: "{S}") {{ score }} }}', "investigator")
    ok(api, f'{{ subject(id: "{NUMBER}") {{ id }} }}', "monitor")
    page = ok(api, LOG, first=2)["auditLog"]
    assert page["totalCount"] == 4 and page["pageInfo"]["hasNextPage"]
    assert [e["node"]["operation"] for e in page["edges"]] == ["subject", "riskAssessment"]
    rest = ok(api, LOG, first=2, after=page["pageInfo"]["endCursor"])["auditLog"]
    assert rest["totalCount"] == 5  # the first auditLog call is in the log now
    assert not rest["pageInfo"]["hasNextPage"]
    assert [e["node"]["operation"] for e in rest["edges"]] == ["riskAssessment"] * 2
    # by subject (a raw ID number is hashed on arrival), by actor, since a time
    by_person = ok(api, LOG, subject=NUMBER)["auditLog"]
    assert [e["node"]["subjects"] for e in by_person["edges"]] == [[world]]
    assert ok(api, LOG, actor="test-investigator")["auditLog"]["totalCount"] == 3
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert ok(api, LOG, since=later)["auditLog"]["totalCount"] == 0
    # the auditLog calls themselves are in the log too, by the admin
    logged = ok(api, LOG, actor="test-admin")["auditLog"]["edges"]
    assert {e["node"]["operation"] for e in logged} == {"auditLog"}


def test_since_counts_from_its_instant_in_any_offset(world: str, api: Api) -> None:
    """`since` is an instant: China time (+08:00) and UTC of one event's own `at` both include
    that event."""
    ok(api, f'{{ riskAssessment(id: "{S}") {{ score }} }}', "investigator")
    [edge] = ok(api, LOG, actor="test-investigator")["auditLog"]["edges"]
    at = dt.datetime.fromisoformat(edge["node"]["at"])
    china = at.astimezone(dt.timezone(dt.timedelta(hours=8))).isoformat()
    for since in (at.isoformat(), china):
        assert ok(api, LOG, actor="test-investigator", since=since)["auditLog"][
            "totalCount"] == 1, since


@pytest.mark.parametrize(("variables", "role", "code"), [
    ({"first": 501}, "admin", "LIMIT_EXCEEDED"),
    ({"first": -1}, "admin", "BAD_USER_INPUT"),
    ({"after": "not-a-cursor"}, "admin", "BAD_USER_INPUT"),
    # a cursor made by hand with a time of no zone (ours always have one): an empty page was
    # answered as though the log ended there
    ({"after": base64.urlsafe_b64encode(json.dumps(
        ["auditLog", "2026-11-30T10:00:00", "e1"]).encode()).decode()}, "admin",
     "BAD_USER_INPUT"),
    ({"subject": "123"}, "admin", "BAD_USER_INPUT"),
    ({}, "investigator", "FORBIDDEN"),
    ({}, "partner", "FORBIDDEN"),
])
def test_audit_log_refusals(world: str, api: Api, variables: dict[str, Any], role: str,
                            code: str) -> None:
    body = api.query(LOG, role, **variables)
    assert body["errors"][0]["extensions"]["code"] == code


def test_audit_survives_a_restart(world: str, settings: Settings, services: Services) -> None:
    slow = Services.build(settings.model_copy(update={"audit_flush_ms": 600_000}),
                          services.graph, services.rules, services.privacy)
    token = KeyStore(services.graph).create("auditor", Role.ADMIN)
    headers = {"Authorization": f"Bearer {token}"}
    with TestClient(create_app(slow)) as client:  # runs the lifespan: stopped on exit
        response = client.post("/graphql", headers=headers,
                               json={"query": f'{{ riskAssessment(id: "{S}") {{ score }} }}'})
        assert response.status_code == 200 and "errors" not in response.json()
        assert slow.audit.pending == 1  # not written on the request path
    assert slow.audit.pending == 0
    fresh = Services.build(settings, services.graph, services.rules, services.privacy)
    client = TestClient(create_app(fresh))
    answer = client.post("/graphql", headers=headers, json={"query": LOG}).json()
    assert answer["data"]["auditLog"]["edges"][0]["node"]["operation"] == "riskAssessment"
    fresh.audit.stop()


def test_the_trail_batches_and_keeps_failed_writes(graph: Graph) -> None:
    trail = AuditTrail(graph, interval=600, batch=3)
    for n in range(3):
        trail.record(AuditEvent("a", "admin", f"op{n}", ()))
    trail.stop()  # whatever the writer had not written yet, stop writes
    assert graph.read("MATCH (e:AuditEvent) RETURN count(e) AS n")[0]["n"] == 3
    away = AuditTrail(Graph(graph.driver, "no-such-database", 5), interval=600, batch=100)
    away.record(AuditEvent("a", "admin", "op", ("x",)))
    with pytest.raises(neo4j.exceptions.Neo4jError):
        away.flush()
    assert away.pending == 1  # kept for the next attempt


def test_an_event_refused_for_its_content_does_not_hold_back_the_rest(
        graph: Graph, caplog: pytest.LogCaptureFixture) -> None:
    """A refused event at the head of the queue held every later one back for good (the
    audit log stopped); it is set aside, named in the log, and the others written."""
    trail = AuditTrail(graph, interval=600, batch=100)
    trail.record(AuditEvent("a", "admin", "first", ("x",)))
    trail.record(AuditEvent("a", "admin", "map", ("x",), purpose={"a": "map"}))  # type: ignore[arg-type]
    trail.record(AuditEvent("a", "admin", "surrogate", ("x",), purpose="\udc00"))
    trail.record(AuditEvent("a", "admin", "last", ("x",)))
    with caplog.at_level("ERROR", logger="credgraph.audit"):
        assert trail.flush() == 2
    assert trail.pending == 0
    assert sorted(graph.read("MATCH (e:AuditEvent) RETURN collect(e.operation) AS ops")[0][
        "ops"]) == ["first", "last"]  # two events may share a microsecond: no order asked
    assert [r.getMessage().split(" refused")[0].split("(")[1] for r in caplog.records] == [
        "map by a)", "surrogate by a)"]


def test_the_writer_thread_appends_without_being_asked(graph: Graph) -> None:
    trail = AuditTrail(graph, interval=0.05, batch=1000)
    trail.record(AuditEvent("a", "admin", "op", ("x",)))
    written = 0
    for _ in range(600):  # no flush() here: the background writer has to do it
        written = graph.read("MATCH (e:AuditEvent) RETURN count(e) AS n")[0]["n"]
        if written:
            break
        time.sleep(0.1)
    assert written == 1 and trail.pending == 0
    trail.stop()


def test_revoked_key_is_refused_at_once(world: str, services: Services) -> None:
    store = KeyStore(services.graph)
    token = store.create("leaver", Role.INVESTIGATOR)
    client = TestClient(create_app(services, store))
    headers = {"Authorization": f"Bearer {token}"}
    assert client.post("/graphql", headers=headers,
                       json={"query": "{ __typename }"}).status_code == 200
    assert store.revoke("leaver") == 1
    refused = client.post("/graphql", headers=headers, json={"query": "{ __typename }"})
    assert refused.status_code == 401
    assert refused.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


def test_a_rotation_revokes_the_old_key_of_a_name_and_keeps_the_new(
        world: str, settings: Settings, services: Services) -> None:
    """docs/security.md's rotation: the new key (same name: the audit log's actor stays the
    same) is issued, then the old one retired — `keys revoke NAME` alone retired both and cut
    the partner off; `--prefix` names the old one."""
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    env = {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": settings.neo4j_database}
    runner = CliRunner()
    tokens = [runner.invoke(main, ["keys", "create", "--name", "滨州", "--role", "partner"],
                            env=env).stdout.strip().splitlines()[-1] for _ in range(2)]
    old, new = tokens
    wrong = runner.invoke(main, ["keys", "revoke", "滨州", "--prefix", "cg_none"], env=env)
    assert wrong.exit_code == 1 and "no active key named '滨州' with prefix cg_none" in (
        wrong.output)
    revoked = runner.invoke(main, ["keys", "revoke", "滨州", "--prefix", old[:7]], env=env)
    assert revoked.exit_code == 0, revoked.output
    assert f"revoked 1 key(s) named 滨州 with prefix {old[:7]}" in revoked.output
    client = TestClient(create_app(services))
    status = {token: client.post("/graphql", json={"query": "{ __typename }"},
                                 headers={"Authorization": f"Bearer {token}"}).status_code
              for token in tokens}
    assert status == {old: 401, new: 200}


def test_keys_list_and_revoke_cli(world: str, settings: Settings, services: Services) -> None:
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    env = {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": settings.neo4j_database}
    runner = CliRunner()
    created = runner.invoke(main, ["keys", "create", "--name", "hebei-city", "--role",
                                   "partner"], env=env)
    assert created.exit_code == 0, created.output
    token = created.stdout.strip().splitlines()[-1]
    listed = runner.invoke(main, ["keys", "list", "--json"], env=env)
    assert listed.exit_code == 0
    rows = json.loads(listed.stdout)
    assert [(r["name"], r["role"], r["prefix"], r["revoked"]) for r in rows] == [
        ("hebei-city", "partner", token[:7], None)]
    assert token not in listed.stdout and token[7:15] not in listed.stdout
    revoked = runner.invoke(main, ["keys", "revoke", "hebei-city"], env=env)
    assert revoked.exit_code == 0 and "revoked 1 key(s) named hebei-city" in revoked.output
    table = runner.invoke(main, ["keys", "list"], env=env)
    assert "hebei-city" in table.output and "revoked 20" in table.output
    # a Chinese name is padded by terminal cells: the role column stays in line
    runner.invoke(main, ["keys", "create", "--name", "监测岗", "--role", "monitor"], env=env)
    lines = runner.invoke(main, ["keys", "list"], env=env).output.splitlines()
    from rich.cells import cell_len
    assert len({cell_len(line[:line.index(role)]) for line, role in zip(
        lines, ("role", "partner", "monitor"), strict=True)}) == 1, lines
    again = runner.invoke(main, ["keys", "revoke", "hebei-city"], env=env)
    assert again.exit_code == 1 and "no active key named 'hebei-city'" in again.output
    # another process (a server started now, or after its second of caching) refuses it
    client = TestClient(create_app(services))
    response = client.post("/graphql", json={"query": "{ __typename }"},
                           headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_a_mutations_event_is_written_before_its_answer(world: str, api: Api,
                                                       services: Services) -> None:
    """Audit events wait in a queue for the writer (up to CREDGRAPH_AUDIT_FLUSH_MS): a server
    killed right after answering a requestRepair left the repair granted and the log without
    it (a held-out review, kill -9 after the reply). A mutation's events are written before
    its answer; a query's still wait for the writer's batch."""
    services.audit.interval = 60.0  # the writer gathers for a minute: only a flush writes

    def stored() -> list[str]:
        return [row["op"] for row in services.graph.read(
            "MATCH (e:AuditEvent) RETURN e.operation AS op ORDER BY e.at")]

    ok(api, f'{{ subject(id: "{S}") {{ id }} }}', "investigator")
    assert stored() == []
    ok(api, 'mutation { fileObjection(recordId: "P-1", reason: "有误") { id } }')
    assert stored() == ["subject", "fileObjection"]
    body = api.query('mutation { resolveObjection(id: "O-none", outcome: UPHOLD, note: "x") '
                     '{ id } }', "admin")
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert stored()[-1] == "resolveObjection (not answered: NOT_FOUND)"
