"""Entity resolution through the real loader and Neo4j (SPEC §7, 关联补正): a record without a
usable subject id is attached only when its name and the row's evidence single out one
subject; namesakes nothing tells apart are rejected as ambiguous with their candidates."""

from __future__ import annotations

import csv
import datetime as dt
from pathlib import Path

import pytest
from rich.console import Console

from credgraph.loaders.bundle import BundleLoader, LoadSummary, write_rejects
from credgraph.loaders.report import print_summary
from credgraph.services import Services
from tests.ids import make_id, make_uscc

TODAY = dt.date(2026, 11, 28)
# 宏达商贸: one in 禹城市, one in 齐河县, both prefixed only by the prefecture or nothing
YUCHENG = make_uscc(region="371482", org="MA3R00001")
QIHE = make_uscc(region="371425", org="MA3R00002")
# 丰源物流: one in 德州 (德城区), one in 济南 (历下区)
DEZHOU_FY = make_uscc(region="371402", org="MA3R00003")
JINAN_FY = make_uscc(region="370102", org="MA3R00004")
# 瑞丰化工: namesakes with different legal representatives
YT_LINYI = make_uscc(region="371424", org="MA3R00005")
YT_XIAJIN = make_uscc(region="371427", org="MA3R00006")
# 金穗农业: namesakes whose legal representatives share a name (王伟)
JS_QINGYUN = make_uscc(region="371423", org="MA3R00007")
JS_WUCHENG = make_uscc(region="371428", org="MA3R00008")
XINYUAN = make_uscc(region="371402", org="MA3R00009")  # 鑫源食品: no namesake
# 凌云 is a 字号 here (德城区), though 凌云县 is a county of Guangxi
LINGYUN = make_uscc(region="371402", org="MA3R0000A")
YUCHENG_MARKET = make_uscc(prefix="11", region="371482", org="MB1R00001")
CITY_MARKET = make_uscc(prefix="11", region="371400", org="MB1R00002")
ZHANG = make_id(region="371424", born="19700101", seq="101")
LI = make_id(region="371427", born="19750202", seq="202")
WANG_1 = make_id(region="371423", born="19800303", seq="303")
WANG_2 = make_id(region="371428", born="19850404", seq="404")

PENALTY_HEADERS = ["decision_no", "subject_name", "subject_category", "subject_id", "legal_rep",
                   "legal_rep_id", "category", "decided_on", "authority", "authority_uscc"]


def write_csv(path: Path, headers: list[str], rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)
    return path


def loader(services: Services) -> BundleLoader:
    return BundleLoader(services.graph, services.rules, services.privacy, services.normaliser,
                        today=TODAY)


@pytest.fixture()
def city(services: Services, tmp_path: Path) -> Services:
    folder = tmp_path / "city"
    folder.mkdir()
    write_csv(folder / "legal_persons.csv", ["uscc", "name", "region"], [
        [YUCHENG, "德州市宏达商贸有限公司", "371482"],
        [QIHE, "齐河县宏达商贸有限责任公司", "371425"],
        [DEZHOU_FY, "德州市丰源物流有限公司", "371402"],
        [JINAN_FY, "济南市丰源物流有限公司", "370102"],
        [YT_LINYI, "德州市瑞丰化工有限公司", "371424"],
        [YT_XIAJIN, "德州市瑞丰化工有限责任公司", "371427"],
        [JS_QINGYUN, "德州市金穗农业有限公司", "371423"],
        [JS_WUCHENG, "德州市金穗农业有限公司", "371428"],
        [XINYUAN, "德州市德城区鑫源食品有限公司", "371402"],
        [LINGYUN, "德州市凌云信息技术服务有限公司", "371402"],
        [YUCHENG_MARKET, "禹城市市场监督管理局", "371482"],
        [CITY_MARKET, "德州市市场监督管理局", "371400"],
    ])
    write_csv(folder / "natural_persons.csv", ["id_number", "name"], [
        [ZHANG, "张建国"], [LI, "李秀英"], [WANG_1, "王伟"], [WANG_2, "王伟"]])
    write_csv(folder / "relations.csv", ["from_id", "to_id", "type"], [
        [ZHANG, YT_LINYI, "法定代表人"], [LI, YT_XIAJIN, "法定代表人"],
        [WANG_1, JS_QINGYUN, "法定代表人"], [WANG_2, JS_WUCHENG, "法定代表人"]])
    summary = loader(services).load([folder], derive_contacts=False)
    assert summary.rejected == 0
    return services


def penalties(services: Services, tmp_path: Path, rows: list[dict[str, str]]) -> LoadSummary:
    """One penalty per row, none with a subject id; the authority is the city's bureau
    (whose region holds every county) unless the row says otherwise."""
    table = []
    for number, row in enumerate(rows, start=1):
        values = {"decision_no": f"P-{number}", "subject_category": "法人及非法人组织",
                  "category": "警告", "decided_on": "2026-01-05",
                  "authority": "德州市市场监督管理局", **row}
        table.append([values.get(h, "") for h in PENALTY_HEADERS])
    path = write_csv(tmp_path / "penalties.csv", PENALTY_HEADERS, table)
    summary = loader(services).load([path], derive_contacts=False)
    assert summary.read == summary.loaded + summary.rejected == len(rows)
    return summary


def owners(services: Services) -> dict[str, str]:
    found = services.graph.read("MATCH (s:Subject)-[:HAS_RECORD]->(p:Penalty) "
                                "RETURN p.id AS penalty, s.id AS subject")
    return {row["penalty"]: row["subject"] for row in found}


def outcome(summary: LoadSummary) -> dict[int, tuple[str, str | None]]:
    """Per line of the penalties file: (resolved USCC, deciding evidence) or (reason, None)."""
    out: dict[int, tuple[str, str | None]] = {
        c["line"]: (c["resolvedTo"], c["decidedBy"]) for c in summary.corrections}
    out.update({r.line: (r.reason, None) for r in summary.rejects})
    return out


def test_a_core_name_in_two_counties_is_ambiguous(city: Services, tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "宏达商贸有限公司"},
        {"subject_name": "德州市宏达商贸有限责任公司"},  # the prefecture holds both
        {"subject_name": "山东宏达商贸有限公司"},
        {"subject_name": "宏达商贸有限公司", "subject_id": "91371482MA3R0000X1"},  # bad id
    ])
    assert (summary.loaded, summary.rejected, summary.corrections) == (0, 4, [])
    for item in summary.rejects:
        assert item.reason.startswith("unresolved subject: ambiguous, 2 candidates"), item
        assert f"{YUCHENG} 德州市宏达商贸有限公司" in item.reason
        assert f"{QIHE} 齐河县宏达商贸有限责任公司" in item.reason
    assert summary.rejects[3].reason.endswith("(91371482MA3R0000X1)")  # why the id was unusable
    assert summary.files[0].reasons == {"unresolved subject": 4}
    write_rejects(summary.rejects, tmp_path / "rejects.csv")
    with (tmp_path / "rejects.csv").open(encoding="utf-8") as handle:
        first = next(csv.DictReader(handle))
    assert (first["column"], first["value"]) == ("subject_id", "宏达商贸有限公司")
    assert YUCHENG in first["reason"] and QIHE in first["reason"]
    # never attached, not even as a record without its subject
    assert city.graph.read("MATCH (p:Penalty) RETURN count(p) AS n") == [{"n": 0}]


@pytest.mark.parametrize(("name", "expected"), [
    ("禹城市宏达商贸有限公司", YUCHENG),
    ("禹城宏达商贸有限公司", YUCHENG),  # the short form
    ("山东省德州市禹城市宏达商贸有限责任公司", YUCHENG),  # every level
    ("宏达（禹城）商贸有限公司", YUCHENG),  # bracketed
    ("齐河县宏达商贸有限公司", QIHE),
    ("齐河宏達商貿有限公司", QIHE),  # short form, traditional characters
])
def test_a_county_prefix_decides(city: Services, tmp_path: Path, name: str,
                                 expected: str) -> None:
    summary = penalties(city, tmp_path, [{"subject_name": name}])
    assert outcome(summary) == {2: (expected, "region prefix")}
    # the city's bureau agreed, but holds both counties
    assert summary.corrections[0]["evidence"] == ["name", "region prefix", "authority region"]
    assert owners(city) == {"P-1": expected}


def test_a_mistyped_code_decides_between_namesakes(city: Services, tmp_path: Path) -> None:
    """A name with namesakes and a code wrong in its check character was ambiguous, though the
    code singled one out (found by a held-out review city: 德州市恒源商贸 beside 宁津县恒源商贸).
    Of the contenders by name, the one whose USCC the code misses by one character or a swap of
    neighbours is taken — never a subject the name does not match."""
    wrong_check = YUCHENG[:17] + ("0" if YUCHENG[17] != "0" else "1")
    swapped = QIHE[:8] + QIHE[9] + QIHE[8] + QIHE[10:]
    summary = penalties(city, tmp_path, [
        {"subject_name": "宏达商贸有限公司", "subject_id": wrong_check},
        {"subject_name": "宏达商贸有限公司", "subject_id": swapped},
        {"subject_name": "宏达商贸有限公司", "subject_id": XINYUAN[:17] + "0"},
    ])
    assert outcome(summary)[2] == (YUCHENG, "mistyped code")
    assert outcome(summary)[3] == (QIHE, "mistyped code")
    assert outcome(summary)[4][0].startswith("unresolved subject: ambiguous")
    assert "mistyped code" in summary.corrections[0]["evidence"]


def test_a_historical_county_names_its_successor(city: Services, tmp_path: Path) -> None:
    """陵县 became 陵城区 in 2014 (吴江市 吴江区 in 2012): a historical county's name stood for
    its whole province, so 陵县恒力纺织 was ambiguous with 德州市恒力纺织 in 德城区, and a
    company still registered under 371421 did not lie in 陵城区 (found by a held-out review
    deploying for 苏州). A renamed county's name now names its successor, and its old code lies
    there."""
    old_code = make_uscc(region="371421", org="MA3R0000B")
    dezhou = make_uscc(region="371402", org="MA3R0000C")
    folder = tmp_path / "more"
    folder.mkdir()
    write_csv(folder / "legal_persons.csv", ["uscc", "name", "region"], [
        [old_code, "陵县恒力纺织有限公司", "371421"], [dezhou, "德州市恒力纺织有限公司", "371402"]])
    assert loader(city).load([folder], derive_contacts=False).rejected == 0
    summary = penalties(city, tmp_path, [{"subject_name": "陵县恒力纺织有限公司"},
                                         {"subject_name": "陵城恒力纺织有限公司"},
                                         {"subject_name": "德城恒力纺织有限公司"}])
    assert outcome(summary) == {2: (old_code, "region prefix"), 3: (old_code, "region prefix"),
                                4: (dezhou, "region prefix")}


def test_a_prefix_naming_another_region_is_not_attached_elsewhere(city: Services,
                                                                  tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "乐陵市宏达商贸有限公司"},  # 乐陵 has no 宏达商贸
        {"subject_name": "陵城鑫源食品有限公司"},  # the only 鑫源食品 is in 德城区
    ])
    assert outcome(summary) == {
        2: ("unresolved subject: no strong name match in 乐陵市; missing subject id", None),
        3: ("unresolved subject: no strong name match in 陵城; missing subject id", None)}


def test_a_prefecture_prefix_decides_between_prefectures(city: Services,
                                                         tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "德州丰源物流有限公司"},
        {"subject_name": "济南市丰源物流有限责任公司"},
        # both are in 山东, the province's bureau too (the city's would prefer 德州's)
        {"subject_name": "山东省丰源物流有限公司", "authority": "山东省市场监督管理局"},
        {"subject_name": "丰源物流有限公司", "authority": "山东省市场监督管理局"},
        {"subject_name": "丰源物流有限公司"},
    ])
    found = outcome(summary)
    assert found[2] == (DEZHOU_FY, "region prefix")
    assert found[3] == (JINAN_FY, "region prefix")
    assert found[4][0].startswith("unresolved subject: ambiguous, 2 candidates")
    assert found[5][0].startswith("unresolved subject: ambiguous, 2 candidates")
    assert found[6] == (DEZHOU_FY, "authority region")


def test_the_legal_representative_decides_between_namesakes(city: Services,
                                                            tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "李秀英"},
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "张建国"},
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "赵六"},  # neither's
        {"subject_name": "瑞丰化工有限公司"},
    ])
    found = outcome(summary)
    assert found[2] == (YT_XIAJIN, "legal representative")
    assert found[3] == (YT_LINYI, "legal representative")
    assert found[4][0].startswith("unresolved subject: the legal representative named "
                                  "matches no candidate")
    assert found[5][0].startswith("unresolved subject: ambiguous, 2 candidates")
    assert summary.corrections[0]["evidence"] == ["name", "legal representative",
                                                  "authority region"]


def test_namesake_representatives_decide_only_by_id_number(city: Services,
                                                           tmp_path: Path) -> None:
    """Both 金穗农业 are represented by a 王伟: the name tells nothing, the ID number does."""
    summary = penalties(city, tmp_path, [
        {"subject_name": "金穗农业有限公司", "legal_rep": "王伟"},
        {"subject_name": "金穗农业有限公司", "legal_rep": "王伟", "legal_rep_id": WANG_2},
        {"subject_name": "金穗农业有限公司", "legal_rep": "王伟", "legal_rep_id": WANG_1},
    ])
    found = outcome(summary)
    assert found[2][0].startswith("unresolved subject: ambiguous, 2 candidates")
    assert found[3] == (JS_WUCHENG, "legal representative")
    assert found[4] == (JS_QINGYUN, "legal representative")
    text = repr(summary.as_json()) + repr(summary.rejects)
    assert WANG_1 not in text and WANG_2 not in text


def test_the_authority_region_decides_between_namesakes(city: Services,
                                                        tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        # the agency as loaded
        {"subject_name": "宏达商贸有限公司", "authority": "禹城市市场监督管理局",
         "authority_uscc": YUCHENG_MARKET},
        # an agency not loaded: its USCC's positions 3–8
        {"subject_name": "宏达商贸有限公司", "authority": "某局",
         "authority_uscc": make_uscc(prefix="11", region="371425", org="MB1R00009")},
        # no USCC: the region the authority's name names
        {"subject_name": "宏达商贸有限公司", "authority": "齐河县市场监督管理局"},
        # a county's bureau with no namesake there decides nothing
        {"subject_name": "宏达商贸有限公司", "authority": "德州市德城区市场监督管理局"},
    ])
    found = outcome(summary)
    assert found[2] == (YUCHENG, "authority region")
    assert found[3] == (QIHE, "authority region")
    assert found[4] == (QIHE, "authority region")
    assert found[5][0].startswith("unresolved subject: ambiguous, 2 candidates")
    assert summary.corrections[0]["evidence"] == ["name", "authority region"]
    # the region prefix, when given, outranks the authority
    summary = penalties(city, tmp_path, [
        {"subject_name": "齐河县宏达商贸有限公司", "authority": "禹城市市场监督管理局",
         "authority_uscc": YUCHENG_MARKET}])
    assert outcome(summary) == {2: (QIHE, "region prefix")}


@pytest.mark.parametrize("name", [
    "德州市德城区鑫源食品有限责任公司",
    "德州市德城區鑫源食品有限公司",  # traditional
    "鑫源食品（有限公司）",  # brackets
    "【德城】鑫源食品有限公司",  # a bracketed region name, other brackets
    "鑫源 食品 有限 公司",  # spaces
    "鑫源食品有限公司",  # no region at all
])
def test_a_unique_name_resolves_however_written(city: Services, tmp_path: Path,
                                                name: str) -> None:
    summary = penalties(city, tmp_path, [{"subject_name": name}])
    assert outcome(summary) == {2: (XINYUAN, "name")}


def test_a_region_name_that_is_not_where_the_subject_is_is_its_name(city: Services,
                                                                   tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "凌云信息技术服务有限公司"},
        {"subject_name": "德州凌云信息技術服務有限公司"},
        # 南康 and 东方 are region names too: other 字号, not 凌云's namesakes
        {"subject_name": "南康信息技术服务有限公司"},
        {"subject_name": "德州市东方信息技术服务有限公司"},
        {"subject_name": "德州市南信息技术服务有限公司"},
    ])
    found = outcome(summary)
    assert found[2] == found[3] == (LINGYUN, "name")
    assert all(found[line][0].startswith("unresolved subject") for line in (4, 5, 6)), found
    assert city.graph.read("MATCH (c {id: $id}) RETURN c.nameNorm AS core",
                           {"id": LINGYUN}) == [{"core": "凌云信息技术服务有限公司"}]


def test_nothing_is_guessed(city: Services, tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        # one character off an 8-character core: as likely another company (鑫达食品)
        {"subject_name": "鑫达食品有限公司"},
        # a natural person's penalty cannot go to a company of that name
        {"subject_name": "德州市德城区鑫源食品有限公司", "subject_category": "自然人"},
        {"subject_name": "完全不同的名字科技有限公司"},
    ])
    assert summary.corrections == []
    assert [r.reason.split(";")[0] for r in sorted(summary.rejects, key=lambda r: r.line)] == [
        "unresolved subject: no name match strong enough",
        "unresolved subject: a natural person is found by the ID number, not by name",
        "unresolved subject: no name match strong enough"]
    assert owners(city) == {}


def test_a_person_is_never_found_by_name(city: Services, tmp_path: Path) -> None:
    """李秀英 is the only person of that name in the city, and still no penalty without her
    number goes to her: a Chinese name does not single out a person."""
    mistyped = LI[:-1] + ("0" if LI[-1] != "0" else "1")
    summary = penalties(city, tmp_path, [
        {"subject_name": "李秀英", "subject_category": "自然人"},
        {"subject_name": "李秀英", "subject_category": ""},
        {"subject_name": "李秀英", "subject_category": "自然人", "subject_id": mistyped},
        # her first-generation 15-digit number (region, YYMMDD, sequence)
        {"subject_name": "李秀英", "subject_category": "", "subject_id": LI[:6] + LI[8:17]},
    ])
    assert summary.corrections == []
    reasons = {r.line: r.reason for r in summary.rejects}
    assert sorted(reasons) == [2, 3, 4, 5]
    assert all(reason.startswith("unresolved subject") for reason in reasons.values())
    assert "found by the ID number, not by name; missing subject id" in reasons[2]
    assert "ID number check digit does not match" in reasons[4]
    assert "ID number must have 18 characters" in reasons[5]  # not "USCC must have …"
    assert owners(city) == {}


def test_a_persons_number_is_judged_as_an_id_number(city: Services, tmp_path: Path) -> None:
    """A 自然人 row's 18 digits with an impossible birth date (19900230) were judged as a USCC
    — `bad check digit: USCC check character is …` — and the quality report counted a bad
    check digit where natural_persons says impossible birth date (found by a held-out review of
    the quality report). The row says whose number it is: its problem is the ID number's. A
    company's code on a row miscalled 自然人 keeps the USCC's reason."""
    from stdnum.cn import ric

    impossible = LI[:6] + "19900230" + LI[14:17]
    impossible += ric.calc_check_digit(impossible + "0")
    code = make_uscc(org="MA3C00077")
    summary = penalties(city, tmp_path, [
        {"subject_name": "李秀英", "subject_category": "自然人", "subject_id": impossible},
        {"subject_name": "李秀英", "subject_category": "自然人", "subject_id": LI[:14]},
        {"subject_name": "某公司", "subject_category": "自然人",
         "subject_id": code[:-1] + ("0" if code[-1] != "0" else "1")}])
    reasons = {r.line: r.reason.split("; ", 1)[1] for r in summary.rejects}
    assert reasons[2].startswith("impossible birth date: ID number positions 7-14"), reasons
    assert reasons[3].startswith("bad length: ID number must have 18"), reasons
    assert reasons[4].startswith("bad check digit: USCC check character"), reasons
    assert impossible not in " ".join(reasons.values())


def test_a_persons_mistyped_number_that_passes_the_uscc_check_is_no_company(
        city: Services, tmp_path: Path) -> None:
    """About one mistyped ID number in 31 passes the USCC check: on a 自然人 row it is still
    her number mistyped — rejected, masked — and no stub company keyed by her digits is made
    (it was: a LegalPerson stub with the 18 digits as its id, the record attached to it)."""
    from stdnum.cn import ric, uscc

    # one digit of her sequence mistyped
    mistyped = next(typo for position in (14, 15, 16) for digit in "0123456789"
                    if not ric.is_valid(typo := LI[:position] + digit + LI[position + 1:])
                    and uscc.is_valid(typo))
    summary = penalties(city, tmp_path, [
        {"subject_name": "李秀英", "subject_category": "自然人", "subject_id": mistyped}])
    [reject] = summary.rejects
    assert reject.reason.startswith("unresolved subject: a natural person is found by the ID "
                                    "number, not by name; bad check digit"), reject.reason
    assert mistyped not in reject.value + reject.reason
    assert owners(city) == {}
    assert city.graph.read("MATCH (s:Subject {id: $id}) RETURN s", {"id": mistyped}) == []


def test_a_debtors_mistyped_number_that_passes_the_uscc_check_is_no_company(
        city: Services, tmp_path: Path) -> None:
    """A judgment names its debtor by id alone: a mistyped ID number that passes the USCC
    check, with no GB 32100 department and type in its first two digits (37 山东), became a
    stub company keyed by the person's 18 digits; it is rejected, masked."""
    from stdnum.cn import ric, uscc

    mistyped = next(typo for position in (14, 15, 16) for digit in "0123456789"
                    if not ric.is_valid(typo := LI[:position] + digit + LI[position + 1:])
                    and uscc.is_valid(typo))
    path = write_csv(tmp_path / "judgments.csv", ["case_no", "court", "debtor_id", "due_on"],
                     [["（2026）鲁1427执1号", "夏津县人民法院", mistyped, "2026-01-05"]])
    summary = loader(city).load([path], derive_contacts=False)
    [reject] = summary.rejects
    assert reject.column == "debtor_id" and reject.reason.startswith("bad check digit"), reject
    assert mistyped not in reject.value + reject.reason
    assert city.graph.read("MATCH (s:Subject {id: $id}) RETURN s", {"id": mistyped}) == []


def test_a_jiangsu_debtors_mistyped_number_is_no_company(city: Services,
                                                         tmp_path: Path) -> None:
    """The same outside Shandong: 32 (江苏) is a GB 32100 department and type, so a mistyped
    昆山 number passing the USCC check became a stub company keyed by the person's 18 digits
    (region 058319) on a judgment and a listing; both are rejected, masked."""
    from stdnum.cn import ric, uscc

    person = make_id(region="320583", born="19800101", seq="101")
    typos = [typo for position in (14, 15, 16, 17) for digit in "0123456789"
             if not ric.is_valid(typo := person[:position] + digit + person[position + 1:])
             and uscc.is_valid(typo)]
    assert len(typos) >= 2
    judgments = write_csv(tmp_path / "judgments.csv", ["case_no", "court", "debtor_id", "due_on"],
                          [["（2026）苏0583执1号", "昆山市人民法院", typos[0], "2026-01-05"]])
    listings = write_csv(tmp_path / "listings.csv",
                         ["list_id", "subject_name", "subject_id", "list_type", "listed_on"],
                         [["SX-1", "张三", typos[1], "失信被执行人", "2026-01-05"]])
    summary = loader(city).load([judgments, listings], derive_contacts=False)
    by_column = {r.column: r for r in summary.rejects}
    assert sorted(by_column) == ["debtor_id", "subject_id"]
    for column, typo in zip(("debtor_id", "subject_id"), typos[:2], strict=True):
        reject = by_column[column]
        assert "bad check digit: ID number" in reject.reason, reject
        assert typo not in reject.value + reject.reason
    assert city.graph.read("MATCH (s:Subject) WHERE s.id IN $ids RETURN s",
                           {"ids": typos}) == []


def test_the_printed_summary_says_which_evidence_decided(city: Services,
                                                         tmp_path: Path) -> None:
    summary = penalties(city, tmp_path, [
        {"subject_name": "禹城宏达商贸有限公司"},
        {"subject_name": "齐河宏达商贸有限公司"},
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "李秀英"},
        {"subject_name": "鑫源食品有限公司"},
    ])
    console = Console(record=True, width=120)
    print_summary(console, summary, tmp_path / "rejects.csv")
    assert ("decided by: region prefix 2, legal representative 1, name 1"
            in console.export_text())


def test_the_authority_region_never_overrides_the_name(city: Services,
                                                       tmp_path: Path) -> None:
    """德州市宏达商贸有限公司 is the registered name of the 禹城 company (YUCHENG): a penalty of
    齐河's bureau naming it is not 齐河县宏达商贸's, though 齐河 lies in 德州 too — it was
    attached to QIHE by the authority region. The bureau of the company so named still
    decides, and a bare core name is still told apart by the authority."""
    summary = penalties(city, tmp_path, [
        {"subject_name": "德州市宏达商贸有限公司", "authority": "齐河县市场监督管理局"},
        {"subject_name": "德州宏达商贸有限责任公司", "authority": "禹城市市场监督管理局",
         "authority_uscc": YUCHENG_MARKET},
        {"subject_name": "宏达商贸有限公司", "authority": "齐河县市场监督管理局"},
    ])
    found = outcome(summary)
    assert found[2][0].startswith("unresolved subject: ambiguous, 2 candidates"), found[2]
    assert found[3] == (YUCHENG, "authority region")
    assert found[4] == (QIHE, "authority region")
    assert owners(city) == {"P-2": YUCHENG, "P-3": QIHE}


def test_a_name_the_query_parser_reads_as_an_operator_is_only_a_name(city: Services,
                                                                     tmp_path: Path) -> None:
    """AND, OR, NOT are the full-text query parser's operators: a penalty naming 'AND' failed
    the search and aborted the whole load; it is rejected alone, and a search finds nothing."""
    summary = penalties(city, tmp_path, [
        {"subject_name": "AND"}, {"subject_name": "or"}, {"subject_name": "NOT有限公司"},
        {"subject_name": "鑫源食品有限公司"},
    ])
    found = outcome(summary)
    for line in (2, 3, 4):
        assert found[line][0].startswith("unresolved subject: no name match"), found[line]
    assert found[5] == (XINYUAN, "name")
    for name in ("AND", "OR", "NOT", "宏达 AND 商贸"):
        city.resolver.candidates(name, None, 10)


def test_a_search_puts_the_subject_so_called_first_among_equals(city: Services,
                                                                tmp_path: Path) -> None:
    """Two 宏达商贸 lying in 德州: the one registered as 德州市宏达商贸有限公司 (禹城, YUCHENG)
    comes before 德州市德城区宏达商贸有限公司, whose USCC sorts first — and scores above it:
    both scored 1.0 (search_namesake), as 昆山市市场监督管理局 did for 苏州市市场监督管理局 (a
    held-out review with a 苏州 bundle)."""
    decheng = make_uscc(region="371402", org="MA3R0000B")
    path = write_csv(tmp_path / "more.csv", ["uscc", "name", "region"],
                     [[decheng, "德州市德城区宏达商贸有限公司", "371402"]])
    assert loader(city).load([path], derive_contacts=False).rejected == 0
    found = city.resolver.candidates("德州市宏达商贸有限公司", None, 10)
    assert [c.id for c in found[:3]] == [YUCHENG, decheng, QIHE]
    assert (found[0].score, found[1].score) == (100, 95)
    found = city.resolver.candidates("德城区宏达商贸有限公司", None, 10)
    assert (found[0].id, found[0].score) == (decheng, 100)


def test_a_search_scores_a_namesake_elsewhere_lower(city: Services) -> None:
    """济南市丰源物流 is no full match for 德州市丰源物流: the place the name names is part of
    what the investigator asked (an agency's place is all that tells it apart)."""
    found = city.resolver.candidates("德州市丰源物流有限公司", None, 10)
    assert [(c.id, c.score) for c in found[:2]] == [(DEZHOU_FY, 100), (JINAN_FY, 90)]
    market = city.resolver.candidates("禹城市市场监督管理局", "LEGAL", 10)
    assert [(c.id, c.score) for c in market[:2]] == [(YUCHENG_MARKET, 100), (CITY_MARKET, 90)]
    # the name naming no place: nobody is elsewhere
    assert {c.score for c in city.resolver.candidates("丰源物流有限公司", None, 10)[:2]} == {100}


def test_a_search_by_a_trade_name_that_is_a_place_elsewhere_names_no_place(
        city: Services) -> None:
    """凌云信息技术服务有限公司 asked names no place: its 凌云 is the 字号 of
    德州市凌云信息技术服务有限公司 (凌云县 is in Guangxi) — 1.0, as 鑫源食品有限公司 is for
    德州市德城区鑫源食品有限公司. It scored 0.95 (search_namesake), as though 凌云 named a place
    the subject lies in but is called otherwise; so did 昆山饭店有限公司 for 苏州市昆山饭店有限公司
    in 姑苏区 (a held-out review with a 苏州 bundle)."""
    found = city.resolver.candidates("鑫源食品有限公司", None, 1)
    assert [(c.id, c.score) for c in found] == [(XINYUAN, 100)]
    found = city.resolver.candidates("凌云信息技术服务有限公司", None, 1)
    assert [(c.id, c.score) for c in found] == [(LINGYUN, 100)]
    # the place named still counts: 德州市凌云… is so called, a 济南 one would be elsewhere
    found = city.resolver.candidates("德州市凌云信息技术服务有限公司", None, 1)
    assert [(c.id, c.score) for c in found] == [(LINGYUN, 100)]


def test_a_search_by_trade_name_finds_the_branches_bearing_it(city: Services,
                                                               tmp_path: Path) -> None:
    """宏达商贸 asked: every subject whose name holds it — the companies and the branch named
    after one, 0.9 — before 安达商贸 (0.5); the branch scored 0.4, below 安达商贸."""
    branch = make_uscc(region="371402", org="MA3R0000C")
    other = make_uscc(region="371402", org="MA3R0000D")
    path = write_csv(tmp_path / "more.csv", ["uscc", "name", "region"],
                     [[branch, "德州市宏达商贸有限公司德城分公司", "371402"],
                      [other, "德州市安达商贸有限公司", "371402"]])
    assert loader(city).load([path], derive_contacts=False).rejected == 0
    found = [(c.id, c.score) for c in city.resolver.candidates("宏达商贸", None, 10)]
    assert sorted(found[:3]) == sorted([(YUCHENG, 90), (QIHE, 90), (branch, 90)])
    assert found[3] == (other, 50)


def test_a_search_by_a_trade_name_that_is_the_subjects_own_place(city: Services,
                                                                 tmp_path: Path) -> None:
    """德州扒鸡 asked: 山东德州扒鸡股份有限公司's core is 扒鸡股份公司 (山东 and 德州 are where it
    lies, stripped as places), and the asked name, too short to lose its 德州, was compared
    with that core alone — 0.4, as 太仓港物流 scored 0.5 for 太仓市太仓港物流有限公司 and 昆山科技
    0.33 for 昆山市昆山科技发展有限公司, below 昆山市教育局. Found by a held-out review with a 苏州
    bundle. The name with its places holds what was asked: 0.9. A place alone is no 字号."""
    pajji = make_uscc(region="371402", org="MA3R0000E")
    port = make_uscc(region="320585", org="MA3R0000F")
    path = write_csv(tmp_path / "more.csv", ["uscc", "name", "region"],
                     [[pajji, "山东德州扒鸡股份有限公司", "371402"],
                      [port, "太仓市太仓港物流有限公司", "320585"]])
    assert loader(city).load([path], derive_contacts=False).rejected == 0
    assert city.resolver.candidates("德州扒鸡", None, 3)[0].id == pajji
    assert city.resolver.candidates("德州扒鸡", None, 3)[0].score == 90
    assert (city.resolver.candidates("太仓港物流", None, 3)[0].id,
            city.resolver.candidates("太仓港物流", None, 3)[0].score) == (port, 90)
    # a place alone asked: no subject of it becomes a 0.9 match
    assert all(c.score < 90 for c in city.resolver.candidates("德州", None, 10))
    assert all(c.score < 90 for c in city.resolver.candidates("太仓市", None, 10))


def test_a_name_too_long_for_the_full_text_search_is_rejected_alone(city: Services,
                                                                    tmp_path: Path) -> None:
    """A 3000-character name made a full-text query of more clauses than Lucene allows
    (TooManyClauses): the whole load failed. Only the row is rejected now."""
    summary = penalties(city, tmp_path, [
        {"subject_name": "宏达商贸丰源物流" * 375 + "有限公司"},
        {"subject_name": "鑫源食品有限公司"},
    ])
    found = outcome(summary)
    assert found[2][0].startswith("unresolved subject: no name match"), found[2]
    assert found[3] == (XINYUAN, "name")


def test_a_search_finds_a_person_however_a_source_spaced_or_composed_the_name(
        city: Services, tmp_path: Path) -> None:
    """A person's nameNorm was the name as written, and a search looks the asked name's
    folded cores up in it: 李　娜 (an ideographic space, as a source typed it) was found
    neither by 李娜 nor by her own name, John Smith not by 'John Smith', Zoë typed as
    Zoe + U+0308 not by Zoë (found by a held-out review of names as received). Persons'
    names are folded as organisations' are, no region name stripped (东方 is a surname)."""
    people = {make_id(region="371402", born="19950101", seq="112"): "\u3000李\u3000娜\u3000",
              make_id(region="371402", born="19960202", seq="122"): "John Smith",
              make_id(region="371402", born="19970303", seq="132"): "Zoe\u0308",
              make_id(region="371402", born="19980404", seq="142"): "張偉明",
              make_id(region="371402", born="19990505", seq="152"): "东方明亮",
              make_id(region="371402", born="20000606", seq="162"): "阿依古丽\u30fb吐尔逊"}
    path = write_csv(tmp_path / "natural_persons.csv", ["id_number", "name"],
                     [[number, name] for number, name in people.items()])
    assert loader(city).load([path], derive_contacts=False).rejected == 0
    names = {row["name"]: row["id"] for row in city.graph.read(
        "MATCH (p:NaturalPerson) RETURN p.name AS name, p.id AS id")}
    for asked, stored in [("李娜", "李\u3000娜"), ("李\u3000娜", "李\u3000娜"),
                          ("John Smith", "John Smith"), ("john smith", "John Smith"),
                          ("Zo\u00eb", "Zoe\u0308"), ("张伟明", "張偉明"),
                          ("东方明亮", "东方明亮"), ("阿依古丽·吐尔逊", "阿依古丽\u30fb吐尔逊")]:
        found = city.resolver.candidates(asked, "NATURAL_PERSON", 5)
        assert [(c.id, c.score) for c in found[:1]] == [(names[stored], 100)], asked


def test_a_legal_representative_is_compared_as_a_name_is_folded(city: Services,
                                                                 tmp_path: Path) -> None:
    """A 法定代表人 typed with an ideographic space (李　秀英) or in traditional characters
    (張建國) was no 李秀英 or 张建国 of the natural_persons file: the row was rejected `the legal
    representative named matches no candidate` (found by a held-out review of §7). The names
    are compared folded, as a person's nameNorm is."""
    summary = penalties(city, tmp_path, [
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "李　秀英"},
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "張建國"},
        {"subject_name": "瑞丰化工有限公司", "legal_rep": "李 秀 英 "},
    ])
    found = outcome(summary)
    assert found == {2: (YT_XIAJIN, "legal representative"),
                     3: (YT_LINYI, "legal representative"),
                     4: (YT_XIAJIN, "legal representative")}, found


def test_an_approximate_name_naming_another_place_or_number_is_not_attached(
        city: Services, tmp_path: Path) -> None:
    """One character off a long core reaches the threshold: a penalty of
    华信商贸有限公司陵城分公司 went to the 禹城分公司 (92) and one of 禹城市第二建筑工程有限公司
    to 第一建筑工程 (90) — records on another subject (found by a held-out review of §7). An
    approximate match naming another place or another number than its candidate is no match;
    a typo elsewhere still is."""
    branch = make_uscc(region="371482", org="MA3R0000G")
    first = make_uscc(region="371482", org="MA3R0000H")
    folder = tmp_path / "more"
    folder.mkdir()
    write_csv(folder / "legal_persons.csv", ["uscc", "name"], [
        [branch, "德州市华信商贸有限公司禹城分公司"], [first, "禹城市第一建筑工程有限公司"]])
    assert loader(city).load([folder], derive_contacts=False).rejected == 0
    summary = penalties(city, tmp_path, [
        {"subject_name": "德州市华信商贸有限公司陵城分公司"},
        {"subject_name": "禹城市第二建筑工程有限公司"},
        {"subject_name": "华信商贸有限公司禹城分公司"},
        {"subject_name": "禹城市第一建筑工成有限公司"},  # 程 typed 成
        {"subject_name": "华信商贸有限公司禹城分工司"},  # 公 typed 工
    ])
    found = outcome(summary)
    assert found[2][0].startswith("unresolved subject: the name says 陵城 where "
                                  "德州市华信商贸有限公司禹城分公司 says 禹城"), found[2]
    assert found[3][0].startswith("unresolved subject: the name says 二 where "
                                  "禹城市第一建筑工程有限公司 says 一"), found[3]
    assert found[4] == (branch, "name")
    assert found[5] == (first, "name")
    assert found[6] == (branch, "name")
    assert owners(city) == {"P-3": branch, "P-4": first, "P-5": branch}


def test_a_search_with_a_typo_finds_a_name_registered_in_traditional_characters(
        city: Services, tmp_path: Path) -> None:
    """A subject registered as 德州市華夏電纜有限公司 (a Big5 source) was found by its exact
    name in simplified characters — the namesake lookup compares folded cores — but not by a
    near one: the full-text index held the name as written, so 华夏电缆有线公司 (a typo) shared
    no character pair with it. The index holds the folded core too."""
    cable = make_uscc(region="371402", org="MA3R0000G")
    works = make_uscc(region="371402", org="MA3R0000H")
    path = write_csv(tmp_path / "more.csv", ["uscc", "name", "region"],
                     [[cable, "德州市華夏電纜有限公司", "371402"],
                      [works, "德州市長虹電纜製造有限公司", "371402"]])
    assert loader(city).load([path], derive_contacts=False).rejected == 0
    for asked in ("华夏电缆有线公司", "德州市华夏电览有限公司"):
        found = city.resolver.candidates(asked, None, 3)
        assert [(c.id, c.score) for c in found[:1]] == [(cable, 87.5)], asked
    # a record naming it so is attached when the name is near enough (`threshold`)
    summary = penalties(city, tmp_path, [{"subject_name": "长虹电缆制选有限公司"}])
    assert outcome(summary) == {2: (works, "name")}
