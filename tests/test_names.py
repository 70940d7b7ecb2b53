"""Organisation-name normalisation (SPEC §7): every region name handled alike, kept as
evidence beside the core name."""

from __future__ import annotations

import pytest

from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser, SplitName, region_names


@pytest.fixture(scope="module")
def normalise() -> NameNormaliser:
    return NameNormaliser(Rules.load())


@pytest.mark.parametrize(("name", "expected"), [
    ("德州市甲乙化工有限责任公司", "甲乙化工有限公司"),
    ("德州甲乙化工有限公司", "甲乙化工有限公司"),  # the city without 市
    ("山东德州甲乙化工有限公司", "甲乙化工有限公司"),  # province and city, short forms
    ("山东省德州市德城区鑫源食品（有限公司）", "鑫源食品有限公司"),  # the county too
    ("潍坊市华兴机械股份有限公司", "华兴机械股份公司"),  # any prefecture of the table
    ("广西壮族自治区南宁市青秀区华联商贸有限公司", "华联商贸有限公司"),
    ("齐河县丙丁物流有限公司", "丙丁物流有限公司"),
    ("齐河丙丁物流有限公司", "丙丁物流有限公司"),  # the county's short form
    ("丙丁（齐河）物流有限公司", "丙丁物流有限公司"),  # a bracketed region name
    ("丙丁（集团）物流有限公司", "丙丁集团物流有限公司"),  # other brackets only unwrapped
    ("山東省德州市樂陵市宏達商貿有限責任公司", "宏达商贸有限公司"),  # traditional characters
    ("中山大学", "中山大学"),  # too little would be left
    ("德州市中医院", "德州市中医院"),  # not 市中医院: the longest prefix decides
    ("ｄｅｚｈｏｕ  Ｔｅｃｈ. Co", "DEZHOUTECHCO"),
    # a minority name's middle dot in every code point sources type it with
    *[(f"德州市买买提{dot}艾力清真餐饮有限公司", "买买提艾力清真餐饮有限公司")
      for dot in "\u00b7\u2022\u30fb\uff65\u2027\u2219\u22c5\u2e31\u0387"],
])
def test_normalised_names(normalise: NameNormaliser, name: str, expected: str) -> None:
    assert normalise(name) == expected


@pytest.mark.parametrize(("name", "places", "region"), [
    ("山东省德州市禹城市宏达商贸有限公司", [("山东省", {"37"}), ("德州市", {"3714"}),
                                              ("禹城市", {"371482"})], "371482"),
    ("禹城宏达商贸有限公司", [("禹城", {"371482"})], "371482"),
    ("德州市陵城区宏达商贸有限公司", [("德州市", {"3714"}), ("陵城区", {"371403"})], "371403"),
    ("陵城宏达商贸有限公司", [("陵城", {"371403"})], "371403"),
    ("德城宏达商贸有限公司", [("德城", {"371402"})], "371402"),
    ("乐陵宏达商贸有限公司", [("乐陵", {"371481"})], "371481"),
    # a historical county renamed (陵县, now 陵城区; 吴江市, now 吴江区) names its successor; one
    # merged away (沧浪区 into 姑苏区) only its province: codes were renumbered
    ("陵县宏达商贸有限公司", [("陵县", {"371403"})], "371403"),
    ("吴江市宏达商贸有限公司", [("吴江市", {"320509"})], "320509"),
    ("沧浪区宏达商贸有限公司", [("沧浪区", {"32"})], "32"),
    # a name three counties share is evidence of any of them, and of none alone
    ("新华区宏达商贸有限公司", [("新华区", {"130105", "130902", "410402"})], None),
    ("沧州市新华区宏达商贸有限公司", [("沧州市", {"1309"}),
                                      ("新华区", {"130105", "130902", "410402"})], "130902"),
    ("宏达商贸有限公司", [], None),
])
def test_places_are_kept_as_evidence(normalise: NameNormaliser, name: str,
                                     places: list[tuple[str, set[str]]],
                                     region: str | None) -> None:
    split = normalise.split(name)
    assert split.core == "宏达商贸有限公司"
    assert [(p.text, set(p.codes)) for p in split.places] == places
    assert split.region() == region


def test_every_level_of_the_region_table_alike() -> None:
    names = region_names()
    for full, short, code in (("山东省", "山东", "37"), ("德州市", "德州", "3714"),
                              ("禹城市", "禹城", "371482"), ("乐陵市", "乐陵", "371481"),
                              ("齐河县", "齐河", "371425"), ("陵城区", "陵城", "371403"),
                              ("德城区", "德城", "371402"), ("广西壮族自治区", "广西", "45")):
        assert names[full] == names[short] == {code}, full
    # groupings of the table are no places; two-character names of a one-character stem are
    # ordinary words (城区, 郊区)
    assert not {"市辖区", "县", "城区", "郊区"} & set(names)


def test_conflicting_places_give_no_region() -> None:
    from credgraph.schema.names import Place

    split = SplitName("X", (Place("济南市", frozenset({"3701"})),
                            Place("禹城市", frozenset({"371482"}))))
    assert split.region() is None


def test_a_region_name_is_a_place_only_where_the_subject_is(normalise: NameNormaliser) -> None:
    split = normalise.split("德州市凌云商贸有限公司")
    assert [p.text for p in split.places] == ["德州市", "凌云"]
    assert split.kept_at("371402") == ["凌云"]  # in 德城区: 凌云 is its 字号
    assert split.core_at("371402") == normalise("德州市凌云商贸有限公司", "371402") == \
        "凌云商贸有限公司"
    assert split.core_at("451027") == "德州市凌云商贸有限公司"  # in 凌云县: not 德州's
    assert normalise("广西凌云商贸有限公司", "451027") == "商贸有限公司"  # there, it is the place
    assert split.core_at(None) == "商贸有限公司"
    assert split.cores() == ["商贸有限公司", "凌云商贸有限公司", "德州市凌云商贸有限公司"]
    # another name compared with it keeps its own 凌云, whatever stands before
    assert normalise.split("山东凌云商贸有限公司").core_keeping(["凌云"]) == "凌云商贸有限公司"
    assert normalise.split("南康商贸有限公司").core_keeping(["凌云"]) == "商贸有限公司"
