"""The Starlette application: /healthz, /readyz, /graphql."""

from __future__ import annotations

from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL

from credgraph.api.schema import schema
from credgraph.api.services import Services
from credgraph.graph.migrations import CURRENT_VERSION, schema_version


class CredGraphQL(GraphQL[dict[str, Any], None]):
    def __init__(self, services: Services) -> None:
        super().__init__(schema, graphql_ide="graphiql")
        self.services = services

    async def get_context(
        self, request: Request, response: Response  # type: ignore[override]
    ) -> dict[str, Any]:
        return {"services": self.services, "request": request, "response": response}


def create_app(services: Services) -> Starlette:
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
        from starlette.concurrency import run_in_threadpool

        ready, body = await run_in_threadpool(readiness)
        body["status"] = "ready" if ready else "not ready"
        return JSONResponse(body, status_code=200 if ready else 503)

    graphql_app = CredGraphQL(services)
    app = Starlette(
        routes=[
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/graphql", graphql_app, methods=["GET", "POST"]),
        ],
    )
    app.state.services = services
    return app
