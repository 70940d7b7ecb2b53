"""No raw ID number anywhere after a load (SPEC §6): a bundle whose free text, names, notes and
identifiers carry ID numbers — half-width, full-width, lower-case x, spaced — is loaded through
`credgraph load --json`, then every property of every node and relationship in Neo4j, the
rejects file, the JSON summary and everything logged (the driver's Bolt traffic included) is
searched for a raw number."""

from __future__ import annotations

import csv
import json
import logging
import re
import unicodedata
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.schema.identifiers import is_uscc, parse_id_number
from credgraph.schema.privacy import Privacy, mask_id_number
from credgraph.settings import Settings
from tests.ids import make_id, make_uscc
from tests.runner import invoke

A = make_id(region="371402", born="19800101", seq="011")
B = make_id(region="371402", born="19900307", seq="003")  # ends in X
C = make_id(region="371481", born="19700515", seq="021")
D = make_id(region="371403", born="19851212", seq="041")  # appears only in text
E = make_id(region="371424", born="19750606", seq="051")  # an unknown relation end
MISTYPED = A[:-1] + ("0" if A[-1] != "0" else "1")
# an ID number that passes the USCC check too (about one in 31 do)
ALSO_USCC = next(n for n in (make_id(region="371402", born="19800101", seq=f"{s:03d}")
                             for s in range(100, 400)) if is_uscc(n))
NUMBERS = (A, B, C, D, E, MISTYPED, ALSO_USCC)
CO = make_uscc(region="371402", org="MA3C00001")
SHOP = make_uscc(prefix="92", region="371402", org="MA3C00002")
AGENCY = make_uscc(prefix="11", region="371402", org="004187451")
FULL = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")


def full(number: str) -> str:
    return number.translate(FULL)


def spaced(number: str) -> str:
    return f"{number[:6]} {number[6:14]} {number[14:].lower()}"


def masked(number: str) -> str:
    return mask_id_number(number)


assert B.endswith("X")
# any ID-shaped 18 characters (region, a birth date, sequence, check)
ID_SHAPE = re.compile(r"(?<!\d)[1-9]\d{5}(?:18|19|20)\d{2}(?:0[1-9]|1[0-2])"
                      r"(?:0[1-9]|[12]\d|3[01])\d{3}[\dX](?!\d)")


def raw_numbers(text: str) -> list[str]:
    """Raw ID numbers in a text, however written: the planted ones with every space, hyphen
    and width folded away, and anything else shaped like one."""
    folded = unicodedata.normalize("NFKC", text).upper()
    squeezed = re.sub(r"[\s\-]", "", folded)
    found = [n for n in NUMBERS if n in squeezed]
    return found + ID_SHAPE.findall(folded)


def write(folder: Path, name: str, headers: list[str], rows: list[list[str]]) -> None:
    with (folder / f"{name}.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


def leaky_bundle(folder: Path) -> Path:
    folder.mkdir()
    write(folder, "legal_persons", ["uscc", "name", "address", "industry", "phone"], [
        [CO, "德州市德城区鑫源食品有限公司", f"新华路1号（房东张三 身份证{full(D)}）",
         f"食品零售 {B.lower()}", ""],
        [SHOP, f"个体工商户张三{A}", spaced(A), "", ""],
        [AGENCY, "德州市德城区市场监督管理局", "", "", ""],
        [ALSO_USCC, "张三商行", "", "", ""],  # a person's number where a USCC belongs
    ])
    write(folder, "natural_persons", ["id_number", "name", "phone", "address"], [
        [A, "张三", "", ""],  # line 2: the later row of the same number wins
        [B.lower(), "李四", "", f"住址{full(B)}"],
        [MISTYPED, f"王五{MISTYPED}", "", ""],  # bad check digit
        [full(A), f"张三（{A}）", "", f"德州市{spaced(A)}"],
    ])
    write(folder, "officials", ["id_number", "name", "agency_uscc", "position", "start_date"], [
        [C, f"赵六{C}", AGENCY, f"科长 {spaced(C)}", "2020-01-01"],
    ])
    write(folder, "relations", ["from_id", "to_id", "type", "ratio", "role", "kind"], [
        [A, CO, "法定代表人", "", "", ""],
        [A, CO, "董事", "", f"执行董事{full(A)}", ""],
        [B.lower(), CO, "股东", "40%", "", ""],
        [A, B, "亲属", "", "", f"配偶{B.lower()}"],
        [E, CO, "股东", "10%", "", ""],  # an unknown person
    ])
    write(folder, "penalties", [
        "decision_no", "subject_name", "subject_id", "legal_rep", "legal_rep_id",
        "violation_type", "facts", "basis", "category", "content", "fine", "decided_on",
        "authority", "authority_uscc", "note", "license_action", "source_uscc"], [
        ["德城市监罚〔2026〕1号", "德州市德城区鑫源食品有限公司", CO, f"张三{A}", A,
         "销售过期食品", f"当事人张三（身份证号码{A}）销售过期食品",
         f"《食品安全法》第一百二十四条；法定代表人{B.lower()}", "罚款",
         f"罚款1万元，法定代表人{full(D)}", "1", "2026-03-05", "德州市德城区市场监督管理局",
         AGENCY, spaced(A), f"吊销证照 {A}", ""],
        ["德城市监罚〔2026〕2号", f"李四（{B.lower()}）", B.lower(), "", "", "无照经营",
         f"李四{full(B)}无照经营", "", "警告", "", "", "2026-04-01",
         "德州市德城区市场监督管理局", AGENCY, "", "", ""],
        ["德城市监罚〔2026〕3号", f"无此人{A}", "", "", "", "无照经营", "", "", "警告", "",
         "", "2026-04-02", "德州市德城区市场监督管理局", "", "", "", ""],  # unresolved
        ["德城市监罚〔2026〕4号", "德州市德城区鑫源食品有限公司", CO, "", "", "", "", "",
         "警告", "", "", A, "德州市德城区市场监督管理局", "", "", "", ""],  # a date column
        # persons' numbers where the authority's and the source's codes belong: masked
        ["德城市监罚〔2026〕5号", "德州市德城区鑫源食品有限公司", CO, "", "", "", "", "",
         "警告", "", "", "2026-04-03", "德州市德城区市场监督管理局", C, "", "", D],
    ])
    write(folder, "licenses", [
        "decision_no", "subject_name", "subject_id", "license_category", "content",
        "certificate_name", "decided_on", "authority", "authority_uscc"], [
        ["德城市监许〔2026〕1号", "德州市德城区鑫源食品有限公司", CO, "食品经营许可",
         f"负责人{full(A)}", f"食品经营许可证（{B.lower()}）", "2026-01-05",
         "德州市德城区市场监督管理局", AGENCY],
    ])
    write(folder, "listings", [
        "list_id", "subject_name", "subject_id", "list_type", "basis", "listed_on",
        "removed_on", "removal_reason"], [
        ["L1", "德州市德城区鑫源食品有限公司", CO, "经营异常名录", f"法定代表人{A}",
         "2025-01-01", "2026-06-01", f"已履行 {spaced(B)}"],
        ["L2", "德州市德城区鑫源食品有限公司", CO, f"黑名单{A}", "", "2025-01-01", "", ""],
    ])
    write(folder, "judgments", [
        "case_no", "court", "debtor_id", "debtor_name", "creditor_id", "creditor_name",
        "amount", "filed_on", "due_on"], [
        ["（2026）鲁1402执1号", "德州市德城区人民法院", B.lower(), f"李四{B.lower()}", CO,
         f"鑫源食品（联系人{full(A)}）", "5", "2026-01-05", "2026-03-01"],
    ])
    write(folder, "contracts", [
        "contract_no", "kind", "agency_uscc", "counterparty_id", "title", "amount",
        "signed_on", "status"], [
        ["HT-1", "政府采购", AGENCY, full(A), f"采购项目（联系人{D}）", "10", "2026-02-01",
         f"履行中{B.lower()}"],
    ])
    (folder / "commitments.jsonl").write_text(json.dumps({
        "commitment_id": "CN-1", "subject_id": A, "kind": "信用修复",
        "content": f"本人张三（{full(A)}）承诺", "made_on": "2026-02-01",
        "authority": f"受理人{spaced(C)}"}, ensure_ascii=False) + "\n", encoding="utf-8")
    return folder


def everything_in_neo4j(graph: Graph) -> list[tuple[str, str]]:
    rows = graph.read("MATCH (n) RETURN labels(n) AS what, properties(n) AS props "
                      "UNION ALL MATCH ()-[r]->() RETURN [type(r)] AS what, "
                      "properties(r) AS props")
    return [(f"{row['what']}.{key}", str(value)) for row in rows
            for key, value in row["props"].items()]


def test_no_raw_id_number_after_a_load(graph: Graph, settings: Settings, privacy: Privacy,
                                       tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bundle = leaky_bundle(tmp_path / "bundle")
    rejects = tmp_path / "out" / "rejects.csv"
    caplog.set_level(logging.DEBUG)
    result = invoke(settings, "load", str(bundle), "--json", "--rejects", str(rejects))
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (25, 18, 7)
    rejected = rejects.read_text(encoding="utf-8")
    lines = {(row["file"], row["line"]) for row in csv.DictReader(rejected.splitlines())}
    assert lines == {("legal_persons.csv", "5"),
                     ("natural_persons.csv", "2"), ("natural_persons.csv", "4"),
                     ("relations.csv", "6"), ("penalties.csv", "4"), ("penalties.csv", "5"),
                     ("listings.csv", "3")}

    stored = everything_in_neo4j(graph)
    leaks = [(where, value) for where, value in stored if raw_numbers(value)]
    assert leaks == []
    assert raw_numbers(rejected) == []
    assert raw_numbers(result.stdout) == [] and raw_numbers(result.stderr) == []
    assert raw_numbers(caplog.text) == []

    # not vacuous: the free text is there, masked, and went over the wire in the log
    facts = graph.read("MATCH (p:Penalty {id: '德城市监罚〔2026〕1号'}) RETURN p {.*} AS p")[0]["p"]
    assert facts["facts"] == f"当事人张三（身份证号码{masked(A)}）销售过期食品"
    assert facts["content"] == f"罚款1万元，法定代表人{masked(D)}"
    assert facts["basis"].endswith(f"法定代表人{masked(B)}")
    assert facts["note"] == masked(A) and facts["legalRep"] == f"张三{masked(A)}"
    codes = graph.read("MATCH (p:Penalty {id: '德城市监罚〔2026〕5号'}) "
                       "RETURN p.authorityUscc AS authority, p.sourceUscc AS source")
    assert codes == [{"authority": masked(C), "source": masked(D)}]
    assert "legal_persons.csv,5,uscc," in rejected and "an ID number, not a USCC" in rejected
    person = graph.read("MATCH (p:NaturalPerson {id: $id}) RETURN p {.*} AS p",
                        {"id": privacy.person_key(parse_id_number(A))})[0]["p"]
    assert person["name"] == f"张三（{masked(A)}）"
    assert person["address"] == f"德州市{masked(A)}"
    assert person["idMasked"] == masked(A) and privacy.decrypt(person["idEnc"]) == A
    values = {value for _, value in stored}
    for expected in (f"个体工商户张三{masked(A)}", f"科长 {masked(C)}", f"配偶{masked(B)}",
                     f"已履行 {masked(B)}", f"采购项目（联系人{masked(D)}）",
                     f"本人张三（{masked(A)}）承诺", f"执行董事{masked(A)}"):
        assert expected in values, expected
    assert masked(A) in rejected and "unrecognised date" in rejected
    assert "C: RUN" in caplog.text and f"身份证号码{masked(A)}" in caplog.text


def test_a_file_named_after_a_person_shows_no_raw_number(graph: Graph, settings: Settings,
                                                         tmp_path: Path) -> None:
    """An export named after the person it is about (处罚_<ID number>.csv) put the raw number
    in the summary's `file`, the rejects file's and missing-fields file's `file` column and the
    corrections' `file` — found by the SPEC compliance review; every one now shows it masked."""
    folder = tmp_path / "bundle"
    folder.mkdir()
    write(folder, "legal_persons", ["uscc", "name"], [[CO, "德州市德城区鑫源食品有限公司"]])
    write(folder, f"penalties_{A}", ["decision_no", "subject_name", "subject_id", "category",
                                     "decided_on", "authority"], [
        ["F-1", "德州市德城区鑫源食品有限公司", "", "警告", "2026-03-05", "德州市市场监督管理局"],
        ["F-2", "查无此公司", "", "警告", "2026-03-05", "德州市市场监督管理局"],  # unresolved
        ["F-3", "德州市德城区鑫源食品有限公司", CO, "警告", "", "德州市市场监督管理局"],  # no date
    ])
    out = tmp_path / "out"
    result = invoke(settings, "load", str(folder), "--json", "--rejects", str(out / "r.csv"))
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (4, 2, 2)
    assert len(summary["corrections"]) == 1
    written = [path.read_text(encoding="utf-8") for path in sorted(out.iterdir())]
    assert len(written) == 3  # rejects, corrections, missing fields
    for text in (result.stdout, result.stderr, *written):
        assert raw_numbers(text) == []
    assert f"penalties_{masked(A)}.csv" in written[-1]  # r.csv: the file still named
