"""Monitoring (失信风险预警): each rule on hand-built graphs, deduplication across runs, the case
workflow, the JSON-lines export, the lock and interrupted runs."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.graph.locks import LockHeld, RunLock
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.queries import alerts, monitoring
from credgraph.queries.alerts import CITY, AlertError, update_alert
from credgraph.queries.monitoring import (
    IntegrityFinding,
    Interrupted,
    MonitorError,
    MonitorRun,
    RunResult,
    check_jsonl,
)
from credgraph.queries.neighbourhood import Edge
from credgraph.rules import Rules
from credgraph.services import Services
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import raw_id_numbers

LATER = AS_OF + dt.timedelta(days=7)
LOCK_OWNER = "MATCH (l:RunLock {id: 'monitoring'}) RETURN l.owner AS owner"


def run(graph: Graph, rules: Rules, as_of: dt.date = AS_OF, **options: Any) -> RunResult:
    return MonitorRun(graph, rules, as_of, **options).run(options.pop("jsonl", None))


def stored(graph: Graph, rule: str | None = None) -> list[dict[str, Any]]:
    return graph.read("MATCH (a:Alert)-[:CONCERNS]->(s) WHERE $rule IS NULL OR a.rule = $rule "
                      "RETURN a.rule AS rule, s.id AS subject, a.key AS key, "
                      "a.severity AS severity, a.summary AS summary, a.status AS status, "
                      "a.evidence AS evidence, a.records AS records, a.id AS id, "
                      "a.firstSeen AS firstSeen, a.lastSeen AS lastSeen ORDER BY a.key",
                      {"rule": rule})


def escalation(graph: Graph, sid: str, level: str, since: dt.date, status: str = "ACTIVE",
               triggers: tuple[str, ...] = ()) -> None:
    graph.write("MATCH (s:Subject {id: $sid}) "
                "MERGE (s)-[:HAS_ESCALATION]->(e:Escalation {id: 'E-' + $sid}) "
                "SET e.subject = $sid, e.level = $level, e.status = $status, e.since = $since, "
                "e.rules = ['R1'] "
                "WITH e UNWIND $triggers AS t MATCH (r:Penalty {id: t}) "
                "MERGE (e)-[:TRIGGERED_BY]->(r)",
                {"sid": sid, "level": level, "status": status, "since": since,
                 "triggers": list(triggers)})


# -- ESCALATION ----------------------------------------------------------------------------------
def test_new_and_raised_escalations(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲食品有限公司")
    subject(graph, "T", "德州乙商贸有限公司")
    record(graph, "S", "Penalty", "P1", severity="一般", date=AS_OF - dt.timedelta(days=40))
    escalation(graph, "S", "FOCUS", AS_OF - dt.timedelta(days=10), triggers=("P1",))
    escalation(graph, "T", "FOCUS", AS_OF - dt.timedelta(days=10), status="LIFTED")
    escalation(graph, "T", "FOCUS", LATER + dt.timedelta(days=1))  # escalated after the date

    first = run(graph, rules)
    assert first.counts() == {"new": 1, "updated": 0, "total": 1}
    [alert] = stored(graph, "ESCALATION")
    assert (alert["subject"], alert["severity"]) == ("S", "一般")
    assert "重点关注" in alert["summary"] and "德州甲食品有限公司" in alert["summary"]
    assert [r["id"] for r in json.loads(alert["records"])] == ["P1"]

    assert run(graph, rules).counts() == {"new": 0, "updated": 1, "total": 1}
    # the same level with one more trigger: the alert shows the records as of its last run,
    # as the run's JSONL line does (it kept those of its first sighting beside today's asOf)
    record(graph, "S", "Penalty", "P2", severity="一般", date=AS_OF - dt.timedelta(days=5))
    escalation(graph, "S", "FOCUS", AS_OF - dt.timedelta(days=10), triggers=("P1", "P2"))
    assert run(graph, rules, LATER).counts() == {"new": 0, "updated": 1, "total": 1}
    [alert] = stored(graph, "ESCALATION")
    assert sorted(r["id"] for r in json.loads(alert["records"])) == ["P1", "P2"]

    escalation(graph, "S", "SEVERE_PROPOSED", AS_OF, triggers=("P1",))
    raised = run(graph, rules)
    assert raised.counts() == {"new": 1, "updated": 0, "total": 2}
    assert {a["severity"] for a in stored(graph, "ESCALATION")} == {"一般", "严重"}

    escalation(graph, "S", "FOCUS", AS_OF)  # lowered: what it is at was alerted before
    assert run(graph, rules).counts() == {"new": 0, "updated": 1, "total": 2}


def test_a_propagated_escalation_names_the_severe_company_and_the_tie(graph: Graph,
                                                                     rules: Rules) -> None:
    """A 联合惩戒对象's FOCUS (PROPAGATION) has no triggering records of its own: its alert says
    whose SEVERE put the person there and shows the tie as evidence (it said only
    '依据规则 PROPAGATION', with no evidence and no records)."""
    subject(graph, "C", "德州丙化工有限公司")
    subject(graph, "P", "王志明", kind="NATURAL_PERSON")
    relate(graph, "P", "C", "LEGAL_REPRESENTATIVE", start=AS_OF - dt.timedelta(days=900))
    escalation(graph, "C", "SEVERE", AS_OF - dt.timedelta(days=3))
    graph.write("MATCH (s:Subject {id: 'P'}) "
                "MERGE (s)-[:HAS_ESCALATION]->(e:Escalation {id: 'E-P'}) "
                "SET e.subject = 'P', e.level = 'FOCUS', e.status = 'ACTIVE', e.since = $since, "
                "e.rules = ['PROPAGATION'], e.propagatedFrom = ['C']",
                {"since": AS_OF - dt.timedelta(days=3)})
    only = rules.with_overrides({"monitoring": {"enabled": ["ESCALATION"]}})
    assert run(graph, only).counts() == {"new": 2, "updated": 0, "total": 2}
    alert = next(a for a in stored(graph, "ESCALATION") if a["subject"] == "P")
    assert "王*明" in alert["summary"]
    assert "严重失信主体 德州丙化工有限公司 的法定代表人" in alert["summary"]
    assert json.loads(alert["evidence"]) == [
        {"source": "P", "target": "C", "type": "LEGAL_REPRESENTATIVE", "ratio": None,
         "role": None, "kind": None,
         "start": (AS_OF - dt.timedelta(days=900)).isoformat(), "end": None}]
    company = next(a for a in stored(graph, "ESCALATION") if a["subject"] == "C")
    assert json.loads(company["evidence"]) == [] and "联合惩戒" not in company["summary"]
    assert run(graph, only).counts() == {"new": 0, "updated": 2, "total": 2}


# -- NEAR_RECORD ---------------------------------------------------------------------------------
@pytest.fixture()
def neighbourhood(graph: Graph) -> Graph:
    """W (watched) ← N (60 % shareholder) ← M (N's shareholder, 2 hops) ← X (3 hops); P is
    N's legal representative (2 hops); E is reachable only by an ended relation; H is a hub
    next to W with a listed company K behind it."""
    for sid, name in [("W", "德州甲公司"), ("N", "德州乙公司"), ("M", "德州丙公司"),
                      ("X", "德州丁公司"), ("E", "德州戊公司"), ("K", "德州己公司")]:
        subject(graph, sid, name)
    subject(graph, "P", "张三明", "NATURAL_PERSON")
    subject(graph, "H", "赵登记", "NATURAL_PERSON")
    relate(graph, "N", "W", "SHAREHOLDER", ratio=0.6)
    relate(graph, "P", "N", "LEGAL_REPRESENTATIVE")
    relate(graph, "M", "N", "SHAREHOLDER", ratio=0.3)
    relate(graph, "X", "M", "SHAREHOLDER", ratio=0.5)
    relate(graph, "E", "W", "SHAREHOLDER", ratio=0.3, start=dt.date(2019, 1, 1),
           end=dt.date(2025, 1, 1))
    relate(graph, "H", "W", "SUPERVISOR")
    relate(graph, "H", "K", "SUPERVISOR")
    for index in range(6):
        subject(graph, f"HC{index}", f"德州代理客户{index}公司")
        relate(graph, "H", f"HC{index}", "SUPERVISOR")
    days = lambda n: AS_OF - dt.timedelta(days=n)  # noqa: E731
    record(graph, "N", "Listing", "L-old", listType="经营异常名录", severity="一般", date=days(400))
    record(graph, "P", "Listing", "L-p", listType="失信被执行人", severity="严重", date=days(10))
    record(graph, "M", "Penalty", "PM-severe", severity="严重", date=days(5),
           publicityUntil=dt.date(2029, 1, 1), title="超标排放大气污染物")
    record(graph, "M", "Penalty", "PM-general", severity="一般", date=days(5))
    record(graph, "M", "Listing", "L-removed", listType="失信被执行人", date=days(20),
           removedOn=days(2))
    record(graph, "X", "Listing", "L-x", listType="失信被执行人", date=days(3))
    record(graph, "E", "Listing", "L-e", listType="严重失信主体", date=days(3))
    record(graph, "K", "Listing", "L-k", listType="严重失信主体", date=days(3))
    alerts.watch(graph, CITY, ["W"], "test")
    return graph


HUB_CAP = {"risk": {"degree_cap": 6}}
NEAR_ONLY = {**HUB_CAP, "monitoring": {"enabled": ["NEAR_RECORD"]}}


def test_near_records_of_a_watched_subject(neighbourhood: Graph, rules: Rules) -> None:
    graph = neighbourhood
    capped = rules.with_overrides(NEAR_ONLY)
    assert run(graph, capped).counts() == {"new": 2, "updated": 0, "total": 2}
    found = {a["key"]: a for a in stored(graph, "NEAR_RECORD")}
    # the old listing is known at the first look; the general penalty, the removed listing,
    # 3 hops out, behind an ended relation and behind a hub: not raised
    assert sorted(found) == ["L-p", "PM-severe"]
    severe = found["PM-severe"]
    assert severe["subject"] == "W" and severe["severity"] == "严重"
    assert [(s["source"], s["target"], s["type"], s["ratio"])
            for s in json.loads(severe["evidence"])] == [
        ("N", "W", "SHAREHOLDER", 0.6), ("M", "N", "SHAREHOLDER", 0.3)]
    assert [r["id"] for r in json.loads(severe["records"])] == ["PM-severe"]
    assert severe["summary"] == ("关注对象 德州甲公司 的关联方 德州丙公司（2 跳，经股东、股东）"
                                 "新增行政处罚「超标排放大气污染物」PM-severe（2026-06-25）")
    assert "张*明" in found["L-p"]["summary"] and "张三明" not in found["L-p"]["summary"]

    # a listing loaded late (dated months back) appears next to W: new since the last run
    record(graph, "N", "Listing", "L-late", listType="失信被执行人", severity="严重",
           date=AS_OF - dt.timedelta(days=120))
    assert run(graph, capped, LATER).counts() == {"new": 1, "updated": 2, "total": 3}
    assert sorted(a["key"] for a in stored(graph, "NEAR_RECORD")) == [
        "L-late", "L-p", "PM-severe"]

    # a new relation brings a listing within reach: new near W
    relate(graph, "X", "W", "SHAREHOLDER", ratio=0.1)
    assert run(graph, capped, LATER).counts() == {"new": 1, "updated": 3, "total": 4}
    # with the default hub cap the supervisor is crossed and K's listing is reached too
    hits = monitoring.Evaluator(graph, rules, LATER).evaluate().hits
    assert "L-k" in {h.key for h in hits} and "L-e" not in {h.key for h in hits}


class _HopOrder:
    """The graph, returning each node's relations (the HOP rows) in the order given — as two
    stores of one graph (`load` and `load --bulk`) return them in different orders."""

    def __init__(self, graph: Graph, reverse: bool) -> None:
        self.graph, self.reverse = graph, reverse

    def read_rows(self, query: str, params: Any = None) -> list[Any]:
        rows = list(self.graph.read_rows(query, params))
        if query == monitoring.HOP:
            rows.sort(key=lambda r: (r["node"], r["step"]["type"], r["neighbour"]),
                      reverse=self.reverse)
        return rows

    def __getattr__(self, name: str) -> Any:
        return getattr(self.graph, name)


def test_near_path_is_the_strongest_whatever_the_store_order(graph: Graph, rules: Rules) -> None:
    """Found by a held-out review loading one bundle with `load` and with `load --bulk`: the
    NEAR_RECORD alert on a watched company whose legal representative is also its 30 %
    shareholder said 经股东 from one store and 经法定代表人 from the other (the first relation
    the store returned won, and at two hops the first parent in a set's order). The path is
    now the strongest of the shortest (法定代表人 0.9 over a 30 % shareholding 0.7; at two hops
    through the 60 % shareholder, not the 10 % one), as riskAssessment shows it."""
    for sid, name in [("W", "德州甲公司"), ("N1", "德州乙公司"), ("N2", "德州丙公司")]:
        subject(graph, sid, name)
    subject(graph, "P", "张三明", "NATURAL_PERSON")
    subject(graph, "M", "李四明", "NATURAL_PERSON")
    relate(graph, "P", "W", "LEGAL_REPRESENTATIVE")
    relate(graph, "P", "W", "SHAREHOLDER", ratio=0.3)
    relate(graph, "N1", "W", "SHAREHOLDER", ratio=0.6)
    relate(graph, "N2", "W", "SHAREHOLDER", ratio=0.1)
    relate(graph, "M", "N1", "LEGAL_REPRESENTATIVE")
    relate(graph, "M", "N2", "LEGAL_REPRESENTATIVE")
    for reverse in (False, True):
        evaluator = monitoring.Evaluator(graph, rules, AS_OF)
        evaluator.graph = _HopOrder(evaluator.graph, reverse)  # type: ignore[assignment]
        paths = evaluator.reach(["W"])["W"]
        assert [(s["source"], s["type"]) for s in paths["P"]] == [
            ("P", "LEGAL_REPRESENTATIVE")], reverse
        assert [(s["source"], s["target"], s["type"]) for s in paths["M"]] == [
            ("N1", "W", "SHAREHOLDER"), ("M", "N1", "LEGAL_REPRESENTATIVE")], reverse


def test_a_path_through_a_relative_says_which_relative(graph: Graph, rules: Rules) -> None:
    """An alert's evidence keeps the kinship and dates of its steps, as every other path does:
    a NEAR_RECORD from a watched person through his spouse to her shop (and a G3 through an
    official's spouse) showed a 亲属 step with `kind: null` — whose relative was lost (found by
    a held-out review with a 滨州 persons bundle)."""
    from credgraph.api.monitoring import _steps

    subject(graph, "W", "王海涛", kind="NATURAL_PERSON")
    subject(graph, "F", "刘芳", kind="NATURAL_PERSON")
    subject(graph, "S", "滨州市沾化区海产品加工店", kind="INDIVIDUAL_BUSINESS")
    relate(graph, "F", "W", "FAMILY", kind="配偶", start=dt.date(2010, 5, 1))
    relate(graph, "F", "S", "LEGAL_REPRESENTATIVE", start=dt.date(2016, 1, 1))
    record(graph, "S", "Penalty", "PS-severe", severity="严重", domain="environment",
           date=AS_OF - dt.timedelta(days=3), title="超标排放")
    alerts.watch(graph, CITY, ["W"], "test")
    only = rules.with_overrides({"monitoring": {"enabled": ["NEAR_RECORD"]}})
    assert run(graph, only).counts()["new"] == 1
    [alert] = stored(graph, "NEAR_RECORD")
    steps = json.loads(alert["evidence"])
    assert [(s["type"], s["kind"], s["start"]) for s in steps] == [
        ("FAMILY", "配偶", "2010-05-01"), ("LEGAL_REPRESENTATIVE", None, "2016-01-01")]
    # and the API shows them as a path step does
    shown = _steps({"evidence": alert["evidence"]})
    assert (shown[0].kind, shown[0].start, shown[1].end) == ("配偶", dt.date(2010, 5, 1), None)


# -- RISK_RISE -----------------------------------------------------------------------------------
def test_risk_rise_since_the_last_run(graph: Graph, rules: Rules) -> None:
    subject(graph, "W", "德州甲公司")
    subject(graph, "N", "德州乙公司")
    relate(graph, "N", "W", "SHAREHOLDER", ratio=0.6)
    alerts.watch(graph, CITY, ["W"], "test")
    assert run(graph, rules).counts()["new"] == 0  # the first run notes the score
    assert graph.read("MATCH (s:WatchState {id: 'W'}) RETURN s.score AS score") == [
        {"score": 0}]
    record(graph, "N", "Listing", "L-1", listType="失信被执行人", date=AS_OF)
    result = run(graph, rules)
    assert result.by_rule["RISK_RISE"] == 1
    [alert] = stored(graph, "RISK_RISE")
    # 0.9 (SHAREHOLDER ≥ 50 %) × 0.8 (失信被执行人) = 72 points
    assert alert["key"].startswith("0->72|") and alert["severity"] == "一般"
    assert "由 0 升至 72" in alert["summary"] and "德州乙公司" in alert["summary"]
    assert [s["source"] for s in json.loads(alert["evidence"])] == ["N"]
    assert [r["id"] for r in json.loads(alert["records"])] == ["L-1"]
    assert run(graph, rules).by_rule["RISK_RISE"] == 0  # no further rise


def test_a_later_rise_by_the_same_numbers_is_a_new_alert(graph: Graph, rules: Rules) -> None:
    """The fingerprint of a rise was its numbers alone: a score rising 0->72, falling back to
    0 (the listing removed) and rising 0->72 again refreshed the first alert — DISMISSED, it
    stayed so, and the run counted the new rise `updated`, not new (found by a held-out review
    of monitoring)."""
    subject(graph, "W", "德州甲公司")
    subject(graph, "N", "德州乙公司")
    relate(graph, "N", "W", "SHAREHOLDER", ratio=0.6)
    alerts.watch(graph, CITY, ["W"], "test")
    run(graph, rules)
    record(graph, "N", "Listing", "L-1", listType="失信被执行人", date=AS_OF)
    assert run(graph, rules).counts()["new"] == 2  # NEAR_RECORD and RISK_RISE 0->72
    [first] = stored(graph, "RISK_RISE")
    update_alert(graph, first["id"], "王科长", "investigator", alerts.DISMISSED, None, "已处理")
    graph.write("MATCH (r:Listing {id: 'L-1'}) SET r.removedOn = $day",
                {"day": AS_OF - dt.timedelta(days=1)})
    assert run(graph, rules).counts()["new"] == 0  # back to 0: a fall is no alert
    record(graph, "N", "Listing", "L-2", listType="失信被执行人", date=AS_OF)
    result = run(graph, rules)
    assert result.by_rule["RISK_RISE"] == 1 and result.counts()["new"] == 2
    rises = stored(graph, "RISK_RISE")
    assert len(rises) == 2 and all(r["key"].startswith("0->72|") for r in rises)
    assert sorted(r["status"] for r in rises) == ["DISMISSED", "OPEN"]
    assert run(graph, rules).by_rule["RISK_RISE"] == 0  # and no further rise


def test_a_backdated_run_leaves_the_later_state(graph: Graph, rules: Rules) -> None:
    """A run dated before the last one saved its own score and known records over the later
    ones: the next run raised a listing known at the first look as new, and a 'rise' that was
    only the clock going back and forth."""
    subject(graph, "W", "德州甲公司")
    subject(graph, "N", "德州乙公司")
    relate(graph, "N", "W", "SHAREHOLDER", ratio=0.6)
    record(graph, "N", "Listing", "L-old", listType="失信被执行人",
           date=AS_OF - dt.timedelta(days=400))
    alerts.watch(graph, CITY, ["W"], "test")
    state = "MATCH (s:WatchState {id: 'W'}) RETURN s.score AS score, s.baseline AS baseline, " \
            "s.asOf AS asOf"
    assert run(graph, rules).counts()["new"] == 0  # older than the look-back: known
    [noted] = graph.read(state)
    assert noted["baseline"] == ["L-old"] and noted["score"] >= rules.monitoring.risk_rise
    assert run(graph, rules, AS_OF - dt.timedelta(days=500)).counts()["new"] == 0
    assert graph.read(state) == [noted]
    assert run(graph, rules).counts()["new"] == 0


def test_risk_rise_threshold_is_a_rule(graph: Graph, rules: Rules) -> None:
    subject(graph, "W", "德州甲公司")
    subject(graph, "N", "德州乙公司")
    relate(graph, "N", "W", "SHAREHOLDER", ratio=0.6)
    alerts.watch(graph, CITY, ["W"], "test")
    strict = rules.with_overrides({"monitoring": {"risk_rise": 80}})
    run(graph, strict)
    record(graph, "N", "Listing", "L-1", listType="失信被执行人", date=AS_OF)
    assert run(graph, strict).by_rule["RISK_RISE"] == 0


# -- SEVERE_RECORD -------------------------------------------------------------------------------
def test_new_records_of_a_severe_subject(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    since = AS_OF - dt.timedelta(days=60)
    record(graph, "S", "Penalty", "P-before", severity="严重", date=since - dt.timedelta(days=1))
    record(graph, "S", "License", "LIC-after", date=since + dt.timedelta(days=10),
           title="食品经营许可证")
    record(graph, "S", "Penalty", "P-repaired", date=since + dt.timedelta(days=3),
           status="REPAIRED")
    record(graph, "S", "Commitment", "C-after", date=since + dt.timedelta(days=10))
    record(graph, "S", "Penalty", "P-future", date=AS_OF + dt.timedelta(days=3))
    escalation(graph, "S", "SEVERE", since)
    run(graph, rules.with_overrides({"monitoring": {"enabled": ["SEVERE_RECORD"]}}))
    [alert] = stored(graph)
    assert (alert["key"], alert["severity"]) == ("LIC-after", "严重")
    assert alert["summary"].startswith("严重失信主体 德州甲公司 新增行政许可「食品经营许可证」")


# -- INTEGRITY (the seam) ------------------------------------------------------------------------
def test_integrity_findings_become_alerts(graph: Graph, rules: Rules,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    subject(graph, "A", "德州市某局", "AGENCY")
    subject(graph, "O", "王五", "NATURAL_PERSON")
    relate(graph, "O", "A", "SERVES_IN")
    finding = IntegrityFinding("A", "G5", "严重", "公职人员有失信记录",
                               [Edge("O", "A", "SERVES_IN", None, None, None, None, None)],
                               [{"id": "L-1", "kind": "LISTING", "date": AS_OF}])
    monkeypatch.setattr(monitoring, "integrity_findings", lambda *_: [finding])
    assert run(graph, rules).counts() == {"new": 1, "updated": 0, "total": 1}
    assert run(graph, rules).counts() == {"new": 0, "updated": 1, "total": 1}
    [alert] = stored(graph, "INTEGRITY")
    assert alert["summary"] == "政务诚信 G5：公职人员有失信记录"
    assert json.loads(alert["records"])[0]["date"] == AS_OF.isoformat()


def test_integrity_findings_from_the_tracer(graph: Graph, rules: Rules) -> None:
    """The seam reads the real G1–G5 patterns: an official's own listing (G5) is raised on
    the agency, with the official's name masked in the summary."""
    subject(graph, "Q", "庆云县农业农村局", "AGENCY", "371423")
    subject(graph, "OL", "张立新", "NATURAL_PERSON")
    graph.write("MATCH (p:Subject {id: 'OL'}) SET p:Official")
    relate(graph, "OL", "Q", "SERVES_IN", position="科长", start=dt.date(2015, 1, 1))
    record(graph, "OL", "Listing", "MD-OL", listType="失信被执行人",
           listedOn=AS_OF - dt.timedelta(days=30), date=AS_OF - dt.timedelta(days=30))
    [finding] = monitoring.integrity_findings(graph, rules, AS_OF)
    assert (finding.subject, finding.pattern, finding.severity) == ("Q", "G5", "严重")
    assert [r["id"] for r in finding.records] == ["MD-OL"]
    assert "张*新" in finding.summary and "张立新" not in finding.summary
    assert run(graph, rules).counts()["new"] >= 1
    [alert] = stored(graph, "INTEGRITY")
    assert alert["subject"] == "Q"


def _agency_owing_a_judgment(graph: Graph) -> None:
    """G1: agency A, whose 局长 O1 has served since 2020, owes company B a judgment due 40 days
    before AS_OF."""
    subject(graph, "A", "乐陵市住房和城乡建设局", "AGENCY", "371481")
    subject(graph, "B", "乐陵市建工有限公司", region="371481")
    subject(graph, "O1", "王建国", "NATURAL_PERSON")
    relate(graph, "O1", "A", "SERVES_IN", position="局长", start=dt.date(2020, 1, 1))
    record(graph, "A", "Judgment", "J-1", role="debtor", dueOn=AS_OF - dt.timedelta(days=40),
           amount=50.0, date=AS_OF - dt.timedelta(days=130), title="执行案件 J-1")
    graph.write("MATCH (b {id: 'B'}), (j:Judgment {id: 'J-1'}) "
                "CREATE (b)-[:HAS_RECORD {role: 'creditor'}]->(j)")


def test_an_appointment_on_the_trail_does_not_raise_a_finding_again(graph: Graph,
                                                                     rules: Rules) -> None:
    """G1's path is its accountability trail: an official appointed to the agency while its
    judgment stays unpaid refreshes the alert (evidence grows), it is not a new finding."""
    _agency_owing_a_judgment(graph)
    graph.write("MATCH (a:Subject {id: 'A'}) SET a.status = '存续'")
    assert run(graph, rules).counts() == {"new": 1, "updated": 0, "total": 1}
    subject(graph, "O2", "李卫东", "NATURAL_PERSON")
    relate(graph, "O2", "A", "SERVES_IN", position="副局长", start=AS_OF - dt.timedelta(days=1))
    assert run(graph, rules).counts() == {"new": 0, "updated": 1, "total": 1}
    [alert] = stored(graph, "INTEGRITY")
    assert {step["source"] for step in json.loads(alert["evidence"])} == {"O1", "O2"}


def test_an_alert_keyed_by_its_trail_before_schema_9_is_refreshed_not_raised_again(
        graph: Graph, rules: Rules) -> None:
    """Before schema 9 a G1 alert's key held its trail's subjects (the agency, its officials):
    an upgraded store's first run raised every G1, G2 and G4 finding again, as a new OPEN
    alert beside the old one its investigator had dismissed (found by a held-out review
    upgrading a deployment of 2026-11-29: three INTEGRITY alerts twice). Migration 9 gives the
    old alert its finding's fingerprint of today; the run refreshes it, status kept."""
    from credgraph.graph.migrations import migrate
    from credgraph.graph.model import AlertRule

    _agency_owing_a_judgment(graph)
    assert run(graph, rules).counts()["new"] == 1
    [alert] = stored(graph, "INTEGRITY")
    assert alert["key"] == "G1|J-1"
    old_key = "G1|J-1|A|O1"  # as the monitoring of schema 8 keyed it
    graph.write("MATCH (a:Alert {id: $id}) SET a.key = $key, a.fingerprint = $fp, "
                "a.status = 'DISMISSED'",
                {"id": alert["id"], "key": old_key,
                 "fp": monitoring.fingerprint(AlertRule.INTEGRITY, "A", old_key)})
    graph.write("MATCH (v:SchemaVersion) SET v.applied = [x IN v.applied WHERE x <> 9]")
    assert [m.version for m in migrate(graph)] == [9]
    assert run(graph, rules).counts() == {"new": 0, "updated": 1, "total": 1}
    [after] = stored(graph, "INTEGRITY")
    assert (after["id"], after["key"], after["status"]) == (alert["id"], "G1|J-1", "DISMISSED")
    assert migrate(graph) == []


# -- deduplication and the case workflow ---------------------------------------------------------
def test_dismissed_alert_stays_dismissed_new_evidence_is_new(neighbourhood: Graph,
                                                             rules: Rules) -> None:
    graph = neighbourhood
    near = rules.with_overrides(NEAR_ONLY)
    run(graph, near)
    before = {a["key"]: a for a in stored(graph, "NEAR_RECORD")}
    target = before["L-p"]
    update_alert(graph, target["id"], "王科长", "investigator", alerts.DISMISSED,
                 None, "已核实，与本案无关")
    again = run(graph, near, LATER)
    assert again.new == 0
    after = {a["key"]: a for a in stored(graph, "NEAR_RECORD")}
    assert after["L-p"]["status"] == "DISMISSED"
    assert after["L-p"]["firstSeen"] == target["firstSeen"]
    assert after["L-p"]["lastSeen"] > target["lastSeen"]
    record(graph, "P", "Listing", "L-p2", listType="失信被执行人", date=LATER)
    assert run(graph, near, LATER).new == 1
    assert {a["key"]: a["status"] for a in stored(graph, "NEAR_RECORD")}["L-p2"] == "OPEN"
    assert graph.read("MATCH (a:Alert) WITH a.fingerprint AS f, count(*) AS n "
                      "WHERE n > 1 RETURN f") == []


def test_workflow_transitions_and_history(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲公司")
    escalation(graph, "S", "FOCUS", AS_OF)
    run(graph, rules)
    [alert] = stored(graph)
    aid = alert["id"]
    at = dt.datetime(2026, 7, 1, 9, 0, tzinfo=dt.UTC)
    row = update_alert(graph, aid, "王科长", "investigator", alerts.ACKNOWLEDGED, "李四", None,
                       at)
    assert (row["status"], row["assignee"]) == ("ACKNOWLEDGED", "李四")
    for same_status, same_assignee in [(alerts.ACKNOWLEDGED, None), (None, "李四"),
                                       (alerts.ACKNOWLEDGED, " 李四 ")]:
        with pytest.raises(AlertError) as refused:  # nothing to change: no history entry
            update_alert(graph, aid, "王科长", "investigator", same_status, same_assignee, None)
        assert str(refused.value).startswith("nothing to change: the alert is already "
                                             "ACKNOWLEDGED")
    row = update_alert(graph, aid, "王科长", "investigator", alerts.ACKNOWLEDGED, None,
                       "已电话核实")  # the status it has, with a comment: a comment
    assert row["comments"] == ["已电话核实"]
    row = update_alert(graph, aid, "监测岗", "monitor", alerts.DISMISSED, "", None)
    assert (row["status"], row["assignee"]) == ("DISMISSED", None)
    with pytest.raises(AlertError) as refused:
        update_alert(graph, aid, "王科长", "investigator", alerts.DISMISSED, "", None)
    assert str(refused.value) == ("nothing to change: the alert is already DISMISSED and "
                                  "unassigned; give another status or assignee, or a comment")
    with pytest.raises(AlertError, match="give a comment"):
        update_alert(graph, aid, "王科长", "investigator", alerts.OPEN, None, None)
    with pytest.raises(AlertError, match="allowed: CONFIRMED, OPEN"):
        update_alert(graph, aid, "王科长", "investigator", alerts.ACKNOWLEDGED, None, "再看")
    with pytest.raises(AlertError, match="nothing to update"):
        update_alert(graph, aid, "王科长", "investigator", None, None, None)
    with pytest.raises(AlertError, match="empty"):
        update_alert(graph, aid, "王科长", "investigator", None, None, "  ")
    with pytest.raises(alerts.AlertNotFound):
        update_alert(graph, "AL-nope", "王科长", "investigator", alerts.OPEN, None, None)
    row = update_alert(graph, aid, "王科长", "investigator", alerts.OPEN, None,
                       "新线索：370102199001011237 有关联")
    assert row["status"] == "OPEN"
    assert not raw_id_numbers(json.dumps(row["comments"] + row["history"]))
    events = alerts.history(row)
    assert [(e["action"], e["status"], e.get("previousStatus")) for e in events] == [
        ("created", "OPEN", None), ("updated", "ACKNOWLEDGED", "OPEN"),
        ("updated", "ACKNOWLEDGED", "ACKNOWLEDGED"), ("updated", "DISMISSED", "ACKNOWLEDGED"),
        ("updated", "OPEN", "DISMISSED")]
    assert events[1]["actor"] == "王科长" and events[1]["at"] == at.isoformat()
    assert events[3]["role"] == "monitor" and events[3]["assignee"] == ""
    assert events[4]["comment"].startswith("新线索：370102********1237")


# -- JSON lines ----------------------------------------------------------------------------------
def test_jsonl_export_has_stable_fields_and_no_raw_id(neighbourhood: Graph, rules: Rules,
                                                       tmp_path: Path) -> None:
    graph = neighbourhood
    graph.write("MATCH (p:Subject {id: 'P'}) SET p.id = $key, p.idMasked = $masked",
                {"key": "P" + "B" * 24, "masked": "371402********1234"})
    out = tmp_path / "alerts.jsonl"
    capped = rules.with_overrides(HUB_CAP)
    result = MonitorRun(graph, capped, AS_OF).run(out)
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == result.new == 2
    first = json.loads(lines[0])
    assert set(first) == {"id", "fingerprint", "rule", "severity", "status", "new", "subject",
                          "summary", "evidence", "records", "firstSeen", "lastSeen", "asOf"}
    assert set(first["subject"]) == {"id", "kind", "name", "region"}
    assert first["new"] is True and first["status"] == "OPEN"
    text = out.read_text(encoding="utf-8")
    assert not raw_id_numbers(text) and "张三明" not in text
    assert "P" + "B" * 24 in text  # persons by their opaque key
    MonitorRun(graph, capped, AS_OF).run(out)
    assert all(json.loads(line)["new"] is False for line in out.read_text().splitlines())


def test_unwritable_jsonl_is_refused_before_any_work(graph: Graph, rules: Rules,
                                                     tmp_path: Path) -> None:
    for path, reason in [(tmp_path / "missing" / "a.jsonl", "does not exist"),
                         (tmp_path, "is a folder")]:
        with pytest.raises(MonitorError, match=reason):
            MonitorRun(graph, rules, AS_OF).run(path)
    if os.geteuid() != 0:
        locked = tmp_path / "ro"
        locked.mkdir()
        locked.chmod(0o500)
        with pytest.raises(MonitorError, match="cannot write"):
            check_jsonl(locked / "a.jsonl")
    assert graph.read("MATCH (n:MonitorRun) RETURN count(n) AS n") == [{"n": 0}]


# -- the lock and stopping -----------------------------------------------------------------------
def test_a_held_lock_refuses_a_second_run(graph: Graph, rules: Rules) -> None:
    holder = RunLock(graph, "monitoring", "MR-other", 600)
    holder.acquire()  # this very process: alive
    with pytest.raises(LockHeld, match="another monitoring run holds the lock"):
        MonitorRun(graph, rules, AS_OF).run()
    assert graph.read("MATCH (n:MonitorRun) RETURN count(n) AS n") == [{"n": 0}]
    holder.release()
    assert MonitorRun(graph, rules, AS_OF).run().total == 0


def test_an_expired_or_orphaned_lock_is_taken_over(graph: Graph, rules: Rules) -> None:
    """A lock whose run never released it is taken over, and that run is not shown RUNNING for
    ever: expired (a run killed elsewhere), or held by a process of this machine that is gone;
    a run that completed but could not release its lock (Neo4j gone) stays COMPLETED."""
    here = RunLock(graph, "monitoring", "x", 1).host
    for run_id, status, host, pid, expiry, after in (
            ("MR-gone", "RUNNING", "elsewhere", 1, "- duration('PT1M')", "CRASHED"),
            ("MR-done", "COMPLETED", "elsewhere", 1, "- duration('PT1M')", "COMPLETED"),
            ("MR-dead", "RUNNING", here, 2 ** 22 + 12345, "+ duration('PT1H')", "CRASHED")):
        graph.write("MERGE (l:RunLock {id: 'monitoring'}) SET l.owner = $run, l.host = $host, "
                    f"l.pid = $pid, l.since = datetime(), l.expiresAt = datetime() {expiry}",
                    {"run": run_id, "host": host, "pid": pid})
        graph.write("CREATE (:MonitorRun {id: $run, status: $status})",
                    {"run": run_id, "status": status})
        MonitorRun(graph, rules, AS_OF).run()
        assert graph.read("MATCH (r:MonitorRun {id: $run}) RETURN r.status AS s",
                          {"run": run_id}) == [{"s": after}], run_id
    assert graph.read(LOCK_OWNER) == [{"owner": None}]


def test_a_stop_request_aborts_cleanly(neighbourhood: Graph, rules: Rules) -> None:
    graph = neighbourhood
    with pytest.raises(Interrupted):
        MonitorRun(graph, rules, AS_OF, stop=lambda: True).run()
    assert stored(graph) == []
    assert graph.read("MATCH (r:MonitorRun) RETURN r.status AS s") == [{"s": "ABORTED"}]
    assert graph.read(LOCK_OWNER) == [{"owner": None}]
    assert run(graph, rules.with_overrides(HUB_CAP)).new == 2


# -- watchlists ----------------------------------------------------------------------------------
def test_watchlists(graph: Graph, rules: Rules) -> None:
    subject(graph, "W", "德州甲公司")
    subject(graph, "V", "德州乙公司")
    graph.write("CREATE (:ApiKey {id: 'abcdef0123456789', name: 'k', role: 'monitor', "
                "revoked: false})")
    mine = alerts.Watcher("abcdef012345")
    assert alerts.watch(graph, mine, ["W", "nobody"], "k") == ["W"]
    assert alerts.watch(graph, CITY, ["W", "V"], "admin") == ["W", "V"]
    assert [r["id"] for r in alerts.watchlist(graph, mine)] == ["W"]
    assert [r["id"] for r in alerts.watchlist(graph, CITY)] == ["V", "W"]
    run(graph, rules)
    assert graph.read("MATCH (s:WatchState) RETURN s.id AS id ORDER BY id") == [
        {"id": "V"}, {"id": "W"}]
    assert alerts.unwatch(graph, CITY, ["W", "V"]) == ["W", "V"]
    # W is still on the key's list: its state stays; V's goes
    assert graph.read("MATCH (s:WatchState) RETURN s.id AS id") == [{"id": "W"}]
    assert alerts.unwatch(graph, CITY, ["W"]) == []
    graph.write("MATCH (k:ApiKey) SET k.revoked = true")
    assert alerts.watchlist(graph, mine) == []
    assert monitoring.Evaluator(graph, rules, AS_OF).evaluate().states == []
    # a revoked key's list watches nothing: not counted in the metrics, and a later watch of
    # W by another list starts afresh, as after an unwatch — no score or known records left
    # from the revoked key's watch (a rise against them, a record "new" though long known)
    assert monitoring.run_stats(graph)["watched"] == 0
    graph.write("MATCH (s:WatchState {id: 'W'}) SET s.score = 3, s.baseline = []")
    assert alerts.watch(graph, CITY, ["W"], "admin") == ["W"]
    assert graph.read("MATCH (s:WatchState) RETURN s.id AS id") == []
    assert monitoring.run_stats(graph)["watched"] == 1
    run(graph, rules)
    assert alerts.watch(graph, CITY, ["W"], "admin") == ["W"]  # already watched: state kept
    assert graph.read("MATCH (s:WatchState) RETURN s.id AS id") == [{"id": "W"}]


# -- the demo city's monitoring case -------------------------------------------------------------
def test_demo_update_raises_the_planted_alerts(services: Services, tmp_path: Path) -> None:
    day = dt.date(2026, 11, 28)
    generate(tmp_path, subjects=1000, seed=3, as_of=day)
    case = next(c for c in json.loads((tmp_path / "truth.json").read_text(encoding="utf-8"))
                ["cases"] if c["pattern"] == "monitoring_watch")
    loader = BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                          today=day)
    loader.load([tmp_path])
    alerts.watch(services.graph, CITY, [case["watch"]], "test")
    # the watched subject's rules only (the city's integrity findings raise their own alerts)
    watching = services.rules.with_overrides(
        {"monitoring": {"enabled": ["RISK_RISE", "NEAR_RECORD"]}})
    assert run(services.graph, watching, day).new == 0
    assert loader.load([tmp_path / case["update"]]).loaded == 1
    result = run(services.graph, watching, day)
    assert {(a["rule"], a["subject"]["id"], a["records"][0]["id"]) for a in result.alerts} == {
        ("NEAR_RECORD", case["watch"], case["listing"]),
        ("RISK_RISE", case["watch"], case["listing"])}
    assert "由 0 升至 72" in next(a["summary"] for a in result.alerts if a["rule"] == "RISK_RISE")
