"""GraphQL errors with the contract's `extensions.code` (SPEC §9)."""

from __future__ import annotations

import re
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


# graphql-core's and strawberry's limit rules say so only in their messages.
LIMIT_MESSAGES = re.compile(r"exceeds maximum operation depth|aliases found|more than \d+ tokens")


def timed_out(error: GraphQLError) -> bool:
    """A query Neo4j stopped at the transaction's time limit."""
    original = error.original_error
    return (isinstance(original, neo4j.exceptions.ClientError)
            and "TimedOut" in (original.code or ""))


def classify(error: GraphQLError) -> ErrorCode:
    """The contract's code for an error: the one it was raised with, else the database away, a
    limit, the request's own fault (syntax, validation, a variable that does not coerce — an
    enum value that does not exist, a malformed date "2026-13-45"), or a bug."""
    code = (error.extensions or {}).get("code")
    if code:
        return ErrorCode(code) if code in ErrorCode.__members__ else ErrorCode.INTERNAL
    original = error.original_error
    if isinstance(original, UNREACHABLE):
        return ErrorCode.SERVICE_UNAVAILABLE
    if timed_out(error) or LIMIT_MESSAGES.search(error.message):
        return ErrorCode.LIMIT_EXCEEDED
    if (original is None or isinstance(original, GraphQLError)
            or (error.path is None and error.nodes)
            or (error.path is None and isinstance(original, ValueError | TypeError))):
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.INTERNAL
