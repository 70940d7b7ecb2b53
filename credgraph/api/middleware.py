"""The ASGI middleware of the app, one responsibility each (SPEC §10): request metrics,
bearer-key authentication, per-key rate limits."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from credgraph.api.auth import KeyStore, Principal, RateLimiter
from credgraph.api.errors import ErrorCode
from credgraph.api.metrics import Metrics

METERED_PATHS = ("/graphql", "/healthz", "/readyz", "/metrics")


def json_error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    """An error shaped like a GraphQL answer, so every client reads one format."""
    return JSONResponse({"data": None, "errors": [{"message": message,
                                                   "extensions": {"code": code.value}}]},
                        status_code=status)


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
        status = {"code": 500}

        async def record_status(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, record_status)
        finally:
            path = scope["path"] if scope["path"] in METERED_PATHS else "other"
            self.metrics.requests.labels(path, str(status["code"])).inc()
            self.metrics.latency.labels(path).observe(time.perf_counter() - started)


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
            who = await run_in_threadpool(self.keys.lookup, token)
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
            # the explorer page itself; it holds no data
            return "text/html" in Request(scope).headers.get("accept", "")
        return False


class RateLimitMiddleware:
    """A token bucket per API key; over the limit is LIMIT_EXCEEDED with HTTP 429."""

    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        who: Principal | None = scope.get("principal") if scope["type"] == "http" else None
        if who is not None and not self.limiter.allow(who.key_id):
            await json_error(429, ErrorCode.LIMIT_EXCEEDED,
                             "rate limit for this key exceeded; retry in a minute")(
                scope, receive, send)
            return
        await self.app(scope, receive, send)
