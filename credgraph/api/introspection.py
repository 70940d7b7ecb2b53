"""Introspection (`__schema`, `__type`) only for the roles that work with the whole schema: a
partner city's key may ask `sharedCheck` and nothing else (SPEC §10), and what else the
schema offers is none of its business either. `__typename` stays open to every role."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import ExecutionResult
from strawberry.extensions import SchemaExtension

from credgraph.api.audit import root_fields
from credgraph.api.auth import INTROSPECTING_ROLES
from credgraph.api.errors import ErrorCode, api_error

INTROSPECTION_FIELDS = ("__schema", "__type")


class RoleIntrospection(SchemaExtension):
    def on_execute(self) -> Iterator[None]:
        who = self.execution_context.context.get("principal")
        if who is None or who.role not in INTROSPECTING_ROLES:
            asked = [field for field in root_fields(self.execution_context.graphql_document,
                                                    self.execution_context.operation_name)
                     if field in INTROSPECTION_FIELDS]
            if asked:  # without a key (which the middleware should not let through) neither
                error = api_error(ErrorCode.UNAUTHENTICATED, "send an API key") if who is None \
                    else api_error(ErrorCode.FORBIDDEN, f"the {who.role.value} role may not "
                                                        f"ask for {asked[0]} (introspection)")
                self.execution_context.result = ExecutionResult(data=None, errors=[error])
        yield
