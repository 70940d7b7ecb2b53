"""GraphQL errors with the contract's `extensions.code` (SPEC §9)."""

from __future__ import annotations

import re
import ssl
from enum import StrEnum
from typing import TypeGuard

import neo4j.exceptions
from graphql import GraphQLError

from credgraph.queries.ownership import TooManyPaths


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

# Neo4j refusing the service's own configuration: a wrong NEO4J_PASSWORD (and the lock-out a
# few wrong ones bring), a NEO4J_DATABASE the server does not hold. No caller can mend it, the
# operator must: to a caller the database is as unavailable as when it is down (503
# SERVICE_UNAVAILABLE, the cause in the server's log); a command says what to mend.
REFUSED_CODES = frozenset({
    "Neo.ClientError.Security.Unauthorized",
    "Neo.ClientError.Security.AuthenticationRateLimit",
    "Neo.ClientError.Security.CredentialsExpired",
    "Neo.ClientError.Database.DatabaseNotFound",
})


def refused(exc: BaseException | None) -> TypeGuard[neo4j.exceptions.Neo4jError]:
    """Neo4j refused the configured credentials or database (see REFUSED_CODES)."""
    return isinstance(exc, neo4j.exceptions.AuthError) or (
        isinstance(exc, neo4j.exceptions.Neo4jError) and exc.code in REFUSED_CODES)


# An encrypted connection (NEO4J_URI bolt+s://, neo4j+ssc:// …) the server did not take: said
# only "ServiceUnavailable" (neo4j+ssc: "Unable to retrieve routing information"), the TLS
# failure three causes down, under the routing table's exception group.
TLS_HINT = ("the TLS handshake failed: NEO4J_URI's +s or +ssc scheme asks for an encrypted "
            "connection (a server without TLS needs bolt:// or neo4j://, one with a "
            "self-signed certificate +ssc)")


def tls_failed(exc: BaseException | None) -> bool:
    """Whether the driver's error comes of a failed TLS handshake (ssl.SSLError among its
    causes, or in an exception group under them)."""
    seen: set[int] = set()
    pending = [exc]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return True
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        pending.extend((current.__cause__, current.__context__))
    return False


def cause(exc: BaseException | None) -> str:
    """Why the database is unavailable, for the server's log: the driver's error type, and
    for a refused configuration Neo4j's code and what to mend (never the password)."""
    name = type(exc).__name__
    if refused(exc):
        mend = ("NEO4J_DATABASE" if exc.code == "Neo.ClientError.Database.DatabaseNotFound"
                else "NEO4J_USER and NEO4J_PASSWORD")
        return f"{name} {exc.code}: check {mend}"
    if tls_failed(exc):
        return f"{name}: {TLS_HINT}"
    return name


def unavailable(exc: BaseException | None) -> bool:
    """The database cannot serve now: out of reach, or refusing the configuration."""
    return isinstance(exc, UNREACHABLE) or refused(exc)


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
    if unavailable(original):
        return ErrorCode.SERVICE_UNAVAILABLE
    if (timed_out(error) or isinstance(original, TooManyPaths)
            or LIMIT_MESSAGES.search(error.message)):
        return ErrorCode.LIMIT_EXCEEDED
    if (original is None or isinstance(original, GraphQLError)
            or (error.path is None and error.nodes)
            or (error.path is None and isinstance(original, ValueError | TypeError))):
        return ErrorCode.BAD_USER_INPUT
    return ErrorCode.INTERNAL
