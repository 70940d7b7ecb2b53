"""分级分类 and the 双随机 inspection plan on hand-built graphs (SPEC §8)."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from credgraph.graph.driver import Graph
from credgraph.queries.grading import Grader, credit_grades, draw, inspection_plan
from credgraph.rules import Rules, RulesError
from tests.graphs import AS_OF, record, subject


def days(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def penalty(graph: Graph, sid: str, pid: str, date: dt.date, severity: str = "一般",
            **props: object) -> None:
    record(graph, sid, "Penalty", pid, date=date, severity=severity, domain="tax",
           publicityUntil=props.pop("publicityUntil", date + dt.timedelta(days=365)), **props)


def escalate(graph: Graph, sid: str, level: str, status: str = "ACTIVE") -> None:
    graph.write("MATCH (s:Subject {id: $sid}) CREATE (s)-[:HAS_ESCALATION]->"
                "(:Escalation {id: 'ESC-' + $sid, subject: $sid, level: $level, status: $status})",
                {"sid": sid, "level": level, "status": status})


def test_grade_formula_worked_example(graph: Graph, rules: Rules) -> None:
    """docs/rules.md: one 严重 and two 一般 penalties in force and a FOCUS escalation:
    100 − 15 − 2 × 5 − 10 = 65 → C (the FOCUS cap, B, does not bind)."""
    subject(graph, "A", "甲公司")
    penalty(graph, "A", "A1", days(30), severity="严重")
    penalty(graph, "A", "A2", days(60))
    penalty(graph, "A", "A3", days(90))
    penalty(graph, "A", "A4", days(900), publicityUntil=days(500))  # publicity over
    penalty(graph, "A", "A5", days(40), status="REPAIRED", repairedOn=days(10))
    escalate(graph, "A", "FOCUS")
    grade = credit_grades(graph, rules, ["A", "nobody"], AS_OF)
    assert list(grade) == ["A"]
    assert (grade["A"].grade, grade["A"].score, grade["A"].inspection_ratio,
            grade["A"].capped_by) == ("C", 65, 0.6, None)
    assert sorted(grade["A"].deductions) == [
        ("PENALTY A1", 15), ("PENALTY A2", 5), ("PENALTY A3", 5), ("escalation FOCUS", 10)]
    # before the repair took effect, A5 still counted
    assert credit_grades(graph, rules, ["A"], days(20))["A"].score == 60


@pytest.mark.parametrize(("level", "grade", "score"), [
    (None, "A", 95), ("FOCUS", "B", 85), ("SEVERE_PROPOSED", "C", 75), ("SEVERE", "D", 55)])
def test_escalation_caps(graph: Graph, rules: Rules, level: str | None, grade: str,
                         score: int) -> None:
    subject(graph, "A", "甲公司")
    penalty(graph, "A", "A1", days(30))
    if level:
        escalate(graph, "A", level)
    found = credit_grades(graph, rules, ["A"], AS_OF)["A"]
    assert (found.grade, found.score) == (grade, score)
    assert found.inspection_ratio == rules.grade.inspection_ratio[grade]


def test_lifted_escalation_and_severe_listing(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    escalate(graph, "A", "SEVERE", status="LIFTED")
    record(graph, "A", "Listing", "LA", date=days(30), listType="失信被执行人")
    found = credit_grades(graph, rules.with_overrides(
        {"grade": {"deductions": {"listing_severe": 0}}}), ["A"], AS_OF)["A"]
    assert (found.grade, found.score, found.capped_by) == ("C", 100, "severe listing LA")
    assert credit_grades(graph, rules, ["A"], AS_OF)["A"].grade == "C"  # 70


def test_grader_minor_penalty_and_floor(rules: Rules) -> None:
    grader = Grader(rules)
    minor = {"role": "subject", "record": {"id": "M", "kind": "PENALTY", "severity": "轻微",
                                           "status": "ACTIVE", "date": days(5)}}
    assert grader.grade([minor], None, AS_OF).score == 99
    many = [{"role": "subject", "record": {"id": f"S{i}", "kind": "PENALTY",
                                           "severity": "严重", "status": "ACTIVE",
                                           "date": days(5)}} for i in range(10)]
    assert (grader.grade(many, None, AS_OF).score, grader.grade(many, None, AS_OF).grade) == (
        0, "D")


def test_a_last_band_above_0_is_refused_at_start(rules: Rules) -> None:
    """bands = [[90, A], [75, B], [60, C], [40, D]] was taken, and every subject scoring under
    40 (a SEVERE company with a few penalties) then had no grade: `creditGrade`, `sharedCheck`,
    the credit report and the whole inspection plan failed with StopIteration. The last band
    takes every score below the one before it; a minimum there is refused, naming the key."""
    with pytest.raises(RulesError, match=r"\[grade\] .*last band \(D\).*minimum must be 0"):
        rules.with_overrides({"grade": {"bands": [[90, "A"], [75, "B"], [60, "C"], [40, "D"]]}})
    below = rules.with_overrides({"grade": {"bands": [[90, "A"], [75, "B"], [60, "C"],
                                                      [-10, "D"]]}})
    many = [{"role": "subject", "record": {"id": f"S{i}", "kind": "PENALTY",
                                           "severity": "严重", "status": "ACTIVE",
                                           "date": days(5)}} for i in range(10)]
    assert Grader(below).grade(many, "SEVERE", AS_OF).grade == "D"

# -- 双随机 ---------------------------------------------------------------------------------------
@pytest.fixture()
def region(graph: Graph) -> Graph:
    """德城区: D1, D2 (SEVERE), C1–C4 (SEVERE_PROPOSED), B1–B4 (FOCUS), A01–A30 (clean), an
    agency and a deregistered company; 陵城区: five clean companies."""
    for index in range(1, 3):
        subject(graph, f"D{index}", f"D{index}公司")
        escalate(graph, f"D{index}", "SEVERE")
    for index in range(1, 5):
        subject(graph, f"C{index}", f"C{index}公司")
        escalate(graph, f"C{index}", "SEVERE_PROPOSED")
        subject(graph, f"B{index}", f"B{index}公司")
        escalate(graph, f"B{index}", "FOCUS")
    for index in range(1, 31):
        subject(graph, f"A{index:02}", f"A{index}公司")
    for index in range(1, 6):
        subject(graph, f"L{index}", f"L{index}公司", region="371403")
    subject(graph, "GOV", "德城区市场监督管理局", "AGENCY")
    subject(graph, "GONE", "注销公司")
    graph.write("MATCH (s {id: 'GONE'}) SET s.status = '注销'")
    escalate(graph, "GONE", "SEVERE")
    escalate(graph, "GOV", "SEVERE")
    return graph


def test_plan_draws_d_first_within_quotas(region: Graph, rules: Rules) -> None:
    drawn = inspection_plan(region, rules, "371402", 8, 7, AS_OF)
    ids = [d.subject for d in drawn]
    assert len(ids) == 8 and len(set(ids)) == 8
    assert set(ids[:2]) == {"D1", "D2"}
    assert not {"GOV", "GONE"} & set(ids) and not any(i.startswith("L") for i in ids)
    counts = Counter(d.grade.grade for d in drawn)
    # quotas: C ⌈0.6 × 4⌉ = 3, B ⌈0.2 × 4⌉ = 1, A ⌈0.05 × 30⌉ = 2 — exactly 8 with D's 2
    assert counts == {"D": 2, "C": 3, "B": 1, "A": 2}
    assert [d.subject for d in inspection_plan(region, rules, "371402", 8, 7, AS_OF)] == ids


def test_plan_is_reproducible_and_seeded(region: Graph, rules: Rules) -> None:
    plans = {seed: [d.subject for d in inspection_plan(region, rules, "3714", 12, seed, AS_OF)]
             for seed in (1, 2, 3)}
    assert len({tuple(p) for p in plans.values()}) > 1
    assert [d.subject for d in inspection_plan(region, rules, "3714", 12, 2, AS_OF)] == plans[2]
    assert all(len(p) == 12 for p in plans.values())
    # past every quota, the rest by key: a plan as large as the population takes everyone
    everyone = inspection_plan(region, rules, None, 1000, 1, AS_OF)
    assert len(everyone) == 2 + 4 + 4 + 30 + 5


def test_plan_as_of_leaves_out_companies_not_yet_founded(region: Graph, rules: Rules) -> None:
    """A plan as of a date draws from the companies that existed then: one founded after it
    (成立日期 later than asOf) is not inspected on that day; one with no 成立日期 is."""
    region.write("MATCH (s {id: 'A01'}) SET s.established = $later",
                 {"later": AS_OF + dt.timedelta(days=1)})
    region.write("MATCH (s {id: 'A02'}) SET s.established = $day", {"day": AS_OF})
    before = {d.subject for d in inspection_plan(region, rules, "371402", 1000, 1, AS_OF)}
    assert "A01" not in before and {"A02", "A03"} <= before
    after = {d.subject for d in inspection_plan(region, rules, "371402", 1000, 1,
                                                AS_OF + dt.timedelta(days=1))}
    assert after == before | {"A01"}


def test_draw_with_small_size_takes_only_d(rules: Rules) -> None:
    grader = Grader(rules)
    grades = {f"A{i}": grader.grade([], None, AS_OF) for i in range(10)}
    grades.update({f"D{i}": grader.grade([], "SEVERE", AS_OF) for i in range(3)})
    first = draw(rules, grades, 2, 99)
    assert len(first) == 2 and all(sid.startswith("D") for sid in first)
    assert draw(rules, grades, 2, 99) == first


def test_a_grade_is_a_short_code(rules: Rules) -> None:
    """A grade's name goes to partner cities (sharedCheck), which take only a short code —
    free text there (a name) is refused as no grade. The same holds for ours, at start."""
    from credgraph.rules import GRADE_NAME

    bands = {"bands": [[90, "A"], [75, "B"], [60, "C"], [0, "良好 信用"]]}
    with pytest.raises(RulesError, match=r"a grade is a short code .*not '良好 信用'"):
        rules.with_overrides({"grade": bands})
    assert all(GRADE_NAME.fullmatch(g) for g in ("A", "B+", "AAA", "A级", "3类", "C-", "优",
                                                 "良等"))
    assert not any(GRADE_NAME.fullmatch(g) for g in ("张三明", "良好", "A 级", "ABCDEFG", ""))
