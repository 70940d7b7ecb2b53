"""The Starlette application: /graphql with its explorer, /healthz, /readyz, /metrics, the
investigator's desk and the credit report.

Every request but /healthz, /readyz and the static shells of the explorer and the desk needs
`Authorization: Bearer <key>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import threading
import traceback
from collections.abc import AsyncIterator
from importlib import resources
from operator import methodcaller
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import neo4j.exceptions
import orjson
import strawberry
from cross_web import HTTPException
from graphql import GraphQLError
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as RoutingError
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send
from strawberry.asgi import GraphQL
from strawberry.extensions import MaxAliasesLimiter, QueryDepthLimiter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema.types.base_scalars import wrap_parser
from strawberry.types import ExecutionContext, ExecutionResult
from strawberry.types.scalar import ScalarDefinition

from credgraph.api import desk
from credgraph.api.audit import AuditReveals, MutationsAuditedFirst
from credgraph.api.auth import KeyStore, Principal, RateLimiter, Role
from credgraph.api.errors import (
    UNREACHABLE,
    UNREACHABLE_MESSAGE,
    ErrorCode,
    cause,
    classify,
    timed_out,
)
from credgraph.api.execution import LeanExecutionContext
from credgraph.api.introspection import RoleIntrospection
from credgraph.api.metrics import Metrics, MonitorCollector
from credgraph.api.middleware import (
    AuthenticationMiddleware,
    BodySizeLimitMiddleware,
    MetricsMiddleware,
    RateLimitMiddleware,
    json_error,
)
from credgraph.api.schema import Mutation, Query, advertise_rule_defaults
from credgraph.api.types import TODAY
from credgraph.api.validation import DocumentCache, PreparedDocuments
from credgraph.graph.migrations import CURRENT_VERSION, schema_version
from credgraph.graph.model import RELATIONS
from credgraph.queries.neighbourhood import warm_up
from credgraph.rules import RulesError
from credgraph.schema.privacy import scrub
from credgraph.schema.values import parse_day
from credgraph.services import Services

log = logging.getLogger("credgraph.api")

EXPLORER_ASSETS = {
    "react.js": "react/umd/react.production.min.js",
    "react-dom.js": "react-dom/umd/react-dom.production.min.js",
    "graphiql.js": "graphiql/graphiql.min.js",
    "graphiql.css": "graphiql/graphiql.min.css",
}
# Every GraphQL answer: it may hold names and masked ID numbers, which no cache keeps.
ANSWER_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The explorer keeps the key typed into it (the browser's storage) and runs queries with it:
# no other site may frame it and have a user click its buttons.
EXPLORER_HEADERS = {"Content-Security-Policy": "frame-ancestors 'none'",
                    "X-Frame-Options": "DENY"}
PUBLIC_PATHS = ("/healthz", "/readyz", *desk.PUBLIC_PATHS)
PUBLIC_PREFIXES = ("/explorer/", *desk.PUBLIC_PREFIXES)
GRAPHQL_RESPONSE = "application/graphql-response+json"
# A JSON escape of a UTF-16 surrogate (\ud800–\udfff): paired, it decodes to one character;
# alone, to a string no UTF-8 text (Neo4j, the audit log) can hold.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class AccessLogScrubber(logging.Filter):
    """uvicorn's access log prints each request line, query string included: an ID number
    sent in a URL (`GET /graphql?query=…`, `/report/<number>` — refused, but logged) is masked
    there as in every other log line (SPEC §6)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) > 2 and isinstance(args[2], str):
            decoded = unquote_plus(args[2])
            masked = scrub(decoded)
            if masked != decoded:
                record.args = (*args[:2], masked, *args[3:])
        return True


ACCESS_LOG_SCRUBBER = AccessLogScrubber()


def explorer_modules() -> Path:
    return Path(str(resources.files("credgraph.api"))) / "explorer" / "node_modules"


class Schema(strawberry.Schema):
    def process_errors(self, errors: list[GraphQLError],
                       execution_context: ExecutionContext | None = None) -> None:
        """Not strawberry's log line: it quotes the query document, which may hold a raw ID
        number. `error_code` logs the internal errors, scrubbed."""


# `Date` as YYYY-MM-DD only (strawberry's reads whatever `date.fromisoformat` does, a week
# date 2025-W26-1 among them), with the same message shape for a day that does not exist.
STRICT_DATE = ScalarDefinition(
    name="Date", description="Date, YYYY-MM-DD", specified_by_url=None,
    serialize=methodcaller("isoformat"), parse_value=wrap_parser(parse_day, "Date"),
    parse_literal=None, origin=dt.date)


def build_schema(services: Services) -> strawberry.Schema:
    section = services.rules.limits
    depth, tokens, aliases = section.max_query_depth, section.max_query_tokens, section.max_aliases
    # The limit rules are made once, not per request, and each query text is parsed and
    # validated once: validating a document is most of the GraphQL cost of a cheap query.
    documents = DocumentCache(
        [*QueryDepthLimiter(max_depth=depth).validation_rules,
         *MaxAliasesLimiter(max_alias_count=aliases).validation_rules],
        max_tokens=tokens, max_fields=section.max_query_fields, maxsize=512,
        city_wide=frozenset(section.city_wide_fields),
        max_city_wide=section.city_wide_per_request)
    schema = Schema(query=Query, mutation=Mutation, execution_context_class=LeanExecutionContext,
                    extensions=[lambda: PreparedDocuments(documents), MutationsAuditedFirst,
                                AuditReveals,
                                RoleIntrospection],
                    scalar_overrides={dt.date: STRICT_DATE})
    queries = set(schema._schema.query_type.fields) if schema._schema.query_type else set()
    unknown = sorted(set(section.city_wide_fields) - queries)
    if unknown:
        raise RulesError(f"[limits] city_wide_fields: {', '.join(unknown)} is no query of the "
                         "API")
    advertise_rule_defaults(schema, services.rules)
    return schema


def error_code(error: GraphQLError) -> tuple[str, str]:
    """The contract's code for an error, and the message a person sees; what is not the
    request's fault is logged (scrubbed)."""
    given = (error.extensions or {}).get("code")
    if given:  # an id the caller typed is echoed in many messages: masked if it is a person's
        return str(given), scrub(error.message)
    code = classify(error)
    if code == ErrorCode.SERVICE_UNAVAILABLE:
        log.warning("Neo4j unavailable in %s: %s", error.path, cause(error.original_error))
        return code.value, UNREACHABLE_MESSAGE
    if code == ErrorCode.INTERNAL:
        original = error.original_error or error
        trace = "".join(traceback.format_exception(original))
        log.error("internal error in %s: %s", error.path, scrub(trace))
        return code.value, "internal error; the server log has the details"
    if timed_out(error):
        return code.value, "the query ran longer than the time limit"
    return code.value, scrub(error.message)


def accepts_graphql_response(accept: str) -> bool:
    """Whether the Accept header asks for application/graphql-response+json at least as much
    as for application/json."""
    weights: dict[str, float] = {}
    for part in accept.lower().split(","):
        kind, *params = (p.strip() for p in part.split(";"))
        quality = 1.0
        for param in params:
            if param.startswith("q="):
                try:
                    quality = float(param[2:])
                except ValueError:
                    quality = 0.0
        weights[kind] = max(quality, weights.get(kind, 0.0))
    wanted = weights.get(GRAPHQL_RESPONSE, 0.0)
    return wanted > 0 and wanted >= weights.get("application/json", 0.0)


def request_failed(response: GraphQLHTTPResponse) -> bool:
    """No field ran: every error is the request's (syntax, validation, variables), none a
    field's (those carry a `path`)."""
    errors = response.get("errors") or []
    return response.get("data") is None and bool(errors) and all(
        "path" not in error for error in errors if isinstance(error, dict))


# a GET has no body: what strawberry could not read is its `variables` or `extensions`
UNREADABLE_PARAMETERS = ("the variables (or extensions) parameter of GET /graphql is not "
                         "JSON: give it URL-encoded JSON, e.g. variables=%7B%22id%22%3A%22…%22%7D")
UNSUPPORTED_MEDIA = ("unsupported content type: send the request as JSON with "
                     "'Content-Type: application/json', or as GET /graphql?query=…")


def _media_type_lowered(value: bytes) -> bytes:
    """A Content-Type header with its media type in lower case: type and subtype are
    case-insensitive (RFC 9110 §8.3.1), but strawberry compares them as written and refused
    `APPLICATION/JSON`. The parameters (a multipart boundary) are kept as sent."""
    media, separator, parameters = value.partition(b";")
    return media.lower() + separator + parameters


class CredGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, services: Services, metrics: Metrics) -> None:
        super().__init__(build_schema(services), graphql_ide="graphiql")
        self.services = services
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Strawberry answers a request it cannot read in plain text; ours is shaped like every
        other error (BAD_USER_INPUT with the HTTP status it had)."""
        if scope["type"] != "http":
            await super().__call__(scope, receive, send)
            return
        scope["headers"] = [(name, _media_type_lowered(value) if name == b"content-type"
                             else value) for name, value in scope["headers"]]
        try:
            response = await self.run(Request(scope, receive=receive))
        except ClientDisconnect:  # gone before its body arrived: nobody to answer, no fault
            log.debug("client disconnected before its request body was read")  # /metrics: 499
            return
        except HTTPException as exc:  # its reason may quote the request (an operationName)
            reason = (UNSUPPORTED_MEDIA if exc.reason == "Unsupported content type"
                      else UNREADABLE_PARAMETERS if scope["method"] == "GET"
                      and exc.reason == "Unable to parse request body as JSON"
                      else scrub(exc.reason))
            response = json_error(exc.status_code, ErrorCode.BAD_USER_INPUT, reason)
        await response(scope, receive, send)

    def decode_json(self, data: str | bytes) -> object:
        try:
            decoded = json.loads(data)
        except RecursionError:
            raise HTTPException(400, "request JSON is nested too deeply") from None
        except UnicodeDecodeError:
            raise HTTPException(400, "request body is not UTF-8 JSON") from None
        except json.JSONDecodeError:
            raise  # strawberry's 400: "Unable to parse request body as JSON"
        except ValueError:  # an integer longer than Python converts (4,300 digits)
            raise HTTPException(400, "request JSON holds a number too long to read") from None
        if not isinstance(decoded, dict | list):
            raise HTTPException(400, "request body must be a JSON object with a query")
        raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
        if _SURROGATE_ESCAPE.search(raw):
            try:
                json.dumps(decoded, ensure_ascii=False).encode("utf-8")
            except RecursionError:
                raise HTTPException(400, "request JSON is nested too deeply") from None
            except UnicodeEncodeError:
                raise HTTPException(400, "request JSON holds an unpaired surrogate (\\ud800–"
                                    "\\udfff), which is no character: send UTF-8 text") from None
        return decoded

    def encode_json(self, data: object) -> bytes:
        # UTF-8 as it is: Chinese names stay readable for an investigator using curl or a log
        return orjson.dumps(data)

    async def get_context(  # type: ignore[override]
        self, request: Request, response: Response
    ) -> dict[str, Any]:
        if accepts_graphql_response(request.headers.get("accept", "")):
            response.headers["content-type"] = GRAPHQL_RESPONSE
        TODAY.set(self.services.today())
        return {"services": self.services, "request": request, "response": response,
                "principal": request.scope.get("principal"), "metrics": self.metrics}

    def create_response(self, response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
                        sub_response: Response) -> Response:
        """GraphQL over HTTP: a client accepting application/graphql-response+json gets it,
        and a request that could not run (syntax, validation, variables) is a 400 without
        `data`; plain application/json clients get 200 as ever."""
        headers = {k: v for k, v in sub_response.headers.items() if k != "content-type"}
        # names and masked ID numbers: no browser or proxy keeps them (a GET answer could be)
        headers.update(ANSWER_HEADERS)
        if sub_response.headers.get("content-type") != GRAPHQL_RESPONSE:
            return Response(self.encode_json(response_data), headers=headers,
                            media_type="application/json")
        status = 200
        if isinstance(response_data, dict) and request_failed(response_data):
            response_data, status = {"errors": response_data["errors"]}, 400
        return Response(self.encode_json(response_data), status_code=status, headers=headers,
                        media_type=f"{GRAPHQL_RESPONSE}; charset=utf-8")

    async def render_graphql_ide(self, request: Request) -> HTMLResponse:
        page = resources.files("credgraph.api") / "explorer" / "index.html"
        return HTMLResponse(page.read_text(encoding="utf-8"), headers=EXPLORER_HEADERS)

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


def warm_plans(services: Services) -> None:
    """The expansion statements planned while the server starts, off the request path; a
    Neo4j not up yet only means the first request plans them."""
    try:
        warm_up(services.graph, services.rules.risk.max_depth, list(RELATIONS))
    except (*UNREACHABLE, neo4j.exceptions.Neo4jError):
        log.warning("expansion plans not made at start: Neo4j unavailable")


async def routing_error(request: Request, exc: Exception) -> Response:
    """A path or method the app does not serve, in the error shape of every other answer
    (Starlette's own is plain text)."""
    assert isinstance(exc, RoutingError)
    if exc.status_code == 405:
        allowed = ", ".join(sorted((exc.headers or {}).get("Allow", "").split(", ")))
        return json_error(405, ErrorCode.BAD_USER_INPUT,
                          f"method {request.method} is not allowed here; use {allowed}",
                          headers=exc.headers)
    return json_error(404, ErrorCode.NOT_FOUND, "nothing is served at this path")


def create_app(services: Services, keys: KeyStore | None = None) -> Starlette:
    """The app; PartnersError when the partners file is bad, read here rather than by the
    first federatedCheck, which would answer INTERNAL every time (SPEC §9)."""
    log.info("federatedCheck asks %d partner cities", len(services.partners))
    logging.getLogger("uvicorn.access").addFilter(ACCESS_LOG_SCRUBBER)
    metrics = Metrics()
    metrics.registry.register(MonitorCollector(services.graph))
    keys = keys or KeyStore(services.graph)
    limiter = RateLimiter(services.rules.limits.requests_per_minute)
    partner_limiter = RateLimiter(services.rules.sharing.requests_per_minute)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    def readiness() -> bool:
        try:
            services.graph.driver.verify_connectivity()  # once: the driver would retry a minute
            version = schema_version(services.graph)
        except Exception as exc:  # any failure to reach Neo4j means not ready
            log.warning("not ready: Neo4j unavailable (%s)", cause(exc))
            return False
        if version < CURRENT_VERSION:  # an upgrade's `db migrate` not run yet: say so
            log.warning("not ready: the store's schema is version %d, this code needs %d — run "
                        "`credgraph db migrate`", version, CURRENT_VERSION)
            return False
        return True

    async def readyz(request: Request) -> JSONResponse:
        """Public, so it says ready or not and nothing more (SPEC §10)."""
        try:
            ready = await asyncio.wait_for(run_in_threadpool(readiness),
                                           services.settings.api_db_wait + 1.0)
        except TimeoutError:
            log.warning("not ready: Neo4j did not answer in time")
            ready = False
        return JSONResponse({"status": "ready" if ready else "not ready"},
                            status_code=200 if ready else 503)

    async def metrics_endpoint(request: Request) -> Response:
        who: Principal = request.scope["principal"]
        if who.role.value not in ("admin", "monitor"):
            return json_error(403, ErrorCode.FORBIDDEN, "metrics are for admin and monitor keys")
        body = await run_in_threadpool(generate_latest, metrics.registry)
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    async def explorer_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in EXPLORER_ASSETS:
            return JSONResponse({"error": "not found"}, status_code=404)
        path = explorer_modules() / EXPLORER_ASSETS[name]
        if not path.exists():
            return JSONResponse({"error": "explorer assets not installed (make setup)"},
                                status_code=503)
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        threading.Thread(target=warm_plans, args=(services,), name="credgraph-warm-up",
                         daemon=True).start()
        yield
        await run_in_threadpool(services.audit.stop)  # no audit event lost on a clean stop

    graphql_app = CredGraphQL(services, metrics)
    app = Starlette(lifespan=lifespan, exception_handlers={404: routing_error,
                                                           405: routing_error}, routes=[
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/explorer/{name}", explorer_asset),
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        *desk.desk_routes(services),
    ])
    app.state.services = services
    # Starlette runs the last added outermost: metrics see every request, an oversized body
    # is refused before anything reads it, authentication comes before the per-key rate limit.
    app.add_middleware(RateLimitMiddleware, limiter=limiter,
                       role_limiters={Role.PARTNER: partner_limiter})
    app.add_middleware(AuthenticationMiddleware, keys=keys, public=PUBLIC_PATHS,
                       public_prefixes=PUBLIC_PREFIXES)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=services.rules.limits.max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app
