"""Where a cheap API request spends its time: the real app (middleware, authentication,
GraphQL, resolvers, audit) called in-process as the ASGI server calls it, without the HTTP
socket, under cProfile; beside the bare driver's time for the same Cypher.

    .venv/bin/python -m bench.api_profile --port 17897 --query depth2 --requests 300
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import pstats
import random
import time
from pathlib import Path
from typing import Any

from bench.api import PEER_QUERIES, bench_settings
from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.services import Services


async def call(app: Any, token: str, body: bytes) -> bytes:
    """One POST /graphql through the whole ASGI stack."""
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": "POST", "scheme": "http", "path": "/graphql", "raw_path": b"/graphql",
             "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
             "server": ("127.0.0.1", 80),
             "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                         (b"authorization", f"Bearer {token}".encode()),
                         (b"content-length", str(len(body)).encode())]}
    sent = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.sleep(3600)
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return b"".join(chunks)


async def run(app: Any, token: str, bodies: list[bytes]) -> float:
    started = time.perf_counter()
    for body in bodies:
        answer = json.loads(await call(app, token, body))
        if answer.get("errors"):
            raise RuntimeError(answer["errors"])
    return (time.perf_counter() - started) / len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=17897)
    parser.add_argument("--query", choices=list(PEER_QUERIES), default="subject")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--sort", default="cumulative")
    parser.add_argument("--out", type=Path, help="also dump the raw profile here")
    args = parser.parse_args()
    services = Services.from_settings(bench_settings(args.port))
    # the per-key rate limit would answer most of the run with LIMIT_EXCEEDED
    services = services.with_rules(services.rules.with_overrides(
        {"limits": {"requests_per_minute": 10_000_000}}))
    ids = [r["id"] for r in services.graph.read(
        "MATCH (c:LegalPerson)<-[:LEGAL_REPRESENTATIVE]-() RETURN c.id AS id LIMIT 5000")]
    rng = random.Random(7)
    keys = KeyStore(services.graph)
    token = keys.create("bench-profile", Role.INVESTIGATOR)
    app = create_app(services, keys)
    query = PEER_QUERIES[args.query]
    bodies = [json.dumps({"query": query, "variables": {"id": rng.choice(ids)}}).encode()
              for _ in range(args.requests)]
    loop = asyncio.new_event_loop()
    loop.run_until_complete(run(app, token, bodies[:20]))  # warm: plans, caches, pool
    plain = loop.run_until_complete(run(app, token, bodies))
    profile = cProfile.Profile()
    profile.enable()
    loop.run_until_complete(run(app, token, bodies))
    profile.disable()
    services.audit.stop()
    services.graph.close()
    print(f"{args.query}: {plain * 1000:.2f} ms a request in-process (no profiler)")
    text = io.StringIO()
    pstats.Stats(profile, stream=text).sort_stats(args.sort).print_stats(args.top)
    print(text.getvalue())
    if args.out:
        profile.dump_stats(args.out)


if __name__ == "__main__":
    main()
