"""GraphQL errors with the contract's `extensions.code` (SPEC §9)."""

from __future__ import annotations

from enum import StrEnum

from graphql import GraphQLError


class ErrorCode(StrEnum):
    BAD_USER_INPUT = "BAD_USER_INPUT"
    NOT_FOUND = "NOT_FOUND"
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    LIMIT_EXCEEDED = "LIMIT_EXCEEDED"
    INTERNAL = "INTERNAL"


def api_error(code: ErrorCode, message: str) -> GraphQLError:
    return GraphQLError(message, extensions={"code": code.value})
