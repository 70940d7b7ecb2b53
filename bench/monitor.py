"""Monitoring benchmark (issue 12): a monitoring run over the loaded city with N watched
subjects (default 10,000) — the first run, then a run with nothing changed — beside, in the
same process, the floor it cannot beat: the same risk assessments of the watched subjects
alone, with the same thread pool.

Run it against a database loaded by bench/load.py (`--keep-server`):

    .venv/bin/python -m bench.load --subjects 1000000 --keep-server
    .venv/bin/python -m bench.monitor --label 1000000 --watched 10000

Synthetic ACTIVE escalations (`--escalations`, tagged `bench`, removed at the end) give the
ESCALATION and SEVERE_RECORD rules something to read when the escalation engine has not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.load import RESULTS, machine
from credgraph.graph.driver import Graph
from credgraph.queries.alerts import CITY, watch
from credgraph.queries.monitoring import RISK_WORKERS, MonitorRun
from credgraph.queries.risk import assess
from credgraph.services import Services
from credgraph.settings import Settings

CLEAN = [
    "MATCH (n:Alert) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:WatchState) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:MonitorRun) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:Watchlist) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:RunLock) CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS",
    "MATCH (n:Escalation {bench: true}) CALL (n) { DETACH DELETE n } "
    "IN TRANSACTIONS OF 10000 ROWS",
]
ESCALATE = """
UNWIND $rows AS row
MATCH (s:Subject {id: row.id})
CREATE (s)-[:HAS_ESCALATION]->(:Escalation {id: 'BENCH-' + row.id, subject: row.id,
        level: row.level, status: 'ACTIVE', since: row.since, rules: ['R2'], bench: true})
"""


def clean(graph: Graph) -> None:
    for statement in CLEAN:
        graph.run_autocommit(statement)


def timed_run(services: Services, as_of: dt.date) -> dict[str, Any]:
    started = time.perf_counter()
    result = MonitorRun(services.graph, services.rules, as_of, services.risk_model).run()
    seconds = time.perf_counter() - started
    run = services.graph.read("MATCH (r:MonitorRun {id: $id}) "
                              "RETURN r.evaluateSeconds AS e, r.ruleSeconds AS rules",
                              {"id": result.run})[0]
    return {"seconds": round(seconds, 1), "evaluateSeconds": run["e"],
            "writeSeconds": round(seconds - run["e"], 1), **result.counts(),
            "byRule": result.by_rule, "ruleSeconds": json.loads(run["rules"])}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--label", default="bench", help="scale label for the results file")
    parser.add_argument("--watched", type=int, default=10_000)
    parser.add_argument("--escalations", type=int, default=5_000)
    parser.add_argument("--port", type=int, default=17797)
    args = parser.parse_args()
    home = Path(__file__).resolve().parent / ".neo4j-bench"
    # NEO4J_URI (and NEO4J_PASSWORD) point it at another loaded server
    settings = Settings() if os.environ.get("NEO4J_URI") else Settings(
        home=home, bolt_port=args.port, neo4j_uri=None)
    services = Services.from_settings(settings)
    graph = services.graph
    today = dt.date.today()
    rng = random.Random(12)
    subjects = graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    clean(graph)
    ids = [r["id"] for r in graph.read("MATCH (s:Subject) WHERE NOT s:Agency "
                                       "RETURN s.id AS id ORDER BY id", timeout=600)]
    watched = rng.sample(ids, min(args.watched, len(ids)))
    offenders = [r["id"] for r in graph.read(
        "MATCH (s:LegalPerson)-[:HAS_RECORD]->(:Penalty) WITH DISTINCT s LIMIT $n "
        "RETURN s.id AS id", {"n": args.escalations}, timeout=600)]
    graph.write_batches(ESCALATE, [
        {"id": sid, "level": rng.choice(["FOCUS", "FOCUS", "SEVERE_PROPOSED", "SEVERE"]),
         "since": today - dt.timedelta(days=rng.randrange(30, 400))} for sid in offenders])
    for start in range(0, len(watched), 5000):
        watch(graph, CITY, watched[start:start + 5000], "bench")
    try:
        first = timed_run(services, today)
        again = timed_run(services, today)
        started = time.perf_counter()
        depth = services.rules.risk.default_depth
        with ThreadPoolExecutor(RISK_WORKERS) as pool:
            list(pool.map(lambda sid: assess(graph, services.rules, sid, depth, today,
                                             services.risk_model), watched))
        floor = round(time.perf_counter() - started, 1)
    finally:
        clean(graph)
        graph.close()
    result = {"date": today.isoformat(), "machine": machine(), "subjects": subjects,
              "watched": len(watched), "escalations": len(offenders), "first": first,
              "noChange": again, "riskAssessmentsAloneSeconds": floor}
    print(f"\nmonitoring benchmark — {subjects:,} subjects, {len(watched):,} watched, "
          f"{len(offenders):,} escalations — {result['date']} — {result['machine']}")
    print(f"{'run':12}{'seconds':>9}{'evaluate s':>12}{'write s':>9}{'new':>8}{'updated':>9}"
          f"{'total':>8}")
    for name, row in (("first", first), ("no change", again)):
        print(f"{name:12}{row['seconds']:>9}{row['evaluateSeconds']:>12}{row['writeSeconds']:>9}"
              f"{row['new']:>8,}{row['updated']:>9,}{row['total']:>8,}")
    print(f"alerts by rule (first run): {first['byRule']}")
    print(f"seconds by rule: first {first['ruleSeconds']}; no change {again['ruleSeconds']}")
    print(f"the same {len(watched):,} risk assessments alone ({RISK_WORKERS} threads): "
          f"{floor} s")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"monitor-{args.label}.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
