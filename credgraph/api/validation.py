"""Each query text parsed and validated once (SPEC §10's limits), and a guard against
fragment bombs.

`fragment A on Subject { ...B ...B }`, `fragment B on Subject { ...C ...C }` … doubles the
selection at each step while the document stays a few hundred tokens long: within the token
and alias limits, yet validating it (depth, aliases, "fields can be merged") would run for
hours. The fields a document selects once its fragments are expanded are counted first, in
linear time, and a document above the limit is refused without being validated.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from functools import lru_cache

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
    parse,
)
from strawberry.extensions import SchemaExtension
from strawberry.schema.schema import validate_document

from credgraph.api.auth import INTROSPECTING_ROLES, Principal
from credgraph.api.errors import ErrorCode

# graphql-core's "Did you mean 'subject'?": the schema's names, to a key that may not read them
_SUGGESTION = re.compile(r" Did you mean [^?]*\?$")


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


def root_fields(document: DocumentNode, names: frozenset[str]) -> int:
    """The most fields of `names` one operation asks at its root, aliases and root fragments
    included (`{ a: inspectionPlan … b: inspectionPlan … }` asks two)."""
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}

    def count(node: SelectionSetNode, seen: frozenset[str]) -> int:
        total = 0
        for item in node.selections:
            if isinstance(item, FieldNode):
                total += item.name.value in names
            elif isinstance(item, InlineFragmentNode):
                total += count(item.selection_set, seen)
            elif isinstance(item, FragmentSpreadNode):
                name = item.name.value
                if name in fragments and name not in seen:
                    total += count(fragments[name].selection_set, seen | {name})
        return total

    return max((count(d.selection_set, frozenset()) for d in document.definitions
                if isinstance(d, OperationDefinitionNode)), default=0)


def _walked(document: DocumentNode) -> Iterator[SelectionSetNode | SelectionNode]:
    """Every selection set of the document's operations and fragments and every selection in
    it, in document order (a set before its selections, a field before its own set), walked by
    hand like `expanded_fields`: graphql's visitor costs ≈ 50 µs a request."""

    def walk(node: SelectionSetNode) -> Iterator[SelectionSetNode | SelectionNode]:
        yield node
        for item in node.selections:
            yield item
            if isinstance(item, FieldNode | InlineFragmentNode) and item.selection_set:
                yield from walk(item.selection_set)

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode | FragmentDefinitionNode):
            yield from walk(definition.selection_set)


def unknown_spread(document: DocumentNode) -> FragmentSpreadNode | None:
    """The first `...F` naming a fragment the document does not define: strawberry's depth
    limiter looks every spread up and fails on it (KeyError, an INTERNAL error) before
    graphql's own rule can say "Unknown fragment"."""
    defined = {d.name.value for d in document.definitions
               if isinstance(d, FragmentDefinitionNode)}
    return next((node for node in _walked(document) if isinstance(node, FragmentSpreadNode)
                 and node.name.value not in defined), None)


def empty_selection(document: DocumentNode) -> SelectionSetNode | None:
    """The first `{ }` of a document (the parser takes it, the depth limiter fails on it)."""
    return next((node for node in _walked(document)
                 if isinstance(node, SelectionSetNode) and not node.selections), None)


class DocumentCache:
    """What a query text parses to (within `max_tokens`) and the errors validating it gives
    (empty selections, unknown fragments and the expanded-field count first, then the
    rules, then the city-wide analyses asked — `[limits] city_wide_fields`), kept by the text
    for the `maxsize` texts used last. Keyed by the text, whose hash Python keeps: strawberry's
    validation cache is keyed by the parsed document, whose hash walks its whole tree on every
    request."""

    def __init__(self, rules: Sequence[type[ASTValidationRule]], max_tokens: int,
                 max_fields: int, maxsize: int, city_wide: frozenset[str],
                 max_city_wide: int) -> None:
        self.rules = tuple(rules)
        self.max_tokens = max_tokens
        self.max_fields = max_fields
        self.city_wide = city_wide
        self.max_city_wide = max_city_wide
        self.document: Callable[[str], DocumentNode] = lru_cache(maxsize)(self._parse)
        self._errors = lru_cache(maxsize)(self._validate)

    def errors(self, query: str, schema: GraphQLSchema,
               rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        """The validation errors of a query text (the schema and strawberry's rules are the
        same for every request of one schema)."""
        return self._errors(query, schema, rules)

    def _parse(self, query: str) -> DocumentNode:
        return parse(query, max_tokens=self.max_tokens)

    def _validate(self, query: str, schema: GraphQLSchema,
                  rules: tuple[type[ASTValidationRule], ...]) -> list[GraphQLError]:
        document = self.document(query)
        empty = empty_selection(document)
        if empty is not None:
            return [GraphQLError(
                "a selection { } asks for nothing: name at least one field in it",
                nodes=[empty], extensions={"code": ErrorCode.BAD_USER_INPUT.value})]
        unknown = unknown_spread(document)
        if unknown is not None:
            return [GraphQLError(
                f"Unknown fragment '{unknown.name.value}': define it in the document "
                f"(fragment {unknown.name.value} on … {{ … }}) or remove the spread",
                nodes=[unknown], extensions={"code": ErrorCode.BAD_USER_INPUT.value})]
        count = expanded_fields(document)
        if count > self.max_fields:
            return [GraphQLError(
                f"the query selects {count:,} fields once its fragments are expanded, "
                f"above the limit of {self.max_fields:,}",
                extensions={"code": ErrorCode.LIMIT_EXCEEDED.value})]
        errors = validate_document(schema, document, (*rules, *self.rules))
        if not errors and root_fields(document, self.city_wide) > self.max_city_wide:
            asked = ", ".join(sorted(self.city_wide))
            return [GraphQLError(
                f"a request may ask at most {self.max_city_wide} of the city-wide analyses "
                f"({asked}): send the others as requests of their own",
                extensions={"code": ErrorCode.LIMIT_EXCEEDED.value})]
        return errors


class PreparedDocuments(SchemaExtension):
    """Parsing and validation answered from a `DocumentCache` shared by every request: one
    extension where a token limiter, a parser cache, added rules and a validation cache were
    four, each with its hooks entered and left on every request."""

    def __init__(self, documents: DocumentCache) -> None:
        self.documents = documents

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        if context.query:
            context.graphql_document = self.documents.document(context.query)
        yield

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        if context.query and context.pre_execution_errors is None:
            errors = self.documents.errors(
                context.query, context.schema._schema, context.validation_rules) or (
                self._unnamed_choice(context.graphql_document, context._provided_operation_name))
            who = context.context.get("principal") if isinstance(context.context, dict) else None
            if errors and not (isinstance(who, Principal) and who.role in INTROSPECTING_ROLES):
                errors = [_unsuggested(error) for error in errors]
            context.pre_execution_errors = errors
        yield

    @staticmethod
    def _unnamed_choice(document: DocumentNode | None,
                        operation_name: str | None) -> list[GraphQLError]:
        """GraphQL's rule that strawberry skips (it runs the first operation): a document of
        several operations needs `operationName` to say which one runs."""
        if operation_name is not None or document is None:
            return []
        operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
        if len(operations) < 2:
            return []
        return [GraphQLError("the document holds several operations: name the one to run in "
                             "operationName", extensions={"code": ErrorCode.BAD_USER_INPUT.value})]


def _unsuggested(error: GraphQLError) -> GraphQLError:
    """The error without the names it suggests (the cached one is shared: a copy)."""
    message = _SUGGESTION.sub("", error.message)
    if message == error.message:
        return error
    return GraphQLError(message, nodes=error.nodes, source=error.source,
                        positions=error.positions, path=error.path,
                        original_error=error.original_error, extensions=error.extensions)
