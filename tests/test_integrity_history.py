"""G4 and the procurement pre-check judge an award by what was true when it was made: a
supplier confirmed SEVERE when the contract was signed stays a G4 finding after its escalation
node moves on (lifted, then re-opened at a lower level by a later run), because the node keeps
one subject's escalations across lifts and re-openings and only its history knows the past."""

from __future__ import annotations

import datetime as dt

from credgraph.graph.driver import Graph
from credgraph.queries.escalation import confirm_escalation, run_escalation
from credgraph.queries.integrity import Tracer, procurement_check
from credgraph.rules import Rules
from tests.graphs import record, subject
from tests.test_integrity import agency, contract

SIGNED = dt.date(2025, 6, 1)


def penalty(graph: Graph, pid: str, date: dt.date, severity: str = "一般") -> None:
    record(graph, "X", "Penalty", pid, date=date, severity=severity, domain="transport",
           publicityUntil=date + dt.timedelta(days=365))


def g4_suppliers(graph: Graph, rules: Rules, as_of: dt.date) -> set[str]:
    found = Tracer(graph, rules).trace(as_of).findings
    return {str(f.subject) for f in found if f.pattern.value == "G4"}


def test_g4_and_the_check_keep_a_severe_escalation_that_moved_on(graph: Graph,
                                                                 rules: Rules) -> None:
    agency(graph, "A", "平原县政府采购中心", "371426")
    subject(graph, "X", "平原县金盛物流有限公司", region="371426")
    penalty(graph, "Q1", dt.date(2024, 9, 1))
    penalty(graph, "Q2", dt.date(2025, 1, 1))
    penalty(graph, "Q3", dt.date(2025, 3, 1), "严重")
    assert run_escalation(graph, rules, dt.date(2025, 4, 1), "test").created == 1  # R1 + R3
    confirm_escalation(graph, rules, "X", "告知期满", "admin", dt.date(2025, 5, 10))
    contract(graph, "A", "X", "K-X", SIGNED, amount=50.0, contractKind="政府采购")
    assert g4_suppliers(graph, rules, dt.date(2025, 6, 30)) == {"X"}

    # Q1 leaves the window: no rule holds, lifted — the award still stood under SEVERE
    assert run_escalation(graph, rules, dt.date(2026, 9, 2), "test").lifted == 1
    assert g4_suppliers(graph, rules, dt.date(2026, 9, 2)) == {"X"}

    # new penalties: a new escalation (SEVERE_PROPOSED) on the same node
    penalty(graph, "Q4", dt.date(2026, 9, 5))
    penalty(graph, "Q5", dt.date(2026, 9, 6))
    assert run_escalation(graph, rules, dt.date(2026, 9, 10), "test").created == 1
    assert g4_suppliers(graph, rules, dt.date(2026, 9, 10)) == {"X"}
    then = procurement_check(graph, rules, ["X"], SIGNED, False)
    assert then is not None and not then.allowed
