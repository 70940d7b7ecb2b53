"""Entity resolution (SPEC §7, 关联补正): candidates from the CJK full-text index, ranked with
rapidfuzz on normalised names, accepted only above a threshold and with a margin."""

from __future__ import annotations

import re
from dataclasses import dataclass

from rapidfuzz import fuzz

from credgraph.graph.driver import Graph
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')

CANDIDATES = """
CALL db.index.fulltext.queryNodes('subject_names', $query, {limit: $limit * 4})
YIELD node, score
WHERE ($kind IS NULL OR node.kind = $kind OR ($kind = 'LEGAL' AND node:LegalPerson))
  AND ($region IS NULL OR node.region STARTS WITH $region)
WITH node LIMIT $limit
OPTIONAL MATCH (rep:NaturalPerson)-[:LEGAL_REPRESENTATIVE]->(node)
WITH node, collect(rep.name) AS representatives
RETURN collect({id: node.id, name: node.name, nameNorm: node.nameNorm, kind: node.kind,
                region: node.region, representatives: representatives}) AS rows
"""


@dataclass(frozen=True)
class Candidate:
    id: str
    name: str
    kind: str
    region: str | None
    score: float


@dataclass(frozen=True)
class Resolution:
    match: Candidate | None
    candidates: list[Candidate]
    reason: str


def lucene_query(text: str) -> str:
    return _LUCENE_SPECIAL.sub(r"\\\1", text)


class Resolver:
    def __init__(self, graph: Graph, rules: Rules, normaliser: NameNormaliser) -> None:
        section = rules.resolution
        self.graph = graph
        self.normalise = normaliser
        self.threshold = section.threshold
        self.margin = section.margin
        self.limit = section.candidates

    def candidates(self, name: str, kind: str | None = None, limit: int | None = None,
                   legal_rep: str | None = None, region: str | None = None) -> list[Candidate]:
        norm = self.normalise(name)
        if not norm:
            return []
        query = " OR ".join(lucene_query(t) for t in {norm, name.strip()} if t)
        rows = self.graph.read_rows(CANDIDATES, {"query": query,
                                                 "limit": (limit or self.limit) * 3,
                                                 "kind": kind, "region": region})
        ranked = []
        for row in rows:
            score = float(fuzz.ratio(norm, row["nameNorm"] or self.normalise(row["name"])))
            if legal_rep and row["representatives"] and legal_rep not in row["representatives"]:
                score -= 20.0  # a named legal representative who does not match weakens it
            ranked.append(Candidate(row["id"], row["name"], row["kind"], row["region"],
                                    round(max(score, 0.0), 2)))
        ranked.sort(key=lambda c: (-c.score, c.id))
        return ranked[: limit or self.limit]

    def resolve(self, name: str, kind: str | None = None,
                legal_rep: str | None = None) -> Resolution:
        """The unique strong match, or None with the reason it was refused."""
        ranked = self.candidates(name, kind, legal_rep=legal_rep)
        if not ranked or ranked[0].score < self.threshold:
            return Resolution(None, ranked, "unresolved subject: no name match strong enough")
        best = ranked[0]
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if best.score - runner_up < self.margin:
            return Resolution(None, ranked,
                              "unresolved subject: ambiguous name "
                              f"({best.name} {best.score:.0f} vs {ranked[1].name} "
                              f"{runner_up:.0f})")
        return Resolution(best, ranked, "resolved by name")
