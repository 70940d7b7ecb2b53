"""Monitoring's ESCALATION rule over escalations written by real escalation runs (their
history): a re-opened escalation is a new escalation and alerts anew; an escalation lowered
to a level it never had raises no alert that says it was escalated."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import EscalationLevel
from credgraph.queries.escalation import confirm_escalation, run_escalation
from credgraph.queries.monitoring import MonitorRun, _occurrence
from credgraph.rules import Rules
from tests.graphs import AS_OF, record, subject

ESCALATION_ONLY = {"monitoring": {"enabled": ["ESCALATION"]}}


def penalty(graph: Graph, sid: str, pid: str, date: dt.date, domain: str = "food_drug") -> None:
    record(graph, sid, "Penalty", pid, date=date, severity="一般", domain=domain,
           publicityUntil=date + dt.timedelta(days=365))


def escalate(graph: Graph, rules: Rules, as_of: dt.date) -> dict[str, Any]:
    return run_escalation(graph, rules, as_of, "test").as_dict()


def monitor(graph: Graph, rules: Rules, as_of: dt.date) -> dict[str, int]:
    return MonitorRun(graph, rules.with_overrides(ESCALATION_ONLY), as_of).run(None).counts()


def alerts(graph: Graph) -> list[dict[str, Any]]:
    return graph.read("MATCH (a:Alert {rule: 'ESCALATION'}) RETURN a.key AS key, "
                      "a.status AS status ORDER BY a.firstSeen, a.key")


def test_an_escalation_reopened_after_a_lift_alerts_again(graph: Graph, rules: Rules) -> None:
    subject(graph, "S", "德州甲食品有限公司")
    penalty(graph, "S", "P1", dt.date(2024, 7, 1))  # leaves the window after 2026-07-01
    penalty(graph, "S", "P2", dt.date(2025, 1, 1))
    penalty(graph, "S", "P3", dt.date(2026, 1, 1))
    assert escalate(graph, rules, AS_OF)["created"] == 1
    assert monitor(graph, rules, AS_OF)["new"] == 1
    graph.write("MATCH (a:Alert) SET a.status = 'DISMISSED'")  # the first case was closed

    later = AS_OF + dt.timedelta(days=7)
    assert escalate(graph, rules, later)["lifted"] == 1
    penalty(graph, "S", "P4", AS_OF + dt.timedelta(days=10))
    reopened = AS_OF + dt.timedelta(days=14)
    assert escalate(graph, rules, reopened)["created"] == 1  # a new escalation (R1 again)

    assert monitor(graph, rules, reopened)["new"] == 1
    assert [a["status"] for a in alerts(graph)] == ["DISMISSED", "OPEN"]
    assert monitor(graph, rules, reopened)["new"] == 0


def test_a_made_up_night_before_the_escalation_alerts_nothing_anew(graph: Graph,
                                                                   rules: Rules) -> None:
    """A night made up before an escalation's first run (escalate as of 11-30, then as of
    06-15, when the rules did not hold yet: a lift dated 06-15) and the next nightly run, which
    finds it LIFTED and creates it again, left it standing on every day from 11-30 — yet its
    history, read in the order written (created, lifted, created), counted a second opening and
    the next monitoring run raised a second OPEN ESCALATION alert beside the first (found by a
    held-out upgrade review: 13 subjects of a demo city alerted twice). The history is read in
    the order of its dates, up to the run's."""
    subject(graph, "Y", "德州庚食品有限公司")
    for i, month in enumerate((3, 4, 5)):
        penalty(graph, "Y", f"H{i}", dt.date(2026, month, 10))
    assert escalate(graph, rules, AS_OF)["created"] == 1
    assert monitor(graph, rules, AS_OF)["new"] == 1
    assert escalate(graph, rules, dt.date(2026, 2, 15))["lifted"] == 1  # the made-up night
    tonight = AS_OF + dt.timedelta(days=1)
    assert escalate(graph, rules, tonight)["created"] == 1  # found LIFTED, created again

    assert monitor(graph, rules, tonight)["new"] == 0
    assert monitor(graph, rules, AS_OF)["new"] == 0
    assert [a["status"] for a in alerts(graph)] == ["OPEN"]


def test_an_escalation_lowered_to_a_level_it_never_had_is_not_new(graph: Graph,
                                                                   rules: Rules) -> None:
    subject(graph, "T", "德州乙商贸有限公司")
    for i, domain in enumerate(["tax", "environment", "safety", "fire", "construction"]):
        penalty(graph, "T", f"Q{i}", dt.date(2025, 1 + i, 10), domain=domain)
    record(graph, "T", "Listing", "L1", listType="失信被执行人", date=dt.date(2026, 3, 1))
    assert escalate(graph, rules, AS_OF)["created"] == 1  # R2 + R3: SEVERE_PROPOSED at once
    assert monitor(graph, rules, AS_OF)["new"] == 1

    graph.write("MATCH (l:Listing {id: 'L1'}) SET l.removedOn = $day, l.status = 'EXPIRED'",
                {"day": AS_OF + dt.timedelta(days=1)})
    later = AS_OF + dt.timedelta(days=7)
    assert escalate(graph, rules, later)["lowered"] == 1  # to FOCUS, the proposal withdrawn

    assert monitor(graph, rules, later)["new"] == 0
    assert len(alerts(graph)) == 1


def test_an_escalation_raised_again_after_a_lowering_alerts_again(graph: Graph,
                                                                   rules: Rules) -> None:
    subject(graph, "U", "德州丙商贸有限公司")
    for i, domain in enumerate(["tax", "environment", "safety", "fire", "construction"]):
        penalty(graph, "U", f"Q{i}", dt.date(2025, 1 + i, 10), domain=domain)
    record(graph, "U", "Listing", "L1", listType="失信被执行人", date=dt.date(2026, 3, 1),
           removedOn=AS_OF + dt.timedelta(days=1))
    assert escalate(graph, rules, AS_OF)["created"] == 1  # SEVERE_PROPOSED
    assert monitor(graph, rules, AS_OF)["new"] == 1
    later = AS_OF + dt.timedelta(days=7)
    assert escalate(graph, rules, later)["lowered"] == 1  # the proposal withdrawn
    assert monitor(graph, rules, later)["new"] == 0

    record(graph, "U", "Listing", "L2", listType="严重失信主体", date=later + dt.timedelta(days=1))
    again = later + dt.timedelta(days=3)
    assert escalate(graph, rules, again)["raised"] == 1  # proposed anew: a new notice period
    assert monitor(graph, rules, again)["new"] == 1
    assert monitor(graph, rules, again)["new"] == 0


def test_a_backdated_run_sees_the_escalation_as_it_stood_then(graph: Graph,
                                                              rules: Rules) -> None:
    """A monitoring run dated before a confirmation (or a lift) sees the escalation at the level
    it had on that date. It read the current level and `since`: once SEVERE_PROPOSED was
    confirmed to SEVERE (since the day of confirmation), a run re-done for the proposal's date
    — after a crash, or to rebuild a day's alerts — raised nothing for the subject (found by a
    held-out review city: `monitor run --as-of` after `confirmEscalation` missed the company)."""
    subject(graph, "V", "德州丁商贸有限公司")
    for i, domain in enumerate(["tax", "environment", "safety", "fire", "construction"]):
        penalty(graph, "V", f"Q{i}", dt.date(2025, 1 + i, 10), domain=domain)
    record(graph, "V", "Listing", "L1", listType="失信被执行人", date=dt.date(2026, 3, 1))
    assert escalate(graph, rules, AS_OF)["created"] == 1  # SEVERE_PROPOSED
    confirmed = AS_OF + dt.timedelta(days=rules.escalation.notice_days + 5)
    confirm_escalation(graph, rules, "V", "异议期满", "test", confirmed)

    assert monitor(graph, rules, AS_OF)["new"] == 1
    [alert] = graph.read("MATCH (a:Alert {rule: 'ESCALATION'}) RETURN a.key AS key, "
                         "a.summary AS summary")
    assert alert["key"].startswith("SEVERE_PROPOSED|")
    assert f"自 {AS_OF.isoformat()} 起" in alert["summary"]
    assert monitor(graph, rules, AS_OF - dt.timedelta(days=1))["new"] == 0  # not yet escalated
    assert monitor(graph, rules, confirmed)["new"] == 1  # SEVERE, a new alert
    assert monitor(graph, rules, confirmed)["new"] == 0

    graph.write("MATCH (a:Alert) DETACH DELETE a")
    later = confirmed + dt.timedelta(days=400)  # the penalties have left the window
    assert escalate(graph, rules, later)["lifted"] == 1
    assert monitor(graph, rules, AS_OF)["new"] == 1  # it stood proposed then, lifted or not
    assert monitor(graph, rules, later)["new"] == 0


def test_a_backdated_run_sees_a_severe_subject_as_it_stood_then(graph: Graph,
                                                                rules: Rules) -> None:
    """SEVERE_RECORD read the current level too: a run re-done for a day the subject stood
    SEVERE, after a later lift, raised nothing for the record it received that day (left as
    found by the held-out review city that found the ESCALATION rule's)."""
    subject(graph, "W", "德州戊商贸有限公司")
    for i, domain in enumerate(["tax", "environment", "safety", "fire", "construction"]):
        penalty(graph, "W", f"R{i}", dt.date(2025, 1 + i, 10), domain=domain)
    record(graph, "W", "Listing", "L2", listType="失信被执行人", date=dt.date(2026, 3, 1))
    assert escalate(graph, rules, AS_OF)["created"] == 1
    confirmed = AS_OF + dt.timedelta(days=rules.escalation.notice_days + 5)
    confirm_escalation(graph, rules, "W", "异议期满", "test", confirmed)
    received = confirmed + dt.timedelta(days=10)
    penalty(graph, "W", "R-new", received, domain="tax")
    assert escalate(graph, rules, confirmed + dt.timedelta(days=400))["lifted"] == 1
    severe_only = rules.with_overrides({"monitoring": {"enabled": ["SEVERE_RECORD"]}})
    counts = MonitorRun(graph, severe_only, received).run(None).counts()
    assert counts["new"] == 1
    found = graph.read("MATCH (a:Alert {rule: 'SEVERE_RECORD'}) RETURN a.key AS key")
    assert found == [{"key": "R-new"}]
    before = MonitorRun(graph, severe_only, confirmed - dt.timedelta(days=1)).run(None)
    assert before.counts()["new"] == 0  # not yet SEVERE


def test_a_backdated_alert_names_the_records_of_the_run_that_decided(graph: Graph,
                                                                      rules: Rules) -> None:
    """A backdated ESCALATION alert listed today's triggers dated by then, where
    repeatOffenders(asOf) lists the records of the run that decided the level (found by the
    review of the day's diff): a penalty delivered after the run, though dated before it,
    was among the alert's evidence."""
    subject(graph, "X", "德州己商贸有限公司")
    for i in range(3):
        penalty(graph, "X", f"S{i}", dt.date(2025, 1 + i, 10))
    assert escalate(graph, rules, AS_OF)["created"] == 1
    penalty(graph, "X", "S-late", AS_OF - dt.timedelta(days=30))  # delivered after the run
    escalate(graph, rules, AS_OF + dt.timedelta(days=60))
    assert monitor(graph, rules, AS_OF)["new"] == 1
    [found] = graph.read("MATCH (a:Alert {rule: 'ESCALATION'}) RETURN a.records AS records")
    ids = sorted(r["id"] for r in json.loads(found["records"]))
    assert ids == ["S0", "S1", "S2"]


def _events(*pairs: tuple[str, str]) -> list[str]:
    return [json.dumps({"action": action, "level": level}) for action, level in pairs]


def test_histories_written_from_the_middle_or_unreadable_alert_as_first_occurrences() -> None:
    """Only a lowering hides an escalation's alert: a node whose history starts later than its
    creation (or holds nothing readable) is a first occurrence, alerted."""
    focus = EscalationLevel.FOCUS
    assert _occurrence(_events(("updated", "FOCUS")), focus) == ("", False)
    assert _occurrence(["not json"], focus) == ("", False)
    assert _occurrence([], focus) == ("", False)
    assert _occurrence(_events(("created", "SEVERE_PROPOSED"), ("lowered", "FOCUS")),
                       focus) == ("", True)
    # back at a level it was alerted at before: the first alert, refreshed
    assert _occurrence(_events(("created", "FOCUS"), ("raised", "SEVERE_PROPOSED"),
                               ("lowered", "FOCUS")), focus) == ("", False)
