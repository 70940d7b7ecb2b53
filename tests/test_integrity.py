"""Government integrity (政务诚信, SPEC §8) on hand-built graphs: each pattern at its boundaries,
evidence paths hop by hop, scores and rankings, the procurement pre-check, the demo city."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.model import IntegrityPattern, Severity
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.queries.integrity import (
    Finding,
    ProcurementResult,
    Tracer,
    integrity_report,
    names,
    procurement_check,
    rank_agencies,
    rank_counties,
)
from credgraph.queries.neighbourhood import Edge
from credgraph.rules import Rules
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from credgraph.settings import Settings
from tests.conftest import TEST_SECRET
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_uscc

DAY = dt.timedelta(days=1)


def agency(graph: Graph, aid: str, name: str, region: str = "371481",
           superior: str | None = None) -> None:
    subject(graph, aid, name, "AGENCY", region)
    if superior:
        relate(graph, aid, superior, "SUBORDINATE_TO")


def official(graph: Graph, pid: str, name: str, office: str, position: str,
             start: dt.date | None = None, end: dt.date | None = None) -> None:
    if not graph.read("MATCH (p:Subject {id: $id}) RETURN p.id AS id", {"id": pid}):
        subject(graph, pid, name, "NATURAL_PERSON")
    graph.write("MATCH (p:Subject {id: $id}) SET p:Official", {"id": pid})
    relate(graph, pid, office, "SERVES_IN", position=position, start=start, end=end)


def contract(graph: Graph, office: str, supplier: str, cid: str, signed: dt.date,
             **props: Any) -> None:
    record(graph, office, "Contract", cid, role="agency", signedOn=signed, date=signed,
           domain="contract", **props)
    graph.write("MATCH (x:Subject {id: $x}), (k:Contract {id: $k}) "
                "CREATE (x)-[:HAS_RECORD {role: 'counterparty'}]->(k)",
                {"x": supplier, "k": cid})


def steps(finding: Finding) -> list[tuple[str, str, str]]:
    return [(e.source, e.type, e.target) for e in finding.path]


def by_pattern(found: list[Finding], pattern: str) -> list[Finding]:
    return [f for f in found if f.pattern.value == pattern]


def plain(subjects: dict[str, dict[str, Any]]) -> Any:
    return names(subjects, mask_persons=False)


# -- G1 ----------------------------------------------------------------------------------------
@pytest.fixture()
def debtor_world(graph: Graph) -> Graph:
    """乐陵市住建局 (A1) under 乐陵市人民政府 (CG) under 德州市人民政府 (G), with judgments due
    yesterday, tomorrow, long ago, and fulfilled; officials serving then, and one who left."""
    agency(graph, "G", "德州市人民政府", "371400")
    agency(graph, "CG", "乐陵市人民政府", superior="G")
    agency(graph, "A1", "乐陵市住房和城乡建设局", superior="CG")
    subject(graph, "B", "乐陵市建工有限公司")
    official(graph, "O1", "王建国", "A1", "局长", start=dt.date(2020, 1, 1))
    official(graph, "O2", "李卫东", "A1", "局长", start=dt.date(2010, 1, 1),
             end=dt.date(2019, 12, 31))
    official(graph, "O3", "赵志刚", "CG", "市长", start=dt.date(2021, 3, 1))
    for rid, due, fulfilled, amount in (
            ("J-yesterday", AS_OF - DAY, None, 50.0),
            ("J-tomorrow", AS_OF + DAY, None, 50.0),
            ("J-old", AS_OF - 200 * DAY, None, 20.0),
            ("J-paid", AS_OF - 30 * DAY, AS_OF - 2 * DAY, 500.0),
            ("J-paid-later", AS_OF - 30 * DAY, AS_OF + 5 * DAY, 10.0)):
        record(graph, "A1", "Judgment", rid, role="debtor", dueOn=due, fulfilledOn=fulfilled,
               amount=amount, date=due - 90 * DAY, court="德州市中级人民法院",
               title=f"执行案件 {rid}")
        graph.write("MATCH (b {id: 'B'}), (j:Judgment {id: $j}) "
                    "CREATE (b)-[:HAS_RECORD {role: 'creditor'}]->(j)", {"j": rid})
    return graph


def test_g1_due_yesterday_found_due_tomorrow_not(debtor_world: Graph, rules: Rules) -> None:
    found = Tracer(debtor_world, rules).trace(AS_OF).findings
    g1 = {f.records[0]["id"]: f for f in by_pattern(found, "G1")}
    # due tomorrow: not yet late; paid before the date: done; paid after it: late as of then
    assert sorted(g1) == ["J-old", "J-paid-later", "J-yesterday"]
    assert g1["J-yesterday"].severity.value == "一般"  # 1 day, 50 万元
    assert g1["J-yesterday"].facts["overdueDays"] == 1
    assert g1["J-old"].severity.value == "严重"  # 200 days ≥ 180
    assert g1["J-yesterday"].subject == "B"
    assert g1["J-yesterday"].agency == "A1"


def test_g1_traced_up_with_officials_serving_then(debtor_world: Graph, rules: Rules) -> None:
    traced = Tracer(debtor_world, rules).trace(AS_OF)
    finding = next(f for f in traced.findings if f.records[0]["id"] == "J-yesterday")
    # agency → superiors, hop by hop; then who served in each of them during the default
    assert steps(finding) == [
        ("A1", "SUBORDINATE_TO", "CG"),
        ("CG", "SUBORDINATE_TO", "G"),
        ("O1", "SERVES_IN", "A1"),
        ("O3", "SERVES_IN", "CG"),
    ]
    assert finding.path[2].role == "局长" and finding.path[2].start == dt.date(2020, 1, 1)
    words = finding.summary(plain(traced.subjects))
    assert "乐陵市住房和城乡建设局 作为被执行人" in words
    assert "J-yesterday" in words and "逾期 1 天" in words
    assert "上级机关：乐陵市人民政府、德州市人民政府" in words
    assert "王建国（乐陵市住房和城乡建设局局长）" in words
    assert "李卫东" not in words  # left before the judgment fell due
    masked = finding.summary(names(traced.subjects, mask_persons=True))
    assert "王*国" in masked and "王建国" not in masked
    assert finding.evidence(plain(traced.subjects))[0] == (
        "乐陵市住房和城乡建设局 —隶属→ 乐陵市人民政府")
    # one hop up only, and one official per agency: the most recent to take office
    official(debtor_world, "O4", "周国华", "A1", "副局长", start=dt.date(2023, 1, 1))
    near = rules.with_overrides({"integrity": {"superior_depth": 1, "officials_per_agency": 1}})
    finding = next(f for f in Tracer(debtor_world, near).trace(AS_OF).findings
                   if f.records[0]["id"] == "J-yesterday")
    assert steps(finding) == [("A1", "SUBORDINATE_TO", "CG"), ("O4", "SERVES_IN", "A1"),
                              ("O3", "SERVES_IN", "CG")]



def test_trail_through_a_subordination_cycle_names_no_agency_twice(
        debtor_world: Graph, rules: Rules) -> None:
    """A 隶属 loop in the source data (A1 under CG, CG under A1 as well) is not a superior of
    A1's: the chain stops where it would come back, so A1 is not its own 上级机关."""
    relate(debtor_world, "CG", "A1", "SUBORDINATE_TO")
    traced = Tracer(debtor_world, rules).trace(AS_OF)
    finding = next(f for f in traced.findings if f.records[0]["id"] == "J-yesterday")
    chain = [(e.source, e.target) for e in finding.path if e.type == "SUBORDINATE_TO"]
    assert chain == [("A1", "CG"), ("CG", "G")]
    words = finding.summary(plain(traced.subjects))
    assert "上级机关：乐陵市人民政府、德州市人民政府；" in words

def test_g1_listing_joins_its_judgment(debtor_world: Graph, rules: Rules) -> None:
    record(debtor_world, "A1", "Listing", "MD-1", listType="失信被执行人", caseNo="J-yesterday",
           listedOn=AS_OF - 10 * DAY, date=AS_OF - 10 * DAY)
    record(debtor_world, "A1", "Listing", "MD-2", listType="失信被执行人", caseNo="other",
           listedOn=AS_OF - 10 * DAY, date=AS_OF - 10 * DAY)
    record(debtor_world, "A1", "Listing", "MD-removed", listType="失信被执行人",
           listedOn=AS_OF - 100 * DAY, removedOn=AS_OF - DAY, date=AS_OF - 100 * DAY)
    found = by_pattern(Tracer(debtor_world, rules).trace(AS_OF).findings, "G1")
    by_first = {f.records[0]["id"]: f for f in found}
    assert [r["id"] for r in by_first["J-yesterday"].records] == ["J-yesterday", "MD-1"]
    assert by_first["J-yesterday"].severity.value == "严重"  # listed: 失信政府机构
    assert by_first["MD-2"].severity.value == "严重"
    assert "MD-removed" not in by_first


# -- G2 ----------------------------------------------------------------------------------------
@pytest.fixture()
def default_world(graph: Graph) -> Graph:
    agency(graph, "YC", "禹城市人民政府", "371482")
    subject(graph, "X", "禹城市投资开发有限公司", region="371482")
    signed = dt.date(2024, 1, 10)
    contract(graph, "YC", "X", "K-overdue", signed, dueOn=AS_OF - 10 * DAY, amount=80.0,
             contractKind="招商引资", title="产业园招商引资协议")
    # overdue too, but the source says the agency is not in default (政府方违约 = 否)
    contract(graph, "YC", "X", "K-cleared", signed, dueOn=AS_OF - 10 * DAY, amount=80.0,
             govDefault=False)
    contract(graph, "YC", "X", "K-flagged", signed, amount=20.0, contractKind="政府采购",
             govDefault=True)
    contract(graph, "YC", "X", "K-paid", signed, dueOn=AS_OF - 10 * DAY,
             fulfilledOn=AS_OF - 11 * DAY, amount=20.0)
    contract(graph, "YC", "X", "K-their-fault", signed, dueOn=AS_OF - 300 * DAY,
             subjectDefault=True, amount=20.0)
    contract(graph, "YC", "X", "K-not-due", signed, dueOn=AS_OF, amount=20.0)
    contract(graph, "YC", "X", "K-big", signed, dueOn=AS_OF - DAY, amount=600.0,
             contractKind="政府采购")
    return graph


def test_g2_government_default(default_world: Graph, rules: Rules) -> None:
    traced = Tracer(default_world, rules).trace(AS_OF)
    g2 = {f.records[0]["id"]: f for f in by_pattern(traced.findings, "G2")}
    assert sorted(g2) == ["K-big", "K-flagged", "K-overdue"]
    assert g2["K-overdue"].severity.value == "一般"
    assert g2["K-big"].severity.value == "严重"  # 600 万元 ≥ 100
    assert g2["K-overdue"].subject == "X"
    words = g2["K-overdue"].summary(plain(traced.subjects))
    assert "招商引资承诺不兑现" in words and "逾期 10 天" in words and "K-overdue" in words
    assert "合同记录政府方违约" in g2["K-flagged"].summary(plain(traced.subjects))


def test_g2_as_of_before_the_due_date(default_world: Graph, rules: Rules) -> None:
    earlier = AS_OF - 20 * DAY
    found = by_pattern(Tracer(default_world, rules).trace(earlier).findings, "G2")
    assert [f.records[0]["id"] for f in found] == ["K-flagged"]


# -- G3 ----------------------------------------------------------------------------------------
SIGNED = dt.date(2025, 5, 1)


@pytest.fixture()
def conflict_world(graph: Graph) -> Graph:
    """齐河县财政局 (F) awards contracts; its deputy head O is tied to the winners in each way the
    pattern knows, and in ways it must not count."""
    agency(graph, "F", "齐河县财政局", "371425")
    agency(graph, "F2", "齐河县教育局", "371425")
    official(graph, "O", "王志明", "F", "副局长", start=dt.date(2018, 1, 1))
    subject(graph, "S", "李秀华", "NATURAL_PERSON")
    # stored as the loader stores a symmetric relation: lower key first, here S → O
    relate(graph, "S", "O", "FAMILY", kind="配偶", start=dt.date(2010, 5, 1))
    # the spouse's company: legal representative and 70 % shareholder
    subject(graph, "X", "齐河县华信商贸有限公司", region="371425")
    relate(graph, "S", "X", "LEGAL_REPRESENTATIVE", start=dt.date(2019, 1, 1))
    relate(graph, "S", "X", "SHAREHOLDER", ratio=0.7, start=dt.date(2019, 1, 1))
    contract(graph, "F", "X", "C-spouse", SIGNED, amount=120.0, contractKind="政府采购")
    # O's own holding two hops above the winner Z: O → H1 → H2 → Z
    for cid, name in (("H1", "德州恒远控股有限公司"), ("H2", "德州恒远实业有限公司"),
                      ("Z", "齐河县恒远建设有限公司")):
        subject(graph, cid, name, region="371425")
    relate(graph, "O", "H1", "SHAREHOLDER", ratio=0.6, start=dt.date(2016, 1, 1))
    relate(graph, "H1", "H2", "SHAREHOLDER", ratio=0.8, start=dt.date(2016, 1, 1))
    relate(graph, "H2", "Z", "SHAREHOLDER", ratio=0.5, start=dt.date(2016, 1, 1))
    contract(graph, "F", "Z", "C-owner", SIGNED, amount=300.0, contractKind="招标投标")
    # a brother whose directorship ended before signing; a managership whose last day was the
    # day before it
    subject(graph, "BR", "王志强", "NATURAL_PERSON")
    relate(graph, "O", "BR", "FAMILY", kind="兄弟姐妹")
    subject(graph, "Y", "齐河县志强科技有限公司", region="371425")
    relate(graph, "BR", "Y", "DIRECTOR", role="执行董事", start=dt.date(2015, 1, 1),
           end=dt.date(2024, 1, 1))
    contract(graph, "F", "Y", "C-ended", SIGNED)
    subject(graph, "Y2", "齐河县志强物流有限公司", region="371425")
    relate(graph, "BR", "Y2", "MANAGER", start=dt.date(2015, 1, 1), end=SIGNED - DAY)
    contract(graph, "F", "Y2", "C-brother-manager", SIGNED)
    # the spouse's company winning at another agency, where O does not serve
    contract(graph, "F2", "X", "C-other-agency", SIGNED)
    # after O left: 李明 served in F2 only until before a contract with his own company
    official(graph, "L", "李明", "F2", "科长", start=dt.date(2015, 1, 1),
             end=dt.date(2025, 1, 1))
    subject(graph, "W", "齐河县明远商贸有限公司", region="371425")
    relate(graph, "L", "W", "LEGAL_REPRESENTATIVE", start=dt.date(2012, 1, 1))
    contract(graph, "F2", "W", "C-after-leaving", SIGNED)
    return graph


def test_g3_family_through_a_spouse(conflict_world: Graph, rules: Rules) -> None:
    traced = Tracer(conflict_world, rules).conflicts(AS_OF)
    found = {f.records[0]["id"]: f for f in traced.findings}
    assert sorted(found) == ["C-owner", "C-spouse"]
    spouse = found["C-spouse"]
    assert spouse.pattern.value == "G3" and spouse.severity.value == "严重"
    assert (spouse.agency, spouse.official, spouse.subject) == ("F", "O", "X")
    assert steps(spouse) == [
        ("O", "SERVES_IN", "F"),
        ("O", "FAMILY", "S"),
        ("S", "LEGAL_REPRESENTATIVE", "X"),
        ("S", "SHAREHOLDER", "X"),
    ]
    assert spouse.path[1].kind == "配偶"
    assert spouse.path[3].ratio == 0.7
    assert spouse.date == SIGNED
    words = spouse.summary(plain(traced.subjects))
    assert "副局长 王志明 在 齐河县财政局 任职期间" in words
    assert "王志明 的配偶 李秀华 为 齐河县华信商贸有限公司 的法定代表人" in words
    assert "股东（70%）" in words and "C-spouse" in words


def test_g3_kinship_read_from_the_official(graph: Graph, rules: Rules) -> None:
    """A relation row reads "from is {type} of to", FAMILY too: 王小明 —父母→ 王志明 is 王小明
    the parent of 王志明. Read from the official the step is 王志明 —子女→ 王小明, and the words
    name the relative's kinship to the official: 王志明 的父母 王小明."""
    agency(graph, "F", "齐河县财政局", "371425")
    official(graph, "O", "王志明", "F", "副局长", start=dt.date(2018, 1, 1))
    subject(graph, "K", "王小明", "NATURAL_PERSON")
    relate(graph, "K", "O", "FAMILY", kind="父母")
    subject(graph, "X", "齐河县小明商贸有限公司", region="371425")
    relate(graph, "K", "X", "LEGAL_REPRESENTATIVE", start=dt.date(2019, 1, 1))
    contract(graph, "F", "X", "C-child", SIGNED, amount=50.0, contractKind="政府采购")
    traced = Tracer(graph, rules).conflicts(AS_OF)
    (found,) = traced.findings
    assert steps(found)[1] == ("O", "FAMILY", "K")
    assert found.path[1].kind == "子女"
    assert "王志明 的父母 王小明 为 齐河县小明商贸有限公司 的法定代表人" in found.summary(
        plain(traced.subjects))


def test_g3_ownership_two_hops_up(conflict_world: Graph, rules: Rules) -> None:
    traced = Tracer(conflict_world, rules).conflicts(AS_OF)
    owner = next(f for f in traced.findings if f.records[0]["id"] == "C-owner")
    assert owner.severity.value == "一般"  # tied to an owner of the winner, not the winner
    assert steps(owner) == [
        ("O", "SERVES_IN", "F"),
        ("O", "SHAREHOLDER", "H1"),
        ("H1", "SHAREHOLDER", "H2"),
        ("H2", "SHAREHOLDER", "Z"),
    ]
    assert [e.ratio for e in owner.path[1:]] == [0.6, 0.8, 0.5]
    assert "王志明 本人 为 德州恒远控股有限公司 的股东（60%）" in owner.summary(
        plain(traced.subjects))
    # one ownership hop allowed: the chain of two is out of reach
    short = rules.with_overrides({"integrity": {"ownership_hops": 1}})
    assert [f.records[0]["id"] for f in Tracer(conflict_world, short).conflicts(AS_OF).findings
            ] == ["C-spouse"]


def test_g3_relations_must_be_live_at_signing(conflict_world: Graph, rules: Rules) -> None:
    before = Tracer(conflict_world, rules).conflicts(SIGNED + DAY)
    assert {f.records[0]["id"] for f in before.findings} == {"C-owner", "C-spouse"}
    # the marriage began after the contract: no conflict through it
    conflict_world.write("MATCH ({id: 'O'})-[f:FAMILY]-({id: 'S'}) SET f.start = $d",
                         {"d": SIGNED + DAY})
    assert {f.records[0]["id"] for f in Tracer(conflict_world, rules).conflicts(
        AS_OF).findings} == {"C-owner"}
    # an end date is the relation's last day: the brother's managership ending on the signing
    # day, and the official's office too, still hold on it
    conflict_world.write("MATCH ({id: 'BR'})-[m:MANAGER]->() SET m.end = $d", {"d": SIGNED})
    conflict_world.write("MATCH ({id: 'O'})-[s:SERVES_IN]->() SET s.end = $d", {"d": SIGNED})
    assert {f.records[0]["id"] for f in Tracer(conflict_world, rules).conflicts(
        AS_OF).findings} == {"C-owner", "C-brother-manager"}
    # the official had left the agency the day before signing
    conflict_world.write("MATCH ({id: 'O'})-[s:SERVES_IN]->() SET s.end = $d",
                         {"d": SIGNED - DAY})
    assert Tracer(conflict_world, rules).conflicts(AS_OF).findings == []


def test_g3_filters(conflict_world: Graph, rules: Rules) -> None:
    tracer = Tracer(conflict_world, rules)
    assert len(tracer.conflicts(AS_OF, official="O").findings) == 2
    assert len(tracer.conflicts(AS_OF, agency="F").findings) == 2
    assert tracer.conflicts(AS_OF, agency="F2").findings == []
    assert tracer.conflicts(AS_OF, agency="F2", official="O").findings == []
    assert tracer.conflicts(AS_OF, official="L").findings == []
    # before any contract was signed
    assert tracer.conflicts(SIGNED - DAY).findings == []


# -- G4 ----------------------------------------------------------------------------------------
@pytest.fixture()
def supplier_world(graph: Graph) -> Graph:
    agency(graph, "P", "平原县政府采购中心", "371426")
    for sid in ("R1", "R2", "R3", "R4", "R5", "R6", "R7"):
        subject(graph, sid, f"平原县供应商{sid}有限公司", region="371426")
    signed = dt.date(2025, 6, 1)
    record(graph, "R1", "Listing", "L-gp", listType="政府采购严重违法失信",
           listedOn=dt.date(2025, 1, 1), date=dt.date(2025, 1, 1), authority="德州市财政局")
    record(graph, "R2", "Listing", "L-removed", listType="失信被执行人",
           listedOn=dt.date(2024, 1, 1), removedOn=signed, date=dt.date(2024, 1, 1))
    record(graph, "R3", "Listing", "L-after", listType="严重失信主体",
           listedOn=signed + DAY, date=signed + DAY)
    record(graph, "R4", "Listing", "L-stat", listType="统计严重失信企业",
           listedOn=dt.date(2025, 2, 1), date=dt.date(2025, 2, 1))
    record(graph, "R7", "Listing", "L-abnormal", listType="经营异常名录",
           listedOn=dt.date(2025, 2, 1), date=dt.date(2025, 2, 1))
    escalate(graph, "R5", "E-severe", "SEVERE", since=dt.date(2025, 1, 1),
             confirmedOn=dt.date(2025, 3, 1), measures=["限制政府采购", "限制招标投标"],
             rules=["R3"])
    escalate(graph, "R6", "E-proposed", "SEVERE_PROPOSED", since=dt.date(2025, 5, 1))
    for sid in ("R1", "R2", "R3", "R4", "R5", "R6", "R7"):
        contract(graph, "P", sid, f"K-{sid}", signed, amount=50.0, contractKind="政府采购")
    return graph


def escalate(graph: Graph, sid: str, eid: str, level: str, status: str = "ACTIVE",
             **props: Any) -> None:
    """An escalation as the repeat-offender engine writes it (SPEC §9 Escalation)."""
    graph.write("MATCH (s:Subject {id: $sid}) "
                "CREATE (s)-[:HAS_ESCALATION]->(e:Escalation {id: $eid}) SET e += $props",
                {"sid": sid, "eid": eid, "props": {"level": level, "status": status, **props}})


def test_g4_restricted_supplier(supplier_world: Graph, rules: Rules) -> None:
    traced = Tracer(supplier_world, rules).trace(AS_OF)
    g4 = {str(f.subject): f for f in by_pattern(traced.findings, "G4")}
    # listed and not removed when signed; SEVERE confirmed before signing
    assert sorted(g4) == ["R1", "R4", "R5"]
    assert [r["id"] for r in g4["R1"].records] == ["K-R1", "L-gp"]
    assert g4["R1"].severity.value == "严重"
    assert g4["R4"].severity.value == "一般"  # severe list, not one procurement must check
    assert g4["R5"].severity.value == "严重"
    words = plain(traced.subjects)
    assert ("签订时该供应商在政府采购严重违法失信名单上（L-gp，2025-01-01 列入，"
            "认定部门 德州市财政局）") in g4["R1"].summary(words)
    assert "处于严重失信（SEVERE）惩戒（E-severe，2025-03-01 起" in g4["R5"].summary(words)


def test_g4_escalation_boundaries(supplier_world: Graph, rules: Rules) -> None:
    # confirmed after the signing: not SEVERE then
    supplier_world.write("MATCH (e:Escalation {id: 'E-severe'}) SET e.confirmedOn = $d",
                         {"d": dt.date(2025, 6, 2)})
    found = by_pattern(Tracer(supplier_world, rules).trace(AS_OF).findings, "G4")
    assert "R5" not in {f.subject for f in found}
    # confirmed before, lifted before the signing
    supplier_world.write("MATCH (e:Escalation {id: 'E-severe'}) SET e.confirmedOn = $c, "
                         "e.liftedOn = $l, e.status = 'LIFTED'",
                         {"c": dt.date(2025, 3, 1), "l": dt.date(2025, 5, 1)})
    found = by_pattern(Tracer(supplier_world, rules).trace(AS_OF).findings, "G4")
    assert "R5" not in {f.subject for f in found}
    # lifted only after the signing: it stood then
    supplier_world.write("MATCH (e:Escalation {id: 'E-severe'}) SET e.liftedOn = $l",
                         {"l": dt.date(2025, 7, 1)})
    found = by_pattern(Tracer(supplier_world, rules).trace(AS_OF).findings, "G4")
    assert "R5" in {f.subject for f in found}
    # dates written as date-times count as their day
    supplier_world.write("MATCH (e:Escalation {id: 'E-severe'}) SET e.confirmedOn = "
                         "datetime('2025-06-01T15:00:00'), e.liftedOn = datetime($l)",
                         {"l": "2025-07-01T09:00:00"})
    found = by_pattern(Tracer(supplier_world, rules).trace(AS_OF).findings, "G4")
    assert "R5" in {f.subject for f in found}


def test_g4_trail_names_the_superiors_of_the_signing_day(graph: Graph, rules: Rules) -> None:
    """An award is judged by the day it was made, and so is who answered for it: a 开发区
    moved from its county to the city after the signing is traced up to the county, whose
    county head served that day — not to the city, which had no say in it then."""
    signed = dt.date(2024, 5, 1)
    agency(graph, "G", "德州市人民政府", "371400")
    agency(graph, "QY", "庆云县人民政府", "371423")
    agency(graph, "KFQ", "庆云经济开发区管理委员会", "371423")
    relate(graph, "KFQ", "QY", "SUBORDINATE_TO", start=dt.date(2015, 1, 1),
           end=dt.date(2024, 12, 31))
    relate(graph, "KFQ", "G", "SUBORDINATE_TO", start=dt.date(2025, 1, 1))
    official(graph, "OK", "黄磊", "KFQ", "主任", start=dt.date(2022, 1, 1))
    official(graph, "OQ", "林涛", "QY", "县长", start=dt.date(2020, 1, 1))
    official(graph, "OG", "周敏", "G", "市长", start=dt.date(2024, 1, 1))
    subject(graph, "S", "平原县博远信息技术有限公司", region="371426")
    record(graph, "S", "Listing", "L-S", listType="政府采购严重违法失信",
           listedOn=dt.date(2023, 12, 1), date=dt.date(2023, 12, 1))
    contract(graph, "KFQ", "S", "K-S", signed, amount=60.0, contractKind="政府采购")
    traced = Tracer(graph, rules).trace(dt.date(2025, 6, 30))
    [g4] = by_pattern(traced.findings, "G4")
    assert steps(g4) == [("KFQ", "SUBORDINATE_TO", "QY"), ("OK", "SERVES_IN", "KFQ"),
                         ("OQ", "SERVES_IN", "QY")]
    # the summary names that trail as G1's and G2's do, its officials as those of the signing
    # day: it had said 期间任职 (during a default) and left the superiors out
    assert g4.summary(plain(traced.subjects)).endswith(
        "；上级机关：庆云县人民政府；签订时任职：黄磊（庆云经济开发区管理委员会主任）、"
        "林涛（庆云县人民政府县长）")
    # a default's trail still reads the chain of the report's date (G1, G2): the city's
    record(graph, "KFQ", "Judgment", "J-K", role="debtor", dueOn=dt.date(2025, 3, 1),
           amount=10.0, date=dt.date(2024, 12, 1))
    [g1] = by_pattern(Tracer(graph, rules).trace(dt.date(2025, 6, 30)).findings, "G1")
    assert ("KFQ", "SUBORDINATE_TO", "G") in steps(g1)
    assert ("KFQ", "SUBORDINATE_TO", "QY") not in steps(g1)


# -- G5 ----------------------------------------------------------------------------------------
def test_g5_officials_own_records(graph: Graph, rules: Rules) -> None:
    agency(graph, "Q", "庆云县农业农村局", "371423")
    official(graph, "OL", "张立新", "Q", "科长", start=dt.date(2015, 1, 1))
    official(graph, "OP", "刘海军", "Q", "副科长", start=dt.date(2015, 1, 1))
    official(graph, "OM", "陈小明", "Q", "科员", start=dt.date(2015, 1, 1))
    official(graph, "OX", "孙国庆", "Q", "科长", start=dt.date(2010, 1, 1),
             end=dt.date(2020, 1, 1))
    record(graph, "OL", "Listing", "MD-OL", listType="失信被执行人",
           listedOn=AS_OF - 30 * DAY, date=AS_OF - 30 * DAY)
    record(graph, "OP", "Penalty", "罚-OP", severity="一般", date=AS_OF - 60 * DAY,
           publicityUntil=AS_OF + 300 * DAY, authority="庆云县公安局", title="违规")
    record(graph, "OP", "Penalty", "罚-OP-old", severity="严重", date=dt.date(2020, 1, 1),
           publicityUntil=AS_OF - DAY)  # publicity over
    record(graph, "OM", "Penalty", "罚-OM", severity="轻微", date=AS_OF - 60 * DAY)
    record(graph, "OX", "Listing", "MD-OX", listType="失信被执行人",
           listedOn=AS_OF - 30 * DAY, date=AS_OF - 30 * DAY)  # no longer serving
    traced = Tracer(graph, rules).trace(AS_OF)
    g5 = {str(f.official): f for f in by_pattern(traced.findings, "G5")}
    assert sorted(g5) == ["OL", "OP"]
    assert g5["OL"].severity.value == "严重" and g5["OP"].severity.value == "一般"
    assert [r["id"] for r in g5["OP"].records] == ["罚-OP"]
    assert steps(g5["OL"]) == [("OL", "SERVES_IN", "Q")]
    assert "公职人员 张立新（庆云县农业农村局科长）本人被列入失信被执行人名单（MD-OL" in g5[
        "OL"].summary(plain(traced.subjects))


# -- scores and rankings -----------------------------------------------------------------------
def test_report_scores_and_ranks(debtor_world: Graph, rules: Rules) -> None:
    agency(debtor_world, "CLEAN", "陵城区审计局", "371403")
    report = integrity_report(debtor_world, rules, AS_OF)
    order = [a.agency for a in report.agencies]
    assert order[0] == "A1" and "CLEAN" in order
    worst = report.agencies[0]
    # J-old 严重 30, J-yesterday 一般 15, J-paid-later 一般 15
    assert worst.deductions == 30 + 15 + 15
    assert worst.score == 100 - 60 and worst.rank == 1
    clean = next(a for a in report.agencies if a.agency == "CLEAN")
    assert (clean.score, clean.findings) == (100, [])
    counties = {c.region: c for c in report.counties}
    assert report.counties[0].region == "371481"
    assert counties["371481"].deductions == 60 and counties["371481"].score == 40
    assert counties["371403"].score == 100
    # weights from the rules file
    heavier = rules.with_overrides({"integrity": {"weights": {"G1": {"一般": 40}}}})
    assert integrity_report(debtor_world, heavier, AS_OF).agencies[0].score == 0  # floor


def test_report_filters(debtor_world: Graph, default_world: Graph, rules: Rules) -> None:
    only = integrity_report(debtor_world, rules, AS_OF, agency="A1")
    assert [a.agency for a in only.agencies] == ["A1"]
    region = integrity_report(debtor_world, rules, AS_OF, region="371482")
    assert [a.agency for a in region.agencies] == ["YC"]
    assert {f.pattern.value for f in region.agencies[0].findings} == {"G2"}
    assert integrity_report(debtor_world, rules, AS_OF, region="3716").agencies == []


# -- procurement pre-check ---------------------------------------------------------------------
def check(graph: Graph, rules: Rules, sid: str, as_of: dt.date = AS_OF,
          mask: bool = False) -> ProcurementResult:
    result = procurement_check(graph, rules, [sid], as_of, mask)
    assert result is not None
    return result


def test_procurement_check(supplier_world: Graph, rules: Rules) -> None:
    barred = check(supplier_world, rules, "R1")
    assert not barred.allowed
    assert barred.reasons == [
        "列入政府采购严重违法失信名单（名单编号 L-gp，2025-01-01 列入，"
        "认定部门 德州市财政局）：严重失信名单，限制政府采购"]
    assert [r["id"] for r in barred.records] == ["L-gp"]
    assert check(supplier_world, rules, "R2").allowed  # removed
    assert not check(supplier_world, rules, "R3").allowed  # listed after signing, before now
    severe = check(supplier_world, rules, "R5")
    assert not severe.allowed and "E-severe" in severe.reasons[0]
    assert "联合惩戒措施 限制政府采购、限制招标投标" in severe.reasons[0]
    proposed = check(supplier_world, rules, "R6")
    assert proposed.allowed and proposed.reasons == []
    assert "拟列入严重失信主体名单" in proposed.warnings[0]
    # proposed 2025-05-01: the 30-day notice period long over, waiting for a person's confirmation
    assert "告知异议期已满（2025-05-31 起可确认），待确认" in proposed.warnings[0]
    early = check(supplier_world, rules, "R6", dt.date(2025, 5, 20))
    assert "尚在告知异议期（2025-05-31 起可确认）" in early.warnings[0]
    abnormal = check(supplier_world, rules, "R7")
    assert abnormal.allowed and "经营异常名录" in abnormal.warnings[0]
    # as of a day before R1 was listed
    assert check(supplier_world, rules, "R1", dt.date(2024, 12, 31)).allowed


def test_procurement_measure_and_responsible_persons(supplier_world: Graph, rules: Rules) -> None:
    escalate(supplier_world, "R2", "E-focus", "FOCUS", since=dt.date(2025, 1, 1),
             measures=["限制政府采购"])
    result = check(supplier_world, rules, "R2")
    assert not result.allowed
    assert result.reasons[0].startswith("联合惩戒措施 限制政府采购：处于重点关注（FOCUS）惩戒")
    subject(supplier_world, "PR", "赵大海", "NATURAL_PERSON")
    relate(supplier_world, "PR", "R6", "LEGAL_REPRESENTATIVE", start=dt.date(2020, 1, 1))
    record(supplier_world, "PR", "Listing", "L-PR", listType="失信被执行人",
           listedOn=dt.date(2025, 1, 1), date=dt.date(2025, 1, 1))
    masked = check(supplier_world, rules, "R6", mask=True)
    assert masked.allowed
    assert any(w.startswith("法定代表人 赵*海 本人列入失信被执行人名单（名单编号 L-PR")
               for w in masked.warnings)
    assert not any("赵大海" in w for w in masked.warnings)
    # a lifted FOCUS no longer bars
    supplier_world.write("MATCH (e:Escalation {id: 'E-focus'}) SET e.status = 'LIFTED', "
                         "e.liftedOn = $d", {"d": AS_OF})
    assert check(supplier_world, rules, "R2").allowed


def test_severe_proposed_may_bar_by_rule(supplier_world: Graph, rules: Rules) -> None:
    strict = rules.with_overrides({"integrity": {"barring_levels": ["SEVERE_PROPOSED",
                                                                    "SEVERE"]}})
    assert not check(supplier_world, strict, "R6").allowed


# -- the demo city -----------------------------------------------------------------------------
DEMO_AS_OF = dt.date(2026, 11, 28)


def test_demo_city_planted_cases(services: Services, tmp_path: Path) -> None:
    generate(tmp_path, subjects=1000, seed=3, as_of=DEMO_AS_OF)
    BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                 today=DEMO_AS_OF).load([tmp_path])
    truth = json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
    cases = {case["pattern"]: case for case in truth["cases"]}

    def key(number: str) -> str:
        return services.privacy.person_key(parse_id_number(number))

    report = integrity_report(services.graph, services.rules, DEMO_AS_OF)
    found = [f for a in report.agencies for f in a.findings]

    def matching(pattern: str, **where: str) -> list[Finding]:
        return [f for f in found if f.pattern.value == pattern
                and all(getattr(f, k) == v for k, v in where.items())]

    g1 = cases["G1_agency_debtor"]
    [debtor] = matching("G1", agency=g1["agency"])
    assert g1["superior"] in {e.target for e in debtor.path if e.type == "SUBORDINATE_TO"}
    g2 = cases["G2_government_default"]
    [default] = matching("G2", agency=g2["agency"], subject=g2["counterparty"])
    assert "招商引资承诺不兑现" in default.summary(names(report.subjects, True))
    g3 = cases["G3_conflict_of_interest"]
    [conflict] = matching("G3", agency=g3["agency"], official=key(g3["official"]))
    assert conflict.subject == g3["company"] and conflict.records[0]["id"] == g3["contract"]
    assert [e.type for e in conflict.path][:3] == ["SERVES_IN", "FAMILY", "LEGAL_REPRESENTATIVE"]
    g4 = cases["G4_restricted_supplier"]
    [restricted] = [f for f in matching("G4", subject=g4["supplier"])
                    if f.records[0]["id"] == g4["contract"]]
    assert restricted.severity.value == "严重"
    g5 = cases["G5_official_records"]
    assert matching("G5", official=key(g5["official"]))
    ended = cases["G3_ended_before_signing"]
    assert not [f for f in found if f.records[0]["id"] == ended["contract"]]
    clean = cases["G_clean_agency"]
    [score] = [a for a in report.agencies if a.agency == clean["agency"]]
    assert (score.score, score.findings) == (100, [])
    assert not check(services.graph, services.rules, g4["supplier"], DEMO_AS_OF).allowed
    assert check(services.graph, services.rules, clean["supplier"], DEMO_AS_OF).allowed


# -- the command line --------------------------------------------------------------------------
@pytest.fixture()
def cli_env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    return {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
            "NEO4J_DATABASE": settings.neo4j_database, "CREDGRAPH_SECRET": TEST_SECRET,
            "CREDGRAPH_HOME": str(tmp_path / "home")}


def test_cli_report(debtor_world: Graph, cli_env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "report"
    done = CliRunner().invoke(main, ["integrity", "report", "--as-of", AS_OF.isoformat(),
                                     "--out", str(out)], env=cli_env)
    assert done.exit_code == 0, done.output
    assert "3 agencies, 1 with findings, 3 findings as of 2026-06-30" in done.output
    data = json.loads((out / "integrity.json").read_text(encoding="utf-8"))
    assert data["agencies"][0]["agency"] == {"id": "A1", "name": "乐陵市住房和城乡建设局"}
    assert data["agencies"][0]["counts"] == {"G1": 3}
    page = (out / "integrity.html").read_text(encoding="utf-8")
    assert "乐陵市住房和城乡建设局 —隶属→ 乐陵市人民政府" in page
    assert "王*国" in page and "王建国" not in page  # masked unless --names
    assert "王建国" not in (out / "integrity.json").read_text(encoding="utf-8")
    named = CliRunner().invoke(main, ["integrity", "report", "--as-of", AS_OF.isoformat(),
                                      "--out", str(out), "--names", "--json"], env=cli_env)
    assert named.exit_code == 0 and "王建国" in named.output
    logged = debtor_world.read("MATCH (e:AuditEvent {operation: 'integrityReport'}) "
                               "RETURN e.role AS role, e.subjects AS subjects ORDER BY e.at")
    shown = [sid for sid, name in (("O1", "王建国"), ("O2", "李卫东"), ("O3", "赵志刚"))
             if name in named.output]
    assert shown == ["O1", "O3"]  # the head of A1, and of CG above it
    # as the API's event: the agencies listed and the legal persons the findings name (the
    # creditor B), then with --names the persons shown in full
    organisations = {"A1", "CG", "G", "B"}
    assert [(e["role"], set(e["subjects"])) for e in logged] == [
        ("admin", organisations), ("admin", organisations | set(shown))]
    wrong = CliRunner().invoke(main, ["integrity", "report", "--region", "abc"], env=cli_env)
    assert wrong.exit_code == 2 and "2- or 4-digit prefix" in wrong.output
    unknown = CliRunner().invoke(main, ["integrity", "report", "--region", "999999"],
                                 env=cli_env)
    assert unknown.exit_code == 2 and "unknown region 999999" in unknown.output


def test_cli_check(supplier_world: Graph, cli_env: dict[str, str]) -> None:
    # the hand-built ids are no USCCs: give them real ones
    good, bad = make_uscc("91", "371426", "MA3C00R01"), make_uscc("91", "371426", "MA3C00R02")
    supplier_world.write("MATCH (a {id: 'R2'}), (b {id: 'R1'}) SET a.id = $good, b.id = $bad",
                         {"good": good, "bad": bad})
    barred = CliRunner().invoke(main, ["integrity", "check", bad, "--as-of",
                                       AS_OF.isoformat()], env=cli_env)
    assert barred.exit_code == 1 and "BARRED" in barred.output and "L-gp" in barred.output
    allowed = CliRunner().invoke(main, ["integrity", "check", good, "--json"], env=cli_env)
    assert allowed.exit_code == 0 and json.loads(allowed.output)["allowed"] is True
    unknown = CliRunner().invoke(main, ["integrity", "check", make_uscc()], env=cli_env)
    assert unknown.exit_code == 2 and "no subject" in unknown.output
    logged = supplier_world.read("MATCH (e:AuditEvent {operation: 'procurementCheck'}) "
                                 "RETURN e.role AS role, e.subjects AS subjects ORDER BY e.at")
    assert [(e["role"], e["subjects"]) for e in logged] == [("admin", [bad]), ("admin", [good])]


def test_a_back_dated_trail_does_not_tell_a_later_end() -> None:
    """A report dated 2024-06-30 said 王志明 served 2023-06-01 起，至 2025-06-30 — an end that had
    not come on that date (found by the held-out review of 政务诚信 timing)."""
    post = Edge("O", "A", "SERVES_IN", None, "局长", None, dt.date(2023, 6, 1),
                dt.date(2025, 6, 30))
    then = Finding(IntegrityPattern.G1, Severity.GENERAL, "A", [], [post],
                   facts={"asOf": "2024-06-30"})
    later = Finding(IntegrityPattern.G1, Severity.GENERAL, "A", [], [post],
                    facts={"asOf": "2025-06-30"})
    assert then.evidence(str) == ["O —任职（局长，2023-06-01 起）→ A"]
    assert later.evidence(str) == ["O —任职（局长，2023-06-01 起，至 2025-06-30）→ A"]


def test_counties_tied_on_score_rank_by_severe_findings_first() -> None:
    """庆云县 (two G5 一般, 5 + 5) and 临邑县 (one G5 严重, 10) both scored 90; the county
    ranking put 庆云县 first for its two findings, while docs/rules.md ranks counties as agencies
    (lowest score, then most 严重, then most findings) and the agency ranking beside it put 临邑县's
    government first (found by the held-out review of 政务诚信)."""
    def g5(agency: str, severity: Severity, weight: int, rid: str) -> Finding:
        return Finding(IntegrityPattern.G5, severity, agency, [{"id": rid}], weight=weight)

    found = [g5("QY", Severity.GENERAL, 5, "P1"), g5("QY", Severity.GENERAL, 5, "P2"),
             g5("LY", Severity.SEVERE, 10, "L1")]
    scores = rank_agencies(["QY", "LY"], found, 100)
    assert [(a.agency, a.score, a.rank) for a in scores] == [("LY", 90, 1), ("QY", 90, 2)]
    subjects = {"QY": {"region": "371423"}, "LY": {"region": "371424"}}
    counties = rank_counties(scores, subjects, 100)
    assert [(c.region, c.score, c.rank) for c in counties] == [("371424", 90, 1),
                                                               ("371423", 90, 2)]


def test_g3_list_puts_the_worst_first(conflict_world: Graph, rules: Rules) -> None:
    """conflictsOfInterest is a list of its own, not a report by agency: a 一般 finding of an
    agency whose code sorts first came before the 严重 one of another (a held-out review)."""
    graph = conflict_world
    agency(graph, "E", "齐河县农业农村局", "371425")
    official(graph, "O3", "赵志刚", "E", "科长", start=dt.date(2018, 1, 1))
    subject(graph, "H3", "德州志刚控股有限公司", region="371425")
    subject(graph, "Z3", "齐河县志刚建设有限公司", region="371425")
    relate(graph, "O3", "H3", "SHAREHOLDER", ratio=0.6, start=dt.date(2016, 1, 1))
    relate(graph, "H3", "Z3", "SHAREHOLDER", ratio=0.5, start=dt.date(2016, 1, 1))
    contract(graph, "E", "Z3", "C-e-owner", SIGNED)
    found = Tracer(graph, rules).conflicts(AS_OF).findings
    assert [(f.records[0]["id"], f.severity.value) for f in found][:1] == [("C-spouse", "严重")]
    assert [f.severity.value for f in found] == ["严重", "一般", "一般"]
    assert [f.agency for f in found if f.severity.value == "一般"] == ["E", "F"]
