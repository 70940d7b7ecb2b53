"""The investigator's desk (/desk) and the credit report (/report/{id}).

The desk is a static page whose graph drawing comes from npm packages served by the app (no
CDN: it works on an isolated network); it holds no data, so it is public, and all data comes
from /graphql with the key the user types. The report is HTML built on the server for the
caller's key: the desk fetches it with the Authorization header and shows it in a sandboxed
frame (a key never travels in a URL).
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from credgraph.api.auth import PII_ROLES, Principal
from credgraph.api.errors import ErrorCode
from credgraph.api.middleware import json_error
from credgraph.graph.model import (
    RECORD_KIND_ZH,
    RECORD_STATUS_ZH,
    RELATIONS,
    SUBJECT_KIND_ZH,
)
from credgraph.queries.audit import MAX_PURPOSE, kept_purpose
from credgraph.queries.report import BASIS_ZH, Requester, build_report
from credgraph.queries.risk_levels import RISK_LEVEL_ZH
from credgraph.queries.subjects import candidate_keys, find_subject
from credgraph.schema.identifiers import IdentifierError, is_person_number, normalise
from credgraph.schema.values import parse_day
from credgraph.services import Services

PUBLIC_PATHS = ("/desk",)
PUBLIC_PREFIXES = ("/desk/",)
# The page's own files, and the npm packages' prebuilt files (installed by `make setup`).
OWN_FILES = ("desk.js", "desk.css")
NPM_FILES = {
    "cytoscape.js": "cytoscape/dist/cytoscape.min.js",
    "layout-base.js": "layout-base/layout-base.js",
    "cose-base.js": "cose-base/cose-base.js",
    "cytoscape-fcose.js": "cytoscape-fcose/cytoscape-fcose.js",
}
# Scripts only from the app; inline styles for the graph library; a report shown in a
# srcdoc frame inherits this policy, and has no script of its own.
DESK_POLICY = ("default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
REPORT_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
}


def desk_folder() -> Path:
    return Path(str(resources.files("credgraph.api"))) / "desk"


def vocabulary() -> dict[str, object]:
    """The model's Chinese names the page labels with (no data, so public)."""
    return {
        "relations": {t.value: spec.zh for t, spec in RELATIONS.items()},
        "symmetric": [t.value for t, spec in RELATIONS.items() if spec.symmetric],
        "kinds": {k.value: zh for k, zh in SUBJECT_KIND_ZH.items()},
        "levels": RISK_LEVEL_ZH,
        "bases": BASIS_ZH,
        "recordKinds": {k.value: zh for k, zh in RECORD_KIND_ZH.items()},
        "recordStatuses": {s.value: zh for s, zh in RECORD_STATUS_ZH.items()},
    }


def desk_routes(services: Services) -> list[Route]:
    folder = desk_folder()

    async def page(request: Request) -> Response:
        return FileResponse(folder / "index.html", headers={
            "Content-Security-Policy": DESK_POLICY, "Cache-Control": "no-cache"})

    async def model(request: Request) -> JSONResponse:
        return JSONResponse(vocabulary(), headers={"Cache-Control": "max-age=3600"})

    async def asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name in OWN_FILES:
            return FileResponse(folder / name, headers={"Cache-Control": "no-cache"})
        if name not in NPM_FILES:
            return JSONResponse({"error": "not found"}, status_code=404)
        path = folder / "node_modules" / NPM_FILES[name]
        if not path.exists():
            return JSONResponse({"error": "desk assets not installed (make setup)"},
                                status_code=503)
        return FileResponse(path, headers={"Cache-Control": "max-age=86400"})

    async def report(request: Request) -> Response:
        """信用报告 of one subject for the caller's key; audited."""
        who: Principal = request.scope["principal"]
        if not who.may("creditReport"):
            return json_error(403, ErrorCode.FORBIDDEN,
                              f"the {who.role.value} role may not ask for creditReport")
        ident = request.path_params["id"]
        if is_person_number(normalise(ident)):
            return json_error(400, ErrorCode.BAD_USER_INPUT,
                              "an ID number does not belong in a URL: use the person's key (P…)")
        try:
            keys = candidate_keys(ident, services.privacy)
            day = parse_day(request.query_params["asOf"]) \
                if request.query_params.get("asOf") else None
        except IdentifierError as exc:
            return json_error(400, ErrorCode.BAD_USER_INPUT, f"malformed id: {exc}")
        except ValueError:
            return json_error(400, ErrorCode.BAD_USER_INPUT, "asOf must be a date (YYYY-MM-DD)")
        purpose = kept_purpose(request.query_params.get("purpose"))
        if purpose and len(purpose) > MAX_PURPOSE:
            return json_error(400, ErrorCode.BAD_USER_INPUT,
                              f"purpose has at most {MAX_PURPOSE} characters")
        row = await run_in_threadpool(find_subject, services.graph, keys)
        if row is None:
            return json_error(404, ErrorCode.NOT_FOUND, "no subject with this id")
        requester = Requester(who.name, who.role.value, who.role in PII_ROLES, purpose)
        body = await run_in_threadpool(build_report, services, row, requester, day)
        return HTMLResponse(body, headers=REPORT_HEADERS)

    return [
        Route("/desk", page),
        Route("/desk/model.json", model),
        Route("/desk/{name}", asset),
        Route("/report/{id}", report),
    ]
