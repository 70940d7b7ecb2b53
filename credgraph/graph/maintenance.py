"""Emptying a database in bounded transactions.

`DETACH DELETE` of a hub (an agency issuing a hundred thousand records) puts all of its
relationships in one transaction, past the memory pool of a city-sized graph; deleting the
relationships first, ten thousand at a time, keeps every transaction small.
"""

from __future__ import annotations

from credgraph.graph.driver import Graph

DELETE_RELATIONSHIPS = """
MATCH ()-[r]->()
CALL (r) { DELETE r } IN TRANSACTIONS OF 10000 ROWS
"""

DELETE_NODES = """
MATCH (n) WHERE none(label IN labels(n) WHERE label IN $keep)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 10000 ROWS
"""


def delete_all(graph: Graph, keep: tuple[str, ...] = ()) -> None:
    """Every relationship, and every node without one of the `keep` labels."""
    graph.run_autocommit(DELETE_RELATIONSHIPS)
    graph.run_autocommit(DELETE_NODES, {"keep": list(keep)})


COUNT_NODES = """
MATCH (n) WHERE none(label IN labels(n) WHERE label IN $exclude)
RETURN count(n) AS n
"""


def count_nodes(graph: Graph, exclude: list[str] | None = None) -> int:
    """Nodes without any of the `exclude` labels (is this database empty of data?)."""
    rows = graph.read(COUNT_NODES, {"exclude": exclude or []}, timeout=300)
    return int(rows[0]["n"]) if rows else 0
