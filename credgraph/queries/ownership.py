"""Ownership penetration (股权穿透) and beneficial owners (受益所有人, SPEC §8).

Effective share of O in C = Σ over simple live SHAREHOLDER paths O→…→C of Π ratios. Cypher
reads the live shareholdings above the indexed company layer by layer, bounded in depth; the
simple paths through them are summed here per owner (every path, at most [ownership]
path_budget of them; only the paths shown are bounded in count). The thresholds and the
suspected controller are decided here.
"""

from __future__ import annotations

import datetime as dt
import heapq
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

# The live shareholdings of a layer of subjects: who holds shares in them, and how much.
HOLDERS = f"""
UNWIND $ids AS owned
MATCH (:Subject {{id: owned}})<-[r:{RelationType.SHAREHOLDER.value}]-(o:Subject)
WHERE {live("r")}
RETURN collect({{owner: o.id, owned: owned, ratio: r.ratio}}) AS rows
"""


class TooManyPaths(RuntimeError):
    """More simple shareholding paths than [ownership] path_budget: the share is not summed."""


def holdings(graph: Graph, company: str, max_depth: int,
             as_of: dt.date) -> dict[str, list[tuple[str, float | None]]]:
    """Owned subject → its live shareholders with their ratios, for every subject within
    `max_depth` - 1 hops above `company`: each layer read once, one round trip a layer, so
    no walk is enumerated by Cypher (a variable-length pattern enumerates every walk that
    repeats no relation — millions in a group of six companies holding shares in each other,
    for a few hundred simple paths)."""
    above: dict[str, list[tuple[str, float | None]]] = {}
    seen = {company}
    layer = [company]
    for _ in range(max_depth):
        if not layer:
            break
        found: list[str] = []
        for row in graph.read_rows(HOLDERS, {"ids": layer, "asOf": as_of}):
            above.setdefault(row["owned"], []).append((row["owner"], row["ratio"]))
            if row["owner"] not in seen:
                seen.add(row["owner"])
                found.append(row["owner"])
        layer = found
    return above


@dataclass
class ShareSums:
    shares: dict[str, float] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    # owner → its strongest paths as a min-heap of (share, order, path)
    shown: dict[str, list[tuple[float, int, OwnerPath]]] = field(default_factory=dict)


def sum_paths(above: dict[str, list[tuple[str, float | None]]], company: str, max_depth: int,
              max_paths: int, budget: int) -> ShareSums:
    """Σ over simple paths owner → … → company of Π ratios, per owner (SPEC §8: cycles
    ignored, at most `max_depth` hops), with its path count and its `max_paths` strongest
    paths. A path never returns to a subject it holds already, so a cycle ends it."""
    sums = ShareSums()
    nodes = [company]
    ratios: list[float | None] = []
    on_path = {company}
    order = 0

    def visit(node: str, share: float) -> None:
        nonlocal order
        for owner, ratio in above.get(node, ()):
            if owner in on_path:
                continue
            held = share * (ratio or 0.0)
            nodes.append(owner)
            ratios.append(ratio)
            order += 1
            if order > budget:
                raise TooManyPaths(f"more than {budget} shareholding paths above the company")
            sums.shares[owner] = sums.shares.get(owner, 0.0) + held
            sums.counts[owner] = sums.counts.get(owner, 0) + 1
            heap = sums.shown.setdefault(owner, [])
            if len(heap) < max_paths or held > heap[0][0]:
                path = OwnerPath(nodes[::-1], ratios[::-1])
                item = (held, -order, path)
                if len(heap) < max_paths:
                    heapq.heappush(heap, item)
                else:
                    heapq.heapreplace(heap, item)
            if len(ratios) < max_depth:
                on_path.add(owner)
                visit(owner, held)
                on_path.discard(owner)
            nodes.pop()
            ratios.pop()

    visit(company, 1.0)
    return sums


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
                    as_of: dt.date) -> OwnershipResult:
    """Beneficial, declared, suspected and state owners of `company`; `[ownership]
    paths_shown` bounds the paths shown per owner (`truncated` when one has more), never the
    paths summed."""
    max_paths = rules.ownership.paths_shown
    depth = rules.ownership.max_depth
    control_share = rules.ownership.control_share
    sums = sum_paths(holdings(graph, company, depth, as_of), company, depth, max_paths,
                     rules.ownership.path_budget)
    shares, counts = sums.shares, sums.counts
    # strongest first (the first found among equals)
    paths_by_owner: dict[str, list[OwnerPath]] = defaultdict(list, {
        owner: [path for _, _, path in sorted(heap, key=lambda item: (-item[0], -item[1]))]
        for owner, heap in sums.shown.items()})
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
