"""The first vertical slice: persons written to Neo4j, read back through the ASGI app."""

from __future__ import annotations

from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.graph.model import SubjectKind
from credgraph.loaders.subjects import (
    legal_person_props,
    natural_person_props,
    write_legal_persons,
    write_natural_persons,
)
from credgraph.schema.identifiers import is_id_number, is_uscc, parse_id_number, parse_uscc
from credgraph.schema.rows import LegalPersonRow, NaturalPersonRow
from credgraph.services import Services
from tests.conftest import Api
from tests.ids import make_id, make_uscc, raw_id_numbers

COMPANY = make_uscc(region="371402")
AGENCY = make_uscc(prefix="11", region="371400", org="00418745X")
PERSON = make_id(region="371403", born="19750612", seq="031")
# a mistyped ID number that is not by chance a valid USCC either
BAD_ID = next(b for b in (make_id(seq=f"{n:03d}")[:-1] + "0" for n in range(50))
              if not is_id_number(b) and not is_uscc(b))


def write_people(services: Services) -> None:
    rows = []
    for uscc, name in ((COMPANY, "德州市德城区示例食品有限公司"), (AGENCY, "德州市市场监督管理局")):
        code = parse_uscc(uscc)
        rows.append(legal_person_props(LegalPersonRow(uscc=uscc, name=name), code, code.kind,
                                       services.normaliser))
    write_legal_persons(services.graph, rows)
    person = NaturalPersonRow(id_number=PERSON, name="张三明", phone="13800000000")
    write_natural_persons(services.graph, [
        natural_person_props(person, parse_id_number(PERSON), services.privacy)])


@pytest.fixture()
def client(services: Services, api: Api) -> Api:
    write_people(services)
    return api


def gql(client: Api, query: str, **variables: Any) -> dict[str, Any]:
    body: dict[str, Any] = client.query(query, **variables)
    assert client.last_status == 200
    return body


SUBJECT = "query($id: ID!) { subject(id: $id) { id kind name region regionName idMasked } }"


def test_subject_by_uscc(client: Api) -> None:
    data = gql(client, SUBJECT, id=COMPANY.lower())["data"]["subject"]
    assert data == {"id": COMPANY, "kind": "ENTERPRISE", "name": "德州市德城区示例食品有限公司",
                    "region": "371402", "regionName": "德州市德城区", "idMasked": None}


def test_agency_label_and_kind(client: Api, graph: Graph) -> None:
    data = gql(client, SUBJECT, id=AGENCY)["data"]["subject"]
    assert data["kind"] == SubjectKind.AGENCY.value
    rows = graph.read("MATCH (a:Agency) RETURN a.id AS id")
    assert rows == [{"id": AGENCY}]


def test_person_by_raw_number_and_by_key_is_masked(client: Api, services: Services) -> None:
    data = gql(client, SUBJECT, id=PERSON)["data"]["subject"]
    key = services.privacy.person_key(parse_id_number(PERSON))
    assert data["id"] == key
    assert data["idMasked"] == PERSON[:6] + "********" + PERSON[-4:]
    assert data["region"] == "371403" and data["kind"] == "NATURAL_PERSON"
    assert PERSON not in client.last_text
    assert gql(client, SUBJECT, id=key)["data"]["subject"] == data


def test_unknown_subject_is_null(client: Api) -> None:
    assert gql(client, SUBJECT, id=make_uscc(org="MA3C99999"))["data"]["subject"] is None


@pytest.mark.parametrize(("value", "fragment"), [
    (COMPANY[:-1] + ("0" if COMPANY[-1] != "0" else "1"), "check character"),
    ("91371402MA3C0000", "18 characters"),
    ("371402900307003", "18-digit ID number"),  # 一代身份证
    # digits alone: an ID number as likely as a USCC (an official's id was told as a USCC)
    ("12345", "a USCC or an ID number, 18 characters; this one has 5"),
    ("5", "a USCC or an ID number, 18 characters; this one has 1"),
    ("3714021990010112345", "this one has 19"),
    (BAD_ID, "check digit"),
    ("371402199002301234", "positions 7-14 are not a valid birth date"),  # 30 February
    ("371402285001011234", "birth year 2850 is impossible"),
    ("x" * 5000, "at most 64"),
    # a person key cut or lengthened in copying: told as a key, not as 'USCC must have 18'
    ("P8F2547FF396D9699CEAE42F", "a person key is P and 24 hexadecimal digits, this one has 23"),
    ("P8F2547FF396D9699CEAE42FC0", "this one has 25 characters after the P"),
    ("P8F2547FF396D9699CEAE42FZ", "only 0-9 and A-F after the P"),
])
def test_malformed_id_is_bad_user_input(client: Api, value: str, fragment: str) -> None:
    body = gql(client, SUBJECT, id=value)
    error = body["errors"][0]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert fragment in error["message"]
    assert value not in error["message"]


def test_health_and_readiness(client: Api) -> None:
    assert client.client.get("/healthz").json() == {"status": "ok"}
    ready = client.client.get("/readyz")  # public: ready or not, nothing more
    assert ready.status_code == 200
    assert ready.json() == {"status": "ready"}


def test_no_raw_id_number_anywhere_in_neo4j(client: Api, graph: Graph) -> None:
    rows = graph.read("MATCH (n) RETURN properties(n) AS props "
                      "UNION ALL MATCH ()-[r]->() RETURN properties(r) AS props")
    assert rows, "persons were written"
    values = [str(v) for row in rows for v in row["props"].values()]
    assert any("********" in v for v in values)  # the masked form is there
    offending = [v for v in values if raw_id_numbers(v.upper())]
    assert offending == []


def test_all_digit_uscc_is_looked_up_as_a_uscc(client: Api, services: Services) -> None:
    code = parse_uscc("913714198001010022")
    write_legal_persons(services.graph, [legal_person_props(
        LegalPersonRow(uscc=code.code, name="德州市数字代码有限公司"), code, code.kind,
        services.normaliser)])
    data = gql(client, SUBJECT, id=code.code)["data"]["subject"]
    assert data["name"] == "德州市数字代码有限公司"
