"""The ASGI middleware of the app, one responsibility each (SPEC §10): request metrics,
request-body size, bearer-key authentication, per-key rate limits."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping, MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from credgraph.api.auth import KeyStore, Principal, RateLimiter, Role
from credgraph.api.errors import UNREACHABLE_MESSAGE, ErrorCode, cause, unavailable
from credgraph.api.metrics import Metrics

log = logging.getLogger("credgraph.api")

METERED_PATHS = ("/graphql", "/healthz", "/readyz", "/metrics")
CLIENT_CLOSED = 499


def json_error(status: int, code: ErrorCode, message: str,
               headers: Mapping[str, str] | None = None) -> JSONResponse:
    """An error shaped like a GraphQL answer, so every client reads one format."""
    return JSONResponse({"data": None, "errors": [{"message": message,
                                                   "extensions": {"code": code.value}}]},
                        status_code=status, headers=headers)


class MetricsMiddleware:
    """Counts requests by path and status and times them."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # a request the app left unanswered without failing is one whose client went away
        # (nginx's 499, "client closed request"); one it failed on is a 500
        status = {"code": CLIENT_CLOSED}

        async def record_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        except BaseException:
            if status["code"] == CLIENT_CLOSED:
                status["code"] = 500
            raise
        finally:
            path = scope["path"] if scope["path"] in METERED_PATHS else "other"
            self.metrics.requests.labels(path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


class _BodyTooLarge(Exception):
    """Raised from `receive` once a streamed body passes the limit."""


class BodySizeLimitMiddleware:
    """Refuses a request body above `max_bytes` with 413 LIMIT_EXCEEDED before it is read
    whole: at once when Content-Length announces it, else as soon as the streamed (chunked)
    body passes the limit — memory stays bounded by the limit, whatever a client sends."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if started:
                raise
            await self._refuse(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = json_error(413, ErrorCode.LIMIT_EXCEEDED,
                              f"request body above the limit of {self.max_bytes:,} bytes")
        # and hang up: otherwise the server would go on receiving (and dropping) the rest
        response.headers["connection"] = "close"
        await response(scope, receive, send)


class AuthenticationMiddleware:
    """`Authorization: Bearer <key>` on everything but the public paths; the caller's
    `Principal` goes into the scope for the rate limiter and the resolvers."""

    def __init__(self, app: ASGIApp, keys: KeyStore, public: tuple[str, ...],
                 public_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.keys = keys
        self.public = public
        self.public_prefixes = public_prefixes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._public(scope):
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            await json_error(401, ErrorCode.UNAUTHENTICATED,
                             "send an API key as 'Authorization: Bearer <key>'")(
                scope, receive, send)
            return
        known, who = self.keys.cached(token)
        if not known:
            try:
                who = await run_in_threadpool(self.keys.lookup, token)
            except Exception as exc:
                if not unavailable(exc):
                    raise
                log.warning("key lookup failed: Neo4j unavailable (%s)", cause(exc))
                await json_error(503, ErrorCode.SERVICE_UNAVAILABLE, UNREACHABLE_MESSAGE)(
                    scope, receive, send)
                return
        if who is None:
            await json_error(401, ErrorCode.UNAUTHENTICATED, "unknown or revoked API key")(
                scope, receive, send)
            return
        scope["principal"] = who
        await self.app(scope, receive, send)

    def _public(self, scope: Scope) -> bool:
        path: str = scope["path"]
        if path in self.public or path.startswith(self.public_prefixes):
            return True
        if path == "/graphql" and scope.get("method") == "GET":
            # the explorer page itself, which holds no data; a GET with a `query` parameter
            # (even an empty one) is a GraphQL request, whatever it accepts, and needs a key
            request = Request(scope)
            return ("query" not in request.query_params
                    and "text/html" in request.headers.get("accept", ""))
        return False


class RateLimitMiddleware:
    """A token bucket per API key, and a stricter one for some roles (partner cities); over
    either limit is LIMIT_EXCEEDED with HTTP 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter,
                 role_limiters: Mapping[Role, RateLimiter] | None = None) -> None:
        self.app = app
        self.limiter = limiter
        self.role_limiters = dict(role_limiters or {})

    def _limiters(self, who: Principal) -> list[RateLimiter]:
        role_limiter = self.role_limiters.get(who.role)
        return [self.limiter] if role_limiter is None else [self.limiter, role_limiter]

    def _allow(self, who: Principal) -> bool:
        return all(limiter.allow(who.key_id) for limiter in self._limiters(who))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who: Principal | None = scope.get("principal") if scope["type"] == "http" else None
        if who is not None and not self._allow(who):
            wait = max(1, math.ceil(max(limiter.wait(who.key_id)
                                        for limiter in self._limiters(who))))
            await json_error(429, ErrorCode.LIMIT_EXCEEDED,
                             f"rate limit for this key exceeded; retry in {wait} s",
                             {"Retry-After": str(wait)})(scope, receive, send)
            return
        await self.app(scope, receive, send)
