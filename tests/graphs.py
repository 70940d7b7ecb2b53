"""Hand-built graphs for the analyses, written with plain Cypher so the expectations can be
computed by hand."""

from __future__ import annotations

import datetime as dt
from typing import Any

from credgraph.graph.driver import Graph

AS_OF = dt.date(2026, 6, 30)


def subject(graph: Graph, sid: str, name: str, kind: str = "ENTERPRISE",
            region: str = "371402") -> None:
    labels = {"NATURAL_PERSON": "NaturalPerson", "AGENCY": "LegalPerson:Agency"}.get(
        kind, "LegalPerson")
    graph.write(f"CREATE (n:Subject:{labels} {{id: $id, name: $name, nameNorm: $name, "
                "kind: $kind, region: $region})",
                {"id": sid, "name": name, "kind": kind, "region": region})


def relate(graph: Graph, source: str, target: str, rtype: str, **props: Any) -> None:
    graph.write(f"MATCH (a:Subject {{id: $a}}), (b:Subject {{id: $b}}) "
                f"CREATE (a)-[r:{rtype}]->(b) SET r += $props",
                {"a": source, "b": target, "props": {"key": "", **props}})


def record(graph: Graph, sid: str, label: str, rid: str, role: str = "subject",
           **props: Any) -> None:
    graph.write(f"MATCH (s:Subject {{id: $sid}}) CREATE (s)-[:HAS_RECORD {{role: $role}}]->"
                f"(r:{label} {{id: $rid}}) SET r += $props",
                {"sid": sid, "rid": rid, "role": role,
                 "props": {"kind": label.upper(), "status": "ACTIVE", **props}})


def escalation_levels(graph: Graph, ids: list[str]) -> dict[str, str]:
    """The level of each subject's ACTIVE escalation; subjects without one are absent."""
    rows = graph.read("UNWIND $ids AS sid MATCH (:Subject {id: sid})-[:HAS_ESCALATION]->(e) "
                      "WHERE e.status = 'ACTIVE' RETURN sid, e.level AS level", {"ids": ids})
    return {row["sid"]: row["level"] for row in rows}
