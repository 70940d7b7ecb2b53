"""Organisation-name normalisation (SPEC §7)."""

from __future__ import annotations

import pytest

from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser, administrative_prefixes


@pytest.fixture(scope="module")
def normalise() -> NameNormaliser:
    return NameNormaliser(Rules.load())


@pytest.mark.parametrize(("name", "expected"), [
    ("德州市甲乙化工有限责任公司", "甲乙化工有限公司"),
    ("德州甲乙化工有限公司", "甲乙化工有限公司"),  # the city without 市
    ("山东德州甲乙化工有限公司", "甲乙化工有限公司"),  # province and city, short forms
    ("山东省德州市德城区鑫源食品（有限公司）", "德城区鑫源食品有限公司"),  # county kept
    ("潍坊市华兴机械股份有限公司", "华兴机械股份公司"),  # any prefecture of the table
    ("广西壮族自治区南宁市青秀商贸有限公司", "青秀商贸有限公司"),
    ("齐河县丙丁物流有限公司", "齐河县丙丁物流有限公司"),
    ("中山大学", "中山大学"),  # too little would be left
    ("德州市中医院", "德州市中医院"),  # not 市中医院: the longest prefix decides
    ("ｄｅｚｈｏｕ  Ｔｅｃｈ. Co", "DEZHOUTECHCO"),
])
def test_normalised_names(normalise: NameNormaliser, name: str, expected: str) -> None:
    assert normalise(name) == expected


def test_prefixes_come_from_the_region_table() -> None:
    prefixes = administrative_prefixes()
    assert {"山东省", "山东", "德州市", "德州", "潍坊", "广西"} <= prefixes
    assert "德城区" not in prefixes and "市辖区" not in prefixes
