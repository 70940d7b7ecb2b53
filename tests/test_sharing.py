"""sharedCheck (区域信用共享, incoming): what a partner city may ask and learn, through the real
app and a real Neo4j; the partners file."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from credgraph.sharing.partners import PartnersError, load_partners
from tests.conftest import TODAY, Api
from tests.graphs import record, subject
from tests.ids import make_id, make_uscc, raw_id_numbers

DAY = dt.timedelta(days=1)
COMPANY = make_uscc(org="MA3C00001")
CLEAN = make_uscc(org="MA3C00002")
UNKNOWN = make_uscc(org="MA3C00003")
PERSON_ID = make_id(born="19800101", seq="123")
SHARED = """query($ids: [ID!]!, $purpose: String!) { sharedCheck(ids: $ids, purpose: $purpose) {
  id found severeListings escalation activePenaltiesByDomain { domain count } creditGrade } }"""


@pytest.fixture()
def city(graph: Graph, services: Services) -> str:
    """A company with listings, penalties and escalations in every state that matters; a
    clean company; a person with a severe listing. Returns the person's opaque key."""
    person = services.privacy.person_key(parse_id_number(PERSON_ID))
    subject(graph, COMPANY, "德州市甲食品有限公司")
    subject(graph, CLEAN, "德州市乙商贸有限公司")
    subject(graph, person, "张三明", "NATURAL_PERSON")
    graph.write("MATCH (p {id: $id}) SET p.idMasked = '371402********1234', "
                "p.address = '德州市德城区某路1号'", {"id": person})
    listing = {"domain": "judicial", "date": TODAY - 100 * DAY, "listedOn": TODAY - 100 * DAY}
    record(graph, COMPANY, "Listing", "L-active", listType="失信被执行人", **listing)
    record(graph, COMPANY, "Listing", "L-minor", listType="经营异常名录", **listing)
    record(graph, COMPANY, "Listing", "L-removed", listType="严重失信主体",
           removedOn=TODAY - DAY, **listing)
    record(graph, COMPANY, "Listing", "L-repaired", listType="严重失信主体", status="REPAIRED",
           repairedOn=TODAY - 10 * DAY, **listing)
    record(graph, COMPANY, "Listing", "L-later", listType="严重失信主体",
           removedOn=TODAY + 30 * DAY, **listing)
    penalty = {"severity": "一般", "date": TODAY - 50 * DAY, "publicityUntil": TODAY + 300 * DAY}
    record(graph, COMPANY, "Penalty", "P-food-1", domain="food_drug", **penalty)
    record(graph, COMPANY, "Penalty", "P-food-2", domain="food_drug", status="DISPUTED",
           **penalty)
    record(graph, COMPANY, "Penalty", "P-env", domain="environment", **penalty)
    record(graph, COMPANY, "Penalty", "P-past", domain="tax", severity="一般",
           date=TODAY - 500 * DAY, publicityUntil=TODAY - DAY)
    record(graph, COMPANY, "Penalty", "P-expired", domain="tax", status="EXPIRED", **penalty)
    record(graph, COMPANY, "Penalty", "P-revoked", domain="tax", status="REVOKED",
           revokedOn=TODAY - DAY, **penalty)
    record(graph, COMPANY, "Penalty", "P-nodomain", **penalty)
    record(graph, person, "Listing", "L-person", listType="严重失信主体", **listing)
    graph.write("""MATCH (s:Subject {id: $id})
        CREATE (s)-[:HAS_ESCALATION]->(:Escalation {id: 'E1', level: 'FOCUS', status: 'ACTIVE'}),
               (s)-[:HAS_ESCALATION]->(:Escalation {id: 'E2', level: 'SEVERE',
                                                    status: 'LIFTED'})""", {"id": COMPANY})
    return person


def shared(api: Api, ids: list[str], role: str = "partner",
           purpose: str = "政府采购供应商资格审查") -> Any:
    body = api.query(SHARED, role, ids=ids, purpose=purpose)
    assert "errors" not in body, body
    return body["data"]["sharedCheck"]  # type: ignore[index]


def error_of(api: Api, ids: list[str], purpose: str = "审查",
             role: str = "partner") -> dict[str, Any]:
    body = api.query(SHARED, role, ids=ids, purpose=purpose)
    assert body.get("errors") and body["data"] is None, body
    return body["errors"][0]  # type: ignore[index, no-any-return]


def test_status_of_a_company(city: str, api: Api) -> None:
    [status] = shared(api, [COMPANY])
    assert status == {
        "id": COMPANY, "found": True,
        "severeListings": 2,  # L-active, L-later; not removed, repaired or non-severe ones
        "escalation": "FOCUS",  # the lifted SEVERE does not count
        "activePenaltiesByDomain": [{"domain": "food_drug", "count": 2},
                                    {"domain": "environment", "count": 1},
                                    {"domain": "other", "count": 1}],
        "creditGrade": "D",  # two active severe listings and a FOCUS escalation
    }


def test_batch_in_order_with_unknown_malformed_and_person(city: str, api: Api) -> None:
    # mistyped check digits: one of these 18 digit strings is also a valid USCC (by chance);
    # neither is echoed as sent
    mistyped = [PERSON_ID[:17] + d for d in "01" if d != PERSON_ID[17]][:1] + [
        PERSON_ID[:17] + d for d in "23" if d != PERSON_ID[17]][:1]
    # a malformed id comes back exactly as sent (SPEC §9), not normalised
    malformed = ["not-an-id", " bad id ", "ｂａｄ"]
    # but a number a digit short, or one inside other characters, comes back masked
    short, wrapped = PERSON_ID[:17], f"a{PERSON_ID}b"
    # the one that is not a USCC, written with double spaces: masked all the same
    wrong = mistyped[1]
    spaced = f"{wrong[:6]}  {wrong[6:14]}  {wrong[14:]}"
    ids = [CLEAN, UNKNOWN, *malformed, PERSON_ID, city, *mistyped, spaced, COMPANY.lower(),
           short, wrapped]
    statuses = shared(api, ids)
    assert [s["id"] for s in statuses] == [
        CLEAN, UNKNOWN, *malformed, city, city,
        *(m[:6] + "********" + m[-4:] for m in [*mistyped, wrong]), COMPANY.lower(),
        short[:6] + "*******" + short[-4:], f"a{PERSON_ID[:6]}********{PERSON_ID[-4:]}b"]
    assert [s["found"] for s in statuses] == [
        True, False, False, False, False, True, True, False, False, False, True, False, False]
    assert statuses[0] == {"id": CLEAN, "found": True, "severeListings": 0, "escalation": None,
                           "activePenaltiesByDomain": [], "creditGrade": "A"}
    assert statuses[1]["severeListings"] == 0 and statuses[1]["escalation"] is None
    assert statuses[5]["severeListings"] == 1 == statuses[6]["severeListings"]
    assert statuses[10]["severeListings"] == 2
    assert not raw_id_numbers(api.last_text)
    assert "张" not in api.last_text and "德城区" not in api.last_text


def test_every_call_is_audited_with_its_purpose(city: str, api: Api, graph: Graph) -> None:
    shared(api, [COMPANY, PERSON_ID, "x"], purpose="  招投标 资格审查 ")
    [event] = graph.read("MATCH (e:AuditEvent) RETURN e {.*} AS e")
    audit = event["e"]
    assert (audit["actor"], audit["role"], audit["operation"], audit["purpose"]) == (
        "test-partner", "partner", "sharedCheck", "招投标 资格审查")
    assert audit["subjects"] == [COMPANY, city]
    assert audit["at"] is not None


def test_a_purpose_as_long_as_allowed_is_audited_whole(city: str, api: Api,
                                                       graph: Graph) -> None:
    """sharedCheck takes a purpose of up to [sharing] max_purpose_length (500) characters; the
    audit log keeps the purpose as stated, not its first 200 characters."""
    purpose = "政府采购供应商资格审查 德公资〔2026〕31号 " * 20
    purpose = purpose[:500]
    shared(api, [COMPANY], purpose=purpose)
    [event] = graph.read("MATCH (e:AuditEvent) RETURN e.purpose AS purpose")
    assert event["purpose"] == " ".join(purpose.split())


def test_purpose_and_batch_limits(city: str, api: Api) -> None:
    assert error_of(api, [COMPANY], purpose="  ")["extensions"]["code"] == "BAD_USER_INPUT"
    assert error_of(api, [COMPANY], purpose="\x00\x07")["extensions"]["code"] == "BAD_USER_INPUT"
    for invisible in ("\u200b", "\ufeff\u2060", "\u3000\u200d"):  # zero-width, BOM, joiners
        assert error_of(api, [COMPANY], purpose=invisible)["extensions"]["code"] == "BAD_USER_INPUT"
    assert error_of(api, [COMPANY], purpose="x" * 501)["extensions"]["code"] == "BAD_USER_INPUT"
    found = error_of(api, [COMPANY] * 1001)
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "batch limit of 1,000" in found["message"]
    assert len(shared(api, [COMPANY] * 1000)) == 1000
    assert shared(api, []) == []


def test_aliased_sharing_fields_share_the_batch_limit(city: str, api: Api) -> None:
    """Thirty aliased sharedChecks of 1,000 ids would be 30,000 ids in one request: the batch
    limit is the request's."""
    query = ("query($a: [ID!]!, $b: [ID!]!) { a: sharedCheck(ids: $a, purpose: \"审查\") { id } "
             "b: sharedCheck(ids: $b, purpose: \"审查\") { id } }")
    body = api.query(query, "partner", a=[COMPANY] * 600, b=[COMPANY] * 401)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["LIMIT_EXCEEDED"]
    assert "1,001 ids in this request's sharing fields" in body["errors"][0]["message"]
    body = api.query(query, "partner", a=[COMPANY] * 600, b=[COMPANY] * 400)
    assert "errors" not in body
    assert (len(body["data"]["a"]), len(body["data"]["b"])) == (600, 400)


def test_daily_quota_per_partner_key(city: str, services: Services, graph: Graph) -> None:
    api = Api(services.with_rules(services.rules.with_overrides({"sharing": {"daily_ids": 5}})))
    assert len(shared(api, [COMPANY, CLEAN, UNKNOWN])) == 3
    found = error_of(api, [COMPANY, CLEAN, UNKNOWN])
    assert found["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert "daily quota of 5 (3 checked today)" in found["message"]
    assert len(shared(api, [COMPANY, CLEAN])) == 2  # exactly up to the quota
    assert error_of(api, [COMPANY])["extensions"]["code"] == "LIMIT_EXCEEDED"
    assert len(shared(api, [COMPANY], role="admin")) == 1  # the quota is for partner keys
    [row] = graph.read("MATCH (q:SharingQuota) RETURN q.ids AS ids, q.day AS day")
    assert row["ids"] == 5 and row["day"].to_native() == TODAY


def test_partner_rate_limit(city: str, services: Services) -> None:
    api = Api(services.with_rules(services.rules.with_overrides(
        {"sharing": {"requests_per_minute": 2}})))
    codes = [api.client.post("/graphql", json={"query": SHARED, "variables": {
        "ids": [COMPANY], "purpose": "审查"}}, headers=api.headers("partner")).status_code
        for _ in range(3)]
    assert codes == [200, 200, 429]
    # other roles keep the general limit
    assert api.client.post("/graphql", json={"query": "{ __typename }"},
                           headers=api.headers("admin")).status_code == 200


@pytest.mark.parametrize("role", ["investigator", "monitor"])
def test_only_partner_and_admin_may_share(city: str, api: Api, role: str) -> None:
    assert error_of(api, [COMPANY], role=role)["extensions"]["code"] == "FORBIDDEN"


def test_partner_may_ask_nothing_else(city: str, api: Api) -> None:
    body = api.query("""query { federatedCheck(ids: ["x"], purpose: "p") { errors { city } }
                      }""", "partner")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    body = api.query(f'{{ subject(id: "{COMPANY}") {{ name }} }}', "partner")
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    assert api.client.get("/metrics", headers=api.headers("partner")).status_code == 403


@pytest.mark.parametrize("query", [
    "{ __schema { queryType { fields { name } } } }",
    '{ __type(name: "Subject") { fields { name } } }',
    "{ s: __schema { types { name } } }",
    "{ ... on Query { __schema { types { name } } } }",
    "query { ...F } fragment F on Query { __schema { types { name } } }",
])
def test_partner_may_not_introspect(city: str, api: Api, query: str) -> None:
    """The schema's other queries are none of a partner's business; the explorer's roles
    introspect, and `__typename` is everybody's."""
    body = api.query(query, "partner")
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    assert "introspection" in body["errors"][0]["message"]  # type: ignore[index]
    for role in ("admin", "investigator", "monitor"):
        assert api.query(query, role).get("errors") is None
    assert api.query("{ __typename }", "partner")["data"] == {"__typename": "Query"}


def test_federated_check_without_partners(city: str, api: Api, graph: Graph) -> None:
    body = api.query("""query($ids: [ID!]!) { federatedCheck(ids: $ids, purpose: "核查") {
        results { city } errors { city } } }""", "investigator", ids=[COMPANY, PERSON_ID])
    assert body == {"data": {"federatedCheck": {"results": [], "errors": []}}}
    [event] = graph.read("MATCH (e:AuditEvent) RETURN e {.*} AS e")
    assert event["e"]["operation"] == "federatedCheck"
    assert event["e"]["subjects"] == [COMPANY, city]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "partners.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_partners_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_partners(None) == ()
    monkeypatch.setenv("KEY_BZ", "cg_from_env")
    binzhou, cangzhou = load_partners(write(tmp_path, """
[[partner]]
city = "滨州"
code = "371600"
url = "https://credit.binzhou.example/graphql"
key_env = "KEY_BZ"

[[partner]]
city = "沧州"
code = 130900
url = "http://10.1.2.3/graphql"
key = "cg_inline"
timeout_s = 2.5
"""))
    assert (binzhou.city, binzhou.token, binzhou.timeout_s, binzhou.plain_http) == (
        "滨州", "cg_from_env", None, False)
    assert (binzhou.code, cangzhou.code) == ("371600", "130900")  # an unquoted code read too
    assert (cangzhou.token, cangzhou.timeout_s, cangzhou.plain_http) == ("cg_inline", 2.5, True)
    assert "cg_inline" not in repr(cangzhou)


@pytest.mark.parametrize(("text", "fragment"), [
    ('[[partner]]\ncity = "滨州"\ncode = "3716"\nurl = "https://x/graphql"\nkey = "secret-k"',
     "[partner.0.code]"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "ftp://x"\nkey = "secret-k"',
     "[partner.0.url]"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"',
     "exactly one of key and key_env"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey = "secret-k"'
     '\ntimeout = 3', "[partner.0.timeout]"),
    ('[[partner]]\ncity = "a"\ncode = "371600"\nurl = "https://x/graphql"\nkey = "secret-k"\n'
     '[[partner]]\ncity = "b"\ncode = "371600"\nurl = "https://y/graphql"\nkey = "secret-k"',
     "is bad: Value error, region code 371600 is given to two partners"),
    # one city twice (a copied entry whose code alone was changed): which is which?
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey = "secret-k"\n'
     '[[partner]]\ncity = " 滨州 "\ncode = "371602"\nurl = "https://y/graphql"\nkey = "secret-k"',
     "is bad: Value error, city 滨州 is given to two partners"),
    ("[[partner]\n", "partners file"),
    # the code is checked as the API's region arguments are: a known one, of six digits
    ('[[partner]]\ncity = "滨州"\ncode = "999999"\nurl = "https://x/graphql"\nkey = "secret-k"',
     "[partner.0.code] Value error, unknown region 999999"),
    ('[[partner]]\ncity = "滨州"\ncode = 37160\nurl = "https://x/graphql"\nkey = "secret-k"',
     '[partner.0.code] Value error, must be the city\'s 6-digit region code'),
    ('[[partner]]\ncity = "滨州"\ncode = 371600.0\nurl = "https://x/graphql"\nkey = "k"',
     "[partner.0.code]"),
    ('[[partner]]\ncity = "滨州"\ncode = "３７１６００"\nurl = "https://x/graphql"\nkey = "k"',
     "[partner.0.code]"),
    # a key that cannot be one
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey = ""',
     "[partner.0.key] Value error, must be the partner key it issued us, not empty"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey = " \\t "',
     "[partner.0.key] Value error, must be the partner key"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey_env = ""',
     "[partner.0.key_env] Value error, must name an environment variable"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\nurl = "https://x/graphql"\nkey_env = "KEY BZ"',
     "[partner.0.key_env]"),
])
def test_partners_file_errors(tmp_path: Path, text: str, fragment: str) -> None:
    with pytest.raises(PartnersError) as raised:
        load_partners(write(tmp_path, text))
    assert fragment in str(raised.value)
    assert "is bad" in str(raised.value)
    assert "secret-k" not in str(raised.value)


def test_a_partners_file_not_in_utf8_is_bad(tmp_path: Path) -> None:
    """A file saved as GBK is a PartnersError saying so, not a UnicodeDecodeError."""
    path = tmp_path / "partners.toml"
    path.write_bytes('[[partner]]\ncity = "滨州"\ncode = "371600"\n'.encode("gbk"))
    with pytest.raises(PartnersError) as raised:
        load_partners(path)
    assert str(raised.value) == (f"partners file {path} is bad: not UTF-8 text "
                                 "(invalid start byte at byte 20)")


def test_missing_partners_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PartnersError, match=r"partners\.toml"):
        load_partners(tmp_path / "partners.toml")


def test_a_partner_key_is_not_told_the_schema_s_names(city: str, api: Api) -> None:
    """Introspection is refused to a partner; graphql-core's "Did you mean 'subject'?" would
    tell it the names all the same. An investigator still gets the suggestion."""
    document = 'query { subjec(id: "x") { id } }'
    [partner] = api.query(document, "partner")["errors"]
    assert partner["message"] == "Cannot query field 'subjec' on type 'Query'."
    [investigator] = api.query(document, "investigator")["errors"]
    assert "Did you mean 'subject'" in investigator["message"]


def test_escalation_is_the_one_standing_today_after_a_run_dated_ahead(api: Api,
                                                                      graph: Graph) -> None:
    """A run `credgraph escalate --as-of` a later day lifts the node (status LIFTED) whose
    window will have passed; today the escalation still stands. sharedCheck read the node's
    status and answered escalation null beside a creditGrade capped by that very escalation
    (found by the held-out review of inter-city sharing, a SEVERE_PROPOSED company after a
    run as of 2029-01-01: escalation null, creditGrade D)."""
    subject(graph, COMPANY, "德州市甲食品有限公司")
    history = [json.dumps({"at": f"{TODAY - 10 * DAY}T09:00:00+00:00",
                           "asOf": str(TODAY - 10 * DAY), "action": "created",
                           "level": "SEVERE_PROPOSED", "rules": ["R1", "R3"]}),
               json.dumps({"at": f"{TODAY}T09:00:00+00:00", "asOf": str(TODAY + 800 * DAY),
                           "action": "lifted", "level": "SEVERE_PROPOSED"})]
    graph.write("""MATCH (s:Subject {id: $id})
        CREATE (s)-[:HAS_ESCALATION]->(:Escalation {id: 'E1', level: 'SEVERE_PROPOSED',
            status: 'LIFTED', since: $since, history: $history})""",
                {"id": COMPANY, "since": TODAY - 10 * DAY, "history": history})
    [status] = shared(api, [COMPANY])
    assert status["escalation"] == "SEVERE_PROPOSED"
    assert status["creditGrade"] == "C"  # capped by the same escalation
