"""屡罚不改 on hand-built graphs: every rule and its boundaries, propagation, idempotency,
lifting, interruption and confirmation (SPEC §8)."""

from __future__ import annotations

import datetime as dt
import json
import threading
from typing import Any

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.locks import LockHeld, RunLock
from credgraph.graph.model import EscalationLevel
from credgraph.graph.server import LocalNeo4j
from credgraph.queries.escalation import (
    EscalationRefused,
    RunResult,
    StateOn,
    apply,
    confirm_escalation,
    escalation_on,
    escalations_of,
    history_events,
    list_escalations,
    plan,
    run_escalation,
    state_on,
    stored_escalations,
    wanted_escalations,
)
from credgraph.queries.grading import credit_grades
from credgraph.queries.neighbourhood import as_date
from credgraph.rules import Rules
from credgraph.settings import Settings
from tests.conftest import TEST_SECRET
from tests.graphs import AS_OF, escalation_levels, record, relate, subject

WINDOW_START = dt.date(2024, 6, 30)  # AS_OF (2026-06-30) − 24 months


def days(n: int) -> dt.date:
    return AS_OF - dt.timedelta(days=n)


def penalty(graph: Graph, sid: str, pid: str, date: dt.date, severity: str = "一般",
            domain: str = "food_drug", **props: Any) -> None:
    record(graph, sid, "Penalty", pid, date=date, severity=severity, domain=domain,
           publicityUntil=date + dt.timedelta(days=365), **props)


def levels(graph: Graph, rules: Rules, as_of: dt.date = AS_OF) -> dict[str, tuple[str, list[str]]]:
    """What the rules want, without writing: subject → (level, rules)."""
    return {sid: (w.level.value, sorted(w.rules))
            for sid, w in wanted_escalations(graph, rules, as_of).items()}


def run(graph: Graph, rules: Rules, as_of: dt.date = AS_OF) -> dict[str, int]:
    result = run_escalation(graph, rules, as_of, "test").as_dict()
    del result["asOf"]
    return result


def node(graph: Graph, sid: str) -> dict[str, Any]:
    return escalations_of(graph, [sid])[sid]


def actions(row: dict[str, Any]) -> list[str]:
    return [json.loads(e)["action"] for e in row["history"]]


# -- R1 / R2 and what counts --------------------------------------------------------------------
def test_r1_three_in_one_domain_at_the_window_boundary(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲食品公司")
    subject(graph, "B", "乙食品公司")
    for sid, oldest in (("A", WINDOW_START), ("B", WINDOW_START - dt.timedelta(days=1))):
        penalty(graph, sid, f"{sid}1", oldest)
        penalty(graph, sid, f"{sid}2", days(100))
        penalty(graph, sid, f"{sid}3", days(10))
    assert levels(graph, rules) == {"A": ("FOCUS", ["R1"])}


def test_minor_penalties_do_not_count_severe_ones_do(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    subject(graph, "B", "乙公司")
    for sid, third in (("A", "轻微"), ("B", "严重")):
        penalty(graph, sid, f"{sid}1", days(300))
        penalty(graph, sid, f"{sid}2", days(200))
        penalty(graph, sid, f"{sid}3", days(100), severity=third)
    assert levels(graph, rules) == {"B": ("SEVERE_PROPOSED", ["R1", "R3"])}


def test_r1_needs_one_domain_r2_counts_five_in_any(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    subject(graph, "B", "乙公司")
    for index, domain in enumerate(["food_drug", "tax", "environment", "tax"]):
        penalty(graph, "A", f"A{index}", days(50 + index), domain=domain)
    for index, domain in enumerate(["food_drug", "tax", "environment", "land", "fire"]):
        penalty(graph, "B", f"B{index}", days(50 + index), domain=domain)
    assert levels(graph, rules) == {"B": ("FOCUS", ["R2"])}
    found = wanted_escalations(graph, rules, AS_OF)["B"]
    assert {rid for _, rid in found.triggers} == {f"B{i}" for i in range(5)}


def test_repaired_and_revoked_stop_counting_from_their_date(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    penalty(graph, "A", "A1", days(300))
    penalty(graph, "A", "A2", days(200), status="DISPUTED")
    penalty(graph, "A", "A3", days(100), status="REPAIRED", repairedOn=days(20))
    assert levels(graph, rules) == {}
    # as of a day before the repair took effect, A3 still counted
    assert levels(graph, rules, days(30)) == {"A": ("FOCUS", ["R1"])}
    graph.write("MATCH (p:Penalty {id: 'A3'}) SET p.status = 'REVOKED', p.revokedOn = $d "
                "REMOVE p.repairedOn", {"d": days(5)})
    assert levels(graph, rules, days(6)) == {"A": ("FOCUS", ["R1"])}
    assert levels(graph, rules) == {}


def test_rule_numbers_come_from_the_rules_file(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    for index in range(3):
        penalty(graph, "A", f"A{index}", days(400 + index))
    assert levels(graph, rules) == {"A": ("FOCUS", ["R1"])}
    assert levels(graph, rules.with_overrides({"escalation": {"r1": {"count": 4}}})) == {}
    shorter = rules.with_overrides({"escalation": {"window_months": 12}})
    assert levels(graph, shorter) == {}


# -- R3 ----------------------------------------------------------------------------------------
def test_r3_listing_active_removed_or_not_severe(graph: Graph, rules: Rules) -> None:
    for sid, list_type, removed in (("A", "失信被执行人", None), ("B", "失信被执行人", days(1)),
                                    ("C", "经营异常名录", None)):
        subject(graph, sid, f"{sid}公司")
        for index in range(3):
            penalty(graph, sid, f"{sid}{index}", days(100 + index))
        record(graph, sid, "Listing", f"L{sid}", date=days(60), listType=list_type,
               removedOn=removed)
    assert levels(graph, rules) == {"A": ("SEVERE_PROPOSED", ["R1", "R3"]),
                                    "B": ("FOCUS", ["R1"]), "C": ("FOCUS", ["R1"])}
    assert levels(graph, rules, days(2))["B"] == ("SEVERE_PROPOSED", ["R1", "R3"])


def test_a_severe_penalty_alone_is_not_r3(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    penalty(graph, "A", "A1", days(10), severity="严重")
    record(graph, "A", "Listing", "LA", date=days(60), listType="严重失信主体")
    assert levels(graph, rules) == {}


# -- R4 ----------------------------------------------------------------------------------------
@pytest.fixture()
def shells(graph: Graph) -> Graph:
    """P is legal representative of X and 60 % shareholder of Y; Q holds 40 % of both; R was
    legal representative of Z until before the window. X, Y, Z each have two penalties."""
    for sid in ("P", "Q", "R"):
        subject(graph, sid, f"{sid}某", "NATURAL_PERSON")
    for sid in ("X", "Y", "Z"):
        subject(graph, sid, f"{sid}公司")
        penalty(graph, sid, f"{sid}1", days(300), domain="environment")
        penalty(graph, sid, f"{sid}2", days(30), domain="tax")
    relate(graph, "P", "X", "LEGAL_REPRESENTATIVE")
    relate(graph, "P", "Y", "SHAREHOLDER", ratio=0.6)
    relate(graph, "Q", "X", "SHAREHOLDER", ratio=0.4)
    relate(graph, "Q", "Y", "SHAREHOLDER", ratio=0.4)
    relate(graph, "R", "Z", "LEGAL_REPRESENTATIVE", end=WINDOW_START - dt.timedelta(days=1))
    relate(graph, "R", "X", "ACTUAL_CONTROLLER")
    return graph


def test_r4_person_behind_two_penalised_companies(shells: Graph, rules: Rules) -> None:
    assert levels(shells, rules) == {"P": ("FOCUS", ["R4"]), "X": ("FOCUS", ["R4"]),
                                     "Y": ("FOCUS", ["R4"])}
    wanted = wanted_escalations(shells, rules, AS_OF)
    person = wanted["P"]
    assert {rid for _, rid in person.triggers} == {"X1", "X2", "Y1", "Y2"}
    # each says what it is: the person behind the companies, a company one of them (the
    # companies' reason said they stood behind two companies)
    assert person.reasons[0].startswith("R4: behind 2 companies that each have")
    assert wanted["X"].reasons[0].startswith("R4: one of 2 companies behind one person that")


def test_r4_needs_two_penalties_each(shells: Graph, rules: Rules) -> None:
    shells.write("MATCH (p:Penalty {id: 'Y1'}) SET p.severity = '轻微'")
    assert levels(shells, rules) == {}


def test_r4_needs_the_person_behind_each_company_once_it_was_fined(
        shells: Graph, rules: Rules) -> None:
    """R left Z within the window but the day before its first counted penalty: he did not
    run Z when it offended, so X and Z are no shells of his (a held-out review found a legal
    representative who had left before the fines at FOCUS, with both companies); there on
    the day of the first fine, he is behind both."""
    behind = {"P": ("FOCUS", ["R4"]), "X": ("FOCUS", ["R4"]), "Y": ("FOCUS", ["R4"])}
    tie = "MATCH (:Subject {id: 'R'})-[r:LEGAL_REPRESENTATIVE]->(:Subject {id: 'Z'}) SET r.end = $d"
    shells.write(tie, {"d": days(301)})
    assert levels(shells, rules) == behind
    shells.write(tie, {"d": days(300)})
    assert levels(shells, rules) == {**behind, "R": ("FOCUS", ["R4"]), "Z": ("FOCUS", ["R4"])}


def test_r4_defunct_company_then_a_new_one(graph: Graph, rules: Rules) -> None:
    subject(graph, "P", "张某", "NATURAL_PERSON")
    subject(graph, "OLD", "旧公司")
    subject(graph, "NEW", "新公司")
    subject(graph, "EARLY", "早公司")
    graph.write("MATCH (o {id: 'OLD'}) SET o.status = '吊销，未注销'")
    graph.write("MATCH (n {id: 'NEW'}) SET n.status = '存续', n.established = $d",
                {"d": days(200)})
    graph.write("MATCH (n {id: 'EARLY'}) SET n.status = '存续', n.established = $d",
                {"d": days(2000)})
    penalty(graph, "OLD", "O1", days(1500), fine=5.0)  # outside the window, still unpaid
    penalty(graph, "OLD", "O2", days(400), fine=2.0)
    penalty(graph, "OLD", "O3", days(390), severity="轻微")
    relate(graph, "P", "OLD", "LEGAL_REPRESENTATIVE", end=days(380))
    relate(graph, "P", "NEW", "LEGAL_REPRESENTATIVE")
    relate(graph, "P", "EARLY", "SHAREHOLDER", ratio=0.9)
    assert levels(graph, rules) == {"P": ("FOCUS", ["R4"]), "OLD": ("FOCUS", ["R4"]),
                                    "NEW": ("FOCUS", ["R4"])}
    found = wanted_escalations(graph, rules, AS_OF)["NEW"]
    assert {rid for _, rid in found.triggers} == {"O1", "O2"}
    # paid off (repaired): nothing unpaid, no shell
    graph.write("MATCH (p:Penalty) WHERE p.id IN ['O1', 'O2'] "
                "SET p.status = 'REPAIRED', p.repairedOn = $d", {"d": days(250)})
    assert levels(graph, rules) == {}



def test_r4_shell_needs_the_person_behind_the_defunct_company_once_fined(
        graph: Graph, rules: Rules) -> None:
    """A former legal representative who left the company years before its first unpaid fine
    did not run the shell: his later company is no successor of it (a held-out review found
    him, his clean new company and the defunct one at FOCUS)."""
    subject(graph, "FORMER", "王某", "NATURAL_PERSON")
    subject(graph, "LATER", "李某", "NATURAL_PERSON")
    subject(graph, "OLD", "旧公司")
    subject(graph, "NEW", "新公司")
    graph.write("MATCH (o {id: 'OLD'}) SET o.status = '吊销'")
    graph.write("MATCH (n {id: 'NEW'}) SET n.status = '存续', n.established = $d",
                {"d": days(200)})
    penalty(graph, "OLD", "O1", days(400), fine=6.0)
    relate(graph, "FORMER", "OLD", "LEGAL_REPRESENTATIVE", end=days(401))  # left the day before
    relate(graph, "LATER", "OLD", "LEGAL_REPRESENTATIVE", start=days(401))
    relate(graph, "FORMER", "NEW", "LEGAL_REPRESENTATIVE")
    assert levels(graph, rules) == {}
    # still there on the day of the fine: his new company is the shell's successor
    graph.write("MATCH (:Subject {id: 'FORMER'})-[r:LEGAL_REPRESENTATIVE]->(:Subject {id: 'OLD'}) "
                "SET r.end = $d", {"d": days(400)})
    assert levels(graph, rules) == {"FORMER": ("FOCUS", ["R4"]), "OLD": ("FOCUS", ["R4"]),
                                    "NEW": ("FOCUS", ["R4"])}

# -- R5: re-offending after a credit repair -----------------------------------------------------
def test_reoffence_after_repair(graph: Graph, rules: Rules) -> None:
    for sid, repaired in (("A", days(300)), ("B", days(500)), ("C", days(300))):
        subject(graph, sid, f"{sid}公司")
        penalty(graph, sid, f"{sid}0", days(600), status="REPAIRED", repairedOn=repaired)
    graph.write("MATCH (p:Penalty {id: 'A0'}) "
                "CREATE (:Repair {id: 'RP-A0', record: 'A0', subject: 'A', grantedOn: $d})"
                "-[:REPAIRS]->(p) REMOVE p.repairedOn SET p.status = 'ACTIVE'",
                {"d": days(300)})
    penalty(graph, "A", "A1", days(100))                  # 200 days after the repair
    penalty(graph, "B", "B1", days(100))                  # 400 days after its repair: no
    for index in range(3):                                 # C: R1 and a re-offence
        penalty(graph, "C", f"C{index + 1}", days(200 + index))
    assert levels(graph, rules) == {"A": ("FOCUS", ["R5"]),
                                    "C": ("SEVERE_PROPOSED", ["R1", "R5"])}
    found = wanted_escalations(graph, rules, AS_OF)
    assert found["A"].repair_blocked_until == dt.date(2027, 3, 22)  # A1 + 12 months
    assert found["C"].repair_blocked_until == dt.date(2026, 12, 12)


# -- state: idempotency, lifting, raising, interruption ----------------------------------------
@pytest.fixture()
def city(graph: Graph) -> Graph:
    """A (R1), B (R2), C (R1 + 严重 → SEVERE_PROPOSED) and D (nothing)."""
    for sid in "ABCD":
        subject(graph, sid, f"{sid}公司")
    for index in range(3):
        penalty(graph, "A", f"A{index}", days(100 + index))
        penalty(graph, "C", f"C{index}", days(100 + index))
    penalty(graph, "C", "C9", days(20), severity="严重")
    for index, domain in enumerate(["food_drug", "tax", "environment", "land", "fire"]):
        penalty(graph, "B", f"B{index}", days(50 + index), domain=domain)
    penalty(graph, "D", "D0", days(50))
    return graph


def test_run_twice_changes_nothing(city: Graph, rules: Rules) -> None:
    assert run(city, rules) == {"created": 3, "raised": 0, "unchanged": 0, "lifted": 0,
                                "lowered": 0}
    before = snapshot(city)
    assert run(city, rules) == {"created": 0, "raised": 0, "unchanged": 3, "lifted": 0,
                                "lowered": 0}
    assert snapshot(city) == before
    c = node(city, "C")
    assert (c["level"], c["status"], c["rules"]) == ("SEVERE_PROPOSED", "ACTIVE", ["R1", "R3"])
    assert c["proposedOn"].to_native() == AS_OF == c["since"].to_native()
    assert sorted(t["id"] for t in c["triggers"]) == ["C0", "C1", "C2", "C9"]
    assert c["measures"] == rules.escalation.levels["SEVERE_PROPOSED"].measures
    assert escalation_levels(city, ["A", "C", "D", "nobody"]) == {
        "A": "FOCUS", "C": "SEVERE_PROPOSED"}


def test_a_run_of_an_earlier_date_finding_the_same_level_says_so(city: Graph,
                                                                 rules: Rules) -> None:
    """A run dated ten days before the history's first event found A, B and C at the levels
    they hold ('unchanged') and wrote nothing: every answer as of that date — the list, the
    grade — read the history and found no escalation standing (a held-out review: 3 listed
    as of a date whose own run counted 14). The run says so by an event of its date; the
    proposal of record keeps its notice period."""
    earlier = AS_OF - dt.timedelta(days=10)
    run(city, rules)
    assert run(city, rules, earlier) == {"created": 0, "raised": 0, "unchanged": 3,
                                         "lifted": 0, "lowered": 0}
    before = snapshot(city)
    assert run(city, rules, earlier)["unchanged"] == 3
    assert snapshot(city) == before  # a second run of that date writes nothing

    def listed(day: dt.date) -> dict[str, tuple[str, dt.date, dt.date | None]]:
        page = list_escalations(city, rules, day, None, None, 50, None)
        return {row["subject"]: (row["level"], row["since"], as_date(row["proposedOn"]))
                for row in page.rows}

    assert listed(earlier) == {"A": ("FOCUS", earlier, None), "B": ("FOCUS", earlier, None),
                               "C": ("SEVERE_PROPOSED", earlier, earlier)}
    assert listed(earlier - dt.timedelta(days=1)) == {}
    assert listed(AS_OF)["C"] == ("SEVERE_PROPOSED", earlier, AS_OF)
    assert credit_grades(city, rules, ["C"], earlier)["C"].grade == "D"
    c = node(city, "C")
    assert actions(c) == ["created", "updated"]
    assert c["proposedOn"].to_native() == AS_OF
    with pytest.raises(EscalationRefused, match=f"on or after {AS_OF + dt.timedelta(days=30)}"):
        confirm_escalation(city, rules, "C", "确认", "admin-1", AS_OF + dt.timedelta(days=29))


def test_a_night_made_up_before_the_opening_does_not_restart_it(city: Graph,
                                                                 rules: Rules) -> None:
    """A night made up (a run dated 101 days back, when A, B and C did not hold yet) lifts what
    the later run opened; the next nightly run opened them anew from its own date — C's
    proposal with a new notice period, every start moved (a held-out upgrade review). By their
    history they stood all along: reopened as they stood, and one whose rules no longer hold
    is lifted as of the nightly run, not left lifted from before it opened."""
    run(city, rules)
    assert run(city, rules, days(101))["lifted"] == 3
    city.write("MATCH (p:Penalty {id: 'A0'}) SET p.status = 'REVOKED', p.revokedOn = $d",
               {"d": AS_OF})
    later = AS_OF + dt.timedelta(days=1)
    assert run(city, rules, later) == {"created": 2, "raised": 0, "unchanged": 0,
                                       "lifted": 1, "lowered": 0}
    c = node(city, "C")
    assert (c["status"], c["since"].to_native(), c["proposedOn"].to_native()) == (
        "ACTIVE", AS_OF, AS_OF)
    assert "was dated before its opening" in json.loads(c["history"][-1])["note"]
    a = node(city, "A")
    assert (a["status"], a["liftedOn"].to_native()) == ("LIFTED", later)

    def listed(day: dt.date) -> dict[str, dt.date]:
        return {row["subject"]: row["since"] for row in
                list_escalations(city, rules, day, None, None, 50, None).rows}

    assert listed(later) == {"B": AS_OF, "C": AS_OF}
    assert listed(AS_OF) == {"A": AS_OF, "B": AS_OF, "C": AS_OF}
    assert listed(days(101)) == {}
    assert run(city, rules, later) == {"created": 0, "raised": 0, "unchanged": 2,
                                       "lifted": 0, "lowered": 0}
    with pytest.raises(EscalationRefused, match=f"on or after {AS_OF + dt.timedelta(days=30)}"):
        confirm_escalation(city, rules, "C", "确认", "admin-1", later)


def test_lifted_not_deleted_raised_keeps_history(city: Graph, rules: Rules) -> None:
    run(city, rules)
    city.write("MATCH (p:Penalty {id: 'A0'}) SET p.status = 'REVOKED', p.revokedOn = $d",
               {"d": AS_OF})
    penalty(city, "B", "B9", days(5), severity="严重")
    later = AS_OF + dt.timedelta(days=1)
    assert run(city, rules, later) == {"created": 0, "raised": 1, "unchanged": 1, "lifted": 1,
                                       "lowered": 0}
    a = node(city, "A")
    assert (a["status"], a["level"], a["liftedOn"].to_native()) == ("LIFTED", "FOCUS", later)
    assert sorted(t["id"] for t in a["triggers"]) == ["A0", "A1", "A2"]  # kept as evidence
    assert actions(a) == ["created", "lifted"]
    b = node(city, "B")
    assert (b["level"], b["since"].to_native(), b["proposedOn"].to_native()) == (
        "SEVERE_PROPOSED", later, later)
    assert actions(b) == ["created", "raised"]
    assert escalation_levels(city, ["A", "B"]) == {"B": "SEVERE_PROPOSED"}
    # A offends again: the same node is opened again, its history continued
    penalty(city, "A", "A5", days(1))
    assert run(city, rules, later)["created"] == 1
    a = node(city, "A")
    assert (a["status"], a["liftedOn"], a["openedOn"].to_native()) == ("ACTIVE", None, later)
    assert actions(a) == ["created", "lifted", "created"]
    assert city.read("MATCH (e:Escalation) RETURN count(e) AS n") == [{"n": 3}]


def lift_and_reopen(graph: Graph, rules: Rules) -> tuple[dt.date, dt.date]:
    """A's A0 revoked the day after AS_OF (A lifted by that day's run), then A5 and a run ten
    days on (A opened again): the two dates."""
    later = AS_OF + dt.timedelta(days=1)
    graph.write("MATCH (p:Penalty {id: 'A0'}) SET p.status = 'REVOKED', p.revokedOn = $d",
                {"d": later})
    run(graph, rules, later)
    penalty(graph, "A", "A5", later)
    again = AS_OF + dt.timedelta(days=10)
    run(graph, rules, again)
    return later, again


def test_the_state_on_a_date_comes_from_the_history(proposed: Graph, rules: Rules) -> None:
    """C proposed at AS_OF and confirmed 30 days on; A lifted the day after AS_OF and opened
    again ten days on: every earlier date sees what stood then, in the list and the grade."""
    confirmed = AS_OF + dt.timedelta(days=30)
    confirm_escalation(proposed, rules, "C", "经审核", "admin-1", confirmed)
    later, _ = lift_and_reopen(proposed, rules)

    def listed(day: dt.date, level: str | None = None) -> dict[str, tuple[str, dt.date]]:
        page = list_escalations(proposed, rules, day, level, None, 50, None)
        assert page.total == len(page.rows)
        return {row["subject"]: (row["level"], row["since"]) for row in page.rows}

    assert listed(AS_OF - dt.timedelta(days=1)) == {}
    assert listed(AS_OF) == {"A": ("FOCUS", AS_OF), "B": ("FOCUS", AS_OF),
                             "C": ("SEVERE_PROPOSED", AS_OF)}
    assert listed(later + dt.timedelta(days=2)) == {"B": ("FOCUS", AS_OF),
                                                    "C": ("SEVERE_PROPOSED", AS_OF)}
    assert listed(confirmed, "SEVERE") == {"C": ("SEVERE", confirmed)}
    assert listed(confirmed - dt.timedelta(days=1), "SEVERE") == {}
    assert set(listed(confirmed)) == {"A", "B", "C", "P", "Q"}  # P and Q: propagation
    # beside the level then, what stood then: A's trigger A5 came later, C's confirmation too
    then = {row["subject"]: row for row in
            list_escalations(proposed, rules, AS_OF, None, None, 50, None).rows}
    assert "A5" in {t["id"] for t in node(proposed, "A")["triggers"]}
    assert "A5" not in {t["id"] for t in then["A"]["triggers"]}
    assert [e["action"] for e in history_events(then["A"]["history"])] == ["created"]
    assert then["C"]["confirmedOn"] is None and then["C"]["liftedOn"] is None
    assert then["C"]["rules"] == node(proposed, "C")["rules"]
    grades = {day: credit_grades(proposed, rules, ["C"], day)["C"]
              for day in (AS_OF - dt.timedelta(days=1), AS_OF, confirmed)}
    # 100 − 3 × 5 − 15 (严重), then − 20 (SEVERE_PROPOSED), then − 40 (SEVERE)
    assert [(g.grade, g.score) for g in grades.values()] == [("C", 70), ("D", 50), ("D", 30)]


def test_lifted_then_opened_again_stands_lifted_in_between(proposed: Graph,
                                                          rules: Rules) -> None:
    """`subject { escalation(asOf) }` and the credit report read `escalation_on`: a date
    between a lift and a re-opening sees the escalation LIFTED from the lift's day, as it stood
    before it — not null ("did not stand yet"), which it gave because the node's own liftedOn
    is only its latest lift (found by the held-out review of a two-year monthly timeline: a
    company lifted in April and escalated again in September had no escalation in May)."""
    later, again = lift_and_reopen(proposed, rules)
    a = node(proposed, "A")
    assert (a["status"], a["liftedOn"]) == ("ACTIVE", None)

    def shown(day: dt.date) -> tuple[Any, ...] | None:
        found = escalation_on(proposed, rules, a, day)
        if found is None:
            return None
        return (found["status"], found["level"], as_date(found["since"]),
                as_date(found["liftedOn"]),
                [e["action"] for e in history_events(found["history"])],
                sorted(t["id"] for t in found["triggers"]))

    assert shown(AS_OF - dt.timedelta(days=1)) is None  # not yet
    assert shown(AS_OF) == ("ACTIVE", "FOCUS", AS_OF, None, ["created"], ["A0", "A1", "A2"])
    between = later + dt.timedelta(days=2)
    assert shown(between) == ("LIFTED", "FOCUS", AS_OF, later, ["created", "lifted"],
                              ["A0", "A1", "A2"])
    assert shown(again)[:2] == ("ACTIVE", "FOCUS")
    # lifted once more: before the second lift the first still shows, after it the second
    proposed.write("MATCH (p:Penalty) WHERE p.id IN ['A1', 'A2', 'A5'] "
                   "SET p.status = 'REVOKED', p.revokedOn = $d", {"d": again})
    last = again + dt.timedelta(days=1)
    run(proposed, rules, last)
    a = node(proposed, "A")
    assert shown(between)[:4] == ("LIFTED", "FOCUS", AS_OF, later)
    assert shown(last + dt.timedelta(days=5))[:4] == ("LIFTED", "FOCUS", again, last)


def test_lowered_when_the_listing_is_removed(graph: Graph, rules: Rules) -> None:
    subject(graph, "A", "甲公司")
    for index in range(3):
        penalty(graph, "A", f"A{index}", days(100 + index))
    record(graph, "A", "Listing", "LA", date=days(60), listType="失信被执行人")
    run(graph, rules)
    assert node(graph, "A")["level"] == "SEVERE_PROPOSED"
    graph.write("MATCH (l:Listing {id: 'LA'}) SET l.removedOn = $d", {"d": days(1)})
    assert run(graph, rules)["lowered"] == 1
    a = node(graph, "A")
    assert (a["level"], a["proposedOn"], sorted(t["id"] for t in a["triggers"])) == (
        "FOCUS", None, ["A0", "A1", "A2"])
    assert actions(a) == ["created", "lowered"]


def test_the_triggers_on_a_date_are_those_of_the_run_that_decided(graph: Graph,
                                                                  rules: Rules) -> None:
    """A proposed at AS_OF for R1 and its 失信 listing, then lowered once the listing is
    removed: AS_OF still shows the listing among A's triggers, the evidence of the proposal
    (its notice period too), and the day of the lowering the penalties alone — not today's
    triggers beside that day's rules (R3 without the record that made it)."""
    subject(graph, "A", "甲公司")
    for index in range(3):
        penalty(graph, "A", f"A{index}", days(100 + index))
    record(graph, "A", "Listing", "LA", date=days(60), listType="失信被执行人")
    run(graph, rules)
    later = AS_OF + dt.timedelta(days=2)
    graph.write("MATCH (l:Listing {id: 'LA'}) SET l.removedOn = $d",
                {"d": AS_OF + dt.timedelta(days=1)})
    assert run(graph, rules, later)["lowered"] == 1

    def shown(day: dt.date) -> tuple[Any, ...]:
        row = list_escalations(graph, rules, day, None, None, 50, None).rows[0]
        return (row["level"], row["rules"], sorted(t["id"] for t in row["triggers"]),
                as_date(row["proposedOn"]))

    assert shown(AS_OF) == ("SEVERE_PROPOSED", ["R1", "R3"], ["A0", "A1", "A2", "LA"], AS_OF)
    assert shown(later) == ("FOCUS", ["R1"], ["A0", "A1", "A2"], None)


def snapshot(graph: Graph) -> dict[str, Any]:
    """Every escalation's state, without wall-clock times."""
    rows = graph.read("MATCH (s)-[:HAS_ESCALATION]->(e:Escalation) "
                      "RETURN s.id AS s, e {.*} AS e, "
                      "[(e)-[:TRIGGERED_BY]->(r) | r.id] AS triggers")
    out = {}
    for row in rows:
        props = dict(row["e"])
        props.pop("updatedAt")
        history = [json.loads(e) for e in props.pop("history")]
        for event in history:
            event.pop("at")
        out[row["s"]] = {**props, "history": history, "triggers": sorted(row["triggers"])}
    return out


def test_interrupted_run_then_rerun_ends_like_one_clean_run(city: Graph, rules: Rules) -> None:
    run(city, rules)
    # the world changes: C's severe penalty revoked, A lifted, D becomes R1
    city.write("MATCH (p:Penalty) WHERE p.id IN ['C9', 'A0'] "
               "SET p.status = 'REVOKED', p.revokedOn = $d", {"d": AS_OF})
    for index in range(1, 3):
        penalty(city, "D", f"D{index}", days(40 + index))
    later = AS_OF + dt.timedelta(days=3)
    wanted = wanted_escalations(city, rules, later)
    changes, _ = plan(rules, later, wanted, stored_escalations(city), "test")
    assert sorted((c.subject, c.action) for c in changes) == [
        ("A", "lifted"), ("C", "lowered"), ("D", "created")]
    apply(city, changes[:1], batch=1)       # killed after the first batch
    apply(city, changes[:1], batch=1)       # a batch replayed: its revision no longer matches
    interrupted = run(city, rules, later)
    assert interrupted["created"] + interrupted["lowered"] + interrupted["lifted"] == 2
    crashed = snapshot(city)

    city.write("MATCH (e:Escalation) DETACH DELETE e")
    city.write("MATCH (p:Penalty) WHERE p.id IN ['C9', 'A0'] "
               "SET p.status = 'ACTIVE' REMOVE p.revokedOn")
    city.write("MATCH (p:Penalty) WHERE p.id IN ['D1', 'D2'] DETACH DELETE p")
    run(city, rules)
    city.write("MATCH (p:Penalty) WHERE p.id IN ['C9', 'A0'] "
               "SET p.status = 'REVOKED', p.revokedOn = $d", {"d": AS_OF})
    for index in range(1, 3):
        penalty(city, "D", f"D{index}", days(40 + index))
    run(city, rules, later)
    assert snapshot(city) == crashed
    assert crashed["A"]["status"] == "LIFTED" and crashed["C"]["level"] == "FOCUS"


# -- confirmation and propagation ---------------------------------------------------------------
@pytest.fixture()
def proposed(city: Graph, rules: Rules) -> Graph:
    """C (SEVERE_PROPOSED) has legal representative P and actual controller Q; F a former
    legal representative."""
    for sid in ("P", "Q", "F"):
        subject(city, sid, f"{sid}某", "NATURAL_PERSON")
    relate(city, "P", "C", "LEGAL_REPRESENTATIVE")
    relate(city, "Q", "C", "ACTUAL_CONTROLLER")
    relate(city, "F", "C", "LEGAL_REPRESENTATIVE", start=dt.date(2015, 1, 1),
           end=dt.date(2020, 1, 1))
    run(city, rules)
    return city


def test_confirmation_waits_for_the_notice_period(proposed: Graph, rules: Rules) -> None:
    earliest = AS_OF + dt.timedelta(days=30)
    with pytest.raises(EscalationRefused, match=f"on or after {earliest.isoformat()}"):
        confirm_escalation(proposed, rules, "C", "告知期未满", "admin-1",
                           earliest - dt.timedelta(days=1))
    assert node(proposed, "C")["level"] == "SEVERE_PROPOSED"
    assert escalation_levels(proposed, ["P", "Q"]) == {}  # nothing propagates before
    confirmed = confirm_escalation(proposed, rules, "C", "经审核，列入严重失信主体名单",
                                   "admin-1", earliest)
    assert (confirmed["level"], confirmed["confirmedBy"]) == ("SEVERE", "admin-1")
    assert confirmed["confirmedOn"].to_native() == earliest == confirmed["since"].to_native()
    assert confirmed["measures"][:2] == ["限制政府采购", "限制招标投标"]
    last = json.loads(confirmed["history"][-1])
    assert (last["action"], last["actor"], last["note"]) == (
        "confirmed", "admin-1", "经审核，列入严重失信主体名单")
    assert escalation_levels(proposed, ["P", "Q", "F"]) == {"P": "FOCUS", "Q": "FOCUS"}
    p = node(proposed, "P")
    assert (p["rules"], p["propagatedFrom"]) == (["PROPAGATION"], ["C"])
    with pytest.raises(EscalationRefused, match="already confirmed"):
        confirm_escalation(proposed, rules, "C", "again", "admin-1", earliest)
    # a later run keeps all of it
    assert run(proposed, rules, earliest) == {"created": 0, "raised": 0, "unchanged": 5,
                                              "lifted": 0, "lowered": 0}
    assert node(proposed, "C")["level"] == "SEVERE"


def test_severe_lifted_with_its_propagation(proposed: Graph, rules: Rules) -> None:
    earliest = AS_OF + dt.timedelta(days=30)
    confirm_escalation(proposed, rules, "C", "确认", "admin-1", earliest)
    # C's severe penalty revoked: R1 still holds, so C stays SEVERE
    proposed.write("MATCH (p:Penalty {id: 'C9'}) SET p.status = 'REVOKED', p.revokedOn = $d",
                   {"d": earliest})
    run(proposed, rules, earliest)
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {
        "C": "SEVERE", "P": "FOCUS", "Q": "FOCUS"}
    # no rule left: C lifted, and with it its controllers' FOCUS
    proposed.write("MATCH (p:Penalty {id: 'C0'}) SET p.status = 'REVOKED', p.revokedOn = $d",
                   {"d": earliest})
    assert run(proposed, rules, earliest)["lifted"] == 3
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {}
    assert run(proposed, rules, earliest)["lifted"] == 0


def test_a_run_dated_before_a_confirmation_leaves_it(proposed: Graph, rules: Rules) -> None:
    """A missed night made up after a person confirmed C: the run lifts what did not hold
    then (A, B) but neither lifts C's confirmed SEVERE nor its controllers' FOCUS, and writes
    nothing into their histories."""
    earliest = AS_OF + dt.timedelta(days=30)
    confirm_escalation(proposed, rules, "C", "确认", "admin-1", earliest)
    before = {sid: node(proposed, sid) for sid in "CPQ"}
    # on days(101) C had two of its penalties: no rule of its own held
    assert run(proposed, rules, days(101)) == {"created": 0, "raised": 0, "unchanged": 3,
                                                "lifted": 2, "lowered": 0}
    assert escalation_levels(proposed, ["A", "B", "C", "P", "Q"]) == {
        "C": "SEVERE", "P": "FOCUS", "Q": "FOCUS"}
    for sid in "CPQ":
        after = node(proposed, sid)
        assert (after["history"], after["revision"]) == (before[sid]["history"],
                                                        before[sid]["revision"])
    # a run dated on the confirmation decides as before
    assert run(proposed, rules, earliest)["created"] == 2


def test_a_run_dated_before_a_confirmation_lifted_since_propagates_nothing(
        proposed: Graph, rules: Rules) -> None:
    """C confirmed, then lifted by a later run; a missed night dated before the confirmation
    leaves C lifted (a person decided it after that date) — and so its controllers too: they
    were put at FOCUS for C's SEVERE, which did not stand on that date. The run reopened P's
    and Q's FOCUS as of a day C was only proposed (found by the held-out review of a two-year
    monthly timeline, re-run out of order: 联合惩戒对象 of a company that was LIFTED)."""
    earliest = AS_OF + dt.timedelta(days=30)
    confirm_escalation(proposed, rules, "C", "确认", "admin-1", earliest)
    ahead = AS_OF + dt.timedelta(days=5 * 365)
    assert run(proposed, rules, ahead)["lifted"] == 5
    before = {sid: node(proposed, sid) for sid in "CPQ"}
    assert run(proposed, rules, AS_OF) == {"created": 2, "raised": 0, "unchanged": 0,
                                           "lifted": 0, "lowered": 0}  # A and B reopened
    assert escalation_levels(proposed, ["A", "B", "C", "P", "Q"]) == {
        "A": "FOCUS", "B": "FOCUS"}
    for sid in "CPQ":
        after = node(proposed, sid)
        assert (after["status"], after["history"]) == ("LIFTED", before[sid]["history"])
    listed = list_escalations(proposed, rules, AS_OF, None, None, 50, None).rows
    assert sorted(row["subject"] for row in listed) == ["A", "B", "C"]  # C proposed then
    # a run dated on the confirmation finds C's SEVERE and its propagation as they stood
    assert run(proposed, rules, earliest)["created"] == 3
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {
        "C": "SEVERE", "P": "FOCUS", "Q": "FOCUS"}


def test_a_run_dated_before_a_lift_finds_what_stood(proposed: Graph, rules: Rules) -> None:
    """A run dated ahead (five years on, every penalty out of its window) lifts everything;
    a run of an earlier date finds the escalations as they stood before that lift — C's
    proposal with its notice period, then its SEVERE as the person confirmed it, with the
    FOCUS of its controllers — not a fresh proposal with a new notice period."""
    ahead = AS_OF + dt.timedelta(days=5 * 365)
    assert run(proposed, rules, ahead)["lifted"] == 3
    assert run(proposed, rules, AS_OF) == {"created": 3, "raised": 0, "unchanged": 0,
                                           "lifted": 0, "lowered": 0}
    c = node(proposed, "C")
    assert (c["level"], c["status"], c["proposedOn"].to_native()) == (
        "SEVERE_PROPOSED", "ACTIVE", AS_OF)
    assert "reopened as it stood" in json.loads(c["history"][-1])["note"]
    earliest = AS_OF + dt.timedelta(days=30)
    confirm_escalation(proposed, rules, "C", "确认", "admin-1", earliest)
    run(proposed, rules, ahead)
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {}
    assert run(proposed, rules, earliest)["created"] == 5
    c = node(proposed, "C")
    assert (c["level"], c["confirmedBy"], c["confirmedOn"].to_native(), c["liftedOn"]) == (
        "SEVERE", "admin-1", earliest, None)
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {
        "C": "SEVERE", "P": "FOCUS", "Q": "FOCUS"}
    assert run(proposed, rules, earliest)["created"] == 0


def test_confirmation_refusals(proposed: Graph, rules: Rules) -> None:
    later = AS_OF + dt.timedelta(days=60)
    with pytest.raises(EscalationRefused, match="no escalation"):
        confirm_escalation(proposed, rules, "D", "n", "admin", later)
    with pytest.raises(EscalationRefused, match="at FOCUS"):
        confirm_escalation(proposed, rules, "A", "n", "admin", later)
    proposed.write("MATCH (p:Penalty {id: 'C9'}) "
                   "CREATE (:Objection {id: 'OBJ-1', status: 'OPEN'})-[:OBJECTS_TO]->(p)")
    with pytest.raises(EscalationRefused, match=r"open objections .*OBJ-1 on C9"):
        confirm_escalation(proposed, rules, "C", "n", "admin", later)
    # inside the notice period as well: both reasons, not the first one found
    with pytest.raises(EscalationRefused, match=r"notice period .* is not over: confirm on or "
                       r"after \S+; open objections .*OBJ-1 on C9"):
        confirm_escalation(proposed, rules, "C", "n", "admin", AS_OF + dt.timedelta(days=1))
    proposed.write("MATCH (o:Objection {id: 'OBJ-1'}) SET o.status = 'RESOLVED'")
    # a note naming someone by ID number is stored masked
    confirmed = confirm_escalation(proposed, rules, "C", "经办人 371402198001011234 核实",
                                   "admin", later)
    assert confirmed["level"] == "SEVERE"
    assert "371402198001011234" not in confirmed["history"][-1]
    assert json.loads(confirmed["history"][-1])["note"] == "经办人 371402********1234 核实"


def test_no_confirmation_on_a_trigger_revoked_since_the_proposal(proposed: Graph,
                                                                 rules: Rules) -> None:
    """C's objection on its 严重 penalty (the R3 of its proposal) ends in REVOKE: the proposal's
    basis is gone, so confirming it is refused until a run has decided again — here the run
    keeps C at FOCUS (R1 still holds), and nothing is listed 严重失信 nor propagated."""
    later = AS_OF + dt.timedelta(days=60)
    proposed.write("MATCH (p:Penalty {id: 'C9'}) SET p.status = 'REVOKED', p.revokedOn = $d",
                   {"d": later})
    with pytest.raises(EscalationRefused, match=r"no longer stand \(C9: revoked"):
        confirm_escalation(proposed, rules, "C", "告知期满", "admin", later)
    assert escalation_levels(proposed, ["C", "P", "Q"]) == {"C": "SEVERE_PROPOSED"}
    assert run(proposed, rules, later)["lowered"] == 1
    with pytest.raises(EscalationRefused, match="at FOCUS"):
        confirm_escalation(proposed, rules, "C", "告知期满", "admin", later)


def test_cli_escalate(city: Graph, settings: Settings) -> None:
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    env = {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": settings.neo4j_database, "CREDGRAPH_SECRET": TEST_SECRET}
    first = CliRunner().invoke(main, ["escalate", "--as-of", AS_OF.isoformat(), "--json"],
                               env=env)
    assert first.exit_code == 0, first.output
    assert json.loads(first.output) == {"asOf": "2026-06-30", "created": 3, "raised": 0,
                                        "unchanged": 0, "lifted": 0, "lowered": 0}
    second = CliRunner().invoke(main, ["escalate", "--as-of", AS_OF.isoformat()], env=env)
    assert second.exit_code == 0, second.output
    assert "escalation as of 2026-06-30" in second.output
    assert "unchanged          3" in second.output
    assert node(city, "A")["history"] and json.loads(node(city, "A")["history"][0])[
        "actor"].startswith("cli:")
    audited = city.read("MATCH (e:AuditEvent {operation: 'runEscalation'}) "
                        "RETURN e.actor AS actor, e.role AS role, e.subjects AS subjects")
    assert sorted(len(e["subjects"]) for e in audited) == [0, 3]
    assert {(e["actor"][:4], e["role"]) for e in audited} == {("cli:", "admin")}
    assert "ahead of today" not in first.stderr
    ahead = CliRunner().invoke(main, ["escalate", "--as-of", "2099-01-01", "--json"], env=env)
    assert ahead.exit_code == 0 and "warning: --as-of 2099-01-01 is ahead of today" in (
        ahead.stderr)
    assert json.loads(ahead.stdout)["lifted"] == 3
    bad = CliRunner().invoke(main, ["escalate", "--as-of", "30/06/2026"], env=env)
    assert bad.exit_code == 2 and "--as-of" in bad.output
    early = CliRunner().invoke(main, ["escalate", "--as-of", "0001-01-01", "--json"], env=env)
    assert early.exit_code == 2 and "too early" in early.stderr
    # a job reading --json's stdout hears why
    assert json.loads(early.stdout)["exitCode"] == 2 and "too early" in json.loads(
        early.stdout)["error"]


def test_one_run_at_a_time(city: Graph, rules: Rules) -> None:
    """A run that finds another holding the lock waits for it, then finds its work done
    (unchanged, not zeros); without waiting it is refused and writes nothing."""
    holder = RunLock(city, "escalation", "ER-other", 600)
    holder.acquire()  # this very process: alive
    with pytest.raises(LockHeld, match="another escalation run holds the lock"):
        run_escalation(city, rules, AS_OF, "test", wait=0)
    assert stored_escalations(city) == {}
    holder.release()
    told: list[str] = []
    results: list[RunResult] = []
    first = threading.Thread(
        target=lambda: results.append(run_escalation(city, rules, AS_OF, "first", wait=None)))
    holder.acquire()
    threading.Timer(1.5, lambda: (holder.release(), first.start())).start()
    results.append(run_escalation(city, rules, AS_OF, "second", wait=None,
                                  waiting=lambda row: told.append(row["owner"])))
    first.join()
    assert told == ["ER-other"]
    assert sorted((r.created, r.unchanged) for r in results) == [(0, 3), (3, 0)]
    assert city.read("MATCH (l:RunLock {id: 'escalation'}) RETURN l.owner AS owner") == [
        {"owner": None}]


def test_a_run_names_its_subjects_before_it_writes(city: Graph, rules: Rules) -> None:
    """`credgraph escalate` audits through `before_write`: heard before the first write, so
    a run killed mid-write has said whose escalation it was changing."""
    heard: list[tuple[list[str], int]] = []

    def before_write(subjects: list[str]) -> None:
        heard.append((subjects, len(stored_escalations(city))))

    result = run_escalation(city, rules, AS_OF, "test", before_write=before_write)
    assert heard == [(["A", "B", "C"], 0)] and list(result.changed) == ["A", "B", "C"]
    heard.clear()
    run_escalation(city, rules, AS_OF, "test", before_write=before_write)
    assert heard == [([], 3)]
    # a run that keeps B's level but writes other rules and triggers (two more penalties, three
    # of them in one domain now: R1 beside R2) names B too — auditLog(subject: B) finds the
    # write that changed its escalation (it named none: found by a held-out review)
    penalty(city, "B", "B9", days(10), domain="tax")
    penalty(city, "B", "B8", days(11), domain="tax")
    heard.clear()
    result = run_escalation(city, rules, AS_OF, "test", before_write=before_write)
    assert (result.unchanged, node(city, "B")["rules"]) == (3, ["R1", "R2"])
    assert heard == [(["B"], 3)] and list(result.changed) == ["B"]


def test_cli_escalate_waits_for_a_run_in_progress(city: Graph, settings: Settings) -> None:
    password = settings.neo4j_password or LocalNeo4j(settings).password()
    env = {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
           "NEO4J_DATABASE": settings.neo4j_database, "CREDGRAPH_SECRET": TEST_SECRET}
    holder = RunLock(city, "escalation", "ER-other", 600)
    holder.acquire()
    threading.Timer(1.5, holder.release).start()
    result = CliRunner().invoke(main, ["escalate", "--as-of", AS_OF.isoformat(), "--json"],
                                env=env)
    assert result.exit_code == 0, result.output
    assert "waiting for escalation run ER-other" in result.stderr
    assert json.loads(result.stdout)["created"] == 3


def test_severe_left_with_only_propagation_is_lowered(graph: Graph, rules: Rules) -> None:
    """H controls S (actual controller, a company); both confirmed SEVERE. When H's own rules
    stop holding it stays a 联合惩戒对象 of S: lowered to FOCUS, not lifted."""
    for sid in ("H", "S"):
        subject(graph, sid, f"{sid}公司")
        for index in range(3):
            penalty(graph, sid, f"{sid}{index}", days(100 + index))
        penalty(graph, sid, f"{sid}9", days(90), severity="严重")
    relate(graph, "H", "S", "ACTUAL_CONTROLLER")
    run(graph, rules)
    confirm_on = AS_OF + dt.timedelta(days=30)
    for sid in ("H", "S"):
        confirm_escalation(graph, rules, sid, "确认", "admin", confirm_on)
    assert node(graph, "H")["rules"] == ["PROPAGATION", "R1", "R3"]
    graph.write("MATCH (p:Penalty) WHERE p.id STARTS WITH 'H' "
                "SET p.status = 'REVOKED', p.revokedOn = $d", {"d": confirm_on})
    assert run(graph, rules, confirm_on)["lowered"] == 1
    h = node(graph, "H")
    assert (h["level"], h["status"], h["rules"]) == ("FOCUS", "ACTIVE", ["PROPAGATION"])
    assert actions(h) == ["created", "confirmed", "updated", "lowered"]
    assert run(graph, rules, confirm_on)["lowered"] == 0


def test_the_rules_on_a_date_are_those_of_the_run_that_decided() -> None:
    """A confirmation names no rules: on its date the rules of the run before it stand."""
    def event(action: str, level: str, day: str, rules: list[str]) -> str:
        return json.dumps({"at": f"{day}T08:00:00+00:00", "action": action, "level": level,
                           "asOf": day, "rules": rules})

    node = {"status": "ACTIVE", "level": "SEVERE", "since": dt.date(2026, 3, 1), "history": [
        event("created", "FOCUS", "2026-01-01", ["R1"]),
        event("raised", "SEVERE_PROPOSED", "2026-02-01", ["R1", "R3"]),
        event("confirmed", "SEVERE", "2026-03-01", [])]}
    assert [state_on(node, dt.date(2026, m, 1)) for m in (1, 2, 3)] == [
        StateOn(EscalationLevel.FOCUS, dt.date(2026, 1, 1), ("R1",)),
        StateOn(EscalationLevel.SEVERE_PROPOSED, dt.date(2026, 2, 1), ("R1", "R3")),
        StateOn(EscalationLevel.SEVERE, dt.date(2026, 3, 1), ("R1", "R3"))]


def test_an_unreadable_history_entry_is_skipped() -> None:
    """One hand-edited entry does not stop the reports that read a level on a date (G4,
    procurementCheck, repeatOffenders(asOf)); a history of nothing readable reads as none."""
    created = json.dumps({"at": "2026-01-01T08:00:00+00:00", "action": "created",
                          "level": "FOCUS", "asOf": "2026-01-01"})
    node = {"status": "ACTIVE", "level": "FOCUS", "since": dt.date(2026, 1, 1),
            "history": [created, "not json", "[1, 2]"]}
    assert state_on(node, dt.date(2026, 6, 1)) == StateOn(EscalationLevel.FOCUS,
                                                          dt.date(2026, 1, 1))
    assert state_on(node, dt.date(2025, 12, 31)) is None
    garbled = {**node, "since": dt.date(2026, 2, 1), "history": ["not json"]}
    assert state_on(garbled, dt.date(2026, 6, 1)) == StateOn(EscalationLevel.FOCUS,
                                                             dt.date(2026, 2, 1))
