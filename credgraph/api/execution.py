"""GraphQL execution with a short path for plain leaf fields.

graphql-core completes every field of every object the same way: a resolve-info object, a
path, argument coercion, two awaitable checks and four nested completion calls — a few
microseconds each. A neighbourhood answer holds hundreds of edges whose fields are plain
attributes (`source`, `target`, `type`), so that machinery cost more than reading the graph.
When every field selected on an object is a leaf read straight from an attribute (strawberry's
default resolver, no arguments), the object is completed here in one loop; anything else —
a resolver, an argument, a null where the schema says non-null, a value that does not
coerce — goes the general way, which also raises the error the spec asks for.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from operator import attrgetter
from typing import Any

from graphql import (
    GraphQLBoolean,
    GraphQLEnumType,
    GraphQLID,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLResolveInfo,
    GraphQLString,
    Undefined,
    is_leaf_type,
    is_non_null_type,
    is_object_type,
)
from graphql.execution.collect_fields import FieldDetailsList, GroupedFieldSet
from graphql.pyutils import AwaitableOrValue, Path
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.schema.schema_converter import CustomGraphQLEnumType, GraphQLCoreConverter
from strawberry.types.field import StrawberryField

# (response name, reader, leaf type, non-null, the Python type its values pass as they are)
# of each field an object's selection asks for
LeafPlan = tuple[tuple[str, Callable[[Any], Any], GraphQLLeafType, bool, type | None], ...]
# the scalars whose output coercion returns a value of this exact type unchanged
_VERBATIM: dict[GraphQLLeafType, type] = {GraphQLString: str, GraphQLID: str,
                                          GraphQLBoolean: bool}


class LeanExecutionContext(StrawberryGraphQLCoreExecutionContext):
    """strawberry's execution context, completing all-leaf objects in one loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # per request: a selection's plan (None: not all plain leaves), kept with the
        # selection so that its id is not reused while the request runs
        self._leaf_plans: dict[int, tuple[GroupedFieldSet, LeafPlan | None]] = {}

    def execute_fields(self, parent_type: GraphQLObjectType, source_value: Any,
                       path: Path | None, grouped_field_set: GroupedFieldSet,
                       position_context: Any) -> AwaitableOrValue[dict[str, Any]]:
        plan = self._leaf_plan(parent_type, grouped_field_set)
        if plan is not None:
            completed = self._complete_leaves(plan, source_value)
            if completed is not None:
                return completed
        return super().execute_fields(parent_type, source_value, path, grouped_field_set,
                                      position_context)

    def complete_list_value(self, return_type: GraphQLList[GraphQLOutputType],
                            field_details_list: FieldDetailsList, info: GraphQLResolveInfo,
                            path: Path, result: Any,
                            position_context: Any) -> AwaitableOrValue[list[Any]]:
        item_type = return_type.of_type
        if isinstance(item_type, GraphQLNonNull):
            item_type = item_type.of_type
        if (isinstance(result, list | tuple) and is_object_type(item_type)
                and not item_type.is_type_of):
            grouped, defer_usages, _ = self.collect_subfields(item_type, field_details_list)
            plan = None if defer_usages else self._leaf_plan(item_type, grouped)
            # an empty plan (every field skipped) reads nothing that would fail on a None
            # item, which the general way nulls or refuses
            if plan:
                items = [self._complete_leaves(plan, item) for item in result]
                if None not in items:
                    return items
        return super().complete_list_value(return_type, field_details_list, info, path,
                                           result, position_context)

    def _leaf_plan(self, parent_type: GraphQLObjectType,
                   grouped_field_set: GroupedFieldSet) -> LeafPlan | None:
        cached = self._leaf_plans.get(id(grouped_field_set))
        if cached is not None:
            return cached[1]
        plan: LeafPlan | None = None
        if self.middleware_manager is None or not self.middleware_manager.middlewares:
            fields: list[tuple[str, Callable[[Any], Any], GraphQLLeafType, bool, type | None]] = []
            for response_name, details in grouped_field_set.items():
                node = details[0].node
                field = self.schema.get_field(parent_type, node.name.value)
                if (field is None or field.resolve is None or field.args or node.arguments
                        or not getattr(field.resolve, "_is_default", False)):
                    break
                leaf = field.type.of_type if is_non_null_type(field.type) else field.type
                if not is_leaf_type(leaf):
                    break
                fields.append((response_name, _reader(field.extensions, field.resolve), leaf,
                               is_non_null_type(field.type), _VERBATIM.get(leaf)))
            else:
                plan = tuple(fields)
        self._leaf_plans[id(grouped_field_set)] = (grouped_field_set, plan)
        return plan

    def _complete_leaves(self, plan: LeafPlan, source: Any) -> dict[str, Any] | None:
        """The object's fields, or None when one needs the general way."""
        completed: dict[str, Any] = {}
        try:
            for response_name, read, leaf, non_null, verbatim in plan:
                value = read(source)
                if type(value) is verbatim:
                    completed[response_name] = value
                    continue
                if value is None:
                    if non_null:
                        return None
                    completed[response_name] = None
                    continue
                if isinstance(value, Exception):  # graphql-core raises it, located
                    return None
                coerced = self._coerce(leaf, value)
                if coerced is None or coerced is Undefined:
                    return None
                completed[response_name] = coerced
        except Exception:  # the general way raises it again, located and coded
            return None
        return completed

    def _coerce(self, leaf: GraphQLLeafType, value: Any) -> Any:
        """`coerce_output_value`, except that an enum member is looked up by its value
        (strawberry's enum scans its members for every value)."""
        if isinstance(leaf, CustomGraphQLEnumType) and isinstance(value, leaf.wrapped_cls):
            return _enum_names(leaf).get(value._value_)  # the member's attribute, no property
        return leaf.coerce_output_value(value)


@cache
def _enum_names(leaf: GraphQLEnumType) -> dict[Any, str]:
    """An enum's GraphQL names by its members' values, made once per schema type."""
    return {member.value: name for name, member in leaf.values.items()}


def _reader(extensions: dict[str, Any], resolve: Callable[..., Any]) -> Callable[[Any], Any]:
    """The attribute itself for a field strawberry resolves by its basic resolver (the plan
    takes no other: `_is_default`, no resolver, no extension) when that resolver is `getattr`
    of the Python name; else strawberry's resolver."""
    definition = extensions.get(GraphQLCoreConverter.DEFINITION_BACKREF)
    if isinstance(definition, StrawberryField) and definition.default_resolver is getattr:
        return attrgetter(definition.python_name)
    return lambda source: resolve(source, None)
