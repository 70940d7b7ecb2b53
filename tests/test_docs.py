"""The documents that must stay true, checked against the code they describe: the bundle's
header table (docs/bundle.md) against the row models, the rules file's keys (docs/rules.md)
against credgraph/rules.toml, the README's configuration table against the settings, and every
GraphQL example of the README and docs/api.md against the schema. No database needed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from graphql import parse, validate
from pydantic import AliasChoices

from credgraph.api.app import Schema
from credgraph.api.schema import Mutation, Query
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
