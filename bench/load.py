"""Load benchmark (SPEC §11: ≥ 30,000 rows/s end to end at 1,000,000 subjects).

For each scale: generate the demo city, load it into an empty database of a dedicated local
Neo4j — with `credgraph load --bulk` (staged CSV, `neo4j-admin database import`; the default,
as a first load is) or `--transactional` (batched MERGE, the update path) — then write the same
files' rows with the bare driver (`UNWIND $rows AS row CREATE (n:BareBench) SET n = row`, no
validation) in the same run. The bulk table also shows neo4j-admin import of the already-valid
staged CSV alone. `--update` then loads a tenth of the city's size more through the
transactional path (the update of SPEC §11: ≥ 0.5 × the bare driver), beside the bare driver,
twice: right after the first load, and again on the server that update warmed.
Prints tables and writes bench/results/load-<mode>-<subjects>.json.

    .venv/bin/python -m bench.load --subjects 100000 --subjects 1000000 --update
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import migrate
from credgraph.graph.model import Label
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bulk import BulkLoader
from credgraph.loaders.bundle import BundleLoader, LoadSummary, discover
from credgraph.loaders.demo import MIN_SUBJECTS, generate
from credgraph.loaders.readers import read_table
from credgraph.loaders.writes import derive_shared_contacts
from credgraph.services import Services
from credgraph.settings import Settings

RESULTS = Path(__file__).resolve().parent / "results"
SERVER_FILES = {"after the first load": "first"}  # the warm update keeps load-update-<n>.json


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{platform.machine()}, {os.cpu_count()} cores, {memory:.0f} GiB, Python " \
           f"{platform.python_version()}"


def load_average() -> str:
    """The host's 1, 5 and 15-minute load averages: a figure measured on a busy host is
    recorded as such."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} {five:.2f} {fifteen:.2f}"


def empty(services: Services) -> None:
    """An empty database for the next city: a local server gets a fresh store (deleting a 1M
    city through Cypher took ten minutes), an external one is emptied through Cypher."""
    if services.settings.external:
        delete_all(services.graph, keep=(Label.SCHEMA_VERSION.value,))
        return
    server = LocalNeo4j(services.settings)
    server.reset()
    server.start()
    migrate(services.graph)


def bare_driver(graph: Graph, folder: Path, batch: int) -> dict[str, tuple[int, float]]:
    """The ceiling: the same rows, unvalidated, CREATEd as flat nodes."""
    out = {}
    for kind, path in discover([folder]):
        table = read_table(path)
        rows = [{k: ("" if v is None else str(v)) for k, v in r.values.items()}
                for r in table.rows]
        started = time.perf_counter()
        graph.write_batches("UNWIND $rows AS row CREATE (n:BareBench) SET n = row", rows, batch)
        out[kind] = (len(rows), time.perf_counter() - started)
    graph.run_autocommit("MATCH (n:BareBench) CALL (n) { DELETE n } IN TRANSACTIONS OF 10000 ROWS")
    return out


def per_file(summary: LoadSummary, bare: dict[str, tuple[int, float]]) -> list[dict[str, Any]]:
    files = []
    for item in summary.files:
        rows, seconds = bare[item.kind]
        files.append({"file": Path(item.file).name, "read": item.read, "loaded": item.loaded,
                      "rejected": item.rejected, "seconds": item.seconds,
                      "rowsPerSecond": round(item.read / item.seconds) if item.seconds else None,
                      "bareRowsPerSecond": round(rows / seconds) if seconds else None})
    return files


def total(summary: LoadSummary, bare: dict[str, tuple[int, float]]) -> dict[str, Any]:
    bare_rows = sum(r for r, _ in bare.values())
    bare_seconds = sum(s for _, s in bare.values())
    return {"read": summary.read, "loaded": summary.loaded, "rejected": summary.rejected,
            "seconds": round(summary.seconds, 1),
            "rowsPerSecond": round(summary.read / summary.seconds),
            "bareRowsPerSecond": round(bare_rows / bare_seconds)}


def run(subjects: int, services: Services, workdir: Path, batch: int,
        bulk: bool) -> dict[str, Any]:
    folder = workdir / f"city-{subjects}"
    started = time.perf_counter()
    generate(folder, subjects=subjects, seed=371400)
    generation = time.perf_counter() - started
    empty(services)
    load = {"start": load_average()}
    phases: dict[str, float] = {}
    loader: BundleLoader
    if bulk:
        loader = BulkLoader(services.settings, services.graph, services.rules,
                            services.privacy, services.normaliser, batch_size=batch,
                            workers=services.settings.load_workers)
    else:
        loader = BundleLoader(services.graph, services.rules, services.privacy,
                              services.normaliser, batch_size=batch,
                              workers=services.settings.load_workers)
    # the bulk path stages shared contacts with the rest; the transactional one derives them
    # in the database afterwards
    summary = loader.load([folder], derive_contacts=bulk)
    if isinstance(loader, BulkLoader):
        t = loader.timings
        phases = {"validate and stage CSV": t["staged"],
                  "neo4j-admin import alone": t["importTool"],
                  "stop, import, start": t["imported"] - t["staged"],
                  "migrations (indexes)": t["migrated"] - t["imported"],
                  "name-resolved rows": t["resolved"] - t["migrated"]}
    else:
        started = time.perf_counter()
        summary.shared_contacts = derive_shared_contacts(
            services.graph, int(services.rules.resolution.contact_group_cap))
        phases["shared contacts"] = time.perf_counter() - started
        summary.seconds += phases["shared contacts"]
    bare = bare_driver(services.graph, folder, batch)
    files = per_file(summary, bare)
    return {
        "date": dt.date.today().isoformat(), "machine": machine(), "subjects": subjects,
        "mode": "bulk" if bulk else "transactional",
        "generationSeconds": round(generation, 1), "files": files,
        "phases": {k: round(v, 1) for k, v in phases.items()},
        "sharedContacts": summary.shared_contacts,
        "total": total(summary, bare),
        "loadAverage": {**load, "end": load_average()},
        "target": 30000,
    }


def run_update(subjects: int, services: Services, workdir: Path, batch: int,
               seed: int, server: str) -> dict[str, Any]:
    """A transactional update of a tenth of the loaded city's size: another seed's city (new
    subjects, plus the agencies every demo city shares; records new or, where the seeds share
    a decision number, updated in place) through `credgraph load`'s transactional path,
    beside the bare driver writing the same rows right after it."""
    folder = workdir / f"update-{subjects}-{seed}"
    generate(folder, subjects=subjects // 10, seed=seed)
    before = services.graph.read("MATCH (n) RETURN count(n) AS n")[0]["n"]
    load = {"start": load_average()}
    loader = BundleLoader(services.graph, services.rules, services.privacy,
                          services.normaliser, batch_size=batch,
                          workers=services.settings.load_workers)
    summary = loader.load([folder], derive_contacts=False)
    bare = bare_driver(services.graph, folder, batch)
    files = per_file(summary, bare)
    return {
        "date": dt.date.today().isoformat(), "machine": machine(), "subjects": subjects,
        "mode": "update", "server": server, "nodesBefore": before, "files": files,
        "phases": {}, "total": total(summary, bare),
        "loadAverage": {**load, "end": load_average()}, "target": "0.5 × bare",
    }


def run_updates(subjects: int, services: Services, workdir: Path,
                batch: int) -> list[dict[str, Any]]:
    """Two updates: the first right after the first load (a server whose caches and compiled
    code have seen only the import and the bare driver's CREATEs), the second on the server
    the first one warmed — how a long-running service meets its daily update, and the same
    footing the bare driver had in both. The target is read on the second."""
    return [run_update(subjects, services, workdir, batch, 371401, "after the first load"),
            run_update(subjects, services, workdir, batch, 371402, "warm")]


def print_table(result: dict[str, Any]) -> None:
    server = f" — server {result['server']}" if "server" in result else ""
    print(f"\nload benchmark ({result['mode']}) — {result['subjects']:,} subjects — "
          f"{result['date']} — {result['machine']}{server} — load average "
          f"{result['loadAverage']['start']} → {result['loadAverage']['end']}")
    print(f"{'file':22}{'rows':>11}{'rejected':>10}{'credgraph rows/s':>18}"
          f"{'bare driver rows/s':>20}")
    for item in result["files"]:
        print(f"{item['file']:22}{item['read']:>11,}{item['rejected']:>10,}"
              f"{item['rowsPerSecond'] or 0:>18,}{item['bareRowsPerSecond'] or 0:>20,}")
    total = result["total"]
    print(f"{'total':22}{total['read']:>11,}{total['rejected']:>10,}"
          f"{total['rowsPerSecond']:>18,}{total['bareRowsPerSecond']:>20,}")
    target = result["target"]
    print(f"target {f'≥ {target:,} rows/s end to end' if isinstance(target, int) else target}; "
          f"credgraph/bare = {total['rowsPerSecond'] / total['bareRowsPerSecond']:.2f}")
    if result["mode"] == "bulk":
        print("(per file: validation and staging only; the import is one step for all files)")
    for phase, seconds in result["phases"].items():
        print(f"  {phase:28}{seconds:>9.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--subjects", type=int, action="append")
    parser.add_argument("--batch", type=int, default=5000)
    parser.add_argument("--port", type=int, default=17797)
    parser.add_argument("--workers", type=int, default=0,
                        help="validation processes (0: one per core, 1: in process)")
    parser.add_argument("--keep-server", action="store_true")
    parser.add_argument("--transactional", action="store_true",
                        help="the MERGE path instead of the bulk import")
    parser.add_argument("--update", action="store_true",
                        help="then a transactional update of a tenth of the city's size")
    args = parser.parse_args()
    scales = args.subjects or [100_000, 1_000_000]
    if args.update and min(scales) < 10 * MIN_SUBJECTS:
        parser.error(f"--update loads a tenth of the city again, and a demo city has at least "
                     f"{MIN_SUBJECTS:,} subjects: --subjects {10 * MIN_SUBJECTS:,} or more")
    home = Path(__file__).resolve().parent / ".neo4j-bench"
    settings = Settings(home=home, bolt_port=args.port, heap="4g", pagecache="6g",
                        neo4j_uri=None, load_workers=args.workers)
    server = LocalNeo4j(settings)
    server.start()
    services = Services.from_settings(settings)
    migrate(services.graph)
    RESULTS.mkdir(exist_ok=True)
    try:
        with tempfile.TemporaryDirectory() as workdir:
            for subjects in scales:
                result = run(subjects, services, Path(workdir), args.batch,
                             bulk=not args.transactional)
                results = [result]
                if args.update:
                    results += run_updates(subjects, services, Path(workdir), args.batch)
                for item in results:
                    print_table(item)
                    name = "-".join(filter(None, (item["mode"], SERVER_FILES.get(
                        item.get("server", "")), str(subjects))))
                    (RESULTS / f"load-{name}.json").write_text(json.dumps(item, indent=2))
    finally:
        services.graph.close()
        if not args.keep_server:
            server.stop()


if __name__ == "__main__":
    main()
