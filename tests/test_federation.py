"""federatedCheck against real partners: our own city and 滨州 (a second credgraph with its
own Neo4j, secret and data), and partners that are down, hang, fail, answer garbage or refuse
our key — each a CityError, never a failure of the whole answer."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.queries.sharing import resolve_ids
from credgraph.rules import Rules
from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import Privacy
from credgraph.services import Services
from credgraph.sharing.client import CityAnswer, CityFailure, ask_partners
from credgraph.sharing.partners import Partner
from tests.conftest import TEST_SECRET, Api, make_settings
from tests.graphs import record, subject
from tests.ids import raw_id_numbers
from tests.servers import (
    BZ_COMPANY,
    PARTNER_NAME,
    PARTNER_SECRET,
    SHARED_COMPANY,
    SHARED_PERSON,
    PartnerCity,
    Served,
    free_port,
)

TODAY = dt.date.today()
FEDERATED = """query($ids: [ID!]!, $purpose: String!) {
  federatedCheck(ids: $ids, purpose: $purpose) {
  results { city code answeredAt statuses { id found severeListings escalation
            activePenaltiesByDomain { domain count } creditGrade } }
  errors { city code message } } }"""


def misbehaving() -> Starlette:
    """Partners that answer HTTP 500, garbage, or a valid-looking answer with a raw number."""

    async def fail(request: Request) -> Response:
        return PlainTextResponse("Internal Server Error", status_code=500)

    async def garbage(request: Request) -> Response:
        return HTMLResponse("<html><body>系统维护中</body></html>")

    async def short(request: Request) -> Response:
        return JSONResponse({"data": {"sharedCheck": []}})

    return Starlette(routes=[Route("/500/graphql", fail, methods=["POST"]),
                             Route("/garbage/graphql", garbage, methods=["POST"]),
                             Route("/short/graphql", short, methods=["POST"])])


@pytest.fixture()
def hanging() -> Iterator[int]:
    """A port that accepts connections (the kernel's backlog) and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


@pytest.fixture()
def partners_file(tmp_path: Path, partner_city: PartnerCity, hanging: int,
                  monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, int]]:
    """Our city (served on a port picked here), 滨州, and six partners that fail."""
    monkeypatch.setenv("CREDGRAPH_TEST_KEY_BINZHOU", partner_city.key)
    home_port = free_port()
    with Served(misbehaving()) as bad:
        base = f"http://127.0.0.1:{bad.port}"
        # real servers get time to spare on a busy machine; the hanging one is cut at 2 s
        entries = [
            ("德州", "371400", f"http://127.0.0.1:{home_port}/graphql",
             'key_env = "CREDGRAPH_TEST_KEY_HOME"', 30),
            ("滨州", "371600", partner_city.url, 'key_env = "CREDGRAPH_TEST_KEY_BINZHOU"', 30),
            ("沧州", "130900", f"http://127.0.0.1:{free_port()}/graphql", 'key = "cg_x"', 30),
            ("衡水", "131100", f"http://127.0.0.1:{hanging}/graphql", 'key = "cg_x"', 2),
            ("聊城", "371500", f"{base}/500/graphql", 'key = "cg_x"', 30),
            ("济南", "370100", f"{base}/garbage/graphql", 'key = "cg_x"', 30),
            ("淄博", "370300", f"{base}/short/graphql", 'key = "cg_x"', 30),
            ("东营", "370500", partner_city.url, 'key = "cg_not-the-key-they-issued"', 30),
        ]
        text = "".join(f'[[partner]]\ncity = "{c}"\ncode = "{k}"\nurl = "{u}"\n{key}\n'
                       f"timeout_s = {seconds}\n\n" for c, k, u, key, seconds in entries)
        path = tmp_path / "partners.toml"
        path.write_text(text, encoding="utf-8")
        yield path, home_port


@pytest.fixture()
def home(graph: Graph, services: Services) -> str:
    """Our city: the shared company with a severe listing, the person unlisted here."""
    person = services.privacy.person_key(parse_id_number(SHARED_PERSON))
    subject(graph, SHARED_COMPANY, "德州市甲食品有限公司")
    subject(graph, person, "张三明", "NATURAL_PERSON")
    record(graph, SHARED_COMPANY, "Listing", "DZ-L-1", listType="严重失信主体",
           date=TODAY - dt.timedelta(days=3), listedOn=TODAY - dt.timedelta(days=3))
    return person


@pytest.fixture()
def federating(home: str, services: Services, partners_file: tuple[Path, int],
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """Our app with the partners file, served on its port too so that it can ask itself
    with the partner key the app's keys include (read from the environment when asked)."""
    path, port = partners_file
    ours = Services.build(make_settings(partners=path), services.graph, services.rules,
                          services.privacy)
    api = Api(ours)
    monkeypatch.setenv("CREDGRAPH_TEST_KEY_HOME", api.tokens["partner"])
    with Served(api.client.app, port):
        yield api


def by_city(answer: dict[str, Any]) -> dict[str, Any]:
    return {r["city"]: r for r in answer["results"]} | {e["city"]: e for e in answer["errors"]}


def test_federated_check_across_cities(federating: Api, home: str, partner_city: PartnerCity,
                                       caplog: pytest.LogCaptureFixture) -> None:
    ids = [SHARED_COMPANY, BZ_COMPANY, SHARED_PERSON, "not-an-id"]
    body = federating.query(FEDERATED, "investigator", ids=ids, purpose="招投标 资格审查")
    assert "errors" not in body, body
    answer = body["data"]["federatedCheck"]  # type: ignore[index]
    assert [r["city"] for r in answer["results"]] == ["德州", "滨州"], answer["errors"]
    cities = by_city(answer)
    dezhou, binzhou = cities["德州"], cities["滨州"]
    assert (dezhou["code"], binzhou["code"]) == ("371400", "371600")
    for result in (dezhou, binzhou):
        answered = dt.datetime.fromisoformat(result["answeredAt"])
        assert answered.tzinfo is not None
        assert abs(dt.datetime.now(dt.UTC) - answered) < dt.timedelta(minutes=5)

    for result in (dezhou, binzhou):
        for status in result["statuses"]:  # each city grades its own subjects (分级分类)
            grade = status.pop("creditGrade")
            assert grade in ("A", "B", "C", "D") if status["found"] else grade is None
    empty = {"severeListings": 0, "escalation": None, "activePenaltiesByDomain": []}
    assert dezhou["statuses"] == [
        {"id": SHARED_COMPANY, "found": True, **empty, "severeListings": 1},
        {"id": BZ_COMPANY, "found": False, **empty},
        {"id": home, "found": True, **empty},
        {"id": "not-an-id", "found": False, **empty},
    ]
    their_key = partner_city.services.privacy.person_key(parse_id_number(SHARED_PERSON))
    assert their_key != home  # each city keys persons with its own secret
    assert binzhou["statuses"] == [
        {"id": SHARED_COMPANY, "found": True, **empty,
         "activePenaltiesByDomain": [{"domain": "transport", "count": 1}]},
        {"id": BZ_COMPANY, "found": True, **empty, "severeListings": 1,
         "activePenaltiesByDomain": [{"domain": "environment", "count": 2},
                                     {"domain": "tax", "count": 1}]},
        {"id": their_key, "found": True, **empty, "severeListings": 1},
        {"id": "not-an-id", "found": False, **empty},
    ]
    assert [(e["city"], e["code"]) for e in answer["errors"]] == [
        ("沧州", "130900"), ("衡水", "131100"), ("聊城", "371500"), ("济南", "370100"),
        ("淄博", "370300"), ("东营", "370500")]
    assert cities["沧州"]["message"] == "unreachable (ConnectError)"
    assert cities["衡水"]["message"] == "no answer within 2 s"
    assert cities["聊城"]["message"] == "answered HTTP 500"
    assert cities["济南"]["message"] == "answered something that is not a sharedCheck answer"
    assert cities["淄博"]["message"] == "answered 0 statuses for 4 ids"
    assert cities["东营"]["message"] == "refused our key (HTTP 401 UNAUTHENTICATED)"
    assert not raw_id_numbers(federating.last_text)
    assert "张" not in federating.last_text and "滨城区" not in federating.last_text
    # an operator hears of a failing partner too: a log line and a counter per partner
    warned = [r.getMessage() for r in caplog.records if "did not answer federatedCheck" in
              r.getMessage()]
    assert len(warned) == 6 and warned[0].startswith(
        "partner 沧州 (130900) did not answer federatedCheck: unreachable (ConnectError)")
    metrics = federating.client.get("/metrics", headers=federating.headers("admin")).text
    assert 'credgraph_partner_failures_total{partner="131100"} 1.0' in metrics
    assert 'partner="371600"' not in metrics


def test_partner_city_audits_our_call(federating: Api, partner_city: PartnerCity) -> None:
    federating.query(FEDERATED, "admin", ids=[BZ_COMPANY], purpose="失信联合惩戒核查")
    rows = partner_city.services.graph.read(
        "MATCH (e:AuditEvent {purpose: $purpose}) RETURN e {.*} AS e",
        {"purpose": "失信联合惩戒核查"})
    assert [(r["e"]["actor"], r["e"]["role"], r["e"]["operation"], r["e"]["subjects"])
            for r in rows] == [(PARTNER_NAME, "partner", "sharedCheck", [BZ_COMPANY])]


def fake_partner(answer: Callable[[list[str]], list[str]]) -> Starlette:
    """A partner whose sharedCheck answers, for the ids sent, statuses under the ids `answer`
    gives (found, with a severe listing)."""

    async def shared_check(request: Request) -> Response:
        ids = (await request.json())["variables"]["ids"]
        return JSONResponse({"data": {"sharedCheck": [
            {"id": i, "found": True, "severeListings": 1, "escalation": "SEVERE",
             "activePenaltiesByDomain": [], "creditGrade": "D"} for i in answer(ids)]}})

    return Starlette(routes=[Route("/graphql", shared_check, methods=["POST"])])


def ask_fake(answer: Callable[[list[str]], list[str]], ids: list[str]) -> CityAnswer | CityFailure:
    """What our client makes of that partner's answer to `ids`."""
    with Served(fake_partner(answer)) as served:
        partner = Partner(city="滨州", code="371600", url=served.url, key="k")
        asked = resolve_ids(ids, Privacy(TEST_SECRET.encode()))
        [found] = asyncio.run(ask_partners([partner], asked, "p", Rules.load().sharing))
    return found


THEIR_KEY = "P" + "0123456789ABCDEF01234567"  # the partner's opaque key of a person


def test_a_partner_answer_that_keeps_to_the_contract_is_taken() -> None:
    """Organisations under the USCC as sent or normalised, a person under the partner's key,
    an id we cannot read as the partner read it (folded here: its reading is its own)."""
    ids = [SHARED_COMPANY.lower(), BZ_COMPANY, SHARED_PERSON, "not-an-id"]
    found = ask_fake(lambda sent: [sent[0], sent[1].upper(), THEIR_KEY, sent[3].upper()], ids)
    assert isinstance(found, CityAnswer)
    assert [s.id for s in found.statuses] == [SHARED_COMPANY.lower(), BZ_COMPANY, THEIR_KEY,
                                              "NOT-AN-ID"]


@pytest.mark.parametrize(("answer", "message"), [
    # the review's partner: one person's raw number for every id
    (lambda sent: [SHARED_PERSON] * len(sent), "answered an unmasked ID number (status 1)"),
    # a raw number for the person asked (it used to be masked and shown)
    (lambda sent: [sent[0], sent[1], sent[2], sent[3]],
     "answered an unmasked ID number (status 3)"),
    # another organisation's status for the one asked
    (lambda sent: [BZ_COMPANY, sent[1], THEIR_KEY, sent[3]],
     "answered a status for an id other than the one sent (status 1)"),
    # the right statuses in the wrong order
    (lambda sent: [sent[1], sent[0], THEIR_KEY, sent[3]],
     "answered a status for an id other than the one sent (status 1)"),
    # an organisation's status for the person asked
    (lambda sent: [sent[0], sent[1], BZ_COMPANY, sent[3]],
     "answered a status for an id other than the one sent (status 3)"),
])
def test_a_partner_answer_for_other_ids_is_a_city_error(
        answer: Callable[[list[str]], list[str]], message: str) -> None:
    found = ask_fake(answer, [SHARED_COMPANY, BZ_COMPANY, SHARED_PERSON, "not-an-id"])
    assert isinstance(found, CityFailure)
    assert found.message == message


@pytest.mark.parametrize(("change", "message"), [
    ({"escalation": "JAIL"}, "answered a malformed status (escalation)"),
    # a grade is a short code: free text there (a name) is no grade, and never shown
    ({"creditGrade": "张三明"}, "answered a malformed status (creditGrade)"),
    ({"creditGrade": "A级 张三明"}, "answered a malformed status (creditGrade)"),
    ({"activePenaltiesByDomain": [{"domain": f"tax {SHARED_PERSON}", "count": 1}]},
     "answered an unmasked ID number (status 1)"),
])
def test_a_partner_status_that_breaks_the_contract_is_a_city_error(
        change: dict[str, Any], message: str) -> None:
    async def wrong(request: Request) -> Response:
        return JSONResponse({"data": {"sharedCheck": [
            {"id": BZ_COMPANY, "found": True, "severeListings": 1, "escalation": "SEVERE",
             "activePenaltiesByDomain": [], "creditGrade": "D", **change}]}})

    with Served(Starlette(routes=[Route("/graphql", wrong, methods=["POST"])])) as served:
        partner = Partner(city="滨州", code="371600", url=served.url, key="k")
        asked = resolve_ids([BZ_COMPANY], Privacy(TEST_SECRET.encode()))
        [found] = asyncio.run(ask_partners([partner], asked, "p", Rules.load().sharing))
    assert isinstance(found, CityFailure)
    assert found.message == message


NAMED = "subject 371402********1234 王一明 unknown"  # a partner's text: masked, but a name


@pytest.mark.parametrize(("status", "errors", "message", "code"), [
    (200, [{"message": NAMED, "extensions": {"code": "BAD_USER_INPUT"}}],
     "answered HTTP 200 with BAD_USER_INPUT", "BAD_USER_INPUT"),
    (500, [{"message": f"Traceback: KeyError {NAMED}", "extensions": {"code": "KABOOM"}}],
     "answered HTTP 500 with an error", None),
    (200, [{"message": NAMED, "extensions": {"code": "LIMIT_EXCEEDED"}},
           {"message": NAMED, "extensions": {"code": "FORBIDDEN"}},
           {"message": NAMED, "extensions": {"code": "LIMIT_EXCEEDED"}}],
     "answered HTTP 200 with LIMIT_EXCEEDED, FORBIDDEN", "LIMIT_EXCEEDED"),
    (403, [{"message": NAMED, "extensions": {"code": "FORBIDDEN"}}],
     "refused our key (HTTP 403 FORBIDDEN)", "FORBIDDEN"),
    (200, [{"message": NAMED, "extensions": {"code": ["BAD_USER_INPUT"]}}, "王一明"],
     "answered HTTP 200 with an error", None),
])
def test_a_partner_error_is_told_by_its_status_and_codes_only(
        status: int, errors: list[Any], message: str, code: str | None) -> None:
    """What we can vouch for — the HTTP status, the contract's codes — and not the partner's
    own words, which may name a person."""
    async def failing(request: Request) -> Response:
        return JSONResponse({"data": None, "errors": errors}, status_code=status)

    with Served(Starlette(routes=[Route("/graphql", failing, methods=["POST"])])) as served:
        partner = Partner(city="滨州", code="371600", url=served.url, key="k")
        asked = resolve_ids([BZ_COMPANY], Privacy(TEST_SECRET.encode()))
        [found] = asyncio.run(ask_partners([partner], asked, "p", Rules.load().sharing))
    assert isinstance(found, CityFailure)
    assert (found.message, found.error_code) == (message, code)



@pytest.mark.parametrize(("body", "headers", "message"), [
    # a body that says it is gzip and is not: httpx's DecodingError used to escape the city's
    # error handling, so federatedCheck (and `partners check`) failed as a whole (INTERNAL)
    (b'{"data": {"sharedCheck": []}}', {"Content-Encoding": "gzip"},
     "answered something that could not be read (DecodingError)"),
    # JSON nested deeper than the interpreter's recursion limit (under the 4 MiB cap): its
    # RecursionError used to escape the same way
    (b"[" * 100_000 + b"]" * 100_000, {},
     "answered something that is not a sharedCheck answer"),
    (b'{"data": {"sharedCheck": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}", {},
     "answered something that is not a sharedCheck answer"),
])
def test_a_partner_answer_that_cannot_be_read_is_a_city_error(
        body: bytes, headers: dict[str, str], message: str) -> None:
    """Found by a held-out review with a partner answering garbage: the other partner still
    answers, the unreadable one is a CityError."""
    async def unreadable(request: Request) -> Response:
        return Response(body, headers=headers, media_type="application/json")

    def good(sent: list[str]) -> list[str]:
        return sent

    app = Starlette(routes=[Route("/bad/graphql", unreadable, methods=["POST"]),
                            *fake_partner(good).routes])
    with Served(app) as served:
        partners = [Partner(city="滨州", code="371600", url=served.url.replace(
                        "/graphql", "/bad/graphql"), key="k"),
                    Partner(city="沧州", code="130900", url=served.url, key="k")]
        asked = resolve_ids([BZ_COMPANY], Privacy(TEST_SECRET.encode()))
        bad, answered = asyncio.run(ask_partners(partners, asked, "p", Rules.load().sharing))
    assert isinstance(bad, CityFailure)
    assert bad.message == message
    assert isinstance(answered, CityAnswer)
    assert [s.id for s in answered.statuses] == [BZ_COMPANY]

def test_partners_check(partners_file: tuple[Path, int], partner_city: PartnerCity) -> None:
    path, _ = partners_file
    result = CliRunner().invoke(main, ["partners", "check", "--json"],
                                env={"CREDGRAPH_PARTNERS": str(path)})
    lines = [json.loads(line) for line in result.output.splitlines()]
    assert result.exit_code == 1  # some partners fail
    status = {line["city"]: (line["ok"], line["detail"]) for line in lines}
    assert status["滨州"] == (True, "ok")
    assert status["沧州"] == (False, "unreachable (ConnectError)")
    assert status["东营"] == (False, "refused our key (HTTP 401 UNAUTHENTICATED)")
    assert status["德州"] == (False, "no key configured: set CREDGRAPH_TEST_KEY_HOME")
    assert PARTNER_SECRET not in result.output and partner_city.key not in result.output
    [event] = partner_city.services.graph.read(
        "MATCH (e:AuditEvent {purpose: 'connectivity check (partners check)'}) "
        "RETURN e.subjects AS subjects ORDER BY e.at DESC LIMIT 1")
    assert event["subjects"] == []


def test_partners_check_without_partners() -> None:
    result = CliRunner().invoke(main, ["partners", "check"], env={"CREDGRAPH_PARTNERS": ""})
    assert result.exit_code == 0
    assert "no partners configured" in result.output


def test_partners_check_with_a_file_not_in_utf8(tmp_path: Path) -> None:
    """A partners file saved as GBK: the usual bad-file message and exit 2, no traceback."""
    path = tmp_path / "partners.toml"
    path.write_bytes('[[partner]]\ncity = "滨州"\ncode = "371600"\n'.encode("gbk"))
    result = CliRunner().invoke(main, ["partners", "check"],
                                env={"CREDGRAPH_PARTNERS": str(path)})
    assert result.exit_code == 2
    assert result.stderr == (f"error: partners file {path} is bad: not UTF-8 text "
                             "(invalid start byte at byte 20)\n")
