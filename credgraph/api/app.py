"""The Starlette application: /graphql with its explorer, /healthz, /readyz, /metrics.

Every request but /healthz and the explorer's static shell needs `Authorization: Bearer <key>`.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import MutableMapping
from importlib import resources
from pathlib import Path
from typing import Any

import neo4j.exceptions
import strawberry
from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.http import GraphQLHTTPResponse
from strawberry.types import ExecutionResult

from credgraph.api.auth import KeyStore, Principal, RateLimiter
from credgraph.api.errors import ErrorCode
from credgraph.api.schema import Mutation, Query
from credgraph.graph.migrations import CURRENT_VERSION, schema_version
from credgraph.schema.privacy import scrub
from credgraph.services import Services

log = logging.getLogger("credgraph.api")

EXPLORER_ASSETS = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}
PUBLIC_PATHS = ("/healthz",)
_LIMIT_MESSAGES = re.compile(r"exceeds maximum operation depth|aliases found|more than \d+ tokens")


def explorer_modules() -> Path:
    return Path(str(resources.files("credgraph.api"))) / "explorer" / "node_modules"


def build_schema(services: Services) -> strawberry.Schema:
    section = services.rules.limits
    depth, tokens, aliases = section.max_query_depth, section.max_query_tokens, section.max_aliases
    # The limit rules are made once, not per request: validating a document is most of the
    # GraphQL cost of a cheap query, and the validation cache only hits when the rules are
    # the same objects.
    rules = [*QueryDepthLimiter(max_depth=depth).validation_rules,
             *MaxAliasesLimiter(max_alias_count=aliases).validation_rules]
    return strawberry.Schema(query=Query, mutation=Mutation, extensions=[
        lambda: MaxTokensLimiter(max_token_count=tokens),
        lambda: AddValidationRules(rules),
        lambda: ParserCache(maxsize=512),
        lambda: ValidationCache(maxsize=512),
    ])


def error_code(error: GraphQLError) -> tuple[str, str]:
    """The contract's code for an error, and the message a person sees."""
    code = (error.extensions or {}).get("code")
    if code:
        return str(code), error.message
    original = error.original_error
    if isinstance(original, neo4j.exceptions.ClientError) and "TimedOut" in (original.code or ""):
        return ErrorCode.LIMIT_EXCEEDED.value, "the query ran longer than the time limit"
    if _LIMIT_MESSAGES.search(error.message):
        return ErrorCode.LIMIT_EXCEEDED.value, error.message
    if original is None or (error.path is None and error.nodes):
        # syntax, validation, wrong argument types, a variable that does not coerce (an enum
        # value that does not exist, a malformed date): the request's fault, before execution
        return ErrorCode.BAD_USER_INPUT.value, scrub(error.message)
    log.error("internal error in %s: %s", error.path, scrub(repr(original)))
    return ErrorCode.INTERNAL.value, "internal error; the server log has the details"


class CredGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, services: Services, metrics: Metrics) -> None:
        super().__init__(build_schema(services), graphql_ide="graphiql")
        self.services = services
        self.metrics = metrics

    def encode_json(self, data: object) -> str:
        # Chinese names stay readable for an investigator using curl or a log
        return json.dumps(data, ensure_ascii=False)

    async def get_context(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> dict[str, Any]:
        return {"services": self.services, "request": request, "response": response,
                "principal": request.scope.get("principal")}

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        page = resources.files("credgraph.api") / "explorer" / "index.html"
        return HTMLResponse(page.read_text(encoding="utf-8"))

    async def process_result(
        self, request: Request, result: ExecutionResult
    ) -> GraphQLHTTPResponse:
        response: GraphQLHTTPResponse = {"data": result.data}
        if result.errors:
            errors: list[object] = []
            for error in result.errors:
                code, message = error_code(error)
                formatted: dict[str, Any] = dict(error.formatted)
                formatted["message"] = message
                formatted["extensions"] = {**(formatted.get("extensions") or {}), "code": code}
                errors.append(formatted)
                self.metrics.errors.labels(code).inc()
            response["errors"] = errors
        return response


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("credgraph_http_requests_total", "HTTP requests",
                                ["path", "status"], registry=self.registry)
        self.latency = Histogram("credgraph_http_request_seconds", "HTTP request latency",
                                 ["path"], registry=self.registry)
        self.errors = Counter("credgraph_graphql_errors_total", "GraphQL errors by code",
                              ["code"], registry=self.registry)


def _json_error(status: int, code: ErrorCode, message: str) -> JSONResponse:
    return JSONResponse({"data": None, "errors": [{"message": message,
                                                   "extensions": {"code": code.value}}]},
                        status_code=status)


class AuthMiddleware:
    """Bearer keys for everything but /healthz and the explorer shell; per-key rate limits."""

    def __init__(self, app: ASGIApp, keys: KeyStore, limiter: RateLimiter,
                 metrics: Metrics) -> None:
        self.app = app
        self.keys = keys
        self.limiter = limiter
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        started = time.perf_counter()
        status_holder = {"status": 500}

        async def send_wrapper(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
            await send(message)

        try:
            response = await self._gate(scope, path)
            if response is not None:
                await response(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        finally:
            label = path if path in ("/graphql", "/healthz", "/readyz", "/metrics") else "other"
            self.metrics.requests.labels(label, str(status_holder["status"])).inc()
            self.metrics.latency.labels(label).observe(time.perf_counter() - started)

    async def _gate(self, scope: Scope, path: str) -> Response | None:
        if path in PUBLIC_PATHS or path.startswith("/explorer/"):
            return None
        request = Request(scope)
        if path == "/graphql" and request.method == "GET" and "text/html" in request.headers.get(
                "accept", ""):
            return None  # the explorer page itself; it holds no data
        header = request.headers.get("authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            return _json_error(401, ErrorCode.UNAUTHENTICATED,
                               "send an API key as 'Authorization: Bearer <key>'")
        known, who = self.keys.cached(token)
        if not known:
            who = await run_in_threadpool(self.keys.lookup, token)
        if who is None:
            return _json_error(401, ErrorCode.UNAUTHENTICATED, "unknown or revoked API key")
        if not self.limiter.allow(who.key_id):
            return _json_error(429, ErrorCode.LIMIT_EXCEEDED,
                               "rate limit for this key exceeded; retry in a minute")
        scope["principal"] = who
        return None


def create_app(services: Services, keys: KeyStore | None = None) -> Starlette:
    metrics = Metrics()
    keys = keys or KeyStore(services.graph)
    limiter = RateLimiter(services.rules.limits.requests_per_minute)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readiness() -> tuple[bool, dict[str, Any]]:
        try:
            version = schema_version(services.graph)
        except Exception as exc:  # any failure to reach Neo4j means not ready
            return False, {"neo4j": "unreachable", "error": type(exc).__name__}
        ready = version >= CURRENT_VERSION
        return ready, {"neo4j": "ok", "schemaVersion": version, "expected": CURRENT_VERSION}

    async def readyz(request: Request) -> JSONResponse:
        ready, body = await run_in_threadpool(readiness)
        body["status"] = "ready" if ready else "not ready"
        return JSONResponse(body, status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        who: Principal = request.scope["principal"]
        if who.role.value not in ("admin", "monitor"):
            return _json_error(403, ErrorCode.FORBIDDEN, "metrics are for admin and monitor keys")
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def explorer_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in EXPLORER_ASSETS:
            return JSONResponse({"error": "not found"}, status_code=404)
        path = explorer_modules() / EXPLORER_ASSETS[name]
        if not path.exists():
            return JSONResponse({"error": "explorer assets not installed (make setup)"},
                                status_code=503)
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    graphql_app = CredGraphQL(services, metrics)
    app = Starlette(routes=[
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/explorer/{name}", explorer_asset),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
    ])
    app.state.services = services
    app.add_middleware(AuthMiddleware, keys=keys, limiter=limiter, metrics=metrics)
    return app
