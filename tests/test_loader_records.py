"""Record files through the loader: a reload keeps the statuses a workflow set (REPAIRED,
DISPUTED, REVOKED) and re-links parties and issuers; licences, contracts, judgments and
officials land with the statuses, roles and links SPEC §4–5 describe."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.loaders import derive
from credgraph.loaders.bundle import BundleLoader, LoadSummary
from credgraph.queries.integrity import Tracer
from credgraph.queries.risk import assess
from credgraph.rules import RulesError
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from tests.conftest import Api
from tests.ids import make_id, make_uscc

TODAY = dt.date(2026, 11, 28)
CO_A = make_uscc(region="371402", org="MA3C00001")
CO_B = make_uscc(region="371403", org="MA3C00002")
MARKET = make_uscc(prefix="11", region="371402", org="004187451")
TAX = make_uscc(prefix="11", region="371402", org="004187452")
PERSON = make_id(region="371402", born="19800101", seq="011")
OFFICIAL = make_id(region="371402", born="19700315", seq="033")


def write_csv(path: Path, headers: list[str], rows: list[list[Any]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def load(services: Services, *paths: Path, graph: Graph | None = None) -> LoadSummary:
    """The files loaded in batches of 2, through `graph` if given (else the services')."""
    loader = BundleLoader(graph or services.graph, services.rules, services.privacy,
                          services.normaliser, today=TODAY, batch_size=2)
    return loader.load(list(paths), derive_contacts=False)


@pytest.fixture()
def subjects(services: Services, tmp_path: Path) -> Path:
    folder = tmp_path / "subjects"
    folder.mkdir()
    write_csv(folder / "legal_persons.csv", ["uscc", "name"], [
        [CO_A, "德州市德城区鑫源食品有限公司"], [CO_B, "德州市陵城区宏达商贸有限公司"],
        [MARKET, "德州市德城区市场监督管理局"], [TAX, "国家税务总局德州市德城区税务局"]])
    write_csv(folder / "natural_persons.csv", ["id_number", "name"], [[PERSON, "张三明"]])
    assert load(services, folder).rejected == 0
    return folder


PENALTY_HEADERS = ["decision_no", "subject_name", "subject_id", "category", "fine",
                   "decided_on", "publicity_until", "authority", "authority_uscc"]


def penalties(path: Path, subject: str = CO_A, authority: str = MARKET, fine: str = "1",
              expired: str = "2027-01-01", numbers: tuple[int, ...] = (1, 2, 3, 4)) -> Path:
    return write_csv(path, PENALTY_HEADERS, [
        [f"P-{n}", "德州市德城区鑫源食品有限公司", subject, "罚款", fine, "2026-03-05",
         expired if n == 4 else "2027-01-01", "德州市德城区市场监督管理局", authority]
        for n in numbers])


def statuses(graph: Graph) -> dict[str, str]:
    rows = graph.read("MATCH (p:Penalty) RETURN p.id AS id, p.status AS status")
    return {row["id"]: row["status"] for row in rows}


def links(graph: Graph, rid: str) -> tuple[list[tuple[str, str]], list[str]]:
    parties = graph.read("MATCH (s)-[h:HAS_RECORD]->({id: $id}) RETURN s.id AS s, h.role AS role "
                         "ORDER BY s, role", {"id": rid})
    issuers = graph.read("MATCH ({id: $id})-[:ISSUED_BY]->(a) RETURN a.id AS a", {"id": rid})
    return [(p["s"], p["role"]) for p in parties], [i["a"] for i in issuers]


def test_reload_keeps_workflow_statuses(services: Services, subjects: Path,
                                        tmp_path: Path) -> None:
    path = penalties(tmp_path / "penalties.csv")
    load(services, path)
    graph = services.graph
    assert set(statuses(graph).values()) == {"ACTIVE"}
    # what credit repair (信用修复), an objection (异议) and a revocation leave behind
    graph.write("UNWIND $set AS s MATCH (p:Penalty {id: s[0]}) SET p.status = s[1]",
                {"set": [["P-1", "REPAIRED"], ["P-2", "DISPUTED"], ["P-3", "REVOKED"]]})
    graph.write("MATCH (p:Penalty {id: 'P-3'}) SET p.revokedOn = $day, p.revokedBy = 'OBJ-1'",
                {"day": TODAY})
    summary = load(services, penalties(path, fine="2", expired="2026-06-01"))
    assert (summary.loaded, summary.rejected) == (4, 0)
    assert statuses(graph) == {"P-1": "REPAIRED", "P-2": "DISPUTED", "P-3": "REVOKED",
                               "P-4": "EXPIRED"}  # a derived status follows the new row
    fines = graph.read("MATCH (p:Penalty) RETURN collect(DISTINCT p.fine) AS fines")
    assert fines == [{"fines": [2.0]}]  # the other fields are updated all the same


def test_reload_relinks_parties_and_issuers(services: Services, subjects: Path,
                                            tmp_path: Path) -> None:
    path = penalties(tmp_path / "penalties.csv")
    load(services, path)
    assert links(services.graph, "P-1") == ([(CO_A, "subject")], [MARKET])
    load(services, penalties(path, subject=CO_B, authority=TAX))
    assert links(services.graph, "P-1") == ([(CO_B, "subject")], [TAX])
    load(services, penalties(path, subject=CO_B, authority=""))
    assert links(services.graph, "P-1") == ([(CO_B, "subject")], [])
    counts = services.graph.read("MATCH (p:Penalty) RETURN count(p) AS n, "
                                 "COUNT { ()-[:HAS_RECORD]->(:Penalty) } AS parties")
    assert counts == [{"n": 4, "parties": 4}]


def test_a_decided_record_keeps_its_subject(services: Services, subjects: Path,
                                           tmp_path: Path) -> None:
    """A later row naming another subject moved a repaired or disputed record to it — C16
    then held C12's repair, an objection named C3 while its record sat on C17, and the old
    link was gone (found by a held-out review of a year of monthly deliveries). A record the
    credit desk decided on keeps its parties: such a row is refused saying why; the same
    subject's row still updates it, and an undecided record follows its source."""
    path = penalties(tmp_path / "penalties.csv")
    load(services, path)
    graph = services.graph
    graph.write("MATCH (p:Penalty {id: 'P-1'}) SET p.status = 'REPAIRED' "
                "CREATE (:Repair {id: 'RP-1'})-[:REPAIRS]->(p)")
    graph.write("MATCH (p:Penalty {id: 'P-2'}) SET p.status = 'DISPUTED' "
                "CREATE (:Objection {id: 'OBJ-1', status: 'OPEN'})-[:OBJECTS_TO]->(p)")
    summary = load(services, penalties(path, subject=CO_B, fine="2"))
    assert (summary.loaded, summary.rejected) == (2, 2)
    assert {r.value for r in summary.rejects} == {"P-1", "P-2"}
    assert all("through the credit desk" in r.reason and CO_A in r.reason
               for r in summary.rejects)
    assert links(graph, "P-1")[0] == [(CO_A, "subject")]
    assert links(graph, "P-2")[0] == [(CO_A, "subject")]
    assert links(graph, "P-3")[0] == [(CO_B, "subject")]
    summary = load(services, penalties(path, fine="3"))
    assert (summary.loaded, summary.rejected) == (4, 0)
    fines = graph.read("MATCH (p:Penalty {id: 'P-1'}) RETURN p.fine AS fine, p.status AS s")
    assert fines == [{"fine": 3.0, "s": "REPAIRED"}]


def test_a_decided_record_keeps_a_party_its_row_leaves_empty(services: Services,
                                                             subjects: Path,
                                                             tmp_path: Path) -> None:
    """A record the credit desk decided on keeps its parties: a later row whose column for a
    party is there but empty would unlink it as surely as one naming another subject (the
    writer drops every link of a role the file has a column for), so it is refused too; the
    row naming them all still updates it (found by review: a disputed judgment lost its
    creditor to a delivery with an empty 申请执行人)."""
    headers = ["case_no", "court", "debtor_id", "creditor_id", "amount", "filed_on", "due_on"]
    case = "（2026）鲁1402执5号"

    def judgment(creditor: str, amount: str) -> Path:
        return write_csv(tmp_path / "judgments.csv", headers, [
            [case, "德州市德城区人民法院", CO_A, creditor, amount, "2026-01-05", "2026-03-01"]])

    assert load(services, judgment(CO_B, "35")).rejected == 0
    graph = services.graph
    graph.write("MATCH (j:Judgment {id: $id}) SET j.status = 'DISPUTED' "
                "CREATE (:Objection {id: 'OBJ-J', status: 'OPEN'})-[:OBJECTS_TO]->(j)",
                {"id": case})
    summary = load(services, judgment("", "40"))
    assert (summary.loaded, summary.rejected) == (0, 1)
    assert "through the credit desk" in summary.rejects[0].reason
    assert CO_B in summary.rejects[0].reason
    assert links(graph, case)[0] == sorted([(CO_A, "debtor"), (CO_B, "creditor")])
    assert load(services, judgment(CO_B, "40")).rejected == 0
    assert graph.read("MATCH (j:Judgment {id: $id}) RETURN j.amount AS amount",
                      {"id": case}) == [{"amount": 40.0}]


def test_update_mixes_new_and_known_records(services: Services, subjects: Path,
                                            tmp_path: Path) -> None:
    """Batches holding both records already in the graph (MERGEd) and brand-new ones
    (CREATEd) give each record one node, one party link and one issuer link."""
    path = penalties(tmp_path / "penalties.csv")
    load(services, path)
    summary = load(services, penalties(path, fine="3", numbers=(3, 5, 4, 6)))  # batches of 2
    assert (summary.loaded, summary.rejected) == (4, 0)
    rows = services.graph.read(
        "MATCH (p:Penalty) RETURN p.id AS id, p.fine AS fine, "
        "COUNT { (:Subject)-[:HAS_RECORD]->(p) } AS parties, "
        "COUNT { (p)-[:ISSUED_BY]->(:Subject) } AS issuers ORDER BY id")
    assert [(r["id"], r["fine"], r["parties"], r["issuers"]) for r in rows] == [
        ("P-1", 1.0, 1, 1), ("P-2", 1.0, 1, 1), ("P-3", 3.0, 1, 1), ("P-4", 3.0, 1, 1),
        ("P-5", 3.0, 1, 1), ("P-6", 3.0, 1, 1)]


class BlindToRecords(Graph):
    """Sees no record as existing: what a loader sees when another writer creates the same
    records between its check and its write."""

    def read_rows(self, cypher: str, params: Any = None, timeout: float | None = None
                  ) -> list[Any]:
        if cypher.lstrip().startswith("UNWIND $ids AS id\nMATCH (r:"):  # `stored_records`
            return []
        return super().read_rows(cypher, params, timeout)


def test_records_created_meanwhile_are_merged(services: Services, subjects: Path,
                                              tmp_path: Path) -> None:
    path = penalties(tmp_path / "penalties.csv")
    load(services, path)
    graph = services.graph
    blind = BlindToRecords(graph.driver, graph.database, graph.tx_timeout)
    summary = load(services, penalties(path, fine="5"), graph=blind)
    assert (summary.loaded, summary.rejected) == (4, 0)
    counts = graph.read("MATCH (p:Penalty) RETURN count(p) AS n, collect(DISTINCT p.fine) AS "
                        "fines, COUNT { ()-[:HAS_RECORD]->(:Penalty) } AS parties")
    assert counts == [{"n": 4, "fines": [5.0], "parties": 4}]


def test_licences(services: Services, subjects: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "行政许可.csv", [
        "行政许可决定书文号", "行政许可决定文书名称", "行政相对人名称",
        "行政相对人代码_1（统一社会信用代码）", "许可类别", "许可证书名称", "许可编号",
        "许可内容", "许可决定日期", "有效期自", "有效期至", "许可机关", "许可机关统一社会信用代码",
        "当前状态"], [
        ["德市监许〔2026〕1号", "食品经营许可决定书", "德州市德城区鑫源食品有限公司", CO_A,
         "普通", "食品经营许可证", "JY13714020001", "预包装食品销售", "2026-01-05",
         "2026-01-05", "2031-01-04", "德州市德城区市场监督管理局", MARKET, "有效"],
        ["德市监许〔2021〕9号", "", "德州市德城区鑫源食品有限公司", CO_A, "普通",
         "食品经营许可证", "JY13714020002", "", "2021-01-05", "2021-01-05", "2026-01-04",
         "德州市德城区市场监督管理局", MARKET, ""],
        ["德市监许〔2025〕3号", "", "德州市陵城区宏达商贸有限公司", CO_B, "普通",
         "食品经营许可证", "JY13714030003", "", "2025-01-05", "2025-01-05", "2030-01-04",
         "德州市德城区市场监督管理局", MARKET, "已撤销"],
        # a 行政审批服务局 (相对集中许可) names no field: the certificate does
        ["德审批许〔2026〕8号", "药品经营许可决定书", "德州市陵城区宏达商贸有限公司", CO_B,
         "普通", "药品经营许可证", "鲁CB5340008", "", "2026-02-05",
         "2026-02-05", "2030-02-04", "德州市陵城区行政审批服务局", "", ""],
    ])
    summary = load(services, path)
    assert summary.files[0].kind == "licenses"
    assert (summary.loaded, summary.rejected) == (4, 0)
    domains = {r["id"]: r["domain"] for r in services.graph.read(
        "MATCH (l:License) RETURN l.id AS id, l.domain AS domain")}
    assert domains == {"德市监许〔2026〕1号": "food_drug", "德市监许〔2021〕9号": "food_drug",
                       "德市监许〔2025〕3号": "food_drug", "德审批许〔2026〕8号": "food_drug"}
    # a later file without the certificate's name keeps the domain it gave
    later = write_csv(tmp_path / "licenses.csv", [
        "decision_no", "subject_name", "subject_id", "decided_on", "valid_to", "authority"], [
        ["德审批许〔2026〕8号", "德州乙", CO_B, "2026-02-05", "2031-02-04",
         "德州市陵城区行政审批服务局"]])
    assert load(services, later).loaded == 1
    assert services.graph.read("MATCH (l:License {id: '德审批许〔2026〕8号'}) "
                               "RETURN l.domain AS d")[0]["d"] == "food_drug"
    rows = services.graph.read(
        "MATCH (s)-[:HAS_RECORD {role: 'subject'}]->(l:License)-[:ISSUED_BY]->(a:Agency) "
        "RETURN l.id AS id, s.id AS s, l.status AS status, l.title AS title, l.domain AS domain, "
        "l.licenseNo AS no, l.validTo AS validTo, a.id AS a ORDER BY id")
    assert [(r["id"], r["s"], r["status"], r["a"]) for r in rows] == [
        ("德市监许〔2021〕9号", CO_A, "EXPIRED", MARKET),
        ("德市监许〔2025〕3号", CO_B, "REVOKED", MARKET),
        ("德市监许〔2026〕1号", CO_A, "ACTIVE", MARKET)]
    # the domain from the authority, category (普通 says nothing) and certificate: 食品
    assert {(r["title"], r["domain"]) for r in rows} == {("食品经营许可证", "food_drug")}
    assert rows[2]["no"] == "JY13714020001"
    assert rows[2]["validTo"].to_native() == dt.date(2031, 1, 4)


def test_a_licence_valid_to_before_valid_from_is_rejected(services: Services, subjects: Path,
                                                         tmp_path: Path) -> None:
    """有效期至 before 有效期自 is refused as a relation's end before its start is (it loaded
    EXPIRED)."""
    path = write_csv(tmp_path / "licenses.csv", [
        "decision_no", "subject_name", "subject_id", "decided_on", "valid_from", "valid_to",
        "authority"], [
        ["XK-9", "德州甲", CO_A, "2026-01-05", "2026-01-05", "2025-01-04", "德州市市场监管局"],
        ["XK-10", "德州甲", CO_A, "2026-01-05", "2026-01-05", "2026-01-05", "德州市市场监管局"]])
    summary = load(services, path)
    assert (summary.loaded, summary.rejected) == (1, 1)
    assert [(r.line, r.column, r.value, r.reason) for r in summary.rejects] == [
        (2, "valid_to", "2025-01-04", "有效期至 (valid_to) before 有效期自 (valid_from)")]
    # the summary counts it under what the reason says, not under the bare column name
    assert summary.files[0].reasons == {"有效期至 before 有效期自": 1}


LICENCE_COLUMNS = ["decision_no", "subject_name", "subject_id", "decided_on", "valid_to",
                   "authority", "status"]


def test_a_licence_revoked_by_its_source_follows_the_source(services: Services,
                                                             subjects: Path,
                                                             tmp_path: Path) -> None:
    """A licence the source called 吊销 is REVOKED by the loader, not by a workflow: when a
    later delivery says 有效 (the source corrected it) it is ACTIVE again — it stayed REVOKED,
    the loader keeping its own derived status as if an objection had revoked it (found by a
    held-out review of monthly loads). One an objection revoked (revokedOn, revokedBy) stays."""
    def licences(name: str, status: str) -> Path:
        return write_csv(tmp_path / name, LICENCE_COLUMNS, [
            [f"L-{n}", "德州市德城区鑫源食品有限公司", CO_A, "2026-01-05", "2031-01-04",
             "德州市德城区市场监督管理局", status] for n in (1, 2)])
    assert load(services, licences("licenses_1.csv", "吊销")).loaded == 2
    graph = services.graph
    graph.write("MATCH (l:License {id: 'L-2'}) SET l.revokedOn = $day, l.revokedBy = 'OBJ-2'",
                {"day": TODAY})
    assert load(services, licences("licenses_2.csv", "有效")).loaded == 2
    rows = graph.read("MATCH (l:License) RETURN l.id AS id, l.status AS status, "
                      "l.currentStatus AS source ORDER BY id")
    assert [(r["id"], r["status"], r["source"]) for r in rows] == [
        ("L-1", "ACTIVE", "有效"), ("L-2", "REVOKED", "有效")]


def test_a_licence_the_national_template_calls_void_is_not_in_force(services: Services,
                                                                     subjects: Path,
                                                                     tmp_path: Path) -> None:
    """当前状态 of the national 行政许可 template (2021) is a code — 1 有效, 2 无效 —, and a
    department may write the word: a licence its source calls 无效 before its 有效期至 was
    ended early and is REVOKED as one called 注销 is, one past its 有效期至 EXPIRED; 1 or 有效
    is ACTIVE by its dates. (Found by a held-out review loading a centre's first delivery in
    the national templates: 2 and 无效 were ACTIVE, only the words 撤销/吊销/注销 counted.)
    A later row saying 1 makes it ACTIVE again, as for 吊销."""
    def licences(name: str, statuses: list[tuple[str, str]]) -> Path:
        return write_csv(tmp_path / name, LICENCE_COLUMNS, [
            [f"L-{n}", "德州市德城区鑫源食品有限公司", CO_A, "2024-01-05", valid_to,
             "德州市德城区市场监督管理局", status]
            for n, (valid_to, status) in enumerate(statuses, 1)])
    first = licences("licenses_1.csv", [("2031-01-04", "2"), ("2031-01-04", "无效"),
                                        ("2031-01-04", "２"), ("2025-01-04", "2"),
                                        ("2031-01-04", "1"), ("2031-01-04", "有效")])
    assert load(services, first).loaded == 6
    graph = services.graph

    def statuses() -> list[str]:
        return [r["status"] for r in graph.read(
            "MATCH (l:License) RETURN l.status AS status ORDER BY l.id")]
    assert statuses() == ["REVOKED", "REVOKED", "REVOKED", "EXPIRED", "ACTIVE", "ACTIVE"]
    assert load(services, licences("licenses_2.csv", [("2031-01-04", "1")])).loaded == 1
    assert statuses()[0] == "ACTIVE"


CONTRACT_COLUMNS = ["contract_no", "kind", "agency_uscc", "counterparty_id", "title", "amount",
                    "signed_on", "due_on", "fulfilled_on", "status", "gov_default"]


def g2_contracts(services: Services, as_of: dt.date) -> list[str]:
    """The contracts of the city's G2 (政府违约) findings as of a date."""
    return sorted(f.records[0]["id"] for f in Tracer(services.graph, services.rules)
                  .trace(as_of).findings if f.pattern.value == "G2")


def test_contracts(services: Services, subjects: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "contracts.csv", CONTRACT_COLUMNS, [
        ["HT-1", "政府采购", MARKET, CO_A, "快检设备采购", "120", "2025-01-01", "2025-06-30", "",
         "供应商违约", "否"],
        ["HT-2", "招商引资", MARKET, CO_B, "园区建设", "5000", "2025-01-01", "2025-06-30", "",
         "政府方违约", "是"],
        ["HT-3", "政府采购", MARKET, PERSON, "培训服务", "3", "2025-01-01", "2025-06-30",
         "2025-06-01", "已履约", "否"],
        ["HT-4", "政府采购", PERSON, CO_A, "培训服务", "3", "2025-01-01", "", "", "", ""],
        ["HT-5", "政府采购", MARKET, CO_A, "未到期", "3", "2026-01-01", "2027-06-30", "",
         "违约风险", "否"],
        ["HT-6", "政府采购", MARKET, CO_B, "逾期未付", "8", "2025-01-01", "2025-06-30", "",
         "履行中", ""],
    ])
    summary = load(services, path)
    assert (summary.loaded, summary.rejected) == (5, 1)
    assert summary.rejects[0].line == 5
    assert summary.rejects[0].reason == "the agency must be a USCC"
    rows = services.graph.read(
        "MATCH (c:Contract) RETURN c.id AS id, c.govDefault AS gov, "
        "c.subjectDefault AS subject, c.amount AS amount ORDER BY id")
    assert [(r["id"], r["gov"], r["subject"]) for r in rows] == [
        ("HT-1", False, True), ("HT-2", True, False), ("HT-3", False, False),
        ("HT-5", False, True),  # not due yet: the analyses count it from its due date
        ("HT-6", None, False)]  # the source does not say who defaulted
    # HT-5, loaded before its due date and never sent again, counts once the date has passed
    due = dt.date(2027, 6, 30)
    signals = {s.record["id"] for s in assess(services.graph, services.rules, CO_A, 1,
                                               due + dt.timedelta(days=1)).signals}
    assert "HT-5" in signals
    assert "HT-5" not in {s.record["id"] for s in assess(services.graph, services.rules, CO_A,
                                                         1, due).signals}
    person = services.privacy.person_key(parse_id_number(PERSON))
    assert links(services.graph, "HT-1") == (
        sorted([(CO_A, "counterparty"), (MARKET, "agency")]), [MARKET])
    assert links(services.graph, "HT-3")[0] == sorted([(MARKET, "agency"),
                                                       (person, "counterparty")])


def test_a_title_written_as_the_relation_type_is_the_role(services: Services, subjects: Path,
                                                          tmp_path: Path) -> None:
    """A row typed 董事长 or 总经理 with no 职务 was stored with the role 董事 / 高级管理人员 —
    the title lost, where a kinship written as the type becomes the kind."""
    path = write_csv(tmp_path / "relations.csv", ["from_id", "to_id", "type", "role"], [
        [PERSON, CO_A, "董事长", ""], [PERSON, CO_B, "总经理", ""],
        [PERSON, CO_B, "DIRECTOR", ""], [PERSON, CO_A, "监事", "监事会主席"]])
    assert load(services, path).rejected == 0
    rows = services.graph.read("MATCH (:NaturalPerson)-[r]->(c:LegalPerson) "
                               "RETURN c.id AS c, type(r) AS type, r.role AS role")
    assert sorted((r["c"], r["type"], r["role"]) for r in rows) == sorted([
        (CO_A, "DIRECTOR", "董事长"), (CO_B, "MANAGER", "总经理"), (CO_B, "DIRECTOR", "董事"),
        (CO_A, "SUPERVISOR", "监事会主席")])


def test_a_contract_and_a_commitment_have_domains_of_their_own(services: Services,
                                                               subjects: Path,
                                                               tmp_path: Path) -> None:
    """A defaulted contract's risk signal was of the domain `contract`, a key written in the
    loader that [domains.names] did not name: the answer and the credit report showed
    "contract" where every other domain reads in Chinese. The rules file declares both
    domains and names them; a penalty's 领域 cell naming one is no domain of a penalty."""
    contracts = write_csv(tmp_path / "contracts.csv", CONTRACT_COLUMNS, [
        ["HT-1", "政府采购", MARKET, CO_A, "快检设备采购", "120", "2025-01-01", "2025-06-30", "",
         "供应商违约", "否"]])
    commitments = write_csv(tmp_path / "commitments.csv", [
        "commitment_id", "subject_id", "kind", "authority", "made_on"], [
        ["CN-1", CO_A, "信用承诺书", "德州市德城区市场监督管理局", "2026-03-05"]])
    named = write_csv(tmp_path / "penalties.csv", [*PENALTY_HEADERS, "domain"], [
        ["P-9", "德州市德城区鑫源食品有限公司", CO_A, "罚款", "1", "2026-03-05", "2027-01-01",
         "德州市德城区市场监督管理局", MARKET, "合同履约"]])
    assert load(services, contracts, commitments, named).rejected == 0
    rows = services.graph.read("MATCH (r) WHERE r.id IN ['HT-1', 'CN-1', 'P-9'] "
                               "RETURN r.id AS id, r.domain AS domain")
    assert {r["id"]: r["domain"] for r in rows} == {
        "HT-1": "contract", "CN-1": "commitment", "P-9": "market"}
    shares = assess(services.graph, services.rules, CO_A, 1, TODAY).ranked_domains(
        services.rules)
    assert {s.domain: s.name for s in shares} == {"contract": "合同履约", "market": "市场监管"}


def test_contract_status_naming_the_government_side(services: Services, subjects: Path,
                                                    tmp_path: Path) -> None:
    """甲方违约 (甲方 is the 采购人 in the national contract templates) and 采购人违约 name the
    government's default, 未违约 none: neither is the counterparty's (they were, the supplier
    getting a default signal for the agency's arrears and the agency's G2 lost)."""
    path = write_csv(tmp_path / "contracts.csv", CONTRACT_COLUMNS, [
        ["HT-A", "政府采购", MARKET, CO_A, "拖欠货款", "10", "2026-01-05", "2026-09-01", "",
         "甲方违约", ""],
        ["HT-B", "政府采购", MARKET, CO_A, "拖欠货款", "10", "2026-01-05", "2026-09-01", "",
         "采购人违约，未付款", ""],
        ["HT-C", "政府采购", MARKET, CO_A, "正常履行", "10", "2026-01-05", "2026-09-01", "",
         "履行中，未违约", ""],
        ["HT-D", "政府采购", MARKET, CO_B, "供货逾期", "10", "2026-01-05", "2026-09-01", "",
         "乙方违约", ""],
    ])
    assert load(services, path).rejected == 0
    rows = services.graph.read(
        "MATCH (c:Contract) RETURN c.id AS id, c.subjectDefault AS subject ORDER BY id")
    assert [(r["id"], r["subject"]) for r in rows] == [
        ("HT-A", False), ("HT-B", False), ("HT-C", False), ("HT-D", True)]
    as_of = TODAY
    assert {s.record["id"] for s in assess(services.graph, services.rules, CO_A, 1,
                                           as_of).signals} == set()
    assert {s.record["id"] for s in assess(services.graph, services.rules, CO_B, 1,
                                           as_of).signals} == {"HT-D"}
    # the agency's default, unfulfilled past its due date (政府方违约 blank): G2
    assert g2_contracts(services, as_of) == ["HT-A", "HT-B", "HT-C"]


def test_contract_status_saying_it_was_performed(services: Services, subjects: Path,
                                                 tmp_path: Path) -> None:
    """已履约 without a 履约日期 is performed on a day the source does not give: no G2 for a
    blank 政府方违约 (it was one, the agency blamed for a contract its source calls performed);
    未履行完毕 is not performed; a date given still decides as of when."""
    path = write_csv(tmp_path / "contracts.csv", CONTRACT_COLUMNS, [
        ["HT-1", "政府采购", MARKET, CO_A, "办公用品", "10", "2026-01-05", "2026-03-01", "",
         "已履约", ""],
        ["HT-2", "政府采购", MARKET, CO_A, "办公用品", "10", "2026-01-05", "2026-03-01", "",
         "未履行完毕", ""],
        ["HT-3", "政府采购", MARKET, CO_A, "办公用品", "10", "2026-01-05", "2026-03-01",
         "2026-06-01", "已履约", ""],
    ])
    assert load(services, path).rejected == 0
    assert g2_contracts(services, dt.date(2026, 5, 1)) == ["HT-2", "HT-3"]
    assert g2_contracts(services, TODAY) == ["HT-2"]


def test_a_later_file_without_a_column_keeps_what_was_stored(services: Services,
                                                             subjects: Path,
                                                             tmp_path: Path) -> None:
    """Monthly deliveries do not always carry the same optional columns: a column the file
    lacks leaves what an earlier load stored (a removed listing stayed removed only if the
    next file had 移出日期; a penalty lost its content and its issuer link), an empty cell
    in a column the file has clears it, and a record new to the partial file still gets
    what it derives."""
    first = tmp_path / "m1"
    first.mkdir()
    write_csv(first / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "authority", "listed_on",
        "removed_on", "removal_reason"], [
        ["L-1", "德州甲", CO_A, "严重失信主体", "德州市德城区市场监督管理局", "2026-01-05",
         "2026-06-01", "信用修复"]])
    penalties(first / "penalties.csv", numbers=(1,))
    write_csv(first / "judgments.csv", [
        "case_no", "court", "debtor_id", "creditor_id", "amount", "filed_on", "due_on"], [
        ["（2026）鲁1402执3号", "德州市德城区人民法院", CO_A, CO_B, "35", "2026-01-05",
         "2026-03-01"]])
    write_csv(first / "relations.csv", ["from_id", "to_id", "type", "ratio", "start_date",
                                        "end_date"], [
        [PERSON, CO_A, "SHAREHOLDER", "0.6", "2020-01-01", "2026-05-31"]])
    assert load(services, first).rejected == 0
    second = tmp_path / "m2"
    second.mkdir()
    write_csv(second / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "listed_on"], [
        ["L-1", "德州甲", CO_A, "严重失信主体", "2026-01-05"],
        ["L-2", "德州乙", CO_B, "经营异常名录", "2026-02-05"]])
    write_csv(second / "penalties.csv", [
        "decision_no", "subject_name", "subject_id", "category", "decided_on", "authority"], [
        ["P-1", "德州市德城区鑫源食品有限公司", CO_A, "罚款", "2026-03-05",
         "德州市德城区市场监督管理局"]])
    write_csv(second / "judgments.csv", ["case_no", "debtor_id", "amount"], [
        ["（2026）鲁1402执3号", CO_A, "40"]])
    write_csv(second / "relations.csv", ["from_id", "to_id", "type", "start_date"], [
        [PERSON, CO_A, "SHAREHOLDER", "2020-01-01"]])
    assert load(services, second).rejected == 0
    graph = services.graph
    listing = graph.read("MATCH (l:Listing) RETURN l.id AS id, l.status AS status, "
                         "l.removedOn AS removed, l.authority AS authority ORDER BY id")
    assert [(r["id"], r["status"], str(r["removed"]), r["authority"]) for r in listing] == [
        ("L-1", "EXPIRED", "2026-06-01", "德州市德城区市场监督管理局"),
        ("L-2", "ACTIVE", "None", None)]
    penalty = graph.read("MATCH (p:Penalty {id: 'P-1'}) RETURN p.fine AS fine, "
                         "p.publicityUntil AS until, p.authorityUscc AS uscc, "
                         "[(p)-[:ISSUED_BY]->(a) | a.id] AS issuers")[0]
    assert (penalty["fine"], penalty["uscc"], penalty["issuers"]) == (1.0, MARKET, [MARKET])
    assert links(graph, "（2026）鲁1402执3号")[0] == sorted([(CO_A, "debtor"),
                                                           (CO_B, "creditor")])
    assert graph.read("MATCH (j:Judgment) RETURN j.amount AS amount, j.court AS court") == [
        {"amount": 40.0, "court": "德州市德城区人民法院"}]
    tie = graph.read("MATCH (:NaturalPerson)-[r:SHAREHOLDER]->() "
                     "RETURN r.ratio AS ratio, toString(r.end) AS end")
    assert tie == [{"ratio": 0.6, "end": "2026-05-31"}]
    # a column the file has, its cell empty: cleared — the listing is back in force
    third = write_csv(tmp_path / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "listed_on", "removed_on"], [
        ["L-1", "德州甲", CO_A, "严重失信主体", "2026-01-05", ""]])
    assert load(services, third).rejected == 0
    assert graph.read("MATCH (l:Listing {id: 'L-1'}) RETURN l.status AS status, "
                      "l.removedOn AS removed") == [{"status": "ACTIVE", "removed": None}]


def test_a_listing_removed_on_a_day_ahead_is_in_force_until_then(services: Services,
                                                                  subjects: Path,
                                                                  tmp_path: Path) -> None:
    """A severe list kept for a fixed term publishes its 移出日期 ahead: the row was rejected
    whole ('future date'), so a subject listed 失信被执行人 today stood unlisted (a held-out
    oracle of the escalation rules: FOCUS for SEVERE_PROPOSED, grade B for D). The listing is
    in force until that day and removed from it."""
    ahead = TODAY + dt.timedelta(days=1)
    path = write_csv(tmp_path / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "listed_on", "removed_on"], [
        ["L-9", "德州甲", CO_A, "失信被执行人", "2026-07-10", ahead.isoformat()],
        ["L-10", "德州乙", CO_B, "失信被执行人", "2027-01-10", ""]])
    summary = load(services, path)
    assert (summary.loaded, [r.reason for r in summary.rejects]) == (
        1, ["future date 2027-01-10 (after 2026-11-28)"])
    assert services.graph.read("MATCH (l:Listing) RETURN l.id AS id, l.status AS status, "
                               "l.removedOn AS removed") == [
        {"id": "L-9", "status": "ACTIVE", "removed": ahead}]
    shared = "query($id: ID!, $d: Date) { riskAssessment(id: $id, asOf: $d) { ownScore } }"
    api = Api(services)
    assert api.query(shared, id=CO_A, d=TODAY.isoformat())["data"]["riskAssessment"][
        "ownScore"] > 0
    assert api.query(shared, id=CO_A, d=ahead.isoformat())["data"]["riskAssessment"][
        "ownScore"] == 0


def test_a_tie_first_given_without_dates_is_the_dated_tie(services: Services, subjects: Path,
                                                         tmp_path: Path) -> None:
    """A relation delivered without a start date and later with its dates is one tie: the
    dated row took a second edge and the undated one stayed live for ever (the legal
    representative replaced in May still counted). An agency's `superior` column given again
    after a dated 隶属 row makes no second, undated SUBORDINATE_TO."""
    headers = ["from_id", "to_id", "type", "start_date", "end_date"]
    first = write_csv(tmp_path / "relations.csv", headers, [
        [PERSON, CO_A, "LEGAL_REPRESENTATIVE", "", ""]])
    later = write_csv(tmp_path / "relations_dated.csv", headers, [
        [PERSON, CO_A, "LEGAL_REPRESENTATIVE", "2015-01-01", "2026-05-31"],
        [MARKET, TAX, "SUBORDINATE_TO", "2019-03-01", ""]])
    assert load(services, first).rejected == 0
    assert load(services, later).rejected == 0
    ties = services.graph.read(
        "MATCH (a)-[r:LEGAL_REPRESENTATIVE|SUBORDINATE_TO]->(b) RETURN type(r) AS type, "
        "r.key AS key, toString(r.end) AS end ORDER BY type")
    assert ties == [{"type": "LEGAL_REPRESENTATIVE", "key": "2015-01-01", "end": "2026-05-31"},
                    {"type": "SUBORDINATE_TO", "key": "2019-03-01", "end": None}]
    agencies = write_csv(tmp_path / "legal_persons.csv", ["uscc", "name", "superior"], [
        [MARKET, "德州市德城区市场监督管理局", TAX]])
    assert load(services, agencies).rejected == 0
    assert services.graph.read("MATCH ()-[r:SUBORDINATE_TO]->() RETURN r.key AS key") == [
        {"key": "2019-03-01"}]
    # one file giving a tie undated, then dated, loaded twice: one tie
    both = write_csv(tmp_path / "relations_both.csv", headers, [
        [PERSON, CO_B, "SHAREHOLDER", "", ""], [PERSON, CO_B, "SHAREHOLDER", "2016-01-01",
                                                "2020-01-01"]])
    for _ in range(2):
        assert load(services, both).rejected == 0
        assert services.graph.read("MATCH ()-[r:SHAREHOLDER]->() RETURN r.key AS key, "
                                   "toString(r.end) AS end") == [
            {"key": "2016-01-01", "end": "2020-01-01"}]
    # both files again: nothing changes (the undated row is about the tie as stored)
    before = services.graph.read("MATCH ()-[r]->() RETURN type(r) AS t, properties(r) AS p "
                                 "ORDER BY t")
    assert load(services, first, later).rejected == 0
    assert services.graph.read("MATCH ()-[r]->() RETURN type(r) AS t, properties(r) AS p "
                               "ORDER BY t") == before


def test_a_value_derived_from_several_columns_needs_them_all(services: Services,
                                                             subjects: Path,
                                                             tmp_path: Path) -> None:
    """A later file with only some of the columns a value is derived from leaves the stored
    value (derived from a part it was wrong: a contract's 违约 without 政府方违约 became the
    counterparty's default, a 吊销 licence ACTIVE by its 有效期至, a 税务 listing 'other');
    a relations file without dates is about the tie as stored, not a new undated tie."""
    first, later = tmp_path / "m1", tmp_path / "m2"
    first.mkdir()
    later.mkdir()
    write_csv(first / "contracts.csv", CONTRACT_COLUMNS, [
        ["HT-1", "政府采购", MARKET, CO_A, "物业服务", "10", "2026-01-05", "2026-03-01", "",
         "违约", "是"]])
    write_csv(later / "contracts.csv", CONTRACT_COLUMNS[:-1], [
        ["HT-1", "政府采购", MARKET, CO_A, "物业服务", "12", "2026-01-05", "2026-03-01", "",
         "违约"]])
    license_headers = ["decision_no", "subject_name", "subject_id", "decided_on", "authority",
                       "valid_to", "status"]
    write_csv(first / "licenses.csv", license_headers, [
        ["XK-1", "德州甲", CO_A, "2026-01-05", "德州市德城区市场监督管理局", "2030-01-01", "吊销"]])
    write_csv(later / "licenses.csv", license_headers[:-1], [
        ["XK-1", "德州甲", CO_A, "2026-01-05", "德州市德城区市场监督管理局", "2031-01-01"]])
    write_csv(first / "listings.csv", ["list_id", "subject_name", "subject_id", "list_type",
                                        "authority", "basis", "listed_on"], [
        ["SW-2", "德州乙", CO_B, "重大税收违法失信主体", "国家税务总局德州市税务局", "税收征管法",
         "2026-03-05"]])
    write_csv(later / "listings.csv", ["list_id", "subject_name", "subject_id", "list_type",
                                        "listed_on"], [
        ["SW-2", "德州乙", CO_B, "重大税收违法失信主体", "2026-03-05"]])
    write_csv(first / "relations.csv", ["from_id", "to_id", "type", "start_date", "end_date"], [
        [PERSON, CO_A, "LEGAL_REPRESENTATIVE", "2015-01-01", "2026-05-31"]])
    write_csv(later / "relations.csv", ["from_id", "to_id", "type"], [
        [PERSON, CO_A, "LEGAL_REPRESENTATIVE"]])
    assert load(services, first).rejected == 0
    assert load(services, later).rejected == 0
    graph = services.graph
    assert graph.read("MATCH (c:Contract) RETURN c.subjectDefault AS d, c.amount AS amount") == [
        {"d": False, "amount": 12.0}]
    assert graph.read("MATCH (l:License) RETURN l.status AS status, toString(l.validTo) AS to"
                      ) == [{"status": "REVOKED", "to": "2031-01-01"}]
    assert graph.read("MATCH (l:Listing {id: 'SW-2'}) RETURN l.domain AS d") == [{"d": "tax"}]
    assert graph.read("MATCH ()-[r:LEGAL_REPRESENTATIVE]->() RETURN r.key AS key, "
                      "toString(r.end) AS end") == [{"key": "2015-01-01", "end": "2026-05-31"}]


def test_the_part_of_the_columns_a_file_has_decides_what_it_can(services: Services,
                                                               subjects: Path,
                                                               tmp_path: Path) -> None:
    """A file with some of a derived value's columns still says what those decide: a licence
    its 当前状态 calls 吊销 is REVOKED whatever its 有效期至; a contract's 乙方违约 is the
    counterparty's default unless the stored 政府方违约 says the government's, and its 已履约
    performed, the day unknown, unless a 履约日期 is stored. Kept whole, a status-only file
    left a 吊销 licence ACTIVE, never counted a default and counted a performed one for ever
    (found by a held-out review of monthly loads)."""
    contract = ["contract_no", "agency_uscc", "counterparty_id", "signed_on", "due_on", "status"]
    licence = ["decision_no", "subject_name", "subject_id", "decided_on", "authority", "status"]
    first, second, third = (tmp_path / f"m{n}" for n in (1, 2, 3))
    for folder in (first, second, third):
        folder.mkdir()
    # month 1 with every column: HT-2 the government's default, HT-3 performed on a day given
    write_csv(first / "contracts.csv", [*contract, "gov_default", "fulfilled_on"], [
        ["HT-1", MARKET, CO_A, "2025-01-05", "2025-06-01", "履约中", "", ""],
        ["HT-2", MARKET, CO_B, "2025-01-05", "2025-06-01", "违约", "是", ""],
        ["HT-3", MARKET, CO_A, "2025-01-05", "2025-06-01", "已履约", "", "2025-05-20"]])
    write_csv(first / "licenses.csv", [*licence, "valid_to"], [
        ["XK-1", "德州甲", CO_A, "2026-01-05", "德州市德城区市场监督管理局", "有效", "2031-01-04"]])
    # then files with 履约状态 and 当前状态 only
    for folder, (one, two, three), status in ((second, ("乙方违约", "违约", "已履约"), "吊销"),
                                              (third, ("已履约", "违约", "已履约"), "吊销")):
        write_csv(folder / "contracts.csv", contract, [
            ["HT-1", MARKET, CO_A, "2025-01-05", "2025-06-01", one],
            ["HT-2", MARKET, CO_B, "2025-01-05", "2025-06-01", two],
            ["HT-3", MARKET, CO_A, "2025-01-05", "2025-06-01", three]])
        write_csv(folder / "licenses.csv", licence, [
            ["XK-1", "德州甲", CO_A, "2026-01-05", "德州市德城区市场监督管理局", status]])

    def state() -> dict[str, Any]:
        rows = services.graph.read("MATCH (c:Contract) RETURN c.id AS id, c.subjectDefault AS d, "
                                   "c.fulfilledUndated AS u ORDER BY id")
        licences = services.graph.read("MATCH (l:License) RETURN l.status AS s")
        return {**{row["id"]: (row["d"], row["u"]) for row in rows}, "XK-1": licences[0]["s"]}

    assert load(services, first).rejected == 0
    assert state() == {"HT-1": (False, False), "HT-2": (False, False), "HT-3": (False, False),
                       "XK-1": "ACTIVE"}
    assert load(services, second).rejected == 0
    assert state() == {"HT-1": (True, False), "HT-2": (False, False), "HT-3": (False, False),
                       "XK-1": "REVOKED"}
    assert load(services, third).rejected == 0
    assert state() == {"HT-1": (False, True), "HT-2": (False, False), "HT-3": (False, False),
                       "XK-1": "REVOKED"}


def test_a_penalty_is_derived_again_from_what_it_stores(services: Services, subjects: Path,
                                                        tmp_path: Path) -> None:
    """A later penalties file without 严重程度, 领域, 公示截止期, 罚款金额 or 违法行为类型
    derives severity, domain and publicity end from what the stored penalty says in their
    place: a severity, domain or end the department gave stays (it was derived again from
    处罚类别 alone), and one derived from a 罚款金额 of 30 万元 stays 严重. A file with the
    column and an empty cell derives it anew."""
    headers = ["decision_no", "subject_name", "subject_id", "category", "fine", "decided_on",
               "publicity_until", "authority", "violation_type", "severity", "domain"]
    first = write_csv(tmp_path / "m1.csv", headers, [
        ["P-1", "德州甲", CO_A, "罚款", "1", "2026-03-05", "2027-06-30",
         "德州市德城区市场监督管理局", "超范围经营", "严重", "environment"],
        ["P-2", "德州甲", CO_A, "罚款", "30", "2026-03-05", "", "德州市德城区市场监督管理局",
         "销售过期食品", "", ""]])
    later = write_csv(tmp_path / "m2.csv", ["decision_no", "subject_name", "subject_id",
                                            "category", "decided_on", "authority"], [
        ["P-1", "德州甲", CO_A, "罚款", "2026-03-05", "德州市德城区市场监督管理局"],
        ["P-2", "德州甲", CO_A, "罚款", "2026-03-05", "德州市德城区市场监督管理局"],
        ["P-3", "德州甲", CO_A, "罚款", "2026-03-05", "德州市德城区市场监督管理局"]])
    for path in (first, later):
        (tmp_path / "penalties.csv").write_bytes(path.read_bytes())
        assert load(services, tmp_path / "penalties.csv").rejected == 0
    severe_end = derive.add_months(dt.date(2026, 3, 5),
                                   services.rules.penalty.publicity_months["严重"])
    general_end = derive.add_months(dt.date(2026, 3, 5),
                                    services.rules.penalty.publicity_months["一般"])
    query = ("MATCH (p:Penalty) RETURN p.id AS id, p.severity AS severity, p.domain AS domain, "
             "toString(p.publicityUntil) AS until, p.status AS status ORDER BY id")
    assert services.graph.read(query) == [
        {"id": "P-1", "severity": "严重", "domain": "environment", "until": "2027-06-30",
         "status": "ACTIVE"},
        {"id": "P-2", "severity": "严重", "domain": "food_drug", "until": str(severe_end),
         "status": "ACTIVE"},
        {"id": "P-3", "severity": "一般", "domain": "market", "until": str(general_end),
         "status": "ACTIVE" if general_end >= TODAY else "EXPIRED"}]
    cleared = write_csv(tmp_path / "penalties.csv", headers[:4] + headers[5:], [
        ["P-1", "德州甲", CO_A, "罚款", "2026-03-05", "", "德州市德城区市场监督管理局",
         "超范围经营", "", ""]])
    assert load(services, cleared).rejected == 0
    assert services.graph.read(query + " LIMIT 1") == [
        {"id": "P-1", "severity": "一般", "domain": "market", "until": str(general_end),
         "status": "ACTIVE" if general_end >= TODAY else "EXPIRED"}]


def test_a_court_case_is_one_domain(services: Services, subjects: Path,
                                    tmp_path: Path) -> None:
    """A 失信被执行人 listing by a court is of the judgment's domain (司法): one court case
    made a subject crossDomain (judicial + other); a listing by another authority keeps that
    authority's domain."""
    listings = write_csv(tmp_path / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "authority", "listed_on"], [
        ["SX-1", "德州甲", CO_A, "失信被执行人", "德州市德城区人民法院", "2026-03-05"],
        ["YC-1", "德州乙", CO_B, "经营异常名录", "德州市陵城区市场监督管理局", "2026-03-05"],
        ["SW-1", "德州乙", CO_B, "重大税收违法失信主体", "国家税务总局德州市税务局",
         "2026-03-05"],
        # the list type decides over a basis that names another field
        ["SX-2", "德州乙", CO_B, "失信被执行人", "依据《食品安全法》判决", "2026-03-05"]])
    judgments = write_csv(tmp_path / "judgments.csv", [
        "case_no", "court", "debtor_id", "creditor_id", "amount", "filed_on", "due_on"], [
        ["（2026）鲁1402执2号", "德州市德城区人民法院", CO_A, "", "35", "2026-01-05",
         "2026-03-01"]])
    assert load(services, listings, judgments).rejected == 0
    rows = services.graph.read("MATCH (r) WHERE r:Listing OR r:Judgment "
                               "RETURN r.id AS id, r.domain AS domain ORDER BY id")
    assert {r["id"]: r["domain"] for r in rows} == {
        "SX-1": "judicial", "YC-1": "market", "SW-1": "tax", "SX-2": "judicial",
        "（2026）鲁1402执2号": "judicial"}
    result = assess(services.graph, services.rules, CO_A, 1, TODAY)
    assert {s.domain for s in result.signals} == {"judicial"} and not result.cross_domain
    assert services.rules.domains.names["judicial"] == "司法"
    with pytest.raises(RulesError, match="judgments = 'court' is not a domain"):
        services.rules.with_overrides({"domains": {"judgments": "court"}})


def test_judgments(services: Services, subjects: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "judgments.csv", [
        "case_no", "court", "debtor_id", "debtor_name", "creditor_id", "amount", "filed_on",
        "due_on", "fulfilled_on"], [
        ["（2026）鲁1402执1号", "德州市德城区人民法院", MARKET, "德州市德城区市场监督管理局", CO_A,
         "35", "2026-01-05", "2026-03-01", ""],
        ["（2025）鲁1402执9号", "德州市德城区人民法院", PERSON, "张三明", "", "2",
         "2025-01-05", "2025-03-01", "2025-02-01"],
    ])
    assert load(services, path).rejected == 0
    rows = services.graph.read("MATCH (j:Judgment) RETURN j.id AS id, j.status AS status, "
                               "j.domain AS domain, j.amount AS amount ORDER BY id")
    assert [(r["id"], r["status"], r["domain"], r["amount"]) for r in rows] == [
        ("（2025）鲁1402执9号", "EXPIRED", "judicial", 2.0),  # the key as the court wrote it
        ("（2026）鲁1402执1号", "ACTIVE", "judicial", 35.0)]
    assert links(services.graph, "（2026）鲁1402执1号")[0] == sorted(
        [(MARKET, "debtor"), (CO_A, "creditor")])


def test_officials(services: Services, subjects: Path, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "公职人员.csv", [
        "身份证号码", "姓名", "任职单位统一社会信用代码", "职务", "职级", "任职日期", "离任日期"], [
        [OFFICIAL, "赵六", MARKET, "局长", "正科级", "2020-01-01", ""],
        [OFFICIAL, "赵六", TAX, "副局长", "副科级", "2015-01-01", "2019-12-31"],
        [PERSON, "张三明", CO_A, "科员", "", "2020-01-01", ""],  # a company is no agency
        [OFFICIAL, "赵六", make_uscc(prefix="11", org="004187459"), "科员", "", "", ""],
    ])
    summary = load(services, path)
    assert summary.files[0].kind == "officials"
    assert (summary.loaded, summary.rejected) == (2, 2)
    assert [(r.line, r.reason) for r in summary.rejects] == [
        (4, "SERVES_IN must go to an agency (机关)"), (5, "relation to an unknown subject")]
    key = services.privacy.person_key(parse_id_number(OFFICIAL))
    rows = services.graph.read(
        "MATCH (o:NaturalPerson:Official {id: $id})-[r:SERVES_IN]->(a:Agency) "
        "RETURN a.id AS a, r.position AS position, r.rank AS rank, r.start AS start, "
        "r.end AS end, o.name AS name, o.idMasked AS masked ORDER BY start", {"id": key})
    assert [(r["a"], r["position"], r["rank"], str(r["end"])) for r in rows] == [
        (TAX, "副局长", "副科级", "2019-12-31"), (MARKET, "局长", "正科级", "None")]
    assert rows[0]["name"] == "赵六" and rows[0]["masked"] == OFFICIAL[:6] + "********" + \
        OFFICIAL[-4:]
    again = load(services, path)
    assert (again.loaded, again.rejected) == (2, 2)
    count = services.graph.read("MATCH (:Official)-[r:SERVES_IN]->() RETURN count(r) AS n")
    assert count == [{"n": 2}]
    is_official = services.graph.read("MATCH (p:NaturalPerson {id: $id}) "
                                      "RETURN p:Official AS official",
                                      {"id": services.privacy.person_key(parse_id_number(PERSON))})
    assert is_official == [{"official": False}]


def test_an_officials_post_is_kept_as_a_relation_is(services: Services, subjects: Path,
                                                    tmp_path: Path) -> None:
    """An official's post (SERVES_IN) is a tie like a relations row: first delivered without
    a start date and later with its dates it is one post, not an undated one live for ever
    beside the dated one that ended; a later officials file without 离任日期 or 职务 keeps
    them — an ended post was live again, its position gone (found by a held-out review of
    the monthly-load changes, which covered relations but not officials)."""
    headers = ["id_number", "name", "agency_uscc", "position", "start_date", "end_date"]
    undated = write_csv(tmp_path / "officials_1.csv", headers, [
        [OFFICIAL, "李四", MARKET, "科员", "", ""]])
    dated = write_csv(tmp_path / "officials_2.csv", headers, [
        [OFFICIAL, "李四", MARKET, "局长", "2018-01-01", "2024-12-31"]])
    partial = write_csv(tmp_path / "officials_3.csv", ["id_number", "name", "agency_uscc",
                                                       "start_date"], [
        [OFFICIAL, "李四", MARKET, "2018-01-01"], [OFFICIAL, "李四", TAX, "2025-01-01"]])
    for path in (undated, dated, partial):
        assert load(services, path).rejected == 0
    posts = services.graph.read(
        "MATCH ()-[r:SERVES_IN]->(a) RETURN a.id AS agency, r.key AS key, "
        "toString(r.end) AS end, r.position AS position ORDER BY agency, key")
    assert [tuple(post.values()) for post in posts] == [
        (MARKET, "2018-01-01", "2024-12-31", "局长"), (TAX, "2025-01-01", None, None)]


def test_a_relations_row_serves_in_makes_an_official(services: Services,
                                                             subjects: Path,
                                                             tmp_path: Path) -> None:
    """A relations row 任职 (SERVES_IN) is an official's post as an officials row is: the
    person is `:Official` (SPEC §4) and the row's 职务 is the post's `position` — the person
    stayed a plain NaturalPerson and the 职务 was dropped (found by a held-out review of the
    graph model through its own bundle); a later file without 职务 keeps it."""
    first = write_csv(tmp_path / "relations_1.csv", ["关联方标识", "主体标识", "关系类型", "职务",
                                                     "开始日期"], [
        [PERSON, MARKET, "任职", "副局长", "2021-05-01"]])
    later = write_csv(tmp_path / "relations_2.csv", ["from_id", "to_id", "type", "start_date"], [
        [PERSON, MARKET, "SERVES_IN", "2021-05-01"]])
    key = services.privacy.person_key(parse_id_number(PERSON))
    query = ("MATCH (p:NaturalPerson {id: $id})-[r:SERVES_IN]->(a) "
             "RETURN p:Official AS official, a.id AS agency, r.position AS position")
    for path in (first, later):
        assert load(services, path).rejected == 0
        assert services.graph.read(query, {"id": key}) == [
            {"official": True, "agency": MARKET, "position": "副局长"}]


def test_a_later_file_without_the_kinship_keeps_it(services: Services, subjects: Path,
                                                  tmp_path: Path) -> None:
    """亲属关系 is an optional column like 持股比例: a later relations file without it (type
    亲属) erased a FAMILY tie's 父母; a type that is itself the kinship (配偶) still says it."""
    parent = make_id(region="371402", born="19550101", seq="021")
    write_csv(tmp_path / "natural_persons.csv", ["id_number", "name"], [[parent, "张德福"]])
    first = write_csv(tmp_path / "relations_1.csv", ["from_id", "to_id", "type", "kind"], [
        [parent, PERSON, "亲属", "父母"]])
    later = write_csv(tmp_path / "relations_2.csv", ["from_id", "to_id", "type"], [
        [parent, PERSON, "亲属"]])
    for path in (tmp_path / "natural_persons.csv", first, later):
        assert load(services, path).rejected == 0
    kinds = "MATCH ()-[r:FAMILY]->() RETURN r.kind AS kind"
    assert {row["kind"] for row in services.graph.read(kinds)} <= {"父母", "子女"}
    assert len(services.graph.read(kinds)) == 1
    assert load(services, write_csv(tmp_path / "relations_3.csv", ["from_id", "to_id", "type"],
                                    [[parent, PERSON, "配偶"]])).rejected == 0
    assert services.graph.read(kinds) == [{"kind": "配偶"}]


def test_a_licence_file_with_one_of_its_status_columns(services: Services, subjects: Path,
                                                       tmp_path: Path) -> None:
    """A licence's status comes from 当前状态 and 有效期至; a file with one of them decides
    with the stored other: 有效 after 吊销 is ACTIVE by the stored 有效期至 (it stayed REVOKED
    for ever), a renewed 有效期至 without 当前状态 makes an EXPIRED licence ACTIVE (it stayed
    EXPIRED), an 有效 past the stored 有效期至 is EXPIRED, and a source's 吊销 stays REVOKED
    under a new 有效期至 (found by a held-out review of monthly loads)."""
    head = ["decision_no", "subject_name", "subject_id", "decided_on", "authority"]
    rows = [[f"XK-{n}", "德州甲", CO_A, "2020-01-05", "德州市德城区市场监督管理局"]
            for n in range(4)]
    folders = [tmp_path / f"m{n}" for n in range(3)]
    for folder in folders:
        folder.mkdir()
    write_csv(folders[0] / "licenses.csv", [*head, "status", "valid_to"], [
        [*rows[0], "吊销", "2031-01-04"], [*rows[1], "有效", "2025-01-01"],
        [*rows[2], "有效", "2025-01-01"], [*rows[3], "吊销", "2025-01-01"]])
    write_csv(folders[1] / "licenses.csv", [*head, "status"], [
        [*rows[0], "有效"], [*rows[2], "有效"]])
    write_csv(folders[2] / "licenses.csv", [*head, "valid_to"], [
        [*rows[1], "2031-01-01"], [*rows[3], "2031-01-01"]])

    def state() -> list[str]:
        return [row["s"] for row in services.graph.read(
            "MATCH (l:License) RETURN l.status AS s ORDER BY l.id")]

    assert load(services, folders[0]).rejected == 0
    assert state() == ["REVOKED", "EXPIRED", "EXPIRED", "REVOKED"]
    assert load(services, folders[1]).rejected == 0
    assert state() == ["ACTIVE", "EXPIRED", "EXPIRED", "REVOKED"]
    assert load(services, folders[2]).rejected == 0
    assert state() == ["ACTIVE", "ACTIVE", "EXPIRED", "REVOKED"]
    # loaded while in force, then again after its 有效期至 from a file with neither column:
    # EXPIRED by the stored date (the stored ACTIVE was kept)
    early = write_csv(tmp_path / "early.csv", [*head, "status", "valid_to"], [
        ["XK-9", "德州甲", CO_A, "2020-01-05", "德州市德城区市场监督管理局", "有效", "2025-01-01"]])
    (tmp_path / "licenses.csv").write_bytes(early.read_bytes())
    BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                 today=dt.date(2024, 12, 1)).load([tmp_path / "licenses.csv"],
                                                  derive_contacts=False)
    assert state()[-1] == "ACTIVE"
    write_csv(tmp_path / "licenses.csv", head, [["XK-9", *rows[0][1:]]])
    assert load(services, tmp_path / "licenses.csv").rejected == 0
    assert state()[-1] == "EXPIRED"


def test_a_contracts_file_without_its_performance_column(services: Services, subjects: Path,
                                                         tmp_path: Path) -> None:
    """A contracts file without 履约状态 still says what its 政府方违约 and 履约日期 decide: a
    stored 违约 is no default of the counterparty's once 政府方违约 is 是 (it stayed one — a
    false risk signal), and an 已履约 performed on a day not given is performed on the
    履约日期 now given (found by a held-out review of monthly loads)."""
    head = ["contract_no", "agency_uscc", "counterparty_id", "signed_on", "due_on"]
    first, later = tmp_path / "m1", tmp_path / "m2"
    first.mkdir()
    later.mkdir()
    write_csv(first / "contracts.csv", [*head, "status"], [
        ["HT-1", MARKET, CO_A, "2025-01-05", "2025-06-01", "违约"],
        ["HT-2", MARKET, CO_A, "2025-01-05", "2025-06-01", "已履约"]])
    write_csv(later / "contracts.csv", [*head, "gov_default", "fulfilled_on"], [
        ["HT-1", MARKET, CO_A, "2025-01-05", "2025-06-01", "是", ""],
        ["HT-2", MARKET, CO_A, "2025-01-05", "2025-06-01", "", "2025-05-20"]])

    def state() -> list[tuple[bool, bool]]:
        return [(row["d"], row["u"]) for row in services.graph.read(
            "MATCH (c:Contract) RETURN c.subjectDefault AS d, c.fulfilledUndated AS u "
            "ORDER BY c.id")]

    assert load(services, first).rejected == 0
    assert state() == [(True, False), (False, True)]
    assert load(services, later).rejected == 0
    assert state() == [(False, False), (False, False)]
    # 政府方违约 corrected to 否, still without 履约状态: the stored 违约 is the counterparty's
    # default again (the stored 是 was kept — the default lost for good)
    corrected = write_csv(tmp_path / "contracts.csv", [*head, "gov_default"], [
        ["HT-1", MARKET, CO_A, "2025-01-05", "2025-06-01", "否"]])
    assert load(services, corrected).rejected == 0
    assert state() == [(True, False), (False, False)]


def test_two_loads_at_once_tie_an_agency_to_its_superior_once(services: Services,
                                                                subjects: Path) -> None:
    """Two loads of bundles giving an agency's `superior` at the same time made two
    SUBORDINATE_TO edges (found by loading one demo city twice at once: 288 edges for 144
    agencies): each load's NOT EXISTS check missed the other's uncommitted edge. The second
    transaction now waits for the first and finds its edge."""
    import threading

    from credgraph.loaders.writes import SUBORDINATE

    rows = [{"from": MARKET, "to": TAX}]
    first = services.graph.driver.session(database=services.graph.database)
    tx = first.begin_transaction()
    tx.run(SUBORDINATE, rows=rows).consume()  # written, not committed yet
    done = threading.Event()

    def other_load() -> None:
        services.graph.write_batches(SUBORDINATE, rows, 10)
        done.set()

    worker = threading.Thread(target=other_load)
    worker.start()
    done.wait(2)  # before the fix it finished at once; now it waits for the first to commit
    tx.commit()
    first.close()
    worker.join(30)
    assert done.is_set()
    assert services.graph.read("MATCH ()-[r:SUBORDINATE_TO]->() RETURN r.key AS key") == [
        {"key": ""}]
