"""Before/after latency of one query: this checkout's server and another checkout's (`--base`,
e.g. `git worktree add /tmp/base main` or `git archive main | tar -x -C /tmp/base`) serve the
same bench database at once, and each request goes to both in random order, so both see the
same machine load — on a busy 2-core machine the only fair comparison at millisecond scale.

    .venv/bin/python -m bench.load --subjects 20000 --keep-server
    .venv/bin/python -m bench.ab --base /tmp/base --query subject --requests 1500
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from bench.api import QUERIES, free_port, percentiles
from bench.load import RESULTS, machine
from credgraph.api.auth import KeyStore, Role
from credgraph.services import Services
from credgraph.settings import Settings

HERE = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base", type=Path, required=True, help="the other checkout")
    parser.add_argument("--query", choices=["subject", "associations", "riskAssessment"],
                        default="subject")
    parser.add_argument("--requests", type=int, default=1500)
    parser.add_argument("--port", type=int, default=17797, help="the bench Neo4j's Bolt port")
    args = parser.parse_args()
    home = HERE / "bench" / ".neo4j-bench"
    services = Services.from_settings(Settings(home=home, bolt_port=args.port, neo4j_uri=None))
    ids = [r["id"] for r in services.graph.read(
        "MATCH (c:LegalPerson)<-[:LEGAL_REPRESENTATIVE]-() RETURN c.id AS id LIMIT 20000")]
    token = KeyStore(services.graph).create("bench-ab", Role.INVESTIGATOR)
    unlimited = home / "bench-rules.toml"
    unlimited.write_text("[limits]\nrequests_per_minute = 10000000\n")
    env = dict(os.environ, CREDGRAPH_HOME=str(home), CREDGRAPH_BOLT_PORT=str(args.port),
               CREDGRAPH_RULES_FILE=str(unlimited))
    servers: dict[str, tuple[subprocess.Popen[bytes], httpx.Client]] = {}
    for name, checkout in (("this", HERE), ("base", args.base.resolve())):
        port = free_port()
        process = subprocess.Popen([sys.executable, "-m", "credgraph.cli", "serve", "--port",
                                    str(port)], cwd=checkout, env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                              headers={"Authorization": f"Bearer {token}"})
        servers[name] = (process, client)
    rng = random.Random(7)
    samples: dict[str, list[float]] = {name: [] for name in servers}

    def ask(client: httpx.Client) -> float:
        started = time.perf_counter()
        body = client.post("/graphql", json={"query": QUERIES[args.query],
                                             "variables": {"id": rng.choice(ids)}}).json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return time.perf_counter() - started

    try:
        for _, client in servers.values():
            for _ in range(200):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            for _ in range(50):
                ask(client)  # warm-up
        for _ in range(args.requests):
            order = list(servers)
            rng.shuffle(order)
            for name in order:
                samples[name].append(ask(servers[name][1]))
    finally:
        for process, client in servers.values():
            client.close()
            process.terminate()
        services.graph.close()
    result: dict[str, Any] = {
        "date": dt.date.today().isoformat(), "machine": machine(), "query": args.query,
        "requests": args.requests, "base": str(args.base),
        "rows": {name: percentiles(values) for name, values in samples.items()}}
    print(f"\n{args.query}: this checkout vs {args.base}, {args.requests} requests each, "
          f"alternating — {result['machine']}")
    for name, row in result["rows"].items():
        print(f"{name:6} p50 {row['p50']:>8} ms  p95 {row['p95']:>8} ms  mean {row['mean']} ms")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"ab-{args.query}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
