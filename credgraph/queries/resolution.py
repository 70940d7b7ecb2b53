"""Entity resolution (SPEC §7, 关联补正): a record naming its subject without a usable id is
attached only to the subject that its name and the row's other evidence single out — never to
the likeliest of several.

Candidates are every subject sharing the name's core (an indexed lookup, so no namesake is
missed) and, where those do not decide, the CJK full-text index's nearest names and a near
match's namesakes; rapidfuzz ranks them on the cores (region names are evidence of where a
subject is, not part of what it is called — unless the subject is elsewhere: 凌云 in
德州市凌云商贸 is a 字号). Then:

1. name — the best must reach `threshold`; when the name itself names a region (禹城市…,
   宏达（禹城）…) only candidates lying there, or bearing that region name themselves, stay;
2. margin — candidates within `margin` of the best remain contenders (when the best bears the
   very core name, only those that do);
3. legal representative — the row's 法定代表人 (its 证件号码 when valid, else the name): a
   contender whose known legal representatives do not include it drops out;
4. mistyped code — of several contenders, the only one whose USCC the row's unusable code
   differs from by one character, or two neighbours swapped, is taken (a wrong check
   character is the commonest fault of a code typed by hand);
5. authority region — of several contenders, the only one in the issuing authority's region
   (a county bureau punishes in its county: the agency's region, else its USCC positions 3–8,
   else the region its name names) is taken — unless another contender is called what the name
   says and it is not (德州市宏达商贸 is never 禹城市宏达商贸 while a 德州市宏达商贸 exists).

One contender left is the match, with the evidence that agreed and the step that decided; none
is `unresolved subject` saying what failed; several is `unresolved subject: ambiguous`, naming
them (SPEC §7's reason for every row left unattached).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import lru_cache
from typing import Any

from rapidfuzz import fuzz

from credgraph.graph.driver import Graph
from credgraph.graph.model import Label, RelationType
from credgraph.rules import Rules
from credgraph.schema.names import (
    NameNormaliser,
    Place,
    SplitName,
    areas,
    code_prefix,
    person_name_norm,
    region_names,
    same_place,
)

_LUCENE_SPECIAL = re.compile(r'([+\-&|!(){}\[\]^"~*?:\\/])')
LEGAL = "LEGAL"  # a Lookup kind: any legal person (法人及非法人组织)
AMBIGUOUS = "unresolved subject: ambiguous"  # several subjects the evidence does not tell apart
BATCH = 100  # lookups per query
# characters of a name the full-text search looks for: each pair of CJK characters is a clause,
# and Lucene refuses a query of more than 1024 (a 4000-character name failed the whole load);
# longer names are still compared whole, and found by their core
SEARCHED_CHARS = 200

CANDIDATES = f"""
UNWIND $lookups AS q
OPTIONAL MATCH (authority:{Label.SUBJECT.value} {{id: q.authority}})
WHERE authority:{Label.AGENCY.value}
CALL (q) {{
  CALL (q) {{
    WITH q WHERE q.text <> ''
    CALL db.index.fulltext.queryNodes('subject_names', q.text, {{limit: $limit}}) YIELD node
    RETURN node
    UNION
    MATCH (node:{Label.SUBJECT.value}) WHERE node.nameNorm IN q.cores
    RETURN node LIMIT $namesakes
  }}
  WITH node
  WHERE (q.kind IS NULL OR node.kind = q.kind
         OR (q.kind = '{LEGAL}' AND node:{Label.LEGAL_PERSON.value}))
    AND (q.region IS NULL OR node.region STARTS WITH q.region)
  OPTIONAL MATCH (rep:{Label.NATURAL_PERSON.value})
                 -[:{RelationType.LEGAL_REPRESENTATIVE.value}]->(node)
  WITH node, collect(rep.name) AS repNames, collect(rep.id) AS repKeys
  RETURN collect({{id: node.id, name: node.name, kind: node.kind, region: node.region,
                   repNames: repNames, repKeys: repKeys}}) AS candidates
}}
RETURN collect({{i: q.i, authorityRegion: authority.region, candidates: candidates}}) AS rows
"""


class Evidence(StrEnum):
    """What a resolution rested on, as the correction report (关联补正) names it."""

    NAME = "name"
    REGION_PREFIX = "region prefix"
    LEGAL_REPRESENTATIVE = "legal representative"
    MISTYPED_CODE = "mistyped code"
    AUTHORITY_REGION = "authority region"


@dataclass(frozen=True)
class Lookup:
    """What a row says about the subject it names but does not identify."""

    name: str
    kind: str | None = None  # a SubjectKind value, or LEGAL for any legal person
    legal_rep: str | None = None
    legal_rep_key: str | None = None  # the representative's opaque person key
    authority: str | None = None  # the issuing authority's USCC
    authority_name: str | None = None
    mistyped: str | None = None  # the row's unusable organisation code, normalised


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
    candidates: list[Candidate]  # the contenders when ambiguous, else the strong matches
    reason: str
    evidence: tuple[Evidence, ...] = ()
    decided_by: Evidence | None = None


@dataclass(frozen=True)
class _Found:
    candidate: Candidate
    split: SplitName
    rep_names: frozenset[str]
    rep_keys: frozenset[str]

    @property
    def core(self) -> str:
        return self.split.core_at(self.candidate.region)

    def lies_in(self, place: Place) -> bool:
        own = {code for p in self.split.places for code in p.codes}
        return bool(place.codes & (areas(self.candidate.region) | own))


def _one_typo(code: str, typed: str) -> bool:
    """`typed` is `code` with one character wrong, or two neighbouring characters swapped."""
    if len(code) != len(typed) or code == typed:
        return False
    wrong = [i for i, (a, b) in enumerate(zip(code, typed, strict=True)) if a != b]
    return len(wrong) == 1 or (len(wrong) == 2 and wrong[1] == wrong[0] + 1
                               and code[wrong[0]] == typed[wrong[1]]
                               and code[wrong[1]] == typed[wrong[0]])


def lucene_query(text: str) -> str:
    """The text as terms only: special characters escaped, and lower case — the analyser folds
    case anyway, and AND, OR, NOT in capitals are the query parser's operators (a name 'AND'
    was a parse error, failing a search and aborting a load)."""
    return _LUCENE_SPECIAL.sub(r"\\\1", text.lower())


class Resolver:
    def __init__(self, graph: Graph, rules: Rules, normaliser: NameNormaliser) -> None:
        section = rules.resolution
        self.graph = graph
        self.normalise = normaliser
        self.threshold = section.threshold
        self.trade_name_chars = section.trade_name_chars
        self.margin = section.margin
        self.elsewhere = section.search_elsewhere
        self.part = section.search_part * 100
        self.namesake = section.search_namesake * 100
        self.limit = section.candidates
        self.namesakes = section.namesakes
        # legal forms shared by most names: matched by every company, they only slow the
        # full-text search down (the namesake lookup still compares whole cores)
        self.forms = sorted({*section.legal_forms.values(), "公司"}, key=len, reverse=True)
        # candidate names recur across lookups; splitting one costs ~10 µs
        self._split = lru_cache(maxsize=100_000)(normaliser.split)

    # -- candidates -------------------------------------------------------------------------
    def _fetch(self, lookups: Sequence[tuple[Lookup, SplitName]], limit: int,
               region: str | None = None, cores: Sequence[list[str]] | None = None
               ) -> list[tuple[list[_Found], str | None]]:
        """Per lookup: the scored candidates and the authority's region code prefix. Given
        `cores`, only the subjects bearing them are read (no full-text search)."""
        out: list[tuple[list[_Found], str | None]] = [([], None)] * len(lookups)
        params = [{"i": i, "text": "" if cores else lucene_query(self._searched(split)),
                   "cores": cores[i] if cores else split.cores(), "kind": lookup.kind,
                   "region": region, "authority": lookup.authority}
                  for i, (lookup, split) in enumerate(lookups) if split.core]
        for start in range(0, len(params), BATCH):
            rows = self.graph.read_rows(CANDIDATES, {
                "lookups": params[start:start + BATCH], "limit": limit,
                "namesakes": self.namesakes})
            for row in rows:
                lookup, split = lookups[row["i"]]
                found = [self._scored(split, c) for c in row["candidates"]]
                out[row["i"]] = (found, self._authority_region(lookup, row["authorityRegion"]))
        return out

    def _searched(self, split: SplitName) -> str:
        """What the full-text search looks for: the core without its legal form (matched by
        nearly every company, it only slows the search down), and the innermost leading
        county name, which may be a 字号 (凌云商贸) or tell a county's namesake."""
        core = split.core
        form = next((f for f in self.forms if core.endswith(f) and len(core) > len(f) + 1), "")
        text = core[: len(core) - len(form)][:SEARCHED_CHARS]
        inner = split.places[split.leading - 1] if split.leading else None
        if inner and all(len(code) == 6 for code in inner.codes):
            text += " " + inner.text
        return text

    def _scored(self, query: SplitName, row: dict[str, Any]) -> _Found:
        """A candidate scored on the cores: its own where it is, the query's keeping the region
        names it keeps (a region prefix is evidence, checked apart; a 字号 is not)."""
        split = self._split(row["name"] or "")
        region = row["region"]
        score = fuzz.ratio(*_compared(query, split, region))
        candidate = Candidate(row["id"], row["name"], row["kind"], region,
                              round(float(score), 2))
        return _Found(candidate, split, frozenset(row["repNames"]), frozenset(row["repKeys"]))

    def _authority_region(self, lookup: Lookup, graph_region: str | None) -> str | None:
        """The issuing authority's region: the loaded agency's, else its USCC's positions 3–8,
        else the region its name names (德州市德城区市场监督管理局 → 371402)."""
        code = graph_region or (lookup.authority[2:8] if lookup.authority else None)
        if code and len(code) == 6 and code.isdigit():
            return code_prefix(code)
        if lookup.authority_name:
            return self._split(lookup.authority_name).region()
        return None

    def candidates(self, name: str, kind: str | None, limit: int,
                   region: str | None = None) -> list[Candidate]:
        """Subjects by name for a search, best first (`_search_score`), among equals the one
        so called first."""
        split = self.normalise.split(name)
        found, _ = self._fetch([(Lookup(name, kind), split)], max(limit, self.limit),
                               region)[0]
        scored = [(f, self._search_score(split, f)) for f in found]
        scored.sort(key=lambda item: (-item[1], not _called(item[0], split),
                                      item[0].candidate.id))
        return [replace(f.candidate, score=score) for f, score in scored[:limit]]

    def _search_score(self, query: SplitName, found: _Found) -> float:
        """A search's score: the cores' similarity, at least `search_part` when the subject's
        core contains the one asked (a 字号, a branch named after its head office) — or its
        name does, with the leading place names its core lost (德州扒鸡 in
        山东德州扒鸡股份有限公司, 太仓港物流 in 太仓市太仓港物流: a 字号 that is the subject's own
        place), unless what is asked is only a place — at most `search_namesake` for a namesake
        in the place asked but called otherwise (昆山市市场监督管理局 for 苏州市市场监督管理局),
        lowered by `search_elsewhere` outside the place the name names."""
        asked, core = _compared(query, found.split, found.candidate.region)
        score = found.candidate.score
        named = "".join(p.text for p in found.split.places[: found.split.leading])
        if asked and (asked in core
                      or (asked not in region_names() and asked in named + found.split.core)):
            score = max(score, self.part)
        kept = found.split.kept_at(found.candidate.region)
        if not all(found.lies_in(p) for p in query.places):
            score *= self.elsewhere
        elif (query.places_keeping(kept) and found.candidate.score == 100
              and not _called(found, query)):
            # a name naming a place: a place that is the subject's 字号 (昆山饭店有限公司 for
            # 苏州市昆山饭店有限公司) names none
            score = min(score, self.namesake)
        return round(score, 2)

    # -- resolution -------------------------------------------------------------------------
    def resolve(self, lookup: Lookup) -> Resolution:
        return self.resolve_many([lookup])[0]

    def resolve_many(self, lookups: Sequence[Lookup]) -> list[Resolution]:
        """One resolution per lookup, the candidates read in batches: first the subjects
        bearing a core the name may have (index seeks); only where none of them decides — a
        typo, a name not registered — the full-text search's nearest names too."""
        splits = [(lookup, self.normalise.split(lookup.name)) for lookup in lookups]
        fetched = self._fetch(splits, self.limit, cores=[split.cores() for _, split in splits])
        results = [self._decide(lookup, split, found, authority_region)
                   for (lookup, split), (found, authority_region) in zip(splits, fetched,
                                                                          strict=True)]
        fuzzy = [i for i, result in enumerate(results) if not _by_core(result)]
        for i, (found, authority_region) in zip(
                fuzzy, self._fetch([splits[i] for i in fuzzy], self.limit), strict=True):
            fetched[i] = found, authority_region
            lookup, split = splits[i]
            results[i] = self._decide(lookup, split, found, authority_region)
        # A near match may have namesakes the full-text search ranked too low to be read:
        # read them by the match's core and decide again.
        near: list[tuple[int, list[str]]] = []
        for i, result in enumerate(results):
            if result.match and result.match.score < 100:
                matched = result.match.id
                near.append((i, [next(f.core for f in fetched[i][0]
                                      if f.candidate.id == matched)]))
        more = self._fetch([splits[i] for i, _ in near], self.limit,
                           cores=[cores for _, cores in near])
        for (i, _), (extra, _) in zip(near, more, strict=True):
            found, authority_region = fetched[i]
            seen = {f.candidate.id for f in found}
            merged = found + [f for f in extra if f.candidate.id not in seen]
            lookup, split = splits[i]
            results[i] = self._decide(lookup, split, merged, authority_region)
        return results

    def _decide(self, lookup: Lookup, split: SplitName, found: list[_Found],
                authority_region: str | None) -> Resolution:
        ranked = sorted(found, key=lambda f: (-f.candidate.score, f.candidate.id))
        if sum(f.candidate.score == 100 for f in ranked) >= self.namesakes:
            return _refused(ranked[:5], f"{AMBIGUOUS}, {self.namesakes} or more subjects "
                                        "share the name")
        if not ranked or ranked[0].candidate.score < self.threshold:
            return _refused([], "unresolved subject: no name match strong enough")
        evidence = [Evidence.NAME]
        by_name = self._contenders(ranked)
        if split.places:
            evidence.append(Evidence.REGION_PREFIX)
            ranked = [f for f in ranked if all(f.lies_in(p) for p in split.places)]
            if not ranked or ranked[0].candidate.score < self.threshold:
                where = "".join(p.text for p in split.places)
                return _refused(by_name, f"unresolved subject: no strong name match in {where}")
        contenders = self._contenders(ranked)
        decided = None
        if len(by_name) > 1 and len(contenders) == 1:
            decided = Evidence.REGION_PREFIX

        rep = _representative(lookup)
        if rep is not None:
            evidence.append(Evidence.LEGAL_REPRESENTATIVE)
            kept = [f for f in contenders if _rep_agrees(f, lookup) is not False]
            if not kept:
                return _refused(contenders, "unresolved subject: the legal representative "
                                            "named matches no candidate")
            if len(contenders) > 1 and len(kept) == 1:
                decided = Evidence.LEGAL_REPRESENTATIVE
            contenders = kept

        if len(contenders) > 1 and lookup.mistyped:
            near = [f for f in contenders if _one_typo(f.candidate.id, lookup.mistyped)]
            if len(near) == 1:
                contenders, decided = near, Evidence.MISTYPED_CODE
        if len(contenders) > 1 and authority_region:
            local = [f for f in contenders if authority_region in areas(f.candidate.region)]
            # the authority never overrides the name: 德州市宏达商贸 punished by 禹城's bureau is
            # not 禹城市宏达商贸 while a 德州市宏达商贸 exists
            called = [f for f in contenders if _called(f, split)]
            if len(local) == 1 and (not called or local[0] in called):
                contenders, decided = local, Evidence.AUTHORITY_REGION
        if len(contenders) > 1:
            named = "; ".join(f"{f.candidate.id} {f.candidate.name}" for f in contenders[:5])
            more = f" and {len(contenders) - 5} more" if len(contenders) > 5 else ""
            return _refused(contenders, f"{AMBIGUOUS}, {len(contenders)} candidates "
                                        f"({named}{more})")

        match = contenders[0]
        if not self._same_trade_name(split, match):
            # still a contender above: a name near two companies is ambiguous, not the other's
            return _refused([match], "unresolved subject: the name begins otherwise than "
                                     f"{match.candidate.name} (another 字号?)")
        differs = _other_place_or_number(split, match)
        if differs:
            return _refused([match], f"unresolved subject: the name says {differs[0]} where "
                                     f"{match.candidate.name} says {differs[1]}")
        agreed = [e for e in evidence
                  if e is not Evidence.LEGAL_REPRESENTATIVE or _rep_agrees(match, lookup)]
        if lookup.mistyped and _one_typo(match.candidate.id, lookup.mistyped):
            agreed.append(Evidence.MISTYPED_CODE)
        if authority_region and authority_region in areas(match.candidate.region):
            agreed.append(Evidence.AUTHORITY_REGION)
        strong = [f.candidate for f in ranked if f.candidate.score >= self.threshold]
        return Resolution(match.candidate, strong,
                          f"resolved by {(decided or Evidence.NAME).value}",
                          tuple(agreed), decided or Evidence.NAME)

    def _same_trade_name(self, query: SplitName, found: _Found) -> bool:
        """An approximate match begins as its candidate does: one of the first
        `trade_name_chars` characters of the two cores compared by `_scored` agree in place.
        A typo elsewhere in the 字号 or 行业 passes; 信民电子科技 for 瑞信电子科技 — a 字号 of
        another company, 90 by the whole name's similarity — does not."""
        n = self.trade_name_chars
        if found.candidate.score == 100 or n == 0:
            return True
        asked, named = _compared(query, found.split, found.candidate.region)
        return any(a == b for a, b in zip(asked[:n], named[:n], strict=False))

    def _contenders(self, ranked: list[_Found]) -> list[_Found]:
        """Candidates as good as the best by name: within the margin of it, strong or not —
        or, when the best bears the very core name, only those that do (a name one character
        longer is another company: 银嘉建筑工程 is not 银嘉黄建筑工程)."""
        if not ranked:
            return []
        best = ranked[0].candidate.score
        if best == 100:
            return [f for f in ranked if f.candidate.score == 100]
        return [f for f in ranked if best - f.candidate.score < self.margin]


_NUMERALS = frozenset("0123456789〇零一二三四五六七八九十百千")


def _places_in(core: str) -> set[str]:
    """The region names of the table written anywhere in a core (陵城 in
    华信商贸有限公司陵城分公司)."""
    names = region_names()
    return {core[i:j] for i in range(len(core)) for j in range(i + 2, min(len(core), i + 8) + 1)
            if core[i:j] in names}


def _other_place_or_number(query: SplitName, found: _Found) -> tuple[str, str] | None:
    """What an approximate match (under 100) names otherwise than its candidate: a place
    (华信商贸有限公司陵城分公司 is not its 禹城分公司) or a number (第二建筑工程 is not
    第一建筑工程) — another subject, though one character off a long core reaches the
    threshold. None when the two agree in both, or the match is exact."""
    if found.candidate.score == 100:
        return None
    asked, named = _compared(query, found.split, found.candidate.region)
    ours, theirs = _places_in(asked), _places_in(named)
    # a typo may break a place name that is a 字号 (东万 for 东方): only a place on each side
    # that the other does not name is another place
    if ours - theirs and theirs - ours:
        return "、".join(sorted(ours - theirs)), "、".join(sorted(theirs - ours))
    digits = ("".join(c for c in asked if c in _NUMERALS),
              "".join(c for c in named if c in _NUMERALS))
    if digits[0] != digits[1]:
        return digits[0] or "no number", digits[1] or "no number"
    return None


def _compared(query: SplitName, split: SplitName, region: str | None) -> tuple[str, str]:
    """The two cores a candidate is scored on: its own where it is, the query's keeping the
    region names the candidate's keeps (德州市凌云商贸 in 德城区 keeps its 凌云, a 字号)."""
    kept = split.kept_at(region)
    return query.core_keeping(kept), "".join(kept) + split.core


def _called(found: _Found, split: SplitName) -> bool:
    """The candidate is called what the name says: the very core, and the same place named
    (德州市宏达商贸 is not 禹城市宏达商贸 nor 德州市陵城区宏达商贸, though all lie in 德州)."""
    if found.candidate.score != 100:
        return False
    kept = found.split.kept_at(found.candidate.region)
    return same_place(split.places_keeping(kept), found.split.named_places(found.candidate.region))


def _representative(lookup: Lookup) -> str | None:
    return lookup.legal_rep_key or (lookup.legal_rep or "").strip() or None


def _rep_agrees(found: _Found, lookup: Lookup) -> bool | None:
    """True or False when the candidate's legal representatives are known, else None."""
    if lookup.legal_rep_key and found.rep_keys:
        return lookup.legal_rep_key in found.rep_keys
    name = person_name_norm(lookup.legal_rep or "")
    if name and found.rep_names:
        # folded as a person's nameNorm is: 李　秀英 with an ideographic space, 張建國, are
        # the 李秀英 and 张建国 a natural_persons row wrote
        return name in {person_name_norm(rep) for rep in found.rep_names}
    return None


def _by_core(result: Resolution) -> bool:
    """Decided among subjects bearing the very core name: nearer names cannot change it."""
    if result.match is not None:
        return result.match.score == 100
    return result.reason.startswith(AMBIGUOUS) and all(
        c.score == 100 for c in result.candidates)


def _refused(found: list[_Found], reason: str) -> Resolution:
    return Resolution(None, [f.candidate for f in found], reason)
