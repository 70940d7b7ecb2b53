"""API benchmark (SPEC §11): p50/p95/p99 and throughput of `subject`, `searchSubjects`,
`associations` (depth 2) and `riskAssessment` (depth 3) with 1 and 8 concurrent clients,
through HTTP + GraphQL, beside the same work through the bare driver in the same run.

`--peer` (issue 14) times `subject` and the depth-1 and depth-2 neighbourhood, one client,
through credgraph, through @neo4j/graphql (bench/peer/, started here on the same Neo4j),
through the bare driver with one hand-written Cypher statement each, and through the bare
driver with the very statement credgraph sends (SPEC §11's "same Cypher"); checks that the
answers agree and stores the Cypher the peer generated.

Run it against a database loaded by bench/load.py (`--keep-server`):

    .venv/bin/python -m bench.load --subjects 100000 --keep-server
    .venv/bin/python -m bench.api --label 100000 [--peer]
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import neo4j

from bench import peer_schema
from bench.load import RESULTS, load_average, machine
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.model import RELATIONS, types_pattern
from credgraph.graph.server import LocalNeo4j
from credgraph.queries.fragments import live
from credgraph.queries.neighbourhood import expand, live_hub, parameters, statement
from credgraph.queries.risk import assess
from credgraph.queries.subjects import SUBJECT_BY_KEYS, find_subject
from credgraph.services import Services
from credgraph.settings import Settings

BENCH = Path(__file__).resolve().parent
EDGE_LIMIT = 200  # associations' default `limit`, which bench's documents keep
NAMESPACE = "@neo4j/graphql:execution"  # the peer's debug lines that carry its Cypher
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

# The peer comparison (issue 14): credgraph's documents; the peer's are bench.peer_schema's.
_HOOD = ("query($id: ID!) {{ associations(id: $id, depth: {depth}) "
         "{{ truncated cutHubs nodes {{ id }} edges {{ source target type }} }} }}")
PEER_QUERIES = {"subject": QUERIES["subject"], "depth1": _HOOD.format(depth=1),
                "depth2": _HOOD.format(depth=2)}
# The bare driver's hand-written equivalents: one statement each, the same live-at-date
# predicate and the same hub rule (a neighbour with more live subject relations than the cap
# is reached but not expanded; `live_hub`: every relation counted first, one read). Types
# spliced from the model only.
_TYPES = types_pattern(list(RELATIONS))
_HUB = live_hub("n1")
_EDGE = "{source: startNode(%s).id, target: endNode(%s).id, type: type(%s)}"
BARE_CYPHER = {
    "subject": "MATCH (n:Subject {id: $id}) "
               "RETURN n {.id, .name, .kind, .region, .status} AS subject",
    "depth1": f"""
MATCH (c:Subject {{id: $id}})-[r1:{_TYPES}]-(n1:Subject) WHERE {live("r1")}
RETURN collect(DISTINCT n1.id) AS nodes, collect({_EDGE % ("r1", "r1", "r1")}) AS edges,
       collect(DISTINCT CASE WHEN {_HUB} THEN n1.id END) AS hubs
""",
    "depth2": f"""
MATCH (c:Subject {{id: $id}})-[r1:{_TYPES}]-(n1:Subject) WHERE {live("r1")}
WITH c, collect({_EDGE % ("r1", "r1", "r1")}) AS e1, collect(DISTINCT n1) AS ring
CALL (ring) {{
  UNWIND ring AS n1
  WITH n1 WHERE NOT {_HUB}
  MATCH (n1)-[r2:{_TYPES}]-(n2:Subject) WHERE {live("r2")}
  RETURN collect({_EDGE % ("r2", "r2", "r2")}) AS e2, collect(DISTINCT n2) AS far
}}
WITH c, e1 + e2 AS edges, ring, [n2 IN far WHERE NOT n2 IN ring AND n2 <> c] AS far
RETURN [n IN ring + far | n.id] AS nodes, edges,
       [n1 IN ring + far WHERE {_HUB} | n1.id] AS hubs
""",
}


def own_statement(name: str, value: str, cap: int,
                  today: dt.date) -> tuple[neo4j.Query, dict[str, Any]]:
    """The Cypher and parameters credgraph sends for the peer comparison's document `name`
    (its `nodes { id }` needs no summaries), to be run through the bare driver."""
    if name == "subject":
        return neo4j.Query(SUBJECT_BY_KEYS), {"keys": [value]}
    return (neo4j.Query(statement(int(name[-1]), False)),
            parameters([value], list(RELATIONS), today, cap, EDGE_LIMIT))


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


def warm_up_server(bare: dict[str, Callable[[Any], object]], ids: list[str],
                   words: list[str], count: int) -> float:
    """`count` subject lookups, with a neighbourhood and a search every tenth and a risk
    assessment every hundredth, through the bare driver: a just-started Neo4j runs its first
    few thousand queries 1.5-4 x slower while the JVM compiles them, and credgraph and the bare
    driver are then both measured on the server as a long-running service has it."""
    started = time.perf_counter()
    for i in range(count):
        bare["subject"](ids[i % len(ids)])
        if i % 10 == 0:
            bare["associations"](ids[i % len(ids)])
            bare["searchSubjects"](words[i % len(words)])
        if i % 100 == 0:
            bare["riskAssessment"](ids[i % len(ids)])
    return time.perf_counter() - started


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def bench_settings(port: int) -> Settings:
    return Settings(home=BENCH / ".neo4j-bench", bolt_port=port, neo4j_uri=None)


def wait_ready(client: httpx.Client, probe: Callable[[httpx.Client], bool],
               process: subprocess.Popen[bytes], what: str) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            if probe(client):
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not answer within a minute")


@contextmanager
def peer_server(settings: Settings) -> Iterator[tuple[GraphQLClient, str]]:
    """@neo4j/graphql on a free port over the bench Neo4j, with its type definitions
    generated from the model; yields a client and the URL of its capture switch."""
    peer = BENCH / "peer"
    if not (peer / "node_modules").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--ignore-scripts",
                        "--loglevel=error"], cwd=peer, check=True)
    port, control = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        typedefs = Path(tmp) / "typedefs.graphql"
        typedefs.write_text(peer_schema.type_defs())
        env = dict(os.environ, PEER_BOLT_URI=settings.bolt_uri, PEER_USER=settings.neo4j_user,
                   PEER_PASSWORD=LocalNeo4j(settings).password(), PEER_PORT=str(port),
                   PEER_CONTROL_PORT=str(control), PEER_TYPEDEFS=str(typedefs),
                   NODE_ENV="production")
        log = (Path(tmp) / "peer.log").open("wb")
        process = subprocess.Popen([shutil.which("node") or "node", "server.mjs"], cwd=peer,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60)
        try:
            wait_ready(client, lambda c: c.post("/", json={"query": "{ __typename }"})
                       .status_code == 200, process, "the peer")
            yield GraphQLClient(port, "/"), f"http://127.0.0.1:{control}"
        except BaseException:
            log.flush()
            print((Path(tmp) / "peer.log").read_text()[-3000:], file=sys.stderr)
            raise
        finally:
            client.close()
            process.terminate()
            process.wait(10)
            log.close()


class GraphQLClient:
    """POSTs GraphQL documents to one local server over kept-alive connections, one per
    thread, with the standard library's http.client: a request costs the client about 0.3 ms
    here against 0.85 ms through httpx (measured 2026-11-29), and what the benchmark times is
    the servers. credgraph and the peer are asked through the same client."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.port = port
        self.path = path
        self.headers = {"Content-Type": "application/json", **(headers or {})}
        self._local = threading.local()

    def query(self, document: str, variables: dict[str, Any]) -> dict[str, Any]:
        payload = json.dumps({"query": document, "variables": variables})
        try:
            raw = self._post(payload)
        except (http.client.HTTPException, ConnectionError):
            # the server closed an idle kept-alive connection: once more on a new one
            self._local.connection.close()
            self._local.connection = None
            raw = self._post(payload)
        body: dict[str, Any] = json.loads(raw)
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return dict(body["data"])

    def _post(self, payload: str) -> bytes:
        connection = getattr(self._local, "connection", None)
        if connection is None:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self._local.connection = connection
        connection.request("POST", self.path, payload, self.headers)
        return connection.getresponse().read()


def peer_ids(node: dict[str, Any], depth: int) -> tuple[set[str], dict[str, set[str]]]:
    """The peer's answer as (every id reached, ids reached through each first neighbour)."""
    reached: set[str] = set()
    through: dict[str, set[str]] = {}
    for name, connection in node.items():
        if name == "id":
            continue
        for edge in connection["edges"]:
            child = edge["node"]
            reached.add(child["id"])
            if depth > 1:
                far, _ = peer_ids(child, depth - 1)
                through.setdefault(child["id"], set()).update(far)
                reached |= far
    return reached, through


def agreement(name: str, ours: dict[str, Any], peer: dict[str, Any],
              bare: dict[str, Any], center: str) -> list[str]:
    """What differs between the three answers for one input; credgraph's documented caps
    (hubs reached but not expanded, the edge limit) are allowed to drop what they drop."""
    if name == "subject":
        mine = ours["subject"]
        theirs = (peer["subjects"] or [None])[0]
        return [f"{who} {center}: {other} != {mine}"
                for who, other in (("peer", theirs), ("bare", bare["subject"]))
                if other != mine]
    hood = ours["associations"]
    depth = int(name[-1])
    nodes = {n["id"] for n in hood["nodes"]} - {center}
    edges = {(e["source"], e["target"], e["type"]) for e in hood["edges"]}
    hubs = set(hood["cutHubs"]) - {center}
    # The edge limit (200, credgraph's default) keeps an arbitrary part of a larger answer. It
    # counts relations as read, hop by hop — a ring node's relation back to the centre read
    # again at hop 2 included —, which the bare answer lists the same way.
    budget_cut = hood["truncated"] and len(bare["edges"]) > EDGE_LIMIT
    problems = []
    bare_nodes = set(bare["nodes"]) - {center}
    bare_edges = {(e["source"], e["target"], e["type"]) for e in bare["edges"]}
    if budget_cut:
        if not edges <= bare_edges:
            problems.append(f"bare {center}: {len(edges - bare_edges)} edges not in bare")
    else:
        for what, mine, theirs in (("nodes", nodes, bare_nodes), ("edges", edges, bare_edges),
                                   ("hubs", hubs, set(bare["hubs"]) - {center})):
            if mine != theirs:
                problems.append(f"bare {center}: {what} differ by {len(mine ^ theirs)}")
    subject = (peer["subjects"] or [{}])[0]
    reached, through = peer_ids(subject, depth)
    # what the peer reached, less what lies behind a hub credgraph reached but did not expand
    expected = set(through) if depth > 1 else set(reached)
    for first, far in through.items():
        if first not in hubs:
            expected |= far
    expected.discard(center)
    if budget_cut:
        if not nodes <= expected | set(through):
            problems.append(f"peer {center}: credgraph has {len(nodes - expected)} "
                            "nodes the peer lacks (answer cut at the edge limit)")
    elif expected != nodes:
        problems.append(f"peer {center}: nodes differ by {len(expected ^ nodes)} "
                        f"(peer {len(expected)}, credgraph {len(nodes)})")
    return problems


def compare_peer(services: Services, settings: Settings, client: GraphQLClient,
                 ids: list[str], today: dt.date) -> dict[str, Any]:
    """subject, depth-1 and depth-2 neighbourhood through credgraph, the peer and the bare
    driver, one client, same inputs; the answers checked against each other."""
    graph = services.graph
    cap = services.rules.risk.degree_cap
    variables = lambda v: {"id": v, "asOf": today.isoformat()}  # noqa: E731
    rows: list[dict[str, Any]] = []
    with peer_server(settings) as (peer, control):
        peer_docs = {"subject": peer_schema.SUBJECT, "depth1": peer_schema.neighbourhood(1),
                     "depth2": peer_schema.neighbourhood(2)}
        cypher: dict[str, list[str]] = {}
        for name in PEER_QUERIES:
            bare_query = neo4j.Query(BARE_CYPHER[name])

            def bare(value: str, query: neo4j.Query = bare_query) -> dict[str, Any]:
                records, _, _ = graph.driver.execute_query(
                    query, {"id": value, "cap": cap, "asOf": today},
                    database_=graph.database, routing_=neo4j.RoutingControl.READ)
                return dict(records[0].data()) if records else {"subject": None}

            def same(value: str, name: str = name) -> object:
                statement, parameters = own_statement(name, value, cap, today)
                records, _, _ = graph.driver.execute_query(
                    statement, parameters, database_=graph.database,
                    routing_=neo4j.RoutingControl.READ)
                return records

            def ours(value: str, doc: str = PEER_QUERIES[name]) -> dict[str, Any]:
                return client.query(doc, {"id": value})

            def theirs(value: str, doc: str = peer_docs[name]) -> dict[str, Any]:
                return peer.query(doc, variables(value))

            httpx.post(f"{control}/start")
            theirs(ids[0])
            cypher[name] = [line.split(f"{NAMESPACE} ", 1)[-1]
                            for line in httpx.post(f"{control}/stop").json()
                            if not line.endswith("executing cypher")]
            problems: list[str] = []
            capped = 0  # answers cut by a hub or the edge limit (what may differ from the peer)
            for value in ids:
                answer = ours(value)
                capped += bool(answer.get("associations", {}).get("truncated"))
                problems += agreement(name, answer, theirs(value), bare(value), value)
            timings = {who: measure(call, ids, 1)
                       for who, call in (("credgraph", ours), ("peer", theirs), ("bare", bare),
                                         ("sameCypher", same))}
            ratio = timings["credgraph"]["p50"] / timings["bare"]["p50"]
            rows.append({"query": name, **timings,
                         "overheadMs": round(timings["credgraph"]["p50"]
                                             - timings["bare"]["p50"], 2),
                         "overhead": round(ratio, 2),
                         "overSameCypher": round(timings["credgraph"]["p50"]
                                                 / timings["sameCypher"]["p50"], 2),
                         "disagreements": len(problems),
                         "capped": capped,
                         "examples": problems[:10]})
    return {"rows": rows, "peerCypher": cypher, "peerTypeDefs": peer_schema.type_defs()}


def print_peer(peer: dict[str, Any]) -> None:
    print(f"\n{'query':10}{'credgraph p50':>15}{'p95':>8}{'peer p50':>10}{'p95':>8}"
          f"{'bare p50':>10}{'p95':>8}{'over ms':>9}{'over x':>8}{'same p50':>10}"
          f"{'over x':>8}{'disagree':>10}")
    for row in peer["rows"]:
        ours, theirs, bare, same = row["credgraph"], row["peer"], row["bare"], row["sameCypher"]
        print(f"{row['query']:10}{ours['p50']:>15}{ours['p95']:>8}{theirs['p50']:>10}"
              f"{theirs['p95']:>8}{bare['p50']:>10}{bare['p95']:>8}{row['overheadMs']:>9}"
              f"{row['overhead']:>8}{same['p50']:>10}{row['overSameCypher']:>8}"
              f"{row['disagreements']:>10}")
    print("(bare: one hand-written statement each; same: the statement credgraph sends for "
          "the same document, through the bare driver — SPEC §11's yardstick)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", default="bench", help="scale label for the results file")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--port", type=int, default=17797)
    parser.add_argument("--only", action="append", choices=list(QUERIES),
                        help="measure only these queries (repeatable)")
    parser.add_argument("--peer", action="store_true",
                        help="also compare with @neo4j/graphql and the bare driver (issue 14)")
    parser.add_argument("--peer-only", action="store_true",
                        help="only the comparison with @neo4j/graphql")
    parser.add_argument("--warm-up", type=int, default=3000,
                        help="queries run on the server before measuring (0: none)")
    args = parser.parse_args()
    settings = bench_settings(args.port)
    home = settings.home
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
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as probe:
        wait_ready(probe, lambda c: c.get("/healthz").status_code == 200, server, "credgraph")
    client = GraphQLClient(port, "/graphql", {"Authorization": f"Bearer {token}"})
    today = dt.date.today()
    cap = services.rules.risk.degree_cap
    load = {"start": load_average()}

    def via_api(name: str) -> Callable[[Any], object]:
        variable = "name" if name == "searchSubjects" else "id"
        return lambda value: client.query(QUERIES[name], {variable: value})

    bare: dict[str, Callable[[Any], object]] = {
        "subject": lambda v: find_subject(graph, [v]),
        "searchSubjects": lambda v: services.resolver.candidates(v, None, 10),
        "associations": lambda v: expand(graph, v, 2, list(RELATIONS), today, cap, 200),
        "riskAssessment": lambda v: assess(graph, services.rules, v, 3, today,
                                           services.risk_model),
    }
    rows: list[dict[str, Any]] = []
    peer: dict[str, Any] | None = None
    warm_ids = [rng.choice(companies) for _ in range(args.warm_up)]
    warmed = round(warm_up_server(bare, warm_ids, words, args.warm_up), 1) if warm_ids else 0.0
    print(f"server warm-up: {args.warm_up:,} subject lookups in {warmed} s", flush=True)
    try:
        for name in [] if args.peer_only else args.only or QUERIES:
            inputs = words if name == "searchSubjects" else ids
            for clients in (1, 8):
                api = measure(via_api(name), inputs, clients)
                direct = measure(bare[name], inputs, clients)
                rows.append({"query": name, "clients": clients, "api": api, "bare": direct,
                             "overhead": round(api["p50"] / direct["p50"], 2)
                             if direct["p50"] else None})
        if args.peer or args.peer_only:
            peer = compare_peer(services, settings, client, ids, today)
    finally:
        server.terminate()
        graph.close()
    load["end"] = load_average()
    result: dict[str, Any] = {"date": today.isoformat(), "machine": machine(),
                              "subjects": subjects, "requests": args.requests,
                              "warmUp": {"queries": args.warm_up, "seconds": warmed},
                              "loadAverage": load, "rows": rows}
    if peer is not None:
        result["peer"] = peer
    print(f"\nAPI benchmark — {subjects:,} subjects — {result['date']} — {result['machine']}"
          f" — load average {load['start']} → {load['end']}")
    if rows:
        print(f"{'query':16}{'clients':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'req/s':>8}"
              f"{'bare p50':>10}{'bare p95':>10}{'overhead':>10}{'target p95':>12}")
    for row in rows:
        api, direct = row["api"], row["bare"]
        target = TARGETS_MS.get(row["query"])
        print(f"{row['query']:16}{row['clients']:>8}{api['p50']:>9}{api['p95']:>9}"
              f"{api['p99']:>9}{api['throughput']:>8}{direct['p50']:>10}{direct['p95']:>10}"
              f"{row['overhead']:>10}{(str(target) + ' ms') if target else '-':>12}")
    if peer is not None:
        print_peer(peer)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"api-{args.label}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
