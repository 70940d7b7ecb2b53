"""The lean execution context answers exactly what graphql-core's general way answers —
values, nulls, enums, custom scalars and errors with their paths — on a schema of its own
(no database: this is GraphQL execution alone; the app's own queries run through it in
every API test)."""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any, ClassVar

import pytest
import strawberry
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

from credgraph.api.execution import LeanExecutionContext


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    GREEN = "green"


@strawberry.type
class Item:
    name: str
    note: str | None
    colour: Colour
    day: dt.date | None

    @strawberry.field
    def shout(self) -> str:
        return self.name.upper()


ITEMS: list[Item] = []


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item]:
        return ITEMS

    @strawberry.field
    def first(self) -> Item:
        return ITEMS[0]


def answer(context: type[StrawberryGraphQLCoreExecutionContext], document: str) -> Any:
    schema = strawberry.Schema(query=Query, execution_context_class=context)
    result = schema.execute_sync(document)
    errors = [(e.message, e.path) for e in result.errors or []]
    return result.data, errors


def both(document: str) -> tuple[Any, Any]:
    return (answer(LeanExecutionContext, document),
            answer(StrawberryGraphQLCoreExecutionContext, document))


@pytest.fixture(autouse=True)
def items() -> None:
    ITEMS[:] = [Item(name="a", note=None, colour=Colour.RED, day=dt.date(2026, 3, 5)),
                Item(name="b", note="n", colour=Colour.GREEN, day=None)]


def test_plain_leaves_as_the_general_way() -> None:
    lean, general = both("{ items { name note colour day } first { name colour } }")
    assert lean == general
    assert lean == ({"items": [
        {"name": "a", "note": None, "colour": "RED", "day": "2026-03-05"},
        {"name": "b", "note": "n", "colour": "GREEN", "day": None}],
        "first": {"name": "a", "colour": "RED"}}, [])


def test_aliases_resolvers_and_typename_mixed_in() -> None:
    lean, general = both("{ items { n: name shout __typename colour } }")
    assert lean == general
    assert lean[0]["items"][1] == {"n": "b", "shout": "B", "__typename": "Item",
                                   "colour": "GREEN"}


def test_null_in_a_non_null_field_is_the_same_located_error() -> None:
    ITEMS[1].name = None  # type: ignore[assignment]
    lean, general = both("{ items { name note } }")
    assert lean == general
    data, errors = lean
    assert data is None
    assert errors == [("Cannot return null for non-nullable field Item.name.",
                       ["items", 1, "name"])]


def test_a_value_that_does_not_coerce_is_the_same_error() -> None:
    ITEMS[0].colour = "purple"  # type: ignore[assignment]
    lean, general = both("{ items { name colour } }")
    assert lean == general
    assert lean[0] is None
    assert lean[1][0][1] == ["items", 0, "colour"]


class Counting(LeanExecutionContext):
    fields: ClassVar[list[str]] = []

    def execute_field(self, parent_type: Any, source: Any, field_details_list: Any,
                      path: Any, position_context: Any) -> Any:
        Counting.fields.append(field_details_list[0].node.name.value)
        return super().execute_field(parent_type, source, field_details_list, path,
                                     position_context)


def test_all_leaf_objects_skip_the_per_field_machinery() -> None:
    Counting.fields = []
    answer(Counting, "{ items { name note colour day } first { name } }")
    assert Counting.fields == ["items", "first"]
    Counting.fields = []
    answer(Counting, "{ items { name shout } }")  # a resolver: the general way, every field
    assert Counting.fields == ["items", "name", "shout", "name", "shout"]


@strawberry.type
class Sparse:
    @strawberry.field
    def maybe(self) -> list[Item | None]:
        return [ITEMS[0], None]

    @strawberry.field
    def strict(self) -> list[Item]:
        return [ITEMS[0], None]  # type: ignore[list-item]


def sparse(context: type[StrawberryGraphQLCoreExecutionContext], document: str) -> Any:
    schema = strawberry.Schema(query=Sparse, execution_context_class=context)
    result = schema.execute_sync(document)
    return result.data, [(e.message, e.path) for e in result.errors or []]


@pytest.mark.parametrize("document", [
    "{ maybe { name @skip(if: true) } }",
    "{ strict { name @include(if: false) } }",
    "{ maybe { name } strict { note } }",
])
def test_a_null_item_with_every_field_skipped_as_the_general_way(document: str) -> None:
    """A list item that is None is null (or the non-null error) whatever the selection —
    with every field skipped the lean loop read nothing and answered {} for it."""
    assert (sparse(LeanExecutionContext, document)
            == sparse(StrawberryGraphQLCoreExecutionContext, document))


class Refusal(Exception):
    def __str__(self) -> str:
        return "refused"


def test_an_exception_held_as_a_value_is_the_same_located_error() -> None:
    """graphql-core raises an Exception a resolver hands back; String serialises a custom
    one by its str(), so the lean loop answered "refused" as the note with no error."""
    ITEMS[1].note = Refusal()  # type: ignore[assignment]
    lean, general = both("{ items { name note } first { note } }")
    assert lean == general
    assert lean[1] == [("refused", ["items", 1, "note"])]
