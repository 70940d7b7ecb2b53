"""The loader's write statements PROFILEd against a loaded city (issue 14: index use).

A small bundle of another seed is validated and prepared exactly as `credgraph load` does;
its rows, file by file in dependency order, go through each write statement of
`loaders/writes.py` and `loaders/subjects.py` with PROFILE inside ONE transaction that is then
rolled back (later files see the earlier ones' subjects; the city is left as it was). Prints,
per statement: rows, db hits per row, the index operators the planner chose and any scan of a
whole label or of all nodes (which a write statement must never need).

    .venv/bin/python -m bench.load --subjects 1000000 --keep-server
    .venv/bin/python -m bench.plans
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

from bench.load import RESULTS, machine
from credgraph.graph.model import RelationType
from credgraph.loaders.bundle import RECORD_FILES, discover, header_test
from credgraph.loaders.demo import generate
from credgraph.loaders.prepare import STICKY_STATUSES, Prepared, Preparer
from credgraph.loaders.readers import read_table
from credgraph.loaders.subjects import UPSERT_LEGAL_PERSONS, UPSERT_NATURAL_PERSONS
from credgraph.loaders.validation import FileShape, Rejection, validate
from credgraph.loaders.writes import (
    OFFICIALS,
    new_record_statement,
    record_statement,
    relation_statement,
)
from credgraph.schema.rows import ROW_MODELS
from credgraph.services import Services
from credgraph.settings import Settings

SCANS = ("AllNodesScan", "NodeByLabelScan", "DirectedAllRelationshipsScan",
         "UndirectedAllRelationshipsScan")


def prepared_rows(folder: Path, preparer: Preparer,
                  per_file: int) -> list[tuple[str, list[Prepared]]]:
    out = []
    for kind, path in discover([folder]):
        table = read_table(path, header_test(ROW_MODELS[kind]))
        shape = FileShape.of(kind, table.headers)
        rows = [row for _, row in zip(range(per_file * 2), table.rows, strict=False)]
        found = [o.result for o in validate(preparer, shape, rows)
                 if not isinstance(o.result, Rejection) and o.result.resolve is None]
        out.append((kind, found[:per_file]))
    return out


def statements(kind: str, prepared: list[Prepared]) -> list[tuple[str, str, list[dict[str, Any]],
                                                                   dict[str, Any]]]:
    rows = [p.data for p in prepared]
    if kind == "legal_persons":
        return [(kind, UPSERT_LEGAL_PERSONS, rows, {})]
    if kind == "natural_persons":
        return [(kind, UPSERT_NATURAL_PERSONS, rows, {})]
    if kind == "officials":
        return [(kind, OFFICIALS, rows, {})]
    if kind == "relations":
        by_type: dict[RelationType, list[dict[str, Any]]] = {}
        for p in prepared:
            assert p.relation is not None
            by_type.setdefault(p.relation, []).append(p.data)
        return [(f"relations {rtype.value}", relation_statement(rtype), batch, {})
                for rtype, batch in by_type.items()]
    # brand-new records as a load CREATEs them (their numbers made unique: demo cities of
    # different seeds share decision numbers), then the same rows again as a reload MERGEs them
    record = RECORD_FILES[kind]
    fresh = [{**row, "id": f"{row['id']} (plans)"} for row in rows]
    return [(f"{kind} (new)", new_record_statement(record), fresh, {}),
            (f"{kind} (again)", record_statement(record), fresh,
             {"sticky": STICKY_STATUSES, "today": dt.date.today()})]


def walk(plan: Any) -> tuple[int, list[str]]:
    hits, operators = plan.get("dbHits", 0), [plan["operatorType"].split("@")[0]]
    for child in plan.get("children", []):
        more, names = walk(child)
        hits += more
        operators += names
    return hits, operators


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=17797)
    parser.add_argument("--home", type=Path, default=Path(__file__).resolve().parent
                        / ".neo4j-bench", help="the Neo4j home of a loaded city")
    parser.add_argument("--rows", type=int, default=500, help="rows per file")
    args = parser.parse_args()
    services = Services.from_settings(Settings(home=args.home, bolt_port=args.port, neo4j_uri=None))
    graph = services.graph
    subjects = graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    preparer = Preparer(services.rules, services.privacy, services.normaliser, dt.date.today())
    report: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir) / "sample"
        generate(folder, subjects=2000, seed=99)
        batches = prepared_rows(folder, preparer, args.rows)
    with graph.driver.session(database=graph.database) as session:
        tx = session.begin_transaction()
        try:
            for kind, prepared in batches:
                for name, cypher, rows, extra in statements(kind, prepared):
                    summary = tx.run("PROFILE " + cypher, {**extra, "rows": rows}).consume()
                    hits, operators = walk(summary.profile)
                    report.append({
                        "statement": name, "rows": len(rows),
                        "dbHitsPerRow": round(hits / max(len(rows), 1), 1),
                        "indexOperators": sorted({o for o in operators if "Index" in o}),
                        "scans": sorted({o for o in operators if o in SCANS}),
                    })
        finally:
            tx.rollback()
    graph.close()
    print(f"\nwrite statements PROFILEd — city of {subjects:,} subjects — "
          f"{dt.date.today()} — {machine()}")
    print(f"{'statement':34}{'rows':>6}{'db hits/row':>13}  index operators / scans")
    for row in report:
        scans = f"  SCANS: {', '.join(row['scans'])}" if row["scans"] else ""
        print(f"{row['statement']:34}{row['rows']:>6}{row['dbHitsPerRow']:>13}  "
              f"{', '.join(row['indexOperators'])}{scans}")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"plans-{subjects}.json").write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
