"""Ownership penetration (股权穿透) and beneficial owners (受益所有人, SPEC §8).

Effective share of O in C = Σ over simple live SHAREHOLDER paths O→…→C of Π ratios. Cypher
walks the paths upward from the indexed company, bounded in depth, and sums every path per
owner; only the paths shown are bounded in count. The thresholds and the suspected controller
are decided here.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    CONTROL_RELATIONS,
    RelationType,
    types_pattern,
)
from credgraph.queries.fragments import live
from credgraph.queries.neighbourhood import Edge
from credgraph.queries.subjects import subjects_by_ids
from credgraph.rules import Rules


def share_paths(max_depth: int) -> str:
    """Each owner's effective share over its live SHAREHOLDER paths up to the rules file's
    depth (an int, validated at start: a variable-length bound cannot be a parameter), with
    its path count and its strongest `$maxPaths` paths. The sum is taken over every path, not
    over those shown: a share cut short would hide an owner (a group whose companies hold
    each other layer by layer has thousands of paths to one person)."""
    hops = f"{RelationType.SHAREHOLDER.value}*1..{int(max_depth)}"
    return f"""
MATCH p = (o:Subject)-[rels:{hops}]->(c:Subject {{id: $id}})
WHERE all(r IN rels WHERE {live("r")})
  AND all(i IN range(0, size(rels) - 1)
          WHERE NOT nodes(p)[i] IN nodes(p)[i + 1..])
WITH o, p, reduce(s = 1.0, r IN rels | s * coalesce(r.ratio, 0.0)) AS share
ORDER BY share DESC
WITH o, sum(share) AS share, count(p) AS count,
     collect(p)[..$maxPaths] AS shown
RETURN collect({{owner: o.id, share: share, count: count,
                paths: [p IN shown | {{ids: [n IN nodes(p) | n.id],
                                      ratios: [r IN relationships(p) | r.ratio]}}]}}) AS rows
"""


# Who may be the declared or suspected controller: 实际控制人, 法定代表人 and 董事 (SPEC §8).
CONTROL = f"""
MATCH (c:Subject {{id: $id}})<-[r:{types_pattern((*CONTROL_RELATIONS, RelationType.DIRECTOR))}]-
      (p:Subject)
WHERE {live("r")}
RETURN p.id AS id, type(r) AS type
"""


@dataclass
class OwnerPath:
    ids: list[str]
    ratios: list[float | None]
    relation: RelationType = RelationType.SHAREHOLDER

    @property
    def share(self) -> float:
        product = 1.0
        for ratio in self.ratios:
            product *= ratio or 0.0
        return product

    def edges(self) -> list[Edge]:
        """The path as relations (shareholdings, or the declared control), owner first."""
        return [Edge(self.ids[i], self.ids[i + 1], self.relation.value,
                     self.ratios[i], None, None, None, None) for i in range(len(self.ratios))]


@dataclass
class Owner:
    id: str
    share: float
    basis: str
    paths: list[OwnerPath] = field(default_factory=list)
    evidence: list[str] = field(default_factory=list)


@dataclass
class OwnershipResult:
    company: str
    owners: list[Owner]
    subjects: dict[str, dict[str, Any]]
    truncated: bool


def ultimate_owners(graph: Graph, rules: Rules, company: str, threshold: float,
                    as_of: dt.date, max_paths: int = 5000) -> OwnershipResult:
    """Beneficial, declared, suspected and state owners of `company`; `max_paths` bounds the
    paths shown per owner (`truncated` when one has more), never the paths summed."""
    depth = rules.ownership.max_depth
    control_share = rules.ownership.control_share
    rows = graph.read_rows(share_paths(depth), {"id": company, "asOf": as_of,
                                                "maxPaths": max_paths})
    paths_by_owner: dict[str, list[OwnerPath]] = defaultdict(list)
    shares: dict[str, float] = {}
    counts: dict[str, int] = {}
    for row in rows:
        shares[row["owner"]] = row["share"]
        counts[row["owner"]] = row["count"]
        paths_by_owner[row["owner"]] = [OwnerPath(p["ids"], p["ratios"]) for p in row["paths"]]
    truncated = any(count > max_paths for count in counts.values())
    all_paths = [p for paths in paths_by_owner.values() for p in paths]
    control = graph.read(CONTROL, {"id": company, "asOf": as_of})
    declared = {row["id"] for row in control
                if row["type"] == RelationType.ACTUAL_CONTROLLER}
    officers = {row["id"] for row in control
                if row["type"] != RelationType.ACTUAL_CONTROLLER}
    ids = sorted(set(shares) | declared | {company} | {i for p in all_paths for i in p.ids})
    subjects = subjects_by_ids(graph, ids)

    def is_person(sid: str) -> bool:
        return bool(subjects.get(sid, {}).get("person"))

    def is_agency(sid: str) -> bool:
        return bool(subjects.get(sid, {}).get("agency"))

    owners: dict[str, Owner] = {}
    for sid, share in shares.items():
        # only the top of a chain counts: persons, or agencies (state ownership)
        if is_person(sid) and share >= threshold - 1e-9:
            owners[sid] = Owner(sid, share, "SHARE", paths_by_owner[sid],
                                [f"effective share {share:.2%}"])
        elif is_agency(sid):
            owners[sid] = Owner(sid, share, "STATE", paths_by_owner[sid],
                                [f"state ownership {share:.2%} through an agency"])
    for sid in declared:
        share = shares.get(sid, 0.0)
        # the declared tie is the path of a controller who holds no shares
        paths = paths_by_owner.get(sid) or [
            OwnerPath([sid, company], [None], RelationType.ACTUAL_CONTROLLER)]
        owners[sid] = Owner(sid, share, "ACTUAL_CONTROLLER", paths,
                            ["declared actual controller (实际控制人)"])
    if not declared:
        persons = {sid: share for sid, share in shares.items() if is_person(sid)}
        suspect = next((sid for sid, share in sorted(persons.items(), key=lambda kv: -kv[1])
                        if share > control_share), None)
        evidence = []
        if suspect:
            evidence = [f"effective share {persons[suspect]:.2%} > {control_share:.0%}"]
        else:
            candidates = [sid for sid, owner in owners.items()
                          if owner.basis == "SHARE" and sid in officers]
            if candidates:
                suspect = max(candidates, key=lambda sid: shares[sid])
                evidence = [f"largest beneficial owner ({shares[suspect]:.2%}) who is also "
                            "legal representative or director"]
        if suspect:
            owners[suspect] = Owner(suspect, shares[suspect], "SUSPECTED_CONTROLLER",
                                    paths_by_owner[suspect], evidence)
    for owner in owners.values():
        if counts.get(owner.id, 0) > len(owner.paths):
            owner.evidence.append(f"{counts[owner.id]} shareholding paths, "
                                  f"the {len(owner.paths)} strongest shown")
    ranked = sorted(owners.values(), key=lambda o: (o.basis == "STATE", -o.share, o.id))
    return OwnershipResult(company, ranked, subjects, truncated)
