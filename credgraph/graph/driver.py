"""Driver and session handling: managed transactions only, so the same code runs against the
local server and against a routed cluster (`neo4j://`)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, LiteralString, TypeVar, cast

import neo4j
import neo4j.exceptions
import neo4j.time

from credgraph.settings import Settings

T = TypeVar("T")

Row = dict[str, Any]

# Values that `Record.data()` hands back unchanged.
_LEAVES = frozenset({str, int, float, bool, type(None), neo4j.time.Date, neo4j.time.DateTime,
                     neo4j.time.Time, neo4j.time.Duration})


class _GraphValue(Exception):
    """A node, relationship, path or other value that `Record.data()` must convert."""


def _plain(value: Any) -> Any:
    kind = type(value)
    if kind in _LEAVES:
        return value
    if kind is list:
        return [_plain(item) for item in value]
    if kind is dict:
        return {key: _plain(item) for key, item in value.items()}
    raise _GraphValue


def _data(record: neo4j.Record) -> Row:
    """`record.data()`, without its generic walk where the values are maps, lists and
    scalars — as every projection is. That walk (an abstract-class check per value) cost
    more than the query for an answer of a few hundred values: 1.5 ms for 70 small maps."""
    try:
        return {key: _plain(value) for key, value in record.items()}
    except _GraphValue:
        return record.data()


def _rows(result: neo4j.Result) -> list[Row]:
    return [_data(record) for record in result]


def _text(cypher: str) -> LiteralString:
    # Cypher text is a module constant or spliced only from the declared model (an
    # allow-list); values always travel as parameters.
    return cast(LiteralString, cypher)


class Graph:
    """A driver bound to one database, with a Cypher time limit on every transaction;
    `retry_time` is how long an auto-commit statement is retried while Neo4j cannot be
    reached (the driver's own retry time of managed transactions, `connect` sets both)."""

    def __init__(self, driver: neo4j.Driver, database: str, tx_timeout: float,
                 retry_time: float = 0.0) -> None:
        self.driver = driver
        self.database = database
        self.tx_timeout = tx_timeout
        self.retry_time = retry_time

    def close(self) -> None:
        self.driver.close()

    def __enter__(self) -> Graph:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _work(
        self, cypher: str, params: Mapping[str, Any] | None, timeout: float | None
    ) -> Callable[[neo4j.ManagedTransaction], list[Row]]:
        @neo4j.unit_of_work(timeout=timeout if timeout is not None else self.tx_timeout)
        def work(tx: neo4j.ManagedTransaction) -> list[Row]:
            return _rows(tx.run(_text(cypher), dict(params or {})))

        return work

    def read(
        self, cypher: str, params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[Row]:
        """Run a read query in a managed, routed read transaction."""
        return self._execute(cypher, params, timeout, neo4j.RoutingControl.READ)

    def _execute(self, cypher: str, params: Mapping[str, Any] | None, timeout: float | None,
                 routing: neo4j.RoutingControl) -> list[Row]:
        """One statement in a managed transaction (retried, routed) whose BEGIN travels with
        the statement: `execute_read` waits for BEGIN's answer first, a round trip more on
        every call. No bookmarks chain the calls, as with a session per call."""
        query = neo4j.Query(_text(cypher),
                            timeout=timeout if timeout is not None else self.tx_timeout)
        return self.driver.execute_query(
            query, dict(params or {}), routing_=routing, database_=self.database,
            bookmark_manager_=None, result_transformer_=_rows)

    def read_rows(
        self, cypher: str, params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[Row]:
        """A read whose query ends in `RETURN collect(…) AS rows`: one Bolt record instead of
        hundreds. The driver receives records one message at a time (≈ 35 µs each here), so
        a 200-row answer costs ~8 ms as records and ~1 ms as one list."""
        found = self.read(cypher, params, timeout)
        return list(found[0]["rows"]) if found else []

    def write(
        self, cypher: str, params: Mapping[str, Any] | None = None,
        timeout: float | None = None,
    ) -> list[Row]:
        return self._execute(cypher, params, timeout, neo4j.RoutingControl.WRITE)

    def run_autocommit(self, cypher: str, params: Mapping[str, Any] | None = None,
                       timeout: float = 3600.0) -> None:
        """For `CALL { … } IN TRANSACTIONS`, which must run outside a managed transaction;
        bulk work, so its time limit is an hour unless given (not the server's default).

        The driver retries managed transactions only: a statement here failed at once when
        Neo4j restarted — a load that had ridden out the restart in its writes ended exit 2
        in its shared-contacts derivation. A failure the driver calls retryable (unreachable,
        a transient error) runs the statement again for up to `retry_time` seconds, so a
        statement given here must be safe to run again after a part of it was committed (a
        DELETE, a MERGE), as every caller's is."""
        query = neo4j.Query(_text(cypher), timeout=timeout)
        deadline = time.monotonic() + self.retry_time
        delay = min(1.0, self.retry_time / 5) or 0.2
        while True:
            try:
                with self.driver.session(database=self.database) as session:
                    session.run(query, dict(params or {})).consume()
                return
            except (neo4j.exceptions.Neo4jError, neo4j.exceptions.DriverError) as exc:
                if not exc.is_retryable() or time.monotonic() + delay > deadline:
                    raise
            time.sleep(delay)
            delay = min(delay * 2, 5.0)

    def write_batches(
        self, cypher: str, rows: Iterable[Mapping[str, Any]], batch_size: int = 5000,
        timeout: float | None = 300.0, extra: Mapping[str, Any] | None = None,
    ) -> int:
        """`UNWIND $rows` writes, one managed transaction per batch; returns rows written."""
        written = 0
        with self.driver.session(database=self.database) as session:
            for batch in batched(rows, batch_size):
                params = {**(extra or {}), "rows": batch}
                session.execute_write(self._work(cypher, params, timeout))
                written += len(batch)
        return written


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of `size` items (the last may be shorter): write batches, validation chunks."""
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def connect(settings: Settings, serving: bool = False) -> Graph:
    """A `Graph` for the configured server: external (`NEO4J_URI`) or the local one. A
    serving API gives up on an unreachable server after `api_db_wait` seconds so that a
    caller hears SERVICE_UNAVAILABLE at once; batch work rides out a restart (`db_wait`)."""
    if settings.external:
        password = settings.neo4j_password or ""
    else:
        from credgraph.graph.server import LocalNeo4j

        password = LocalNeo4j(settings).password()
    wait = settings.api_db_wait if serving else settings.db_wait
    driver = neo4j.GraphDatabase.driver(
        settings.bolt_uri, auth=(settings.neo4j_user, password),
        max_connection_pool_size=50, connection_acquisition_timeout=30.0,
        connection_timeout=wait, max_transaction_retry_time=wait,
        # retries after 0.2, 0.6, 1.4 s … so that the last one ends near `wait`, not 2 s later
        initial_retry_delay=min(1.0, wait / 5),
        notifications_min_severity="OFF",
    )
    return Graph(driver, settings.neo4j_database, settings.tx_timeout, retry_time=wait)
