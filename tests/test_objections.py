"""Objections (异议): filing disputes a record, each outcome with its record versions, refusals
with their codes, and a reload of the bundle that undoes no decision."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.graph.model import ObjectionOutcome
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.derive import add_months
from credgraph.queries import objections as desk
from credgraph.queries.subjects import subject_records
from credgraph.services import Services
from tests.conftest import TODAY, Api
from tests.graphs import record, subject
from tests.ids import make_id, make_uscc
from tests.test_loader import write_csv

S = make_uscc(org="MA3C00001")
OTHER = make_uscc(org="MA3C00002")
AGENCY = make_uscc(prefix="11", org="004187451")
DECIDED = TODAY - dt.timedelta(days=60)

FILE = """mutation($id: ID!, $reason: String!) { fileObjection(recordId: $id, reason: $reason) {
  id status reason outcome filedAt previousStatus record { id status } } }"""
RESOLVE = """mutation($id: ID!, $outcome: ObjectionOutcome!, $note: String!,
  $corrections: RecordCorrection) {
  resolveObjection(id: $id, outcome: $outcome, note: $note, corrections: $corrections) {
    id status outcome note resolvedAt record { id status severity }
    correctedRecord { id status severity domain date } } }"""
OWN = """query($id: ID!) { riskAssessment(id: $id) { ownScore
  signals { record { id status severity } weight disputed } } }"""
RECORDS = 'query($id: ID!) { subject(id: $id) { records { id status severity } } }'
OWN_ON = """query($id: ID!, $asOf: Date) { riskAssessment(id: $id, asOf: $asOf) {
  signals { record { id } disputed } } }"""


def ok(api: Api, query: str, role: str = "admin", **variables: Any) -> Any:
    body = api.query(query, role, **variables)
    assert "errors" not in body, body
    return body["data"]


def failure(api: Api, query: str, role: str = "admin", **variables: Any) -> dict[str, Any]:
    body = api.query(query, role, **variables)
    assert body.get("errors"), body
    error: dict[str, Any] = body["errors"][0]
    return error


@pytest.fixture()
def world(graph: Graph) -> Graph:
    subject(graph, S, "德州市甲食品有限公司")
    subject(graph, OTHER, "德州市乙食品有限公司")
    subject(graph, AGENCY, "德州市德城区市场监督管理局", "AGENCY")
    record(graph, S, "Penalty", "P-1", severity="一般", domain="food_drug", date=DECIDED,
           publicityUntil=TODAY + dt.timedelta(days=300), title="销售过期食品",
           authority="德州市德城区市场监督管理局", fine=2.0, subjectName="德州市甲食品有限公司")
    graph.write("MATCH (r:Penalty {id: 'P-1'}), (a:Subject {id: $a}) "
                "CREATE (r)-[:ISSUED_BY]->(a)", {"a": AGENCY})
    return graph


def file_one(api: Api, role: str = "admin") -> dict[str, Any]:
    filed: dict[str, Any] = ok(api, FILE, role, id="P-1",
                               reason="处罚对象有误：该企业当日未营业")["fileObjection"]
    return filed


def test_filing_disputes_the_record_which_still_counts(world: Graph, api: Api) -> None:
    before = ok(api, OWN, id=S)["riskAssessment"]
    filed = file_one(api, "investigator")  # on behalf of the subject
    assert filed["status"] == "OPEN" and filed["outcome"] is None
    assert filed["previousStatus"] == "ACTIVE"
    assert filed["record"] == {"id": "P-1", "status": "DISPUTED"}
    after = ok(api, OWN, id=S)["riskAssessment"]
    assert after["ownScore"] == before["ownScore"] > 0
    assert after["signals"][0]["disputed"] is True
    again = failure(api, FILE, id="P-1", reason="再次异议")
    assert again["extensions"]["code"] == "BAD_USER_INPUT"
    assert f"objection {filed['id']} on P-1 is already open" in again["message"]
    listed = ok(api, 'query { objections(status: OPEN) { id record { id } } }',
                "investigator")["objections"]
    assert listed == [{"id": filed["id"], "record": {"id": "P-1"}}]


def test_a_signal_is_disputed_only_while_its_objection_was_open(world: Graph,
                                                                 api: Api) -> None:
    """An as-of answer flags a signal disputed from the day the objection was filed to the
    day it was resolved, as the credit report of that date shows 异议中 (found by a held-out
    review: riskAssessment(asOf: yesterday) said disputed: true of an objection filed today,
    and an objection open last month and upheld since left no flag at last month's date)."""
    yesterday = (TODAY - dt.timedelta(1)).isoformat()
    filed = file_one(api)
    counted = ok(api, OWN_ON, id=S, asOf=yesterday)["riskAssessment"]["signals"]
    assert [(s["record"]["id"], s["disputed"]) for s in counted] == [("P-1", False)]
    assert ok(api, OWN, id=S)["riskAssessment"]["signals"][0]["disputed"] is True
    # open from 40 to 10 days ago, upheld since: disputed then, not before nor after
    world.write("MATCH (o:Objection {id: $id}) SET o.filedOn = $filed, o.status = 'RESOLVED', "
                "o.resolvedAt = datetime($resolved) "
                "WITH o MATCH (r:Penalty {id: 'P-1'}) SET r.status = 'ACTIVE'",
                {"id": filed["id"], "filed": TODAY - dt.timedelta(40),
                 "resolved": (TODAY - dt.timedelta(10)).isoformat() + "T12:00:00"})
    flags = {days: ok(api, OWN_ON, id=S, asOf=(TODAY - dt.timedelta(days)).isoformat())[
        "riskAssessment"]["signals"][0]["disputed"] for days in (41, 40, 11, 10, 0)}
    assert flags == {41: False, 40: True, 11: True, 10: False, 0: False}


def test_uphold_restores_the_status(world: Graph, api: Api) -> None:
    filed = file_one(api)
    done = ok(api, RESOLVE, id=filed["id"], outcome="UPHOLD",
              note="经核实，处罚事实清楚")["resolveObjection"]
    assert done["status"] == "RESOLVED" and done["outcome"] == "UPHOLD"
    assert done["note"] == "经核实，处罚事实清楚" and done["resolvedAt"]
    assert done["record"]["status"] == "ACTIVE" and done["correctedRecord"] is None
    closed = failure(api, RESOLVE, id=filed["id"], outcome="REVOKE", note="改判")
    assert closed["extensions"]["code"] == "BAD_USER_INPUT"
    assert "already resolved (UPHOLD)" in closed["message"]
    assert world.read("MATCH (r:Penalty {id: 'P-1'}) RETURN r.status AS s")[0]["s"] == "ACTIVE"


def test_revoke_stops_counting_and_keeps_the_reason(world: Graph, api: Api) -> None:
    filed = file_one(api)
    done = ok(api, RESOLVE, id=filed["id"], outcome="REVOKE",
              note="处罚决定已被行政复议撤销")["resolveObjection"]
    assert done["record"]["status"] == "REVOKED"
    kept = world.read("MATCH (r:Penalty {id: 'P-1'}) RETURN r {.revokedOn, .revocationReason, "
                      ".revokedBy, .fine} AS r")[0]["r"]
    assert kept == {"revokedOn": TODAY, "revocationReason": "处罚决定已被行政复议撤销",
                    "revokedBy": filed["id"], "fine": 2.0}
    assert ok(api, OWN, id=S)["riskAssessment"]["ownScore"] == 0
    yesterday = (TODAY - dt.timedelta(1)).isoformat()
    then = ok(api, 'query($id: ID!, $d: Date) { riskAssessment(id: $id, asOf: $d) '
                   '{ ownScore } }', id=S, d=yesterday)["riskAssessment"]
    assert then["ownScore"] > 0
    assert {"id": "P-1", "status": "REVOKED", "severity": "一般"} in ok(
        api, RECORDS, id=S)["subject"]["records"]
    refused = failure(api, FILE, id="P-1", reason="再议")
    assert "was revoked on" in refused["message"]


def test_correct_makes_a_new_version_and_keeps_the_old(world: Graph, api: Api) -> None:
    before = ok(api, OWN, id=S)["riskAssessment"]["ownScore"]
    filed = file_one(api)
    done = ok(api, RESOLVE, id=filed["id"], outcome="CORRECT", note="严重程度认定有误，更正为轻微",
              corrections={"severity": "轻微", "fine": 0.2})["resolveObjection"]
    assert done["record"] == {"id": "P-1", "status": "REVOKED", "severity": "一般"}
    # 轻微 counts for 12 months from its decision as 一般 does (rules.toml [penalty]), lighter
    assert done["correctedRecord"] == {"id": "P-1#v2", "status": "ACTIVE", "severity": "轻微",
                                       "domain": "food_drug", "date": DECIDED.isoformat()}
    versions = world.read("""
        MATCH (n:Penalty {id: 'P-1#v2'})-[:SUPERSEDES]->(o:Penalty {id: 'P-1'})
        RETURN n {.fine, .baseId, .version, .correctedOn, .correctedBy, .title,
                  .publicityUntil} AS n, o {.fine, .supersededBy, .revokedOn} AS o,
               [(s)-[h:HAS_RECORD]->(n) | [s.id, h.role]] AS parties,
               [(n)-[:ISSUED_BY]->(a) | a.id] AS issuers""")
    assert len(versions) == 1
    row = versions[0]
    assert row["n"] == {"fine": 0.2, "baseId": "P-1", "version": 2, "correctedOn": TODAY,
                        "correctedBy": filed["id"], "title": "销售过期食品",
                        "publicityUntil": add_months(DECIDED, 12)}
    assert row["o"] == {"fine": 2.0, "supersededBy": "P-1#v2", "revokedOn": TODAY}
    assert row["parties"] == [[S, "subject"]] and row["issuers"] == [AGENCY]
    records = ok(api, RECORDS, id=S)["subject"]["records"]
    assert sorted(r["id"] for r in records) == ["P-1", "P-1#v2"]
    assert 0 < ok(api, OWN, id=S)["riskAssessment"]["ownScore"] < before


def test_correct_the_subject_moves_the_new_version(world: Graph, api: Api) -> None:
    filed = file_one(api)
    ok(api, RESOLVE, id=filed["id"], outcome="CORRECT", note="处罚对象认定错误",
       corrections={"subject": OTHER})
    owners = world.read("MATCH (s)-[:HAS_RECORD]->(r:Penalty) RETURN r.id AS r, s.id AS s, "
                        "r.subjectName AS name ORDER BY r")
    assert owners == [{"r": "P-1", "s": S, "name": "德州市甲食品有限公司"},
                      {"r": "P-1#v2", "s": OTHER, "name": "德州市乙食品有限公司"}]
    assert ok(api, OWN, id=S)["riskAssessment"]["ownScore"] == 0
    assert ok(api, OWN, id=OTHER)["riskAssessment"]["ownScore"] > 0
    # the day before the correction saw the old version only
    then = 'query($id: ID!, $d: Date) { riskAssessment(id: $id, asOf: $d) { ownScore } }'
    yesterday = (TODAY - dt.timedelta(1)).isoformat()
    assert ok(api, then, id=S, d=yesterday)["riskAssessment"]["ownScore"] > 0
    assert ok(api, then, id=OTHER, d=yesterday)["riskAssessment"]["ownScore"] == 0


def test_a_corrected_version_can_be_objected_to_again(world: Graph, api: Api) -> None:
    first = file_one(api)
    ok(api, RESOLVE, id=first["id"], outcome="CORRECT", note="更正日期",
       corrections={"title": "销售不合格食品"})
    second = ok(api, FILE, id="P-1#v2", reason="金额仍有误")["fileObjection"]
    done = ok(api, RESOLVE, id=second["id"], outcome="CORRECT", note="更正金额",
              corrections={"fine": 1.5})["resolveObjection"]
    assert done["correctedRecord"]["id"] == "P-1#v3"
    chain = world.read("MATCH p = (:Penalty {id: 'P-1#v3'})-[:SUPERSEDES*]->(:Penalty {id: 'P-1'})"
                       " RETURN [n IN nodes(p) | n.status] AS statuses")
    assert chain == [{"statuses": ["ACTIVE", "REVOKED", "REVOKED"]}]
    # the id as first known is told to be corrected, with the version to ask about instead
    for old in ("P-1", "P-1#v2"):
        refused = failure(api, FILE, id=old, reason="再次异议")
        assert refused["message"].endswith(
            "corrected: the version in force is P-1#v3; there is nothing left to object to")
        repair = ok(api, 'mutation($id: ID!) { requestRepair(recordId: $id, commitment: "承诺") '
                         '{ eligible reason } }', id=old)["requestRepair"]
        assert not repair["eligible"]
        assert "corrected: the version in force is P-1#v3: " in repair["reason"]


def test_correct_without_fields_makes_a_new_version_of_the_same(world: Graph,
                                                                api: Api) -> None:
    """The contract's call names only the outcome and the note."""
    filed = file_one(api)
    done = ok(api, RESOLVE, id=filed["id"], outcome="CORRECT",
              note="文书号更正，内容不变")["resolveObjection"]
    assert (done["status"], done["outcome"], done["note"]) == ("RESOLVED", "CORRECT",
                                                               "文书号更正，内容不变")
    assert done["record"] == {"id": "P-1", "status": "REVOKED", "severity": "一般"}
    assert done["correctedRecord"] == {"id": "P-1#v2", "status": "ACTIVE", "severity": "一般",
                                       "domain": "food_drug", "date": DECIDED.isoformat()}
    fines = world.read("MATCH (n:Penalty {id: 'P-1#v2'})-[:SUPERSEDES]->(o:Penalty {id: 'P-1'})"
                       " RETURN n.fine AS new, o.fine AS old")
    assert fines == [{"new": 2.0, "old": 2.0}]


@pytest.mark.parametrize(("variables", "code", "fragment"), [
    ({"outcome": "CORRECT", "note": "更正", "corrections": {"listType": "经营异常名录"}},
     "BAD_USER_INPUT", "a penalty has no field listType"),
    ({"outcome": "CORRECT", "note": "更正", "corrections": {"severity": "很重"}},
     "BAD_USER_INPUT", "severity must be one of"),
    ({"outcome": "CORRECT", "note": "更正", "corrections": {"domain": "火星"}},
     "BAD_USER_INPUT", "unknown domain"),
    ({"outcome": "CORRECT", "note": "更正", "corrections": {"date": "2099-01-01"}},
     "BAD_USER_INPUT", "in the future"),
    ({"outcome": "CORRECT", "note": "更正",
      "corrections": {"subject": make_uscc(org="MA3C00099")}}, "NOT_FOUND", "no subject"),
    ({"outcome": "UPHOLD", "note": "维持", "corrections": {"fine": 1.0}}, "BAD_USER_INPUT",
     "only with the outcome CORRECT"),
    ({"outcome": "UPHOLD", "note": "  "}, "BAD_USER_INPUT", "note must not be empty"),
    ({"outcome": "UPHOLD", "note": "\x00\x01 \x7f"}, "BAD_USER_INPUT", "note must not be empty"),
])
def test_bad_resolutions_change_nothing(world: Graph, api: Api, variables: dict[str, Any],
                                        code: str, fragment: str) -> None:
    filed = file_one(api)
    found = failure(api, RESOLVE, id=filed["id"], **variables)
    assert found["extensions"]["code"] == code
    assert fragment in found["message"]
    state = world.read("MATCH (o:Objection) MATCH (r:Penalty) RETURN o.status AS o, "
                       "collect(r.status) AS r")
    assert state == [{"o": "OPEN", "r": ["DISPUTED"]}]


def test_bad_filings_and_roles(world: Graph, api: Api) -> None:
    assert failure(api, FILE, id="NO-SUCH", reason="x")["extensions"]["code"] == "NOT_FOUND"
    assert failure(api, FILE, id="P-1", reason=" ")["extensions"]["code"] == "BAD_USER_INPUT"
    assert failure(api, FILE, id="P-1", reason="\x00\x0c")["extensions"][
        "code"] == "BAD_USER_INPUT"
    assert failure(api, FILE, "monitor", id="P-1", reason="x")["extensions"][
        "code"] == "FORBIDDEN"
    assert failure(api, RESOLVE, id="OBJ-NONE", outcome="UPHOLD", note="x")["extensions"][
        "code"] == "NOT_FOUND"
    filed = file_one(api, "investigator")
    assert failure(api, RESOLVE, "investigator", id=filed["id"], outcome="UPHOLD",
                   note="x")["extensions"]["code"] == "FORBIDDEN"
    assert world.read("MATCH (o:Objection) RETURN count(o) AS n")[0]["n"] == 1


def test_a_refused_desk_step_names_the_record_subject(world: Graph, api: Api,
                                                      services: Services) -> None:
    """A desk step refused once its record was found (a second objection while one is open,
    a resolution twice, an objection to a revoked record, a repair of a listing) was audited
    with no subject, so `auditLog(subject:)` never showed the attempt (found by a held-out
    review); it names the record's subjects now, as a refused confirmEscalation does, and an
    id found nowhere still names nobody."""
    record(world, S, "Listing", "L-1", listType="经营异常名录", date=DECIDED)
    filed = file_one(api)
    assert failure(api, FILE, id="P-1", reason="再次")["extensions"]["code"] == "BAD_USER_INPUT"
    ok(api, RESOLVE, id=filed["id"], outcome="REVOKE", note="撤销")
    assert failure(api, RESOLVE, id=filed["id"], outcome="UPHOLD", note="再次")[
        "extensions"]["code"] == "BAD_USER_INPUT"
    assert failure(api, FILE, id="P-1", reason="x")["extensions"]["code"] == "BAD_USER_INPUT"
    repair = 'mutation { requestRepair(recordId: "L-1", commitment: "承诺") { eligible } }'
    assert failure(api, repair)["extensions"]["code"] == "BAD_USER_INPUT"
    assert failure(api, FILE, id="NO-SUCH", reason="x")["extensions"]["code"] == "NOT_FOUND"
    services.audit.flush()
    logged = [(row["op"], row["subjects"]) for row in world.read(
        "MATCH (e:AuditEvent) WHERE e.operation CONTAINS 'not answered' "
        "RETURN e.operation AS op, e.subjects AS subjects ORDER BY e.at")]
    assert logged == [("fileObjection (not answered: BAD_USER_INPUT)", [S]),
                      ("resolveObjection (not answered: BAD_USER_INPUT)", [S]),
                      ("fileObjection (not answered: BAD_USER_INPUT)", [S]),
                      ("requestRepair (not answered: BAD_USER_INPUT)", [S]),
                      ("fileObjection (not answered: NOT_FOUND)", [])]


def test_control_characters_are_not_stored(world: Graph, api: Api) -> None:
    """A reason is stored as a bundle's text is: control characters (a NUL) dropped, line
    breaks kept."""
    filed = ok(api, FILE, id="P-1", reason="处罚对象\x00有误\n当日未营业")["fileObjection"]
    [row] = world.read("MATCH (o:Objection {id: $id}) RETURN o.reason AS reason",
                       {"id": filed["id"]})
    assert row["reason"] == "处罚对象有误\n当日未营业"


def test_no_raw_id_number_is_stored_or_echoed(world: Graph, api: Api) -> None:
    """A reason, a note or a commitment naming a person, and an ID number typed as a record
    id: masked in the answer, in the error and in Neo4j (SPEC §6)."""
    number = make_id(region="371402", born="19800101", seq="011")
    masked = number[:6] + "********" + number[-4:]
    filed = ok(api, FILE, id="P-1", reason=f"当事人身份证号{number}登记有误")["fileObjection"]
    assert filed["reason"] == f"当事人身份证号{masked}登记有误"
    done = ok(api, RESOLVE, id=filed["id"], outcome="UPHOLD",
              note=f"已核实{number}")["resolveObjection"]
    assert done["note"] == f"已核实{masked}"
    world.write("MATCH (r:Penalty {id: 'P-1'}) SET r.date = date() - duration('P1Y')")
    granted = ok(api, """mutation($c: String!) { requestRepair(recordId: "P-1", commitment: $c)
                 { eligible } }""", c=f"本人{number}承诺守信")["requestRepair"]
    assert granted["eligible"] is True
    for query in (FILE, """mutation($id: ID!, $reason: String!) {
                  requestRepair(recordId: $id, commitment: $reason) { eligible } }"""):
        unknown = failure(api, query, id=number, reason="x")
        assert unknown["extensions"]["code"] == "NOT_FOUND"
        assert masked in unknown["message"] and number not in unknown["message"]
    stored = world.read("MATCH (n) WHERE n:Objection OR n:Commitment OR n:Repair "
                        "RETURN properties(n) AS p")
    assert len(stored) == 3 and not any(number in str(row["p"]) for row in stored)
    assert any(row["p"].get("content") == f"本人{masked}承诺守信" for row in stored)


def test_a_repaired_record_takes_no_objection(world: Graph, api: Api) -> None:
    world.write("MATCH (r:Penalty {id: 'P-1'}) SET r.status = 'REPAIRED', "
                "r.repairedOn = date() - duration('P1D')")
    found = failure(api, FILE, id="P-1", reason="x")
    assert found["extensions"]["code"] == "BAD_USER_INPUT" and "was repaired on" in found[
        "message"]


def test_an_open_objection_blocks_repair(world: Graph, api: Api) -> None:
    world.write("MATCH (r:Penalty {id: 'P-1'}) SET r.date = date() - duration('P1Y')")
    filed = file_one(api)
    decision = ok(api, """mutation { requestRepair(recordId: "P-1", commitment: "承诺守信")
                  { eligible reason } }""")["requestRepair"]
    assert decision["eligible"] is False
    assert f"objection {filed['id']} on it is open" in decision["reason"]


# -- a reload of the bundle undoes no decision ---------------------------------------------------
def bundle(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    write_csv(folder / "legal_persons.csv", ["uscc", "name"],
              [[S, "德州市甲食品有限公司"], [OTHER, "德州市乙食品有限公司"],
               [AGENCY, "德州市德城区市场监督管理局"]])
    decided = (TODAY - dt.timedelta(days=500)).isoformat()
    write_csv(folder / "penalties.csv", [
        "decision_no", "subject_name", "subject_id", "category", "decided_on", "authority",
        "authority_uscc", "severity", "fine", "publicity_until"], [
        [f"德市监罚〔2025〕{n}号", "德州市甲食品有限公司", S, "罚款", decided,
         "德州市德城区市场监督管理局", AGENCY, "一般", "1.5",
         (TODAY + dt.timedelta(days=200)).isoformat()] for n in range(1, 6)])
    return folder


def state(graph: Graph) -> list[dict[str, Any]]:
    return graph.read("""
        MATCH (r:Penalty)
        RETURN r.id AS id, r.status AS status, r.fine AS fine, r.severity AS severity,
               r.repairedOn AS repaired, r.revokedOn AS revoked, r.supersededBy AS by,
               [(s)-[:HAS_RECORD]->(r) | s.id] AS owners,
               COUNT { (r)-[:SUPERSEDES]->() } AS supersedes
        ORDER BY id""")


def test_reload_after_resolutions_undoes_nothing(services: Services, api: Api,
                                                 tmp_path: Path) -> None:
    folder = bundle(tmp_path / "bundle")

    def load() -> list[tuple[int, str, str]]:
        loader = BundleLoader(services.graph, services.rules, services.privacy,
                              services.normaliser, today=TODAY)
        summary = loader.load([folder], derive_contacts=False)
        assert summary.read == summary.loaded + summary.rejected
        return [(r.line, r.value, r.reason) for r in summary.rejects]

    assert load() == []
    key = "德市监罚〔2025〕{}号".format
    repaired = ok(api, "mutation($id: ID!) { requestRepair(recordId: $id, "
                       'commitment: "承诺守信") { eligible } }', id=key(1))
    assert repaired["requestRepair"]["eligible"]
    for number, outcome, corrections in ((2, "CORRECT", {"severity": "轻微", "fine": 0.1}),
                                         (3, "REVOKE", None), (4, "UPHOLD", None)):
        filed = ok(api, FILE, id=key(number), reason="有误")["fileObjection"]
        ok(api, RESOLVE, id=filed["id"], outcome=outcome, note="经核实",
           corrections=corrections)
    ok(api, FILE, id=key(5), reason="仍在核实")  # left open
    before = state(services.graph)
    assert [(r["id"], r["status"]) for r in before] == [
        (key(1), "REPAIRED"), (key(2), "REVOKED"), (key(2) + "#v2", "EXPIRED"),
        (key(3), "REVOKED"), (key(4), "ACTIVE"), (key(5), "DISPUTED")]
    # the corrected record's row again, the source's fine changed meanwhile: neither version
    # moves (the version before the correction was rewritten in place, the one in force not)
    rows = (folder / "penalties.csv").read_text(encoding="utf-8").splitlines()
    rows[2] = rows[2].replace(",1.5,", ",4,")
    (folder / "penalties.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    refused = load()
    assert [(line, value) for line, value, _ in refused] == [(3, key(2))]
    assert refused[0][2].startswith(f"corrected by an objection on {TODAY}: its latest version "
                                    f"is {key(2)}#v2 (EXPIRED)")
    assert state(services.graph) == before
    corrected = services.graph.read("MATCH (r:Penalty {id: $id}) RETURN r.fine AS fine, "
                                    "r.severity AS severity", {"id": key(2) + "#v2"})
    assert corrected == [{"fine": 0.1, "severity": "轻微"}]


def test_a_reload_after_two_corrections_names_the_latest_version(services: Services, api: Api,
                                                                tmp_path: Path) -> None:
    """A record corrected twice (…#v2, then …#v3): the refused row of the source names #v3,
    the version that stands — it named #v2, which the second correction had revoked (found
    by reloading a review bundle after correcting a corrected version)."""
    folder = bundle(tmp_path / "bundle")

    def load() -> list[tuple[str, str]]:
        loader = BundleLoader(services.graph, services.rules, services.privacy,
                              services.normaliser, today=TODAY)
        summary = loader.load([folder], derive_contacts=False)
        return [(r.value, r.reason) for r in summary.rejects]

    assert load() == []
    key = "德市监罚〔2025〕1号"
    for version, corrections in ((key, {"fine": 1.0}), (key + "#v2", {"fine": 0.5})):
        filed = ok(api, FILE, id=version, reason="罚款金额有误")["fileObjection"]
        ok(api, RESOLVE, id=filed["id"], outcome="CORRECT", note="更正罚款金额",
           corrections=corrections)
    refused = load()
    assert [value for value, _ in refused] == [key]
    assert refused[0][1].startswith(f"corrected by an objection on {TODAY}: its latest version "
                                    f"is {key}#v3 (ACTIVE)"), refused


def test_a_licence_its_source_revoked_while_disputed_is_revoked_when_upheld(
        services: Services, api: Api, tmp_path: Path) -> None:
    """A licence disputed, then delivered 吊销 by its source: the load keeps DISPUTED, and
    upholding the objection gives the status the stored 当前状态 gives (REVOKED) — not the one
    before the objection (ACTIVE), which undid the source's 吊销 until its next delivery.
    A licence its source revoked takes no objection, and the refusal says whose word it is."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    write_csv(folder / "legal_persons.csv", ["uscc", "name"],
              [[S, "德州市甲食品有限公司"], [AGENCY, "德州市德城区市场监督管理局"]])

    def load(status: str) -> None:
        write_csv(folder / "licenses.csv", [
            "decision_no", "subject_name", "subject_id", "decided_on", "valid_to", "authority",
            "authority_uscc", "status"], [
            ["德许〔2024〕1号", "德州市甲食品有限公司", S, "2024-05-01",
             (TODAY + dt.timedelta(days=900)).isoformat(), "德州市德城区市场监督管理局", AGENCY,
             status]])
        loader = BundleLoader(services.graph, services.rules, services.privacy,
                              services.normaliser, today=TODAY)
        summary = loader.load([folder], derive_contacts=False)
        assert summary.rejected == 0

    def stored() -> dict[str, Any]:
        found: dict[str, Any] = services.graph.read(
            "MATCH (l:License {id: '德许〔2024〕1号'}) "
            "RETURN l {.status, .currentStatus} AS l")[0]["l"]
        return found

    load("有效")
    filed = ok(api, FILE, id="德许〔2024〕1号", reason="许可信息有误")["fileObjection"]
    assert filed["previousStatus"] == "ACTIVE"
    load("吊销")
    assert stored() == {"status": "DISPUTED", "currentStatus": "吊销"}
    done = ok(api, RESOLVE, id=filed["id"], outcome="UPHOLD", note="维持")["resolveObjection"]
    assert done["record"]["status"] == "REVOKED"
    assert stored() == {"status": "REVOKED", "currentStatus": "吊销"}
    refused = failure(api, FILE, id="德许〔2024〕1号", reason="并未吊销")
    assert refused["extensions"]["code"] == "BAD_USER_INPUT"
    assert refused["message"].startswith(
        "德许〔2024〕1号 is REVOKED by its source (当前状态 '吊销')")
    assert "None" not in refused["message"]
    load("有效")  # the source's word, followed by its later rows
    assert stored() == {"status": "ACTIVE", "currentStatus": "有效"}


def test_the_day_of_a_resolution_is_the_services_day(world: Graph, services: Services) -> None:
    """`resolvedAt` was stamped by the wall clock while filing, revocation, repair and
    confirmation follow the service's today: replayed with an injected clock, a record read
    DISPUTED until the real day it was resolved (left as found by the held-out review of a
    two-year escalation timeline). The decision's day is kept (`resolvedOn`) and read."""
    filed_on, resolved_on = TODAY - dt.timedelta(days=40), TODAY - dt.timedelta(days=30)
    filed = desk.file_objection(world, "P-1", "金额有误", "desk", "admin", filed_on)
    desk.resolve_objection(world, services.rules, filed.objection["id"],
                           ObjectionOutcome.UPHOLD, "经核实无误", None, "desk", resolved_on)
    rows = subject_records(world, S, None, False, 10, TODAY,
                           as_of=resolved_on + dt.timedelta(days=1))
    assert [(r["id"], r["status"]) for r in rows] == [("P-1", "ACTIVE")]
    rows = subject_records(world, S, None, False, 10, TODAY,
                           as_of=resolved_on - dt.timedelta(days=1))
    assert [(r["id"], r["status"]) for r in rows] == [("P-1", "DISPUTED")]


def test_a_listing_corrected_to_a_removal_ahead_stays_listed_until_then(world: Graph,
                                                                       api: Api) -> None:
    """A list kept for a fixed term publishes its 移出日期 ahead, and a load takes such a date
    (4ab3de3): the listing is in force until then. An objection correcting the date to the
    one the list gives was refused `removedOn … is in the future`, so the desk could not make
    the record what a load of the corrected row makes it."""
    listed = TODAY - dt.timedelta(days=30)
    ahead = TODAY + dt.timedelta(days=335)
    record(world, S, "Listing", "L-1", listType="失信被执行人", severity="严重", date=listed,
           listedOn=listed, removedOn=TODAY - dt.timedelta(days=1), title="失信被执行人")
    filed = ok(api, FILE, id="L-1", reason="移出日期有误：名单期限一年")["fileObjection"]
    corrected = ok(api, RESOLVE, id=filed["id"], outcome="CORRECT", note="更正移出日期",
                   corrections={"removedOn": ahead.isoformat()})["resolveObjection"]
    assert corrected["correctedRecord"]["id"] == "L-1#v2"
    assert corrected["correctedRecord"]["status"] == "ACTIVE"
    [row] = world.read("MATCH (r:Listing {id: 'L-1#v2'}) RETURN r.removedOn AS removed")
    assert row["removed"].to_native() == ahead
    signals = ok(api, OWN, id=S)["riskAssessment"]["signals"]
    assert sorted(s["record"]["id"] for s in signals) == ["L-1#v2", "P-1"]


def test_a_corrected_record_whose_latest_version_was_revoked_names_none_in_force(
        world: Graph, api: Api) -> None:
    """P-1 corrected into P-1#v2, and P-1#v2 revoked by an objection of its own: an objection
    or repair asked of P-1 was refused naming 'the version in force is P-1#v2' — a version no
    longer in force, which the desk then asked about only to be refused again."""
    filed = file_one(api)
    ok(api, RESOLVE, id=filed["id"], outcome="CORRECT", note="更正",
       corrections={"fine": 1.0})
    again = ok(api, FILE, id="P-1#v2", reason="处罚已被撤销")["fileObjection"]
    ok(api, RESOLVE, id=again["id"], outcome="REVOKE", note="原处罚决定已撤销")
    refused = failure(api, FILE, id="P-1", reason="再次异议")
    assert "in force" not in refused["message"]
    assert refused["message"].endswith(
        "corrected: its latest version P-1#v2 was revoked too; there is nothing left to "
        "object to")
    repair = ok(api, 'mutation($id: ID!) { requestRepair(recordId: $id, commitment: "承诺") '
                     '{ eligible reason } }', id="P-1")["requestRepair"]
    assert not repair["eligible"]
    assert "corrected: its latest version P-1#v2 was revoked too: " in repair["reason"]
