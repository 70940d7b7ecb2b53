"""GraphQL errors with the contract's `extensions.code` (SPEC §9)."""

from __future__ import annotations

from enum import StrEnum

import neo4j.exceptions
from graphql import GraphQLError


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    SERVICE_UNAVAILABLE = "SERVICE_UNAVAILABLE"
    INTERNAL = "INTERNAL"


# Driver errors that mean "Neo4j cannot be reached now", not a bug: the caller may retry.
UNREACHABLE = (neo4j.exceptions.ServiceUnavailable, neo4j.exceptions.SessionExpired,
               neo4j.exceptions.ConnectionPoolError, neo4j.exceptions.DatabaseUnavailable)
UNREACHABLE_MESSAGE = "the credit database cannot be reached right now; retry shortly"


def api_error(code: ErrorCode, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value})
