"""The documents that must stay true, checked against the code they describe: the bundle's
header table (docs/bundle.md) against the row models, the rules file's keys (docs/rules.md)
against credgraph/rules.toml, the README's configuration table against the settings, and every
GraphQL example of the README and docs/api.md against the schema. No database needed."""

from __future__ import annotations

import csv
import datetime as dt
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from pydantic import AliasChoices

from credgraph.api.app import Schema
from credgraph.api.schema import Mutation, Query
from credgraph.graph.model import Severity
from credgraph.loaders.demo import generate
from credgraph.rules import Rules
from credgraph.schema.rows import ROW_MODELS
from credgraph.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def _read(relative: str) -> str:
    return (ROOT / relative).read_text(encoding="utf-8")


def test_bundle_doc_lists_every_header_of_the_row_models() -> None:
    documented: dict[str, list[tuple[tuple[str, ...], bool]]] = {}
    for line in _read("docs/bundle.md").splitlines():
        match = re.fullmatch(r"\| (\w+) \| (.+) \|", line)
        if match and match.group(1) in ROW_MODELS:
            columns = []
            for item in match.group(2).split(", "):
                required = item.endswith("*")
                english, _, chinese = item.rstrip("*").partition("/")
                names = (english, *(chinese.split(" or ") if chinese else ()))
                columns.append((names, required))
            documented[match.group(1)] = columns
    assert set(documented) == set(ROW_MODELS)
    for kind, model in ROW_MODELS.items():
        actual = []
        for field in model.model_fields.values():
            alias = field.validation_alias
            assert isinstance(alias, AliasChoices)
            actual.append((tuple(str(name) for name in alias.choices), field.is_required()))
        assert documented[kind] == actual, kind


def _leaf_keys(table: dict[str, Any], path: str = "") -> list[str]:
    keys = []
    for key, value in table.items():
        if isinstance(value, dict):
            keys.extend(_leaf_keys(value, f"{path}{key}."))
        else:
            keys.append(f"{path}{key}")
    return keys


def test_rules_doc_names_every_key_of_the_rules_file() -> None:
    rules = tomllib.loads(_read("credgraph/rules.toml"))
    doc = _read("docs/rules.md")
    sections = set(re.findall(r"^## \[(\w+)\]", doc, re.M))
    assert sections == set(rules)
    missing = [key for key in _leaf_keys(rules)
               for part in key.split(".")
               if part.isascii() and len(part) > 1
               and not re.search(rf"(?<![\w]){re.escape(part)}(?![\w])", doc)]
    assert not missing, f"keys of rules.toml that docs/rules.md never names: {missing}"


def _env_name(name: str) -> str:
    alias = Settings.model_fields[name].validation_alias
    return str(alias.choices[0]) if isinstance(alias, AliasChoices) else f"CREDGRAPH_{name.upper()}"


def test_readme_configuration_names_every_setting_with_its_default() -> None:
    readme = _read("README.md")
    rows = {}
    for line in readme.splitlines():
        match = re.fullmatch(r"\| `(CREDGRAPH_\w+)` \| ([^|]+) \| .+ \|", line)
        if match:
            rows[match.group(1)] = match.group(2).strip().strip("`")
    for name, field in Settings.model_fields.items():
        variable = _env_name(name)
        assert f"`{variable}`" in readme, f"{variable} is not in the README's configuration"
        if variable in rows and isinstance(field.default, int | float | str):
            default = field.default
            shown = f"{default:g}" if isinstance(default, float) else str(default)
            assert rows[variable].split(" ")[0] == shown, variable


def _examples(relative: str) -> list[str]:
    return re.findall(r"```graphql\n(.*?)```", _read(relative), re.S)


EXAMPLES = [(relative, index, text)
            for relative in ("README.md", "docs/api.md")
            for index, text in enumerate(_examples(relative))]


@pytest.mark.parametrize(("relative", "index", "text"), EXAMPLES,
                         ids=[f"{relative}#{index}" for relative, index, _ in EXAMPLES])
def test_graphql_examples_of_the_docs_validate(relative: str, index: int, text: str) -> None:
    schema = Schema(query=Query, mutation=Mutation)
    errors = validate(schema._schema, parse(text))
    assert not errors, [error.message for error in errors]


def _months_before(day: dt.date, months: int) -> dt.date:
    month = day.month - 1 - months
    year, month = day.year + month // 12, month % 12 + 1
    return dt.date(year, month, min(day.day, 28))


def test_the_desk_examples_of_the_api_guide_name_records_that_do_what_it_says(
        tmp_path: Path) -> None:
    """docs/api.md's requestRepair example is a penalty the demo city (make run's, the day its
    examples were written) holds and the time rules let be repaired: 一般, past its minimum
    publicity, within its 公示期 — an example past its 公示期 answers eligible: false since a
    penalty no longer published has nothing to repair; its fileObjection example a recent one."""
    guide = _read("docs/api.md")
    repair = re.search(r'requestRepair\(recordId: "([^"]+)"', guide)
    objection = re.search(r'fileObjection\(recordId: "([^"]+)"', guide)
    assert repair and objection
    as_of = dt.date(2026, 12, 1)
    generate(tmp_path, as_of=as_of)
    with (tmp_path / "penalties.csv").open(encoding="gb18030", newline="") as handle:
        rows = {row["行政处罚决定书文号"]: row for row in csv.DictReader(handle)}
    rules = Rules.load()
    for record in (repair.group(1), objection.group(1)):
        assert record in rows, f"{record} is not in the demo city"
        row = rows[record]
        assert float(row["罚款金额（万元）"] or 0) < rules.penalty.severe_fine, record
        assert not any(word in row["处罚类别"] + row["处罚内容"]
                       for word in rules.penalty.severe_keywords), record
        assert not row["公示截止期"], record
        decided = dt.date.fromisoformat(row["处罚决定日期"])
        publicity = rules.penalty.publicity_months["一般"]
        assert decided > _months_before(as_of, publicity), f"{record} is past its 公示期"
    decided = dt.date.fromisoformat(rows[repair.group(1)]["处罚决定日期"])
    minimum = rules.repair.min_publicity_months[Severity.GENERAL]
    assert decided <= _months_before(as_of, minimum), "not yet past its minimum publicity"
