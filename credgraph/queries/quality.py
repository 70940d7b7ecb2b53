"""`credgraph quality report`: what a credit centre's data stewards fix first."""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import Label, Link, RecordKind, label_predicate
from credgraph.loaders.bundle import corrections_path, missing_path
from credgraph.loaders.prepare import IDENTIFIER_REASONS
from credgraph.loaders.writes import CONTACT_GROUPS, CONTACT_PROPERTIES
from credgraph.outputs import write_text
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import mask_contact, mask_name, scrub

DUPLICATES = """
MATCH (n:LegalPerson) WHERE n.nameNorm IS NOT NULL AND n.nameNorm <> ''
WITH n.nameNorm AS nameNorm, collect({id: n.id, name: n.name, region: n.region}) AS subjects
WHERE size(subjects) > 1
RETURN nameNorm, subjects
"""


def duplicate_subjects(graph: Graph, normaliser: NameNormaliser) -> list[dict[str, Any]]:
    """重复主体: legal persons with one normalised name and different USCCs — unless their
    names name different places. The normalised name drops the region a name starts with, so
    德州市, 德城区 and 禹城市市场监督管理局 share one; the place each name carries tells them
    apart (德州市宏达商贸 and 山东省德州市宏达商贸 name one place and stay together;
    德州市庆云县南康商贸 and 德州市平原县南康商贸 do not), a name naming the prefecture joins
    the county its subject is registered in, and a name with no place (宏达商贸有限公司) is
    listed beside each of the places it may belong to."""
    groups = []
    for row in graph.read(DUPLICATES, timeout=300):
        subjects = row["subjects"]
        places = [normaliser.split(s["name"] or "").named_region(s["region"])
                  for s in subjects]
        for members in _by_place(places, [s["region"] or "" for s in subjects]):
            if len(members) > 1:
                groups.append({"nameNorm": row["nameNorm"], "subjects": [
                    {"id": subjects[i]["id"], "name": subjects[i]["name"]} for i in members]})
    groups.sort(key=lambda g: (-len(g["subjects"]), g["nameNorm"]))
    return groups


def _by_place(places: list[str | None], regions: list[str]) -> list[list[int]]:
    """The indexes of `places` by the place named (a code prefix, or None for no place): one
    group per place, each with the names that name none, and with those naming a wider place
    whose subject is registered in it (德州市永安商贸 registered in 德城区 beside
    德城区永安商贸) — a subject is registered in one county, so no group joins two others."""
    named: dict[str, list[int]] = {}
    unplaced = []
    for index, place in enumerate(places):
        if place is None:
            unplaced.append(index)
        else:
            named.setdefault(place, []).append(index)
    if not named:
        return [unplaced]
    groups = []
    for place, members in named.items():
        wider = [index for index, other in enumerate(places)
                 if other is not None and other != place and place.startswith(other)
                 and regions[index].startswith(place)]
        groups.append(sorted(members + wider + unplaced))
    return [group for group in groups
            if not any(set(group) < set(other) for other in groups)]


ORPHANS = f"""
MATCH (r) WHERE {label_predicate("r", tuple(RecordKind))}
  AND NOT (r)<-[:{Link.HAS_RECORD}]-(:{Label.SUBJECT})
RETURN r.kind AS kind, r.id AS id ORDER BY kind, id LIMIT $limit
"""

ORPHAN_COUNT = f"""
MATCH (r) WHERE {label_predicate("r", tuple(RecordKind))}
  AND NOT (r)<-[:{Link.HAS_RECORD}]-(:{Label.SUBJECT})
RETURN count(r) AS total
"""

STUBS = """
MATCH (n:Subject) WHERE n.stub = true
RETURN CASE WHEN n:NaturalPerson THEN 'NATURAL_PERSON' ELSE 'LEGAL_PERSON' END AS kind,
       count(*) AS count
"""

# Which subjects are stubs, for the steward to ask their registration of (persons' names
# masked: the report may leave the desk).
STUB_LIST = """
MATCH (n:Subject) WHERE n.stub = true
RETURN n.id AS id, n.kind AS kind, n.name AS name, n.idMasked AS idMasked,
       n:NaturalPerson AS person
ORDER BY id LIMIT $limit
"""

# what each department leaves out of its penalties — and an authority code given that links to
# no agency (a wrong check character: the row loads, its ISSUED_BY is lost)
MISSING_BY_SOURCE = f"""
MATCH (p:{Label.PENALTY})
WITH coalesce(p.source, p.authority, '(unknown)') AS source, p
RETURN source, count(p) AS records,
       sum(CASE WHEN p.authorityUscc IS NULL THEN 1 ELSE 0 END) AS missingAuthorityUscc,
       sum(CASE WHEN p.authorityUscc IS NOT NULL AND NOT (p)-[:{Link.ISSUED_BY}]->() THEN 1 ELSE 0
           END) AS invalidAuthorityUscc,
       sum(CASE WHEN p.basis IS NULL THEN 1 ELSE 0 END) AS missingBasis,
       sum(CASE WHEN p.facts IS NULL THEN 1 ELSE 0 END) AS missingFacts,
       sum(CASE WHEN p.content IS NULL THEN 1 ELSE 0 END) AS missingContent
ORDER BY records DESC, source LIMIT $limit
"""

SOURCE_COUNT = """
MATCH (p:Penalty)
RETURN count(DISTINCT coalesce(p.source, p.authority, '(unknown)')) AS total
"""


# 共用联系方式超限: a phone or an address shared by more subjects than the rules'
# `contact_group_cap` links none of them (`SHARED_CONTACTS`) — a registration agent's address, a
# placeholder phone — and the steward should see which values those are.
CONTACT_HUBS = CONTACT_GROUPS + f"""
WHERE size(members) > $cap
RETURN value, [m IN members | m.id] AS ids,
       size([m IN members WHERE m:{Label.NATURAL_PERSON}]) AS persons
"""

CONTACT_SAMPLE = 5


def contact_hubs(graph: Graph, cap: int) -> list[dict[str, Any]]:
    """The phones and addresses shared beyond the cap, the largest first, each with how many
    subjects share it (of whom how many natural persons) and the first few by id; the value is
    masked when a natural person shares it."""
    hubs = []
    for via in CONTACT_PROPERTIES:
        for row in graph.read(CONTACT_HUBS, {"via": via, "cap": cap}, timeout=300):
            ids = sorted(row["ids"])
            value = row["value"] if not row["persons"] else mask_contact(row["value"])
            hubs.append({"via": via, "value": value, "subjects": len(ids),
                         "naturalPersons": row["persons"], "first": ids[:CONTACT_SAMPLE]})
    hubs.sort(key=lambda hub: (-hub["subjects"], hub["via"], hub["value"]))
    return hubs


def invalid_identifiers(rejects: Path) -> list[dict[str, Any]]:
    """Invalid identifiers seen by the last load: the rows its rejects file holds for them and
    the rows attached by name despite them (关联补正, its corrections file beside)."""
    counts: dict[tuple[str, str, str], list[int]] = {}
    for path, resolved in ((rejects, 0), (corrections_path(rejects), 1)):
        if not path.exists():
            continue
        with path.open(encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                # a row no name resolved either: "unresolved subject: …; bad check digit: …"
                heads = (part.split(":")[0] for part in row["reason"].split("; "))
                reason = next((h for h in heads if h in IDENTIFIER_REASONS.values()), None)
                if reason is not None:
                    seen = counts.setdefault((row["file"], row["column"], reason), [0, 0])
                    seen[resolved] += 1
    return [{"file": f, "column": c, "reason": r, "count": n[0] + n[1], "resolvedByName": n[1]}
            for (f, c, r), n in sorted(counts.items(), key=lambda kv: -sum(kv[1]))]


def missing_required(rejects: Path) -> list[dict[str, Any]]:
    """Rows the last load refused for a missing required field, by file, department (数据来源单位,
    else the deciding authority) and column — from the count written beside its rejects file."""
    path = missing_path(rejects)
    if not path.exists():
        return []
    with path.open(encoding="utf-8") as handle:
        return [{**row, "rows": int(row["rows"])} for row in csv.DictReader(handle)]


DEFAULT_LIMIT = 200


def last_load(rejects: Path) -> dict[str, Any]:
    """Which rejects file the sections of the last load come from, and when it was written: a
    file left from before a `db reset` is still read, and the report says whose it is."""
    written = (dt.datetime.fromtimestamp(rejects.stat().st_mtime).isoformat(timespec="seconds")
               if rejects.is_file() else None)
    return {"rejects": scrub(str(rejects)), "writtenAt": written}  # named as a load names files


def build_report(graph: Graph, normaliser: NameNormaliser, rejects: Path, contact_cap: int,
                 limit: int = DEFAULT_LIMIT) -> dict[str, Any]:
    """The report of the graph and of the last load, whose rejects file is `rejects`. Each
    list that `totals` counts holds its first `limit` items, and `totals` how many there are
    in all — the page says "N of M shown" where it cut, so that a steward never takes the
    first 200 for all there are; `contact_cap` is the rules' `resolution.contact_group_cap`."""
    params = {"limit": limit}
    duplicates = duplicate_subjects(graph, normaliser)
    hubs = contact_hubs(graph, contact_cap)
    missing = missing_required(rejects)
    stubs = graph.read(STUBS, timeout=300)
    return {
        "generatedAt": dt.datetime.now().isoformat(timespec="seconds"),
        "lastLoad": last_load(rejects),
        "limit": limit,
        "totals": {
            "duplicateSubjects": len(duplicates),
            "missingRequiredBySource": len(missing),
            "orphanRecords": graph.read(ORPHAN_COUNT, timeout=300)[0]["total"],
            "stubsListed": sum(row["count"] for row in stubs),
            "missingFieldsBySource": graph.read(SOURCE_COUNT, timeout=300)[0]["total"],
            "contactHubs": len(hubs),
        },
        "duplicateSubjects": duplicates[:limit],
        "invalidIdentifiers": invalid_identifiers(rejects),
        "missingRequiredBySource": missing[:limit],
        "orphanRecords": graph.read(ORPHANS, params, timeout=300),
        "stubSubjects": stubs,
        "stubsListed": [{"id": row["id"], "kind": row["kind"],
                         "name": mask_name(row["name"] or "") if row["person"] else row["name"],
                         "idMasked": row["idMasked"]}
                        for row in graph.read(STUB_LIST, params, timeout=300)],
        "missingFieldsBySource": graph.read(MISSING_BY_SOURCE, params, timeout=300),
        "contactHubs": hubs[:limit],
    }


def _table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "<p>none</p>"
    headers = list(rows[0])
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    def cell(value: Any) -> str:
        if isinstance(value, list):  # a duplicate group's subjects: one "id name" a line
            return "<td>" + "<br>".join(html.escape(
                " ".join(str(v) for v in item.values()) if isinstance(item, dict) else str(item))
                for item in value) + "</td>"
        return f"<td>{html.escape('' if value is None else str(value))}</td>"

    body = "".join("<tr>" + "".join(cell(r[h]) for h in headers) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


TITLES = {
    "duplicateSubjects": "重复主体 Duplicate subjects (same normalised name, different USCC)",
    "invalidIdentifiers": "无效标识 Invalid identifiers seen in the last load",
    "orphanRecords": "孤立记录 Orphan records (no subject)",
    "stubSubjects": "待补全主体 Subjects known only from records",
    "stubsListed": "待补全主体清单 Which ones (by id)",
    "missingRequiredBySource": "缺失必填字段 Rows refused for a missing required field, by source "
                               "department (last load)",
    "missingFieldsBySource": "缺失字段 Loaded penalties without optional fields, by source "
                             "department",
    "contactHubs": "共用联系方式超限 Phones and addresses shared by too many subjects to link "
                   "them (resolution.contact_group_cap)",
}


def _shown(report: dict[str, Any], key: str) -> str:
    """"200 of 209 shown" above a list the report cut; nothing above one it did not."""
    total = report.get("totals", {}).get(key)
    shown = len(report[key])
    if total is None or total <= shown:
        return ""
    return (f"<p><strong>{shown} of {total} shown</strong> (显示前 {shown} 条，共 {total} 条; "
            "credgraph quality report --limit N shows more)</p>")


def _last_load(load: dict[str, Any]) -> str:
    where = html.escape(load["rejects"])
    if load["writtenAt"] is None:
        return f"上次加载 Last load: no rejects file at {where}"
    return (f"上次加载 Last load: rejects file {where}, written "
            f"{html.escape(load['writtenAt'])}")


def write_report(report: dict[str, Any], out: Path) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / "quality.json"
    write_text(json_path, json.dumps(report, ensure_ascii=False, indent=2, default=str))
    sections = "".join(f"<h2>{html.escape(title)}</h2>{_shown(report, key)}{_table(report[key])}"
                       for key, title in TITLES.items())
    page = (
        "<!doctype html><html lang='zh'><meta charset='utf-8'><title>数据质量报告</title>"
        "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}"
        "td,th{border:1px solid #ccc;padding:4px 8px;font-size:13px}</style>"
        f"<h1>数据质量报告 Data-quality report</h1><p>{report['generatedAt']}</p>"
        f"<p>{_last_load(report['lastLoad'])}</p>{sections}"
    )
    html_path = out / "quality.html"
    write_text(html_path, page)
    return json_path, html_path
