"""Government integrity (政务诚信, SPEC §8): patterns G1–G5, each finding with its evidence
path; the agency and county roll-ups; the procurement pre-check (信用+审批 前置核查).

Each pattern is one set-based Cypher query over the city (or one agency, or one official),
starting from the few `:Agency` nodes or an indexed id and walking bounded hops over relations
live at the date that matters: the report's date for G1, G2 and G5, the signing date for G3 and
G4 (an award is judged by what was true when it was made). Severities, scores and the words of
each finding are computed here, every number from the rules file's [integrity] section.
"""

from __future__ import annotations

import datetime as dt
import html
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    CONTROL_RELATIONS,
    INTEGRITY_PATTERN_ZH,
    OFFICER_RELATIONS,
    RELATIONS,
    EscalationLevel,
    EscalationStatus,
    IntegrityPattern,
    Label,
    Link,
    PartyRole,
    RecordKind,
    RecordStatus,
    RelationType,
    Severity,
    converse_kinship,
    label_predicate,
    types_pattern,
)
from credgraph.outputs import write_text
from credgraph.queries.escalation import earliest_confirmation, state_on
from credgraph.queries.fragments import in_force, live, record_authority
from credgraph.queries.neighbourhood import Edge, as_date
from credgraph.queries.subjects import SUBJECT_SUMMARY, subjects_by_ids
from credgraph.rules import IntegrityRules, Rules
from credgraph.schema.privacy import mask_name
from credgraph.schema.regions import region_name

SUBJECT = Label.SUBJECT.value
AGENCY = Label.AGENCY.value
LEGAL_PERSON = Label.LEGAL_PERSON.value
NATURAL_PERSON = Label.NATURAL_PERSON.value
CONTRACT = Label.CONTRACT.value
LISTING = Label.LISTING.value
ESCALATION = Label.ESCALATION.value
HAS_RECORD = Link.HAS_RECORD.value
HAS_ESCALATION = Link.HAS_ESCALATION.value
SERVES_IN = RelationType.SERVES_IN.value
FAMILY = RelationType.FAMILY.value
SHAREHOLDER = RelationType.SHAREHOLDER.value
SUBORDINATE_TO = RelationType.SUBORDINATE_TO.value
# G3: how a person stands behind a company — control, shares or office (SPEC §8).
TIES = (*CONTROL_RELATIONS, RelationType.SHAREHOLDER, *OFFICER_RELATIONS)
JUDGMENT_LABEL = label_predicate("r", (RecordKind.JUDGMENT,))
LISTING_LABEL = label_predicate("r", (RecordKind.LISTING,))
PENALTY_LABEL = label_predicate("r", (RecordKind.PENALTY,))
SEVERITY_ORDER = {Severity.SEVERE: 0, Severity.GENERAL: 1, Severity.MINOR: 2}
LEVEL_ZH: dict[str, str] = {
    EscalationLevel.FOCUS.value: "重点关注",
    EscalationLevel.SEVERE_PROPOSED.value: "拟列入严重失信主体名单",
    EscalationLevel.SEVERE.value: "严重失信",
}

def record_fields(record: str) -> str:
    """What a finding shows of each record (the display fields and the dates the words need),
    as a map projection of `record`."""
    return (".id, .kind, .domain, .severity, .status, .date, .title, "
            f"{record_authority(record)}, .listType, .listedOn, .removedOn, .caseNo, .dueOn, "
            ".fulfilledOn, .amount, .court, .signedOn, .contractKind, .govDefault, "
            ".subjectDefault, .performance, .publicityUntil, .category")
ESCALATION_FIELDS = (".id, .level, .status, .since, .confirmedOn, .liftedOn, .measures, .rules, "
                     ".history")


def _edge(rel: str) -> str:
    """A relation as an evidence step: stored direction, type, and what qualifies it."""
    return (f"{{source: startNode({rel}).id, target: endNode({rel}).id, type: type({rel}), "
            f"ratio: {rel}.ratio, role: coalesce({rel}.role, {rel}.position), kind: {rel}.kind, "
            f"start: {rel}.start, end: {rel}.end}}")


def _signed(contract: str) -> str:
    return f"coalesce({contract}.signedOn, {contract}.date)"


def _exists(record: str, at: str = "$asOf") -> str:
    return f"coalesce({record}.date, {at}) <= {at}"


def _listed(record: str, at: str = "$asOf") -> str:
    """A listing in force at a date: listed on or before it, not removed by then."""
    return (f"coalesce({record}.listedOn, {record}.date) <= {at} "
            f"AND ({record}.removedOn IS NULL OR {record}.removedOn > {at})")


def _historied(escalation: str) -> str:
    """An escalation node with a history: which level it had on a date is read from the history
    in Python (`standing`), since the node keeps one subject's escalations across lifts and
    re-openings and its current level says nothing of an earlier date."""
    return f"size(coalesce({escalation}.history, [])) > 0"


def _escalated(escalation: str, at: str) -> str:
    """An escalation standing at a date: reached (confirmed, for SEVERE) on or before it and
    not lifted by then; a LIFTED one without a date never stands. Its dates are read with
    date(), so a date-time or an ISO string compares as its day."""
    e = escalation
    return (f"date(coalesce({e}.confirmedOn, {e}.since)) <= {at} "
            f"AND (({e}.liftedOn IS NULL AND coalesce({e}.status, '') <> $lifted) "
            f"OR date({e}.liftedOn) > {at})")


def _agencies(one: bool) -> str:
    """The agencies a report covers: one by its indexed id, or all (few) within a region."""
    if one:
        return (f"MATCH (a:{SUBJECT} {{id: $agency}}) "
                f"WHERE a:{AGENCY} AND coalesce(a.region, '') STARTS WITH $region")
    return f"MATCH (a:{AGENCY}) WHERE coalesce(a.region, '') STARTS WITH $region"


def agencies_query(one: bool) -> str:
    return f"{_agencies(one)}\nRETURN collect(a.id) AS rows"


def g1_query(one: bool) -> str:
    """G1 失信政府机构: a judgment against the agency unfulfilled after its due date, or the
    agency on a debtor list (失信被执行人)."""
    return f"""
{_agencies(one)}
CALL (a) {{
  MATCH (a)-[h:{HAS_RECORD}]->(r)
  WHERE {_exists("r")} AND {in_force("r")}
    AND (({JUDGMENT_LABEL} AND h.role = $debtor AND r.dueOn < $asOf
          AND (r.fulfilledOn IS NULL OR r.fulfilledOn > $asOf))
      OR ({LISTING_LABEL} AND h.role = $subjectRole AND r.listType IN $debtorLists
          AND {_listed("r")}))
  RETURN collect(r {{{record_fields('r')},
    creditor: [(c)-[:{HAS_RECORD} {{role: $creditor}}]->(r) | c.id][0]}}) AS records
}}
WITH a, records WHERE size(records) > 0
RETURN collect({{agency: a.id, records: records}}) AS rows
"""


def g2_query(one: bool) -> str:
    """G2 政府违约: a contract recorded as 政府方违约, or one of the agency past its due date
    and not fulfilled where the source says nothing of who defaulted (政府方违约 blank) and
    the counterparty is not the one in default; 政府方违约 = 否 clears the agency, and so does
    a 履约状态 saying it was performed when no 履约日期 tells when."""
    return f"""
{_agencies(one)}
MATCH (a)-[:{HAS_RECORD} {{role: $agencyRole}}]->(k:{CONTRACT})
WHERE {_signed("k")} <= $asOf AND {in_force("k")}
  AND (k.fulfilledOn > $asOf
       OR (k.fulfilledOn IS NULL AND NOT coalesce(k.fulfilledUndated, false)))
  AND ((k.dueOn < $asOf AND (coalesce(k.govDefault, false)
                             OR (k.govDefault IS NULL
                                 AND NOT coalesce(k.subjectDefault, false))))
       OR (k.dueOn IS NULL AND coalesce(k.govDefault, false)))
RETURN collect({{agency: a.id, record: k {{{record_fields('k')},
  counterparty: [(x)-[:{HAS_RECORD} {{role: $counterparty}}]->(k) | x.id][0]}}}}) AS rows
"""


def g3_query(scope: str, hops: int) -> str:
    """G3 利益冲突: official O serves in A when A signs contract C with company X, and O or O's
    family is tied to X or to a company owning X (≤ hops SHAREHOLDER steps) — every relation
    live on the signing date. `scope`: city, agency or official (the indexed start)."""
    if scope == "official":
        head = (f"MATCH (o:{SUBJECT} {{id: $official}})-[s:{SERVES_IN}]->(a:{AGENCY})\n"
                f"WHERE ($agency IS NULL OR a.id = $agency) "
                f"AND coalesce(a.region, '') STARTS WITH $region")
    else:
        head = f"{_agencies(scope == 'agency')}\nMATCH (o:{SUBJECT})-[s:{SERVES_IN}]->(a)"
    return f"""
{head}
MATCH (o)-[fam:{FAMILY}*0..1]-(p:{NATURAL_PERSON})
MATCH (p)-[t:{types_pattern(TIES)}]->(y:{LEGAL_PERSON})
MATCH chain = (y)-[:{SHAREHOLDER}*0..{int(hops)}]->(x:{LEGAL_PERSON})
MATCH (x)-[:{HAS_RECORD} {{role: $counterparty}}]->(k:{CONTRACT})
      <-[:{HAS_RECORD} {{role: $agencyRole}}]-(a)
WITH o, s, a, fam, t, chain, x, k, {_signed("k")} AS signed
WHERE signed <= $asOf AND {in_force("k")}
  AND {live("s", "signed")} AND {live("t", "signed")}
  AND all(f IN fam WHERE {live("f", "signed")})
  AND all(r IN relationships(chain) WHERE {live("r", "signed")})
  AND all(i IN range(0, size(nodes(chain)) - 2)
          WHERE NOT nodes(chain)[i] IN nodes(chain)[i + 1..])
WITH o, s, a, fam, t, chain, x, k LIMIT $maxPaths
RETURN collect({{official: o.id, agency: a.id, company: x.id, serves: {_edge("s")},
  family: [f IN fam | {_edge("f")}], tie: {_edge("t")},
  chain: [r IN relationships(chain) | {_edge("r")}],
  record: k {{{record_fields('k')}}}}}) AS rows
"""


def g4_query(one: bool) -> str:
    """G4: a contract signed while the supplier stood on a severe list, or under an escalation
    that bars it from procurement — judged on the signing date."""
    return f"""
{_agencies(one)}
MATCH (a)-[:{HAS_RECORD} {{role: $agencyRole}}]->(k:{CONTRACT})
      <-[:{HAS_RECORD} {{role: $counterparty}}]-(x:{SUBJECT})
WITH a, k, x, {_signed("k")} AS signed
WHERE signed <= $asOf AND {in_force("k")}
CALL (x, signed) {{
  MATCH (x)-[:{HAS_RECORD} {{role: $subjectRole}}]->(l:{LISTING})
  WHERE l.listType IN $severeLists AND {_listed("l", "signed")} AND {in_force("l", "signed")}
    AND NOT (l.status = $revoked AND coalesce(l.revokedOn, $asOf) <= $asOf)
  RETURN collect(l {{{record_fields('l')}}}) AS listings
}}
CALL (x, signed) {{
  MATCH (x)-[:{HAS_ESCALATION}]->(e:{ESCALATION})
  WHERE {_historied("e")} OR {_escalated("e", "signed")}
  RETURN collect(e {{{ESCALATION_FIELDS}}}) AS escalations
}}
WITH a, k, x, listings, escalations WHERE size(listings) + size(escalations) > 0
RETURN collect({{agency: a.id, supplier: x.id, record: k {{{record_fields('k')}}},
                listings: listings, escalations: escalations}}) AS rows
"""


def g5_query(one: bool) -> str:
    """G5: officials serving at the date with an active listing or a counted penalty."""
    return f"""
{_agencies(one)}
MATCH (o:{SUBJECT})-[s:{SERVES_IN}]->(a)
WHERE {live("s")}
CALL (o) {{
  MATCH (o)-[:{HAS_RECORD} {{role: $subjectRole}}]->(r)
  WHERE {_exists("r")} AND {in_force("r")}
    AND (({LISTING_LABEL} AND {_listed("r")})
      OR ({PENALTY_LABEL} AND r.severity IN $penaltySeverities
          AND (r.publicityUntil IS NULL OR r.publicityUntil >= $asOf)))
  RETURN collect(r {{{record_fields('r')}}}) AS records
}}
WITH a, o, s, records WHERE size(records) > 0
RETURN collect({{agency: a.id, official: o.id, serves: {_edge("s")}, records: records}}) AS rows
"""


def chains_query(depth: int) -> str:
    """SUBORDINATE_TO chains up from each agency (隶属), bounded, as they stood on a day: each
    `{agency, at}` of `$pairs` gives the chains live at `at` (the report's date for G1 and G2,
    the signing day for G4); a chain never comes back to an agency already on it (a 隶属 loop
    in the data: no agency is its own superior)."""
    return f"""
UNWIND $pairs AS pair
MATCH (a:{SUBJECT} {{id: pair.agency}})
RETURN collect({{agency: pair.agency, at: pair.at,
  chains: [p = (a)-[:{SUBORDINATE_TO}*1..{int(depth)}]->(:{AGENCY})
  WHERE all(r IN relationships(p) WHERE {live("r", "pair.at")})
    AND all(i IN range(1, length(p)) WHERE NOT nodes(p)[i] IN nodes(p)[0..i])
  | [r IN relationships(p) | {_edge("r")}]]
}}) AS rows
"""


OFFICIALS = f"""
UNWIND $ids AS aid
MATCH (o:{SUBJECT})-[s:{SERVES_IN}]->(:{SUBJECT} {{id: aid}})
WHERE s.start IS NULL OR s.start <= $asOf
RETURN collect({_edge("s")}) AS rows
"""

# One round trip: the supplier (by any of its candidate keys) and everything that may bar it.
PROCUREMENT = f"""
MATCH (s:{SUBJECT}) WHERE s.id IN $keys
WITH s LIMIT 1
CALL (s) {{
  MATCH (s)-[:{HAS_RECORD} {{role: $subjectRole}}]->(l:{LISTING})
  WHERE {_listed("l")} AND {in_force("l")}
  RETURN collect(l {{{record_fields('l')}}}) AS listings
}}
CALL (s) {{
  MATCH (s)-[:{HAS_ESCALATION}]->(e:{ESCALATION})
  WHERE {_historied("e")} OR {_escalated("e", "$asOf")}
  RETURN collect(e {{{ESCALATION_FIELDS}}}) AS escalations
}}
CALL (s) {{
  MATCH (p:{SUBJECT})-[t:{types_pattern(CONTROL_RELATIONS)}]->(s)
  WHERE {live("t")}
  RETURN collect({{edge: {_edge("t")}, person: p {{.id, .name, person: p:{NATURAL_PERSON}}},
    listings: [(p)-[:{HAS_RECORD} {{role: $subjectRole}}]->(l:{LISTING})
               WHERE l.listType IN $severeLists AND {_listed("l")} AND {in_force("l")}
               | l {{{record_fields('l')}}}],
    escalations: [(p)-[:{HAS_ESCALATION}]->(e:{ESCALATION})
                  WHERE {_historied("e")} OR {_escalated("e", "$asOf")}
                  | e {{{ESCALATION_FIELDS}}}]}}) AS persons
}}
RETURN {{supplier: s {{{SUBJECT_SUMMARY}, labels: labels(s)}}, listings: listings,
        escalations: escalations, persons: persons}} AS check
"""


SERVED = f"""
MATCH (o:{SUBJECT} {{id: $id}})
RETURN o:{Label.OFFICIAL.value} OR EXISTS {{ (o)-[:{SERVES_IN}]->() }} AS served
"""


def has_served(graph: Graph, person: str) -> bool:
    """An official: labelled so by the officials file, or with a 任职 relation on record."""
    rows = graph.read(SERVED, {"id": person})
    return bool(rows and rows[0]["served"])


def parameters(rules: Rules, as_of: dt.date, **given: Any) -> dict[str, Any]:
    section = rules.integrity
    return {
        "asOf": as_of, "agency": None, "official": None, "region": "",
        "debtor": PartyRole.DEBTOR.value, "creditor": PartyRole.CREDITOR.value,
        "subjectRole": PartyRole.SUBJECT.value, "agencyRole": PartyRole.AGENCY.value,
        "counterparty": PartyRole.COUNTERPARTY.value,
        "debtorLists": list(section.debtor_lists), "severeLists": list(rules.listings.severe),
        "penaltySeverities": [s.value for s in section.official_penalty_severities],
        "lifted": EscalationStatus.LIFTED.value,
        "revoked": RecordStatus.REVOKED.value, "maxPaths": section.max_paths + 1,
        **{key: value for key, value in given.items() if value is not None},
    }


# -- findings ----------------------------------------------------------------------------------
Namer = Callable[[str], str]


def edge_of(row: dict[str, Any]) -> Edge:
    return Edge(row["source"], row["target"], row["type"], row.get("ratio"), row.get("role"),
                row.get("kind"), as_date(row.get("start")), as_date(row.get("end")))


def _day(value: Any) -> str:
    found = as_date(value)
    return found.isoformat() if found else "日期不详"


def _notice(escalation: dict[str, Any], as_of: dt.date, rules: Rules) -> str:
    """Where a proposal (拟列入) stands in its notice period (告知异议期) on the day asked."""
    since = as_date(escalation.get("proposedOn") or escalation.get("since"))
    if since is None:
        return "告知异议期不详"
    ends = earliest_confirmation(rules, since)
    if as_of < ends:
        return f"尚在告知异议期（{ends.isoformat()} 起可确认）"
    return f"告知异议期已满（{ends.isoformat()} 起可确认），待确认"


def _amount(value: Any) -> str:
    return f"{value:g} 万元" if isinstance(value, int | float) else "金额不详"


def _ratio(value: Any) -> str:
    return f"{value * 100:.4g}%" if isinstance(value, int | float) else ""


def step_words(edge: Edge, name: Namer, as_of: str | None = None) -> str:
    """One evidence step in words: 李*华 —法定代表人（2019-03-01 起）→ 某某公司. An end after
    `as_of` (ISO) had not come on that date: a back-dated report does not tell it."""
    spec = RELATIONS[RelationType(edge.type)]
    label = edge.kind if edge.type == FAMILY and edge.kind else spec.zh
    ended = edge.end is not None and (as_of is None or edge.end.isoformat() <= as_of)
    detail = [part for part in (
        _ratio(edge.ratio),
        edge.role if edge.role and edge.role != spec.zh else "",
        f"{edge.start.isoformat()} 起" if edge.start else "",
        f"至 {edge.end.isoformat()}" if edge.end and ended else "",
    ) if part]
    qualifier = f"（{'，'.join(detail)}）" if detail else ""
    return f"{name(edge.source)} —{label}{qualifier}→ {name(edge.target)}"


@dataclass
class Finding:
    """One integrity finding: the agency it counts against, what makes it one (records), and
    the relations that show it (path, stored direction, agency side first)."""

    pattern: IntegrityPattern
    severity: Severity
    agency: str
    records: list[dict[str, Any]]
    path: list[Edge] = field(default_factory=list)
    subject: str | None = None  # the other party: creditor, counterparty, supplier, company
    official: str | None = None
    date: dt.date | None = None  # due date (G1, G2), signing date (G3, G4), record date (G5)
    facts: dict[str, Any] = field(default_factory=dict)
    weight: int = 0

    @property
    def title(self) -> str:
        return INTEGRITY_PATTERN_ZH[self.pattern]

    @property
    def key(self) -> str:
        """Stable for the same evidence (monitoring deduplicates alerts on it)."""
        records = "+".join(sorted(str(r["id"]) for r in self.records))
        return f"{self.pattern.value}:{self.agency}:{self.official or ''}:{records}"

    def evidence(self, name: Namer) -> list[str]:
        as_of = self.facts.get("asOf")
        return [step_words(edge, name, str(as_of) if as_of else None) for edge in self.path]

    def summary(self, name: Namer) -> str:
        return SUMMARIES[self.pattern](self, name)


def _officials_words(finding: Finding, name: Namer, label: str = "期间任职") -> str:
    """The officials of the trail: 期间任职 for a default (who served while it lasted),
    签订时任职 for an award (who served on the signing day)."""
    serving = [e for e in finding.path if e.type == SERVES_IN]
    if not serving:
        return ""
    people = "、".join(f"{name(e.source)}（{name(e.target)}{e.role or ''}）" for e in serving)
    return f"；{label}：{people}"


def _superiors_words(finding: Finding, name: Namer) -> str:
    chain = [e for e in finding.path if e.type == SUBORDINATE_TO]
    if not chain:
        return ""
    seen = list(dict.fromkeys(e.target for e in chain))
    return f"；上级机关：{'、'.join(name(s) for s in seen)}"


def _g1_words(finding: Finding, name: Namer) -> str:
    agency = name(finding.agency)
    judgment = next((r for r in finding.records if r["kind"] == RecordKind.JUDGMENT), None)
    listings = [r for r in finding.records if r["kind"] == RecordKind.LISTING]
    parts = []
    if judgment:
        creditor = judgment.get("creditor")
        parts.append(
            f"{agency} 作为被执行人未履行生效裁判：执行案件 {judgment['id']}"
            f"（{judgment.get('court') or judgment.get('authority') or '法院不详'}），"
            f"履行期限 {_day(judgment.get('dueOn'))}，截至 {finding.facts['asOf']} 逾期 "
            f"{finding.facts['overdueDays']} 天，执行标的 {_amount(judgment.get('amount'))}"
            + (f"，申请执行人 {name(creditor)}" if creditor else ""))
    for listing in listings:
        listed = _day(listing.get("listedOn") or listing.get("date"))
        parts.append(f"{agency if not judgment else '该机关'} 被列入{listing.get('listType')}"
                     f"名单（{listing['id']}，{listed} 起），为失信政府机构")
    return "；".join(parts) + _superiors_words(finding, name) + _officials_words(finding, name)


def _g2_words(finding: Finding, name: Namer) -> str:
    contract = finding.records[0]
    kind = contract.get("contractKind") or "合同"
    what = "招商引资承诺不兑现" if "招商" in kind else "拖欠账款或未按约履行"
    due = (f"履约期限 {_day(contract.get('dueOn'))}，截至 {finding.facts['asOf']} 逾期 "
           f"{finding.facts['overdueDays']} 天未履约" if contract.get("dueOn")
           else "合同记录政府方违约")
    flagged = "，合同记录政府方违约" if contract.get("govDefault") and contract.get("dueOn") else ""
    other = f"，相对方 {name(finding.subject)}" if finding.subject else ""
    return (f"{name(finding.agency)} {what}：合同 {contract['id']}（{kind}，"
            f"{contract.get('title') or '项目不详'}，{_amount(contract.get('amount'))}）{other}，"
            f"{due}{flagged}" + _superiors_words(finding, name)
            + _officials_words(finding, name))


def _g3_words(finding: Finding, name: Namer) -> str:
    contract = finding.records[0]
    official = finding.official or ""
    serves = next(e for e in finding.path if e.type == SERVES_IN)
    # one sentence per person and company: 为 某公司 的法定代表人、股东（70%）
    grouped: dict[tuple[str, str, int, str], list[str]] = {}
    for tie in finding.facts["ties"]:
        ratio = f"（{_ratio(tie['ratio'])}）" if tie["ratio"] is not None else ""
        relations = grouped.setdefault(
            (tie["person"], tie["company"], tie["hops"], tie["kinship"] or "亲属"), [])
        if tie["relation"] + ratio not in relations:
            relations.append(tie["relation"] + ratio)
    ties = []
    for (person, company, hops, kinship), relations in grouped.items():
        who = name(official) + " 本人" if person == official else (
            f"{name(official)} 的{kinship} {name(person)}")
        via = (f"，{name(company)} 经 {hops} 层持股拥有 {name(finding.subject or '')}"
               if hops else "")
        ties.append(f"{who} 为 {name(company)} 的{'、'.join(relations)}{via}")
    return (f"{serves.role or '公职人员'} {name(official)} 在 {name(finding.agency)} 任职期间"
            f"（{_day(serves.start)} 起），该机关于 {_day(finding.date)} 与 "
            f"{name(finding.subject or '')} 签订合同 {contract['id']}"
            f"（{contract.get('contractKind') or '合同'}，{_amount(contract.get('amount'))}）；"
            + "；".join(ties))


def _g4_words(finding: Finding, name: Namer) -> str:
    contract = finding.records[0]
    reasons = [f"在{r.get('listType')}名单上（{r['id']}，{_day(r.get('listedOn') or r.get('date'))}"
               f" 列入{('，认定部门 ' + r['authority']) if r.get('authority') else ''}）"
               for r in finding.records[1:]]
    reasons += [escalation_words(e) for e in finding.facts["escalations"]]
    return (f"{name(finding.agency)} 于 {_day(finding.date)} 与 {name(finding.subject or '')} "
            f"签订合同 {contract['id']}（{contract.get('contractKind') or '合同'}，"
            f"{_amount(contract.get('amount'))}），签订时该供应商" + "；".join(reasons)
            + _superiors_words(finding, name) + _officials_words(finding, name, "签订时任职"))


def _g5_words(finding: Finding, name: Namer) -> str:
    serves = next(e for e in finding.path if e.type == SERVES_IN)
    items = []
    for record in finding.records:
        if record["kind"] == RecordKind.LISTING:
            items.append(f"被列入{record.get('listType')}名单（{record['id']}，"
                         f"{_day(record.get('listedOn') or record.get('date'))} 起）")
        else:
            items.append(f"受到{record.get('severity')}行政处罚（{record['id']}，"
                         f"{_day(record.get('date'))}，{record.get('authority') or '机关不详'}："
                         f"{record.get('title') or record.get('category') or ''}）")
    return (f"公职人员 {name(finding.official or '')}（{name(finding.agency)}"
            f"{serves.role or ''}）本人" + "；".join(items))


SUMMARIES: dict[IntegrityPattern, Callable[[Finding, Namer], str]] = {
    IntegrityPattern.G1: _g1_words, IntegrityPattern.G2: _g2_words,
    IntegrityPattern.G3: _g3_words, IntegrityPattern.G4: _g4_words,
    IntegrityPattern.G5: _g5_words,
}


def escalation_words(escalation: dict[str, Any]) -> str:
    level = str(escalation.get("level") or "")
    zh = LEVEL_ZH.get(level, level)
    since = escalation.get("confirmedOn") or escalation.get("since")
    measures = escalation.get("measures") or []
    rules = escalation.get("rules") or []
    return (f"处于{zh}（{level}）惩戒（{escalation.get('id') or '编号不详'}，{_day(since)} 起"
            + (f"，规则 {'、'.join(rules)}" if rules else "")
            + (f"，联合惩戒措施 {'、'.join(measures)}" if measures else "") + "）")


# -- the patterns ------------------------------------------------------------------------------
@dataclass
class Findings:
    """Every finding of a scope, and the subjects they name (for display)."""

    as_of: dt.date
    findings: list[Finding]
    subjects: dict[str, dict[str, Any]]
    truncated: bool = False


class Tracer:
    """Runs the patterns under one set of rules."""

    def __init__(self, graph: Graph, rules: Rules, timeout: float | None = None) -> None:
        self.graph = graph
        self.rules = rules
        self.section: IntegrityRules = rules.integrity
        self.timeout = timeout

    def _read(self, cypher: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        return self.graph.read_rows(cypher, params, timeout=self.timeout)

    def _severe(self, overdue: int | None, amount: Any) -> bool:
        return ((overdue is not None and overdue >= self.section.severe_overdue_days)
                or (isinstance(amount, int | float) and amount >= self.section.severe_amount))

    def agencies(self, as_of: dt.date, agency: str | None = None,
                 region: str | None = None) -> list[str]:
        params = parameters(self.rules, as_of, agency=agency, region=region)
        return [str(a) for a in self._read(agencies_query(agency is not None), params)]

    def trace(self, as_of: dt.date, agency: str | None = None,
              region: str | None = None) -> Findings:
        """G1–G5 for the city, a region (prefix of the agency's region code) or one agency."""
        params = parameters(self.rules, as_of, agency=agency, region=region)
        one = agency is not None
        found = [*self.g1(params, one), *self.g2(params, one)]
        conflicts, truncated = self.g3(params, "agency" if one else "city")
        found += conflicts
        found += self.g4(params, one)
        found += self.g5(params, one)
        return self.finish(as_of, found, truncated)

    def conflicts(self, as_of: dt.date, agency: str | None = None,
                  official: str | None = None) -> Findings:
        """G3 only, for an agency, an official, both, or the city."""
        params = parameters(self.rules, as_of, agency=agency, official=official)
        scope = "official" if official else "agency" if agency else "city"
        found, truncated = self.g3(params, scope)
        findings = self.finish(as_of, found, truncated)
        # a list of its own, not a report by agency: the worst first (严重 before 一般)
        findings.findings.sort(key=lambda f: (SEVERITY_ORDER[f.severity], -f.weight, f.agency,
                                              f.key))
        return findings

    def finish(self, as_of: dt.date, found: list[Finding], truncated: bool) -> Findings:
        for finding in found:
            finding.weight = self.section.weight(finding.pattern, finding.severity)
            finding.facts.setdefault("asOf", as_of.isoformat())
        found.sort(key=lambda f: (f.agency, SEVERITY_ORDER[f.severity], -f.weight, f.key))
        ids = {f.agency for f in found}
        for finding in found:
            ids.update(i for i in (finding.subject, finding.official) if i)
            ids.update(i for e in finding.path for i in (e.source, e.target))
        subjects = subjects_by_ids(self.graph, sorted(ids)) if ids else {}
        return Findings(as_of, found, subjects, truncated)

    # G1 ---------------------------------------------------------------------------------------
    def g1(self, params: dict[str, Any], one: bool) -> list[Finding]:
        as_of: dt.date = params["asOf"]
        found = []
        for row in self._read(g1_query(one), params):
            records = row["records"]
            listings = [r for r in records if r["kind"] == RecordKind.LISTING]
            judgments = [r for r in records if r["kind"] == RecordKind.JUDGMENT]
            matched: set[str] = set()
            for judgment in sorted(judgments, key=lambda r: str(r["id"])):
                due = as_date(judgment.get("dueOn"))
                overdue = (as_of - due).days if due else None
                own = [r for r in listings if r.get("caseNo") == judgment["id"]]
                matched.update(str(r["id"]) for r in own)
                severe = bool(own) or self._severe(overdue, judgment.get("amount"))
                found.append(Finding(
                    IntegrityPattern.G1, Severity.SEVERE if severe else Severity.GENERAL,
                    row["agency"], [judgment, *own], subject=judgment.get("creditor"),
                    date=due, facts={"overdueDays": overdue}))
            for listing in listings:
                if str(listing["id"]) not in matched:
                    found.append(Finding(
                        IntegrityPattern.G1, Severity.SEVERE, row["agency"], [listing],
                        date=as_date(listing.get("listedOn") or listing.get("date"))))
        self.trail(found, as_of, lambda f: (f.date or as_of, as_of))
        return found

    # G2 ---------------------------------------------------------------------------------------
    def g2(self, params: dict[str, Any], one: bool) -> list[Finding]:
        as_of: dt.date = params["asOf"]
        found = []
        for row in self._read(g2_query(one), params):
            contract = row["record"]
            due = as_date(contract.get("dueOn"))
            overdue = (as_of - due).days if due else None
            severe = self._severe(overdue, contract.get("amount"))
            found.append(Finding(
                IntegrityPattern.G2, Severity.SEVERE if severe else Severity.GENERAL,
                row["agency"], [contract], subject=contract.get("counterparty"), date=due,
                facts={"overdueDays": overdue}))
        self.trail(found, as_of, lambda f: (f.date or as_of, as_of))
        return found

    # G3 ---------------------------------------------------------------------------------------
    def g3(self, params: dict[str, Any], scope: str) -> tuple[list[Finding], bool]:
        rows = self._read(g3_query(scope, self.section.ownership_hops), params)
        truncated = len(rows) > self.section.max_paths
        groups: dict[tuple[str, str, str], list[dict[str, Any]]] = defaultdict(list)
        for row in rows[: self.section.max_paths]:
            groups[(row["official"], row["agency"], str(row["record"]["id"]))].append(row)
        found = []
        for (official, agency, _), paths in groups.items():
            # the most direct ties first: the official's own, then the shortest chain
            paths.sort(key=lambda r: (len(r["chain"]), len(r["family"]), r["tie"]["type"],
                                      r["tie"]["target"]))
            steps = [edge_of(paths[0]["serves"])]
            ties = []
            for row in paths:
                # 亲属 is symmetric and stored in either direction: read it from the official,
                # with the kinship as seen from that end (父母 ↔ 子女)
                kin = [edge_of(f) if f["source"] == official else edge_of(
                    {**f, "source": f["target"], "target": f["source"],
                     "kind": converse_kinship(f.get("kind"))}) for f in row["family"]]
                for edge in (*kin, edge_of(row["tie"]), *map(edge_of, row["chain"])):
                    if edge not in steps:
                        steps.append(edge)
                ties.append({"person": row["tie"]["source"], "company": row["tie"]["target"],
                             "relation": RELATIONS[RelationType(row["tie"]["type"])].zh,
                             "ratio": row["tie"]["ratio"], "hops": len(row["chain"]),
                             # the relative's kinship to the official: the step reads
                             # "official is {kind} of relative" (王志明 —子女→ 王小明 is
                             # 王志明 的父母 王小明)
                             "kinship": converse_kinship(kin[0].kind) if kin else None})
            direct = any(not row["chain"] for row in paths)
            contract = paths[0]["record"]
            found.append(Finding(
                IntegrityPattern.G3, Severity.SEVERE if direct else Severity.GENERAL, agency,
                [contract], steps, subject=paths[0]["company"], official=official,
                date=as_date(contract.get("signedOn") or contract.get("date")),
                facts={"ties": ties}))
        return found, truncated

    # G4 ---------------------------------------------------------------------------------------
    def g4(self, params: dict[str, Any], one: bool) -> list[Finding]:
        as_of: dt.date = params["asOf"]
        lawful = set(self.section.procurement_lists)
        found = []
        for row in self._read(g4_query(one), params):
            contract = row["record"]
            listings = sorted(row["listings"], key=lambda r: str(r["id"]))
            signed = as_date(contract.get("signedOn") or contract.get("date"))
            escalations = [e for e in standing(row["escalations"], signed or as_of, self.rules)
                           if bars_procurement(e, self.rules)]
            if not listings and not escalations:
                continue
            severe = bool(escalations) or any(r.get("listType") in lawful for r in listings)
            found.append(Finding(
                IntegrityPattern.G4, Severity.SEVERE if severe else Severity.GENERAL,
                row["agency"], [contract, *listings], subject=row["supplier"], date=signed,
                facts={"escalations": escalations}))
        self.trail(found, as_of, lambda f: (f.date or as_of, f.date or as_of))
        return found

    # G5 ---------------------------------------------------------------------------------------
    def g5(self, params: dict[str, Any], one: bool) -> list[Finding]:
        severe_lists = set(self.rules.listings.severe)
        found = []
        for row in self._read(g5_query(one), params):
            records = sorted(row["records"], key=lambda r: (str(r["kind"]), str(r["id"])))
            severe = any(
                (r["kind"] == RecordKind.LISTING and r.get("listType") in severe_lists)
                or (r["kind"] == RecordKind.PENALTY and r.get("severity") == Severity.SEVERE)
                for r in records)
            found.append(Finding(
                IntegrityPattern.G5, Severity.SEVERE if severe else Severity.GENERAL,
                row["agency"], records, [edge_of(row["serves"])], subject=row["official"],
                official=row["official"],
                date=max((d for d in (as_date(r.get("date")) for r in records) if d),
                         default=None)))
        return found

    # the accountability trail of G1, G2, G4 ------------------------------------------------------
    def trail(self, found: list[Finding], as_of: dt.date,
              window: Callable[[Finding], tuple[dt.date, dt.date]]) -> None:
        """Each finding's path: the agency's SUBORDINATE_TO chains up to its superiors, live at
        the window's end (the report's date for G1 and G2, the signing day for G4),
        then the officials of every agency on them who served within the finding's window
        (overdue period, or the signing day), most recent first, capped per agency."""
        if not found:
            return
        ids = sorted({f.agency for f in found})
        # the chain as it stood at the window's end: the report's date (G1, G2), the signing
        # day (G4) — an award's superiors are those the agency answered to when it was made
        pairs = sorted({(f.agency, window(f)[1]) for f in found})
        chains: dict[tuple[str, dt.date], list[list[Edge]]] = {
            (row["agency"], as_date(row["at"]) or as_of):
                [[edge_of(e) for e in chain] for chain in row["chains"]]
            for row in self._read(chains_query(self.section.superior_depth),
                                  {"pairs": [{"agency": a, "at": at} for a, at in pairs]})}
        offices = {i for chain_list in chains.values() for chain in chain_list
                   for e in chain for i in (e.source, e.target)} | set(ids)
        serving: dict[str, list[Edge]] = defaultdict(list)
        for row in self._read(OFFICIALS, {"ids": sorted(offices), "asOf": as_of}):
            serving[row["target"]].append(edge_of(row))
        cap = self.section.officials_per_agency
        for finding in found:
            steps: list[Edge] = []
            start, end = window(finding)
            for chain in chains.get((finding.agency, end), []):
                steps.extend(e for e in chain if e not in steps)
            for office in dict.fromkeys([finding.agency, *(e.target for e in steps)]):
                during = [e for e in serving.get(office, [])
                          if (e.start is None or e.start <= end)
                          and (e.end is None or e.end >= start)]
                during.sort(key=lambda e: (e.end is not None, -(e.start or dt.date.min)
                                           .toordinal(), e.source))
                steps.extend(during[:cap])
            finding.path = steps


# -- roll-ups ----------------------------------------------------------------------------------
@dataclass
class AgencyScore:
    agency: str
    score: int
    deductions: int
    findings: list[Finding]
    rank: int = 0

    def counts(self) -> dict[IntegrityPattern, tuple[int, int]]:
        """(findings, points deducted) per pattern that occurs."""
        counts: dict[IntegrityPattern, tuple[int, int]] = {}
        for finding in self.findings:
            number, points = counts.get(finding.pattern, (0, 0))
            counts[finding.pattern] = (number + 1, points + finding.weight)
        return dict(sorted(counts.items()))


@dataclass
class CountyScore:
    region: str
    score: int
    deductions: int
    agencies: list[AgencyScore]
    rank: int = 0

    @property
    def findings(self) -> list[Finding]:
        return [f for a in self.agencies for f in a.findings]


@dataclass
class IntegrityReport:
    as_of: dt.date
    agencies: list[AgencyScore]  # worst first
    counties: list[CountyScore]  # worst first
    subjects: dict[str, dict[str, Any]]
    truncated: bool = False


def _score(base: int, deductions: int) -> int:
    return max(0, base - deductions)


def rank_agencies(agencies: list[str], found: list[Finding], base: int) -> list[AgencyScore]:
    """Every agency in scope, worst first: lowest score, then most 严重 findings, then most
    findings; ties by id so the order is stable."""
    by_agency: dict[str, list[Finding]] = defaultdict(list)
    for finding in found:
        by_agency[finding.agency].append(finding)
    scores = []
    for agency in sorted(set(agencies) | set(by_agency)):
        items = by_agency.get(agency, [])
        deductions = sum(f.weight for f in items)
        scores.append(AgencyScore(agency, _score(base, deductions), deductions, items))
    scores.sort(key=lambda s: (s.score, -sum(f.severity is Severity.SEVERE for f in s.findings),
                               -len(s.findings), s.agency))
    for rank, score in enumerate(scores, 1):
        score.rank = rank
    return scores


def rank_counties(scores: list[AgencyScore], subjects: dict[str, dict[str, Any]],
                  base: int) -> list[CountyScore]:
    """Per county (the agency's 6-digit region; a city's own agencies under the city's code):
    the base score less every deduction of its agencies, worst first as agencies are (lowest
    score, then most 严重 findings, then most findings); ties by region code."""
    by_region: dict[str, list[AgencyScore]] = defaultdict(list)
    for score in scores:
        by_region[str(subjects.get(score.agency, {}).get("region") or "")].append(score)
    counties = []
    for region, members in by_region.items():
        deductions = sum(m.deductions for m in members)
        counties.append(CountyScore(region, _score(base, deductions), deductions, members))
    counties.sort(key=lambda c: (c.score, -sum(f.severity is Severity.SEVERE for f in c.findings),
                                 -len(c.findings), c.region))
    for rank, county in enumerate(counties, 1):
        county.rank = rank
    return counties


def integrity_report(graph: Graph, rules: Rules, as_of: dt.date, agency: str | None = None,
                     region: str | None = None, timeout: float | None = None) -> IntegrityReport:
    """The ranked report (SPEC §8): every agency in scope with its findings and score, and
    the county roll-up."""
    tracer = Tracer(graph, rules, timeout)
    agencies = tracer.agencies(as_of, agency, region)
    traced = tracer.trace(as_of, agency, region)
    subjects = {**subjects_by_ids(graph, agencies), **traced.subjects}
    base = rules.integrity.base_score
    scores = rank_agencies(agencies, traced.findings, base)
    return IntegrityReport(as_of, scores, rank_counties(scores, subjects, base), subjects,
                           traced.truncated)


# -- 信用+审批 前置核查 --------------------------------------------------------------------------
@dataclass
class ProcurementResult:
    """What bars a supplier from an award at a date (reasons) and what the office should know
    without being barred (warnings), each in words with record ids and dates."""

    supplier: dict[str, Any]
    as_of: dt.date
    reasons: list[str]
    warnings: list[str]
    records: list[dict[str, Any]]
    # persons a warning names unmasked (a PII reveal the audit log records)
    named: list[str]

    @property
    def allowed(self) -> bool:
        return not self.reasons


def standing(escalations: list[dict[str, Any]], day: dt.date,
             rules: Rules) -> list[dict[str, Any]]:
    """The escalations (as read, with `history`) as they stood on a day: one with a history at
    the level it had then (its measures, the day it reached it; dropped when it did not stand
    then); one without a history as read (its Cypher predicate judged it). `history` is not
    passed on."""
    kept = []
    for escalation in escalations:
        history = escalation.get("history") or []
        row = {k: v for k, v in escalation.items() if k != "history"}
        if not history:
            kept.append(row)
            continue
        state = state_on(escalation, day)
        if state is None:
            continue
        level = state.level
        kept.append({**row, "level": level.value, "status": EscalationStatus.ACTIVE.value,
                     "since": state.since, "liftedOn": None,
                     "confirmedOn": state.since if level is EscalationLevel.SEVERE else None,
                     "measures": list(rules.escalation.levels[level].measures)})
    return kept


def bars_procurement(escalation: dict[str, Any], rules: Rules) -> bool:
    """An escalation that bars procurement (G4, procurementCheck), judged here alone: at a
    barring level, or carrying the measure (限制政府采购)."""
    section = rules.integrity
    return (escalation.get("level") in {level.value for level in section.barring_levels}
            or section.procurement_measure in (escalation.get("measures") or []))


def _listing_words(listing: dict[str, Any]) -> str:
    return (f"列入{listing.get('listType')}名单（名单编号 {listing['id']}，"
            f"{_day(listing.get('listedOn') or listing.get('date'))} 列入"
            + (f"，认定部门 {listing['authority']}" if listing.get("authority") else "")
            + (f"，案号 {listing['caseNo']}" if listing.get("caseNo") else "") + "）")


def procurement_check(graph: Graph, rules: Rules, keys: list[str], as_of: dt.date,
                      mask_persons: bool) -> ProcurementResult | None:
    """The credit pre-check a procurement office runs before signing (信用+审批 前置核查) of
    the supplier with one of `keys` (None if there is none): barred by an active severe
    listing, or by an escalation at a barring level (SEVERE) or carrying the procurement
    measure (限制政府采购); warned of lesser listings, an escalation at a warning level
    (SEVERE_PROPOSED: proposed, may still be objected to, so no bar yet), and a legal
    representative or actual controller barred himself (联合惩戒对象)."""
    section = rules.integrity
    severe = set(rules.listings.severe)
    measure = section.procurement_measure
    barring = {level.value for level in section.barring_levels}
    warning = {level.value for level in section.warning_levels}
    found = graph.read(PROCUREMENT, parameters(rules, as_of, keys=keys))
    if not found:
        return None
    check = found[0]["check"]
    check = {**check, "escalations": standing(check["escalations"], as_of, rules),
             "persons": [{**person, "escalations": [
                 e for e in standing(person["escalations"], as_of, rules)
                 if bars_procurement(e, rules)]} for person in check["persons"]]}
    reasons: list[str] = []
    warnings: list[str] = []
    records: list[dict[str, Any]] = []
    for listing in sorted(check["listings"], key=lambda r: str(r["id"])):
        records.append(listing)
        if listing.get("listType") in severe:
            reasons.append(f"{_listing_words(listing)}：严重失信名单，{measure}")
        else:
            warnings.append(f"{_listing_words(listing)}：非严重失信名单，不限制采购，请核实")
    for escalation in sorted(check["escalations"], key=lambda e: str(e.get("id"))):
        level = escalation.get("level")
        if level in barring:
            reasons.append(f"{escalation_words(escalation)}：{measure}")
        elif measure in (escalation.get("measures") or []):
            reasons.append(f"联合惩戒措施 {measure}：{escalation_words(escalation)}")
        elif level in warning:
            warnings.append(f"{escalation_words(escalation)}：{_notice(escalation, as_of, rules)}，"
                            "确认前不限制采购")
    persons = [p for p in check["persons"] if p["listings"] or p["escalations"]]
    name = names({p["person"]["id"]: p["person"] for p in persons}, mask_persons)
    for person in sorted(persons, key=lambda p: (p["edge"]["type"], p["edge"]["source"])):
        edge = edge_of(person["edge"])
        who = f"{RELATIONS[RelationType(edge.type)].zh} {name(edge.source)} 本人"
        for listing in sorted(person["listings"], key=lambda r: str(r["id"])):
            records.append(listing)
            warnings.append(f"{who}{_listing_words(listing)}（联合惩戒对象，请核实）")
        for escalation in person["escalations"]:
            warnings.append(f"{who}{escalation_words(escalation)}（联合惩戒对象，请核实）")
    named = [] if mask_persons else sorted(
        {p["person"]["id"] for p in persons if p["person"].get("person")})
    return ProcurementResult(check["supplier"], as_of, reasons, warnings, records, named)


def organisations_named(findings: Iterable[Finding],
                        subjects: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The legal persons the findings name — each agency, other party, superior and company on
    a path — as an integrity answer's audit event names its subjects (persons are named there
    only when the answer shows them: PII reveals)."""
    named: dict[str, None] = {}
    for finding in findings:
        for sid in (finding.agency, finding.subject, finding.official,
                    *(end for edge in finding.path for end in (edge.source, edge.target))):
            if sid and not (subjects.get(sid) or {}).get("person"):
                named[sid] = None
    return list(named)


def names(subjects: dict[str, dict[str, Any]], mask_persons: bool) -> Namer:
    """A subject's display name by id; persons' names masked (张*明) when asked."""
    def name(sid: str) -> str:
        row = subjects.get(sid) or {}
        text = str(row.get("name") or sid)
        return mask_name(text) if mask_persons and row.get("person") and row.get("name") \
            else text
    return name


# -- the written report (credgraph integrity report) ---------------------------------------------
def _named(sid: str | None, name: Namer) -> dict[str, str] | None:
    return {"id": sid, "name": name(sid)} if sid else None


def report_data(report: IntegrityReport, mask_persons: bool) -> dict[str, Any]:
    """The ranked report as plain data: ids are USCCs or opaque person keys, persons' names
    masked unless asked otherwise, no ID number in any form."""
    name = names(report.subjects, mask_persons)

    def region_of(sid: str) -> str | None:
        return report.subjects.get(sid, {}).get("region")

    def finding(f: Finding) -> dict[str, Any]:
        return {
            "pattern": f.pattern.value, "title": f.title, "severity": f.severity.value,
            "deduction": f.weight, "date": f.date.isoformat() if f.date else None,
            "summary": f.summary(name), "evidence": f.evidence(name),
            "path": [{"from": _named(e.source, name), "type": e.type, "to": _named(e.target, name),
                      "ratio": e.ratio, "role": e.role, "kind": e.kind,
                      "start": e.start.isoformat() if e.start else None,
                      "end": e.end.isoformat() if e.end else None} for e in f.path],
            "records": [{"id": r["id"], "kind": r["kind"], "title": r.get("title"),
                         "date": _day(r.get("date")), "status": r.get("status")}
                        for r in f.records],
            "subject": _named(f.subject, name), "official": _named(f.official, name),
            "key": f.key,
        }

    def agency(a: AgencyScore) -> dict[str, Any]:
        return {"rank": a.rank, "agency": _named(a.agency, name), "region": region_of(a.agency),
                "regionName": region_name(region_of(a.agency)), "score": a.score,
                "deductions": a.deductions,
                "counts": {p.value: n for p, (n, _) in a.counts().items()},
                "findings": [finding(f) for f in a.findings]}

    return {
        "asOf": report.as_of.isoformat(),
        "generatedAt": dt.datetime.now().isoformat(timespec="seconds"),
        "personNamesMasked": mask_persons, "truncated": report.truncated,
        "counties": [{"rank": c.rank, "region": c.region, "regionName": region_name(c.region),
                      "score": c.score, "deductions": c.deductions,
                      "agencies": len(c.agencies),
                      "flaggedAgencies": sum(1 for a in c.agencies if a.findings),
                      "findings": len(c.findings)} for c in report.counties],
        "agencies": [agency(a) for a in report.agencies],
    }


def _cells(*values: Any) -> str:
    return "".join(f"<td>{html.escape(str(v if v is not None else ''))}</td>" for v in values)


def _table(headers: tuple[str, ...], rows: list[tuple[Any, ...]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join(f"<tr>{_cells(*row)}</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _finding_html(f: dict[str, Any]) -> str:
    title = f"{f['pattern']} {f['title']} · {f['severity']} · 扣 {f['deduction']} 分"
    records = "、".join(f"{r['id']}（{r['title'] or r['kind']}，{r['date']}）"
                       for r in f["records"])
    steps = "".join(f"<li>{html.escape(step)}</li>" for step in f["evidence"])
    return (f"<div class='finding {html.escape(f['severity'])}'><h4>{html.escape(title)}</h4>"
            f"<p>{html.escape(f['summary'])}</p>"
            f"<p class='records'>记录：{html.escape(records)}</p>"
            f"<ol class='path'>{steps}</ol></div>")


def _agency_html(a: dict[str, Any]) -> str:
    title = f"{a['rank']}. {a['agency']['name']}（{a['regionName'] or ''}，得分 {a['score']}）"
    return f"<h3>{html.escape(title)}</h3>" + "".join(_finding_html(f) for f in a["findings"])


STYLE = ("body{font-family:sans-serif;margin:2em;max-width:70em}"
         "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:4px 8px;"
         "font-size:13px}.finding{border-left:4px solid #c90;padding:0 1em;margin:1em 0}"
         ".finding.严重{border-color:#c00}.path,.records{font-size:13px;color:#333}")


def write_report(data: dict[str, Any], out: Path) -> tuple[Path, Path]:
    """integrity.json and a readable integrity.html (agency, county, pattern, evidence path in
    words) in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "integrity.json"
    write_text(json_path, json.dumps(data, ensure_ascii=False, indent=2))
    patterns = tuple(p.value for p in IntegrityPattern)
    counties = _table(
        ("排名", "区县", "得分", "扣分", "机关数", "有问题机关", "问题数"),
        [(c["rank"], c["regionName"] or c["region"], c["score"], c["deductions"],
          c["agencies"], c["flaggedAgencies"], c["findings"]) for c in data["counties"]])
    agencies = _table(
        ("排名", "机关", "区县", "得分", *patterns),
        [(a["rank"], a["agency"]["name"], a["regionName"] or a["region"], a["score"],
          *(a["counts"].get(p, "") for p in patterns)) for a in data["agencies"]])
    sections = "".join(_agency_html(a) for a in data["agencies"] if a["findings"])
    masked = "自然人姓名已脱敏" if data["personNamesMasked"] else "含自然人姓名，仅限内部使用"
    page = (f"<!doctype html><html lang='zh'><meta charset='utf-8'><title>政务诚信报告</title>"
            f"<style>{STYLE}</style><h1>政务诚信报告 Government integrity report</h1>"
            f"<p>截至 {data['asOf']}，生成于 {data['generatedAt']}（{masked}）</p>"
            f"<h2>区县汇总 Counties</h2>{counties}"
            f"<h2>问题与证据 Findings and evidence</h2>{sections or '<p>无</p>'}"
            f"<h2>机关排名 All agencies</h2>{agencies}")
    html_path = out / "integrity.html"
    write_text(html_path, page)
    return json_path, html_path
