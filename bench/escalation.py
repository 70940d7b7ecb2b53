"""Escalation benchmark (SPEC §11: the repeat-offender run over the whole city ≤ 60 s).

Times `credgraph escalate` (run_escalation) over a demo city twice, after one evaluation that
warms the page cache (timed apart as the cold read) — a first run that writes every
escalation, and a second that finds nothing to change — with this process's peak memory
(Python, ru_maxrss) and the largest transaction memory Neo4j reported for it (sampled from
SHOW TRANSACTIONS while the run goes); then a 双随机 inspection plan of one county and of the
whole city. The city is the one bench/load.py left in its server
(`--keep-server`), or bench/load.py is run first when that server holds another size.

    .venv/bin/python -m bench.load --subjects 1000000 --keep-server
    .venv/bin/python -m bench.escalation --subjects 1000000
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench.load import RESULTS, machine
from credgraph.graph.driver import Graph
from credgraph.graph.migrations import migrate
from credgraph.graph.server import LocalNeo4j
from credgraph.queries.escalation import run_escalation, wanted_escalations
from credgraph.queries.grading import inspection_plan
from credgraph.services import Services
from credgraph.settings import Settings

TARGET_S = 60
TRANSACTIONS = """
SHOW TRANSACTIONS YIELD currentQuery, estimatedUsedHeapMemory, currentQueryAllocatedBytes
WHERE NOT currentQuery STARTS WITH 'SHOW'
RETURN max(estimatedUsedHeapMemory) AS heap, max(currentQueryAllocatedBytes) AS allocated
"""


class TransactionMemory:
    """Samples Neo4j's per-transaction memory every `every` seconds while running."""

    def __init__(self, graph: Graph, every: float = 0.2) -> None:
        self.graph, self.every = graph, every
        self.heap = self.allocated = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            with self.graph.driver.session(database="system") as session:
                row = session.run(TRANSACTIONS).single()
            if row:
                self.heap = max(self.heap, row["heap"] or 0)
                self.allocated = max(self.allocated, row["allocated"] or 0)
            self._stop.wait(self.every)

    def __enter__(self) -> TransactionMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


DEFAULT_HOME = Path(__file__).resolve().parent / ".neo4j-bench"


def ensure_city(services: Services, subjects: int, port: int, home: Path) -> None:
    """The demo city of that size in the bench server: kept from bench/load.py, else loaded
    by it in a child process (so this process's peak memory is the runs' alone)."""
    found = services.graph.read("MATCH (n:Subject) WITH count(n) AS n "
                                "RETURN n, COUNT { (:Commitment) } > 0 AS complete")[0]
    loaded = found["n"]
    # commitments are the last file a load writes: without them the load was cut short
    if found["complete"] and abs(loaded - subjects) <= subjects // 10:
        print(f"using the loaded city ({loaded:,} subjects)")
        return
    if home.resolve() != DEFAULT_HOME:
        raise SystemExit(f"no complete {subjects:,}-subject city in {home}: load one there "
                         "(CREDGRAPH_HOME=… credgraph load …) or use bench/load.py's home")
    subprocess.run([sys.executable, "-m", "bench.load", "--subjects", str(subjects),
                    "--port", str(port), "--keep-server"], check=True)


def timed_run(services: Services, as_of: dt.date) -> dict[str, Any]:
    with TransactionMemory(services.graph) as memory:
        started = time.perf_counter()
        result = run_escalation(services.graph, services.rules, as_of, "bench")
        seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 1), **result.as_dict(),
            "neo4jTxHeapMiB": round(memory.heap / 2**20, 1),
            "neo4jTxAllocatedMiB": round(memory.allocated / 2**20, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, default=1_000_000)
    parser.add_argument("--port", type=int, default=17807)
    parser.add_argument("--keep-server", action="store_true")
    parser.add_argument("--heap", default="4g")
    parser.add_argument("--pagecache", default="6g")
    parser.add_argument("--home", type=Path, default=DEFAULT_HOME,
                        help="the bench server's state folder (bench/load.py's by default)")
    args = parser.parse_args()
    home = args.home
    settings = Settings(home=home, bolt_port=args.port, heap=args.heap,
                        pagecache=args.pagecache, neo4j_uri=None, tx_timeout=120.0)
    server = LocalNeo4j(settings)
    server.start()
    services = Services.from_settings(settings)
    migrate(services.graph)
    as_of = dt.date.today()
    try:
        ensure_city(services, args.subjects, args.port, home)
        services.graph.write("MATCH (e:Escalation) DETACH DELETE e", timeout=600)
        started = time.perf_counter()
        wanted_escalations(services.graph, services.rules, as_of)  # page cache warmed
        cold = round(time.perf_counter() - started, 1)
        first = timed_run(services, as_of)
        second = timed_run(services, as_of)
        print(f"first run {first}\nsecond run {second}", flush=True)
        plans = {}
        for region in ("371402", None):
            started = time.perf_counter()
            drawn = inspection_plan(services.graph, services.rules, region, 100, 1, as_of)
            plans[region or "all"] = {"seconds": round(time.perf_counter() - started, 1),
                                      "drawn": len(drawn)}
    finally:
        services.graph.close()
        if not args.keep_server:
            server.stop()
    result = {"date": as_of.isoformat(), "machine": machine(), "subjects": args.subjects,
              "coldReadSeconds": cold, "first": first, "second": second,
              "inspectionPlan": plans,
              "pythonPeakMiB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
              "targetSeconds": TARGET_S}
    print(f"\nescalation benchmark — {args.subjects:,} subjects — {result['date']} — "
          f"{result['machine']}")
    print(f"{'run':8}{'seconds':>9}{'created':>9}{'unchanged':>11}{'Neo4j tx heap MiB':>19}")
    for name in ("first", "second"):
        run = result[name]
        print(f"{name:8}{run['seconds']:>9}{run['created']:>9,}{run['unchanged']:>11,}"
              f"{run['neo4jTxHeapMiB']:>19}")
    for name, plan in plans.items():
        print(f"inspectionPlan(region {name}, size 100): {plan['seconds']} s")
    print(f"cold read (first evaluation after start, no writes) {cold} s; Python peak RSS "
          f"{result['pythonPeakMiB']} MiB; target ≤ {TARGET_S} s per run")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"escalation-{args.subjects}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
