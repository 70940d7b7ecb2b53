"""A guard against fragment bombs (SPEC §10).

`fragment A on Subject { ...B ...B }`, `fragment B on Subject { ...C ...C }` … doubles the
selection at each step while the document stays a few hundred tokens long: within the token
and alias limits, yet validating it (depth, aliases, "fields can be merged") would run for
hours. The fields a document selects once its fragments are expanded are counted first, in
linear time, and a document above the limit is refused without being validated.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import ValidationCache

from credgraph.api.errors import ErrorCode


def expanded_fields(document: DocumentNode) -> int:
    """Fields the document's operations select with every fragment spread expanded (a spread
    in a cycle counts nothing: another rule refuses cycles)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    sizes: dict[str, int] = {}
    visiting: set[str] = set()

    def fragment(name: str) -> int:
        if name in sizes:
            return sizes[name]
        definition = fragments.get(name)
        if definition is None or name in visiting:
            return 0
        visiting.add(name)
        sizes[name] = selection(definition.selection_set)
        visiting.discard(name)
        return sizes[name]

    def selection(node: SelectionSetNode | None) -> int:
        total = 0
        for item in node.selections if node else ():
            if isinstance(item, FieldNode):
                total += 1 + selection(item.selection_set)
            elif isinstance(item, InlineFragmentNode):
                total += selection(item.selection_set)
            elif isinstance(item, FragmentSpreadNode):
                total += fragment(item.name.value)
        return total

    return sum(selection(d.selection_set) for d in document.definitions
               if isinstance(d, OperationDefinitionNode))


def empty_selection(document: DocumentNode) -> SelectionSetNode | None:
    """The first `{ }` of a document (the parser takes it, the depth limiter fails on it),
    walked by hand like `expanded_fields`: graphql's visitor costs ≈ 50 µs a request."""

    def first_empty(nodes: Iterable[SelectionSetNode | None]) -> SelectionSetNode | None:
        for node in nodes:
            if node is None:
                continue
            if not node.selections:
                return node
            found = first_empty(item.selection_set for item in node.selections
                                if isinstance(item, FieldNode | InlineFragmentNode))
            if found is not None:
                return found
        return None

    return first_empty(d.selection_set for d in document.definitions
                       if isinstance(d, OperationDefinitionNode | FragmentDefinitionNode))


class BoundedValidationCache(ValidationCache):
    """The validation cache, refusing a document above `max_fields` expanded fields before
    any validation rule runs: the depth and alias limiters walk every fragment spread too,
    as exponentially as the merge rule."""

    def __init__(self, max_fields: int, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self.max_fields = max_fields

    def on_validate(self) -> Iterator[None]:
        document = self.execution_context.graphql_document
        empty = empty_selection(document) if document is not None else None
        if empty is not None:
            self.execution_context.pre_execution_errors = [GraphQLError(
                "a selection { } asks for nothing: name at least one field in it",
                nodes=[empty], extensions={"code": ErrorCode.BAD_USER_INPUT.value})]
            yield
            return
        count = expanded_fields(document) if document is not None else 0
        if count > self.max_fields:
            self.execution_context.pre_execution_errors = [GraphQLError(
                f"the query selects {count:,} fields once its fragments are expanded, "
                f"above the limit of {self.max_fields:,}",
                extensions={"code": ErrorCode.LIMIT_EXCEEDED.value})]
            yield
            return
        yield from super().on_validate()
