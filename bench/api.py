"""API benchmark (SPEC §11): p50/p95/p99 and throughput of `subject`, `searchSubjects`,
`associations` (depth 2) and `riskAssessment` (depth 3) with 1 and 8 concurrent clients,
through HTTP + GraphQL, beside the same work through the bare driver in the same run.

Run it against a database loaded by bench/load.py (`--keep-server`):

    .venv/bin/python -m bench.load --subjects 100000 --keep-server
    .venv/bin/python -m bench.api --label 100000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

from bench.load import RESULTS, machine
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.model import RELATIONS
from credgraph.queries.neighbourhood import expand
from credgraph.queries.risk import assess
from credgraph.queries.subjects import find_subject
from credgraph.services import Services
from credgraph.settings import Settings

QUERIES = {
    "subject": "query($id: ID!) { subject(id: $id) { id name kind region status } }",
    "searchSubjects": "query($name: String!) { searchSubjects(name: $name, limit: 10) "
                      "{ score subject { id name } } }",
    "associations": "query($id: ID!) { associations(id: $id, depth: 2) "
                    "{ truncated nodes { id } edges { source target type } } }",
    "riskAssessment": "query($id: ID!) { riskAssessment(id: $id, depth: 3) { score level "
                      "contributors { subject { id } strength } } }",
}
TARGETS_MS = {"subject": 10, "searchSubjects": 50, "riskAssessment": 100}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"p50": round(pick(0.5) * 1000, 2), "p95": round(pick(0.95) * 1000, 2),
            "p99": round(pick(0.99) * 1000, 2), "mean": round(statistics.mean(ordered) * 1000, 2)}


def measure(call: Callable[[Any], object], inputs: list[Any], clients: int) -> dict[str, float]:
    def timed(value: Any) -> float:
        started = time.perf_counter()
        call(value)
        return time.perf_counter() - started

    for value in inputs[:5]:
        call(value)  # warm-up: plans cached, connections open
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        samples = list(pool.map(timed, inputs))
    elapsed = time.perf_counter() - started
    return {**percentiles(samples), "throughput": round(len(inputs) / elapsed, 1)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", default="bench", help="scale label for the results file")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=17797)
    parser.add_argument("--only", action="append", choices=list(QUERIES),
                        help="measure only these queries (repeatable)")
    args = parser.parse_args()
    home = Path(__file__).resolve().parent / ".neo4j-bench"
    settings = Settings(home=home, bolt_port=args.port, neo4j_uri=None)
    services = Services.from_settings(settings)
    graph = services.graph
    rng = random.Random(7)
    companies = [r["id"] for r in graph.read(
        "MATCH (c:LegalPerson)<-[:LEGAL_REPRESENTATIVE]-() RETURN c.id AS id LIMIT 20000")]
    names = [r["name"][3:7] for r in graph.read(
        "MATCH (c:LegalPerson) RETURN c.name AS name LIMIT 5000")]
    ids = [rng.choice(companies) for _ in range(args.requests)]
    words = [rng.choice(names) for _ in range(args.requests)]
    subjects = graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    token = KeyStore(graph).create("bench", Role.INVESTIGATOR)
    port = free_port()
    # the per-key rate limit would throttle the benchmark itself
    unlimited = home / "bench-rules.toml"
    unlimited.write_text("[limits]\nrequests_per_minute = 10000000\n")
    env = dict(os.environ, CREDGRAPH_HOME=str(home), CREDGRAPH_BOLT_PORT=str(args.port),
               CREDGRAPH_RULES_FILE=str(unlimited))
    server = subprocess.Popen([sys.executable, "-m", "credgraph.cli", "serve", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60,
                          headers={"Authorization": f"Bearer {token}"},
                          limits=httpx.Limits(max_connections=16))
    for _ in range(100):
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)
    today = dt.date.today()
    cap = services.rules.risk.degree_cap

    def via_api(name: str) -> Callable[[Any], None]:
        variable = "name" if name == "searchSubjects" else "id"

        def call(value: Any) -> None:
            body = client.post("/graphql", json={"query": QUERIES[name],
                                                 "variables": {variable: value}}).json()
            if body.get("errors"):
                raise RuntimeError(body["errors"])
        return call

    bare: dict[str, Callable[[Any], object]] = {
        "subject": lambda v: find_subject(graph, [v]),
        "searchSubjects": lambda v: services.resolver.candidates(v, None, 10),
        "associations": lambda v: expand(graph, v, 2, list(RELATIONS), today, cap, 200),
        "riskAssessment": lambda v: assess(graph, services.rules, v, 3, today,
                                           services.risk_model),
    }
    rows: list[dict[str, Any]] = []
    try:
        for name in args.only or QUERIES:
            inputs = words if name == "searchSubjects" else ids
            for clients in (1, 8):
                api = measure(via_api(name), inputs, clients)
                direct = measure(bare[name], inputs, clients)
                rows.append({"query": name, "clients": clients, "api": api, "bare": direct,
                             "overhead": round(api["p50"] / direct["p50"], 2)
                             if direct["p50"] else None})
    finally:
        server.terminate()
        client.close()
        graph.close()
    result = {"date": today.isoformat(), "machine": machine(), "subjects": subjects,
              "requests": args.requests, "rows": rows}
    print(f"\nAPI benchmark — {subjects:,} subjects — {result['date']} — {result['machine']}")
    print(f"{'query':16}{'clients':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}"
          f"{'bare p50':>10}{'bare p95':>10}{'overhead':>10}{'target p95':>12}")
    for row in rows:
        api, direct = row["api"], row["bare"]
        target = TARGETS_MS.get(row["query"])
        print(f"{row['query']:16}{row['clients']:>8}{api['p50']:>9}{api['p95']:>9}"
              f"{api['p99']:>9}{api['throughput']:>8}{direct['p50']:>10}{direct['p95']:>10}"
              f"{row['overhead']:>10}{(str(target) + ' ms') if target else '-':>12}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"api-{args.label}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
