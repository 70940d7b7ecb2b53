"""Government integrity benchmark: the whole city's report (G1–G5, the agency and county
roll-ups) and `procurementCheck` p50/p95 with one client (target p95 ≤ 20 ms), through HTTP +
GraphQL beside the same Cypher through the bare driver in the same run.

Against a database loaded by bench/load.py (`--keep-server`), or load a demo city first:

    .venv/bin/python -m bench.integrity --load 100000
    .venv/bin/python -m bench.integrity --label 1000000     # the city already loaded
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import neo4j

from bench.api import free_port, measure
from bench.load import RESULTS, empty, machine
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.migrations import migrate
from credgraph.graph.model import Label, PartyRole
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.queries import integrity
from credgraph.services import Services
from credgraph.settings import Settings

REPORT = """query($asOf: Date) { integrityReport(asOf: $asOf) { score rank
  agency { id name } findings { pattern severity summary path { from { id } type to { id } }
  records { id } } } }"""
CHECK = """query($id: ID!, $asOf: Date) { procurementCheck(supplier: $id, asOf: $asOf)
  { allowed reasons warnings } }"""
TARGET_MS = 20


def timed(call: Any, repeat: int) -> dict[str, float]:
    seconds = []
    for _ in range(repeat):
        started = time.perf_counter()
        call()
        seconds.append(time.perf_counter() - started)
    return {"best": round(min(seconds), 2), "worst": round(max(seconds), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--load", type=int, help="generate and load a city of this many subjects")
    parser.add_argument("--label", default=None, help="scale label for the results file")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3, help="runs of the whole report")
    parser.add_argument("--port", type=int, default=17797)
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--pagecache", default="6g")
    args = parser.parse_args()
    home = Path(__file__).resolve().parent / ".neo4j-bench"
    settings = Settings(home=home, bolt_port=args.port, heap=args.heap,
                        pagecache=args.pagecache, neo4j_uri=None, tx_timeout=600)
    LocalNeo4j(settings).start()
    services = Services.from_settings(settings)
    graph, rules = services.graph, services.rules
    migrate(graph)
    today = dt.date.today()
    if args.load:
        with tempfile.TemporaryDirectory() as workdir:
            folder = Path(workdir) / "city"
            generate(folder, subjects=args.load, seed=371400, as_of=today)
            empty(services)
            BundleLoader(graph, rules, services.privacy, services.normaliser).load([folder])
    subjects = graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    label = args.label or str(args.load or subjects)

    # the whole city's report, in process (what `credgraph integrity report` runs)
    report = integrity.integrity_report(graph, rules, today, timeout=600)
    findings = sum(len(a.findings) for a in report.agencies)
    in_process = timed(lambda: integrity.integrity_report(graph, rules, today, timeout=600),
                       args.repeat)
    tracer = integrity.Tracer(graph, rules, timeout=600)
    params = integrity.parameters(rules, today)
    patterns = {
        "G1": lambda: tracer.g1(dict(params), False),
        "G2": lambda: tracer.g2(dict(params), False),
        "G3": lambda: tracer.g3(dict(params), "city"),
        "G4": lambda: tracer.g4(dict(params), False),
        "G5": lambda: tracer.g5(dict(params), False),
    }
    per_pattern = {name: timed(call, args.repeat) for name, call in patterns.items()}

    # suppliers: every counterparty of a contract, barred ones included
    rng = random.Random(7)
    suppliers = [r["id"] for r in graph.read(
        f"MATCH (x:Subject)-[:HAS_RECORD {{role: $role}}]->(:{Label.CONTRACT.value}) "
        "RETURN DISTINCT x.id AS id LIMIT 20000", {"role": PartyRole.COUNTERPARTY.value})]
    ids = [rng.choice(suppliers) for _ in range(args.requests)]
    checks = [integrity.procurement_check(graph, rules, [i], today, True) for i in set(ids)]
    barred = sum(1 for c in checks if c is not None and not c.allowed)
    token = KeyStore(graph).create("bench-integrity", Role.INVESTIGATOR)
    port = free_port()
    rules_file = home / "bench-rules.toml"
    rules_file.write_text("[limits]\nrequests_per_minute = 10000000\n")
    env = dict(os.environ, CREDGRAPH_HOME=str(home), CREDGRAPH_BOLT_PORT=str(args.port),
               CREDGRAPH_RULES_FILE=str(rules_file), CREDGRAPH_TX_TIMEOUT="600")
    server = subprocess.Popen([sys.executable, "-m", "credgraph.cli", "serve", "--port",
                               str(port)], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=600,
                          headers={"Authorization": f"Bearer {token}"})
    for _ in range(150):
        try:
            if client.get("/healthz").status_code == 200:
                break
        except httpx.TransportError:
            time.sleep(0.2)

    def post(query: str, **variables: Any) -> dict[str, Any]:
        body: dict[str, Any] = client.post("/graphql", json={"query": query,
                                                              "variables": variables}).json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body

    driver: neo4j.Driver = graph.driver
    check_params = integrity.parameters(rules, today)

    def bare(value: str) -> object:
        return driver.execute_query(integrity.PROCUREMENT, {**check_params, "keys": [value]},
                                    database_=graph.database, routing_=neo4j.RoutingControl.READ)

    try:
        over_api = timed(lambda: post(REPORT, asOf=today.isoformat()), args.repeat)
        api = measure(lambda v: post(CHECK, id=v, asOf=today.isoformat()), ids, 1)
        direct = measure(bare, ids, 1)
    finally:
        server.terminate()
        client.close()
        graph.close()
    result = {
        "date": today.isoformat(), "machine": machine(), "subjects": subjects,
        "agencies": len(report.agencies), "findings": findings,
        "report": {"inProcessSeconds": in_process, "apiSeconds": over_api,
                   "patternSeconds": per_pattern},
        "procurementCheck": {"requests": len(ids), "distinctSuppliers": len(set(ids)),
                             "barredSuppliers": barred, "api": api, "bare": direct,
                             "targetP95Ms": TARGET_MS},
    }
    print(f"\nintegrity benchmark — {subjects:,} subjects — {result['date']} — {machine()}")
    print(f"whole-city report: {len(report.agencies)} agencies, {findings} findings; "
          f"in process {in_process['best']} s (worst {in_process['worst']} s), "
          f"through the API {over_api['best']} s (worst {over_api['worst']} s)")
    print("per pattern (best of runs, s): " + ", ".join(
        f"{name} {value['best']}" for name, value in per_pattern.items()))
    print(f"{'procurementCheck':18}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}")
    for name, row in (("API (1 client)", api), ("bare driver", direct)):
        print(f"{name:18}{row['p50']:>9}{row['p95']:>9}{row['p99']:>9}{row['throughput']:>8}")
    print(f"target p95 ≤ {TARGET_MS} ms; API/bare p50 = "
          f"{api['p50'] / direct['p50']:.2f}" if direct["p50"] else "")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"integrity-{label}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
