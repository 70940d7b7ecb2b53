from __future__ import annotations

import datetime as dt

import pytest

from credgraph.loaders.derive import Deriver
from credgraph.rules import Rules, RulesError
from credgraph.schema.rows import (
    CommitmentRow,
    FieldProblem,
    LegalPersonRow,
    LicenseRow,
    ListingRow,
    NaturalPersonRow,
    PenaltyRow,
    RelationRow,
    header_map,
    parse_row,
)
from credgraph.schema.values import parse_amount, parse_date, parse_ratio


@pytest.mark.parametrize("text", ["2024-03-05", "2024/3/5", "20240305", "2024年3月5日",
                                  "2024-03-05 00:00:00", "２０２４年３月５日", 20240305,
                                  20240305.0])
def test_dates_in_four_notations(text: object) -> None:
    assert parse_date(text) == dt.date(2024, 3, 5)


def test_a_spreadsheets_day_number_is_a_date_only_as_a_number() -> None:
    """A date cell formatted General shows Excel's day number: read as the date it is, but
    not from text, and a year alone is no date."""
    assert parse_date(45356) == parse_date(45356.0) == dt.date(2024, 3, 5)
    for value in ("45356", 2024, True):
        with pytest.raises(ValueError, match="unrecognised"):
            parse_date(value)


@pytest.mark.parametrize(("text", "message"), [("2024-02-30", "impossible"),
                                                ("5 March", "unrecognised")])
def test_bad_dates(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_date(text)


@pytest.mark.parametrize(("text", "value"), [("12.5", 12.5), ("1,250.00", 1250.0),
                                             ("12.5万元", 12.5), ("3万", 3.0), ("", None),
                                             ("¥12.5万元", 12.5), ("1.2亿元", 12000.0),
                                             ("125,000元", 12.5), ("１２，３４５.６万元", 12345.6),
                                             ("12,345,678元", 1234.5678),
                                             ("15500亿元", 155_000_000.0)])
def test_amounts(text: str, value: float | None) -> None:
    """Up to 10 万亿元: the registered capital of the largest company (中国投资有限责任公司,
    15,500 亿元) is well inside."""
    assert parse_amount(text) == value


@pytest.mark.parametrize(("text", "message"), [
    ("-3", "negative"), ("abc", "not a number"), ("1,2,3", "not a number"),
    ("12,34.5", "not a number"),
    # what Python's float() reads but no one writes in a cell
    ("12_5", "not a number"), ("1e3", "not a number"), ("\u0663", "not a number"),
    ("nan", "not a number"), ("inf万元", "not a number"),
    ("371402199001011234", "an ID number where an amount belongs"),  # a shifted column
    # a unit or column mistake, not data: 1e20 万元 was stored and rated 严重
    ("99999999999999999999", "over 1,000,000,000 万元"), ("1.5万亿亿元", "not a number")])
def test_bad_amounts(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_amount(text)


def test_minus_zero_is_zero() -> None:
    assert str(parse_amount("-0")) == "0.0"


@pytest.mark.parametrize(("text", "value"), [("0.35", 0.35), ("35", 0.35), ("35%", 0.35),
                                             ("100%", 1.0), ("1", 1.0)])
def test_ratios(text: str, value: float) -> None:
    assert parse_ratio(text) == pytest.approx(value)


@pytest.mark.parametrize(("text", "message"), [
    ("135", "outside"), ("-5%", "outside"), ("x", "not a ratio"), ("nan", "not a ratio"),
    ("1e1%", "not a ratio"), ("3_5%", "not a ratio")])
def test_bad_ratios(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_ratio(text)


def test_chinese_and_english_headers_map_to_the_same_fields() -> None:
    chinese = header_map(LegalPersonRow,
                         ["统一社会信用代码", "名称", "注册资本（万元）", "成立日期"])
    english = header_map(LegalPersonRow, ["uscc", "name", "registered_capital", "established"])
    assert list(chinese.values()) == list(english.values()) == [
        "uscc", "name", "registered_capital", "established"]
    # half-width brackets and stray spaces in a header are tolerated
    assert header_map(LegalPersonRow, [" 注册资本(万元) "]) == {
        " 注册资本(万元) ": "registered_capital"}
    assert header_map(LegalPersonRow, ["USCC", "Registered Capital", "established-date"]) == {
        "USCC": "uscc", "Registered Capital": "registered_capital"}
    penalty = header_map(PenaltyRow, ["行政处罚决定书文号", "罚款金额（万元）", "处罚机关"])
    assert sorted(penalty.values()) == ["authority", "decision_no", "fine"]
    # the national 双公示 licence number's name; a commitment's subject by its code's name
    assert header_map(LicenseRow, ["行政许可决定文书号"]) == {"行政许可决定文书号": "decision_no"}
    assert header_map(CommitmentRow, ["统一社会信用代码"]) == {"统一社会信用代码": "subject_id"}
    # a listing's subject by the one Chinese name SPEC §5 gives a subject's name (双公示)
    listing = header_map(ListingRow, ["名单编号", "行政相对人名称", "统一社会信用代码", "名单类型",
                                      "列入日期"])
    assert sorted(listing.values()) == ["list_id", "list_type", "listed_on", "subject_id",
                                        "subject_name"]


def test_row_parses_values() -> None:
    row = parse_row(RelationRow, {"from_id": "a", "to_id": "b", "type": "股东",
                                  "ratio": "35%", "start_date": "2020年1月2日"})
    assert isinstance(row, RelationRow)
    assert row.ratio == pytest.approx(0.35)
    assert row.start_date == dt.date(2020, 1, 2)


def test_text_kept_as_written_codes_folded() -> None:
    """Names, keys and free text as the source wrote them; codes written in full-width forms
    folded, so that equal codes compare equal."""
    row = parse_row(LegalPersonRow, {"uscc": "９１３７１４０２ＭＡ３Ｃ００００１Ａ",
                                     "name": " 山东德州鑫源（集团）有限公司 ",
                                     "region": "３７１４０２", "phone": "０５３４－２６１２３４５",
                                     "address": "德州市德城区新湖大街１２号"})
    assert isinstance(row, LegalPersonRow)
    assert (row.uscc, row.region, row.phone) == ("91371402MA3C00001A", "371402", "0534-2612345")
    assert (row.name, row.address) == ("山东德州鑫源（集团）有限公司", "德州市德城区新湖大街１２号")
    penalty = parse_row(PenaltyRow, {"decision_no": "德市监罚（２０２６）１号",
                                     "subject_name": "某公司", "category": "罚款",
                                     "decided_on": "2026-01-05", "authority": "德州市监管局",
                                     "severity": "一般"})
    assert isinstance(penalty, PenaltyRow) and penalty.decision_no == "德市监罚（２０２６）１号"


@pytest.mark.parametrize(("written", "stored"), [
    ("0534-2345678", "0534-2345678"),
    ("0534 2345678", "0534-2345678"),
    ("(0534)2345678", "0534-2345678"),
    ("（０５３４）２３４５６７８", "0534-2345678"),
    ("05342345678", "0534-2345678"),
    ("+86 534 2345678", "0534-2345678"),
    ("010-12345678", "010-12345678"),
    ("021 8765 4321", "021-87654321"),
    ("138 0000 0000", "13800000000"),
    ("+86-138-0000-0000", "13800000000"),
    ("0086 13800000000", "13800000000"),
    ("+86 10 1234 5678", "010-12345678"),
    ("013800138000", "13800138000"),  # a 0 typed before a mobile
    ("86 13800138000", "13800138000"),
    ("8613800138000", "13800138000"),
    ("86-512-57771234", "0512-57771234"),  # 86 without its +: kept as written until a review
    ("86 10 1234 5678", "010-12345678"),
    ("86 4001234567", "86 4001234567"),
    ("0534-2345678转801", "0534-2345678转801"),  # an extension: as written
    ("2345678", "2345678"),  # no area code: as written
    ("+86 400 123 4567", "+86 400 123 4567"),  # a service number has no area code
    ("0101234567", "0101234567"),  # Beijing numbers have eight digits
])
def test_phone_numbers_in_one_spelling(written: str, stored: str) -> None:
    """One number typed in different ways by two sources is one 联系电话, so that the shared
    contact (共用联系方式) between their subjects is found."""
    row = parse_row(LegalPersonRow, {"uscc": "91371402MA3C00001A", "name": "某公司",
                                     "phone": written})
    assert isinstance(row, LegalPersonRow) and row.phone == stored


@pytest.mark.parametrize("written", [
    "371402199001011234", "37140219900307003x", "371402 19900101 1234",
    "３７１４０２１９９００１０１１２３４", "13800000000，371402199001011234", "371402900101123"])
def test_an_id_number_in_the_phone_column_refuses_the_row(written: str) -> None:
    """A 联系电话 holding an ID number (a shifted column, the wrong field filled in) was kept
    as written and stored raw in Neo4j (`phone`, found in review); it is personal data, not a
    phone: the row is refused, the number masked in the reason's value."""
    for model, key in ((LegalPersonRow, {"uscc": "91371402MA3C00001A", "name": "某公司"}),
                       (NaturalPersonRow, {"id_number": "371402198001010119", "name": "张三"})):
        problems = parse_row(model, {**key, "phone": written})
        assert isinstance(problems, list), problems
        assert [(p.column, p.reason) for p in problems] == [
            ("phone", "an ID number where a phone belongs")]
        assert "1990" not in problems[0].value and "9001" not in problems[0].value


def test_control_characters_are_dropped() -> None:
    """A NUL or form feed from a source system's dump is no part of a name or a code; tabs and
    line breaks in free text are kept."""
    row = parse_row(LegalPersonRow, {"uscc": "91371402MA3C0\x0000001",
                                     "name": "德州\x00市甲公司\x0c",
                                     "address": "德州市\n德城区\t1号\x7f"})
    assert isinstance(row, LegalPersonRow)
    assert (row.uscc, row.name, row.address) == ("91371402MA3C000001", "德州市甲公司",
                                                 "德州市\n德城区\t1号")


def test_parse_errors_name_column_and_value() -> None:
    problems = parse_row(
        LegalPersonRow,
        {"uscc": "91110000600037341L", "name": "", "registered_capital": "-5"},
        columns={"registered_capital": "注册资本（万元）", "name": "名称"},
    )
    assert isinstance(problems, list)
    by_column = {p.column: p for p in problems}
    assert by_column["注册资本（万元）"] == FieldProblem(
        column="注册资本（万元）", value="-5", reason="negative amount -5")
    assert by_column["名称"].reason == "missing required field"


def test_parse_error_masks_id_numbers() -> None:
    problems = parse_row(RelationRow, {"from_id": "a", "to_id": "b", "type": "股东",
                                       "ratio": "11010519491231002X"})
    assert isinstance(problems, list)
    assert [p.value for p in problems] == ["110105********002X"]
    assert "11010519491231002X" not in problems[0].reason


@pytest.mark.parametrize(("authority", "violation", "domain"), [
    ("德州市市场监督管理局", "销售假药", "food_drug"),
    ("德州市市场监督管理局", "生产销售劣药", "food_drug"),
    ("德州市市场监督管理局", "餐饮服务未取得许可", "food_drug"),
    ("德州市市场监督管理局", "虚假宣传", "market"),
    ("德州市农业农村局", "经营假农药", "agriculture"),
    ("德州市生态环境局", "超标排放", "environment"),
    ("德州市文化和旅游局", "未经许可经营旅行社业务", "culture_tourism"),
    # most cities' bureaus are not called 文化和旅游局
    ("苏州市文化广电和旅游局", "未经许可经营旅行社业务", "culture_tourism"),
    ("苏州市吴江区文体广电和旅游局", "擅自从事互联网上网服务经营活动", "culture_tourism"),
    ("德州市文化广电新闻出版局", "擅自从事互联网上网服务经营活动", "culture_tourism"),
    # the authority decides; only a market regulator's case is refined to food_drug (a
    # 苏州 review: an environment bureau's 餐饮 fumes case was food_drug)
    ("苏州市生态环境局", "餐饮单位未安装油烟净化设施", "environment"),
    ("德州市综合行政执法局", "餐饮业户占道经营", "urban"),
    ("德州市卫生健康委员会", "医疗机构使用假药", "health"),
    ("德州市食品药品监督管理局", "虚假宣传", "food_drug"),
    # an authority naming no field: the details decide
    ("德州市公安局", "销售过期食品", "food_drug"),
    ("德州市人民政府", "违法占地", "other"),
])
def test_penalty_domain_by_the_rules_keywords(rules: Rules, authority: str, violation: str,
                                              domain: str) -> None:
    """假药/劣药 are 药品管理法's words: a market authority's drug case is 食品药品."""
    assert Deriver(rules).domain(None, authority, violation) == domain


def test_a_refinement_names_known_domains(rules: Rules) -> None:
    with pytest.raises(RulesError, match="refines: 'drugs' is not a domain"):
        rules.with_overrides({"domains": {"refines": {"drugs": "market"}}})
