"""Servers the sharing and fault tests need besides the session's Neo4j: a second Neo4j
holding a partner city served by its own credgraph, misbehaving partners, uvicorn in threads
(a pytest plugin of conftest.py).

The second Neo4j starts in a background thread as soon as collection shows that a test needs
it, so that its start overlaps with the session's own; it is small (heap 512m, page cache
256m), keeps its state in its own folder and port, and stops at the end of the session
(CREDGRAPH_TEST_KEEP=1 keeps it running, like the session's). The fault tests kill it and
start it again, which the partner city survives.
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import socket
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import pytest
import uvicorn
from starlette.types import ASGIApp

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import Graph, connect
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import migrate
from credgraph.graph.model import Label
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bundle import BundleLoader
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy
from credgraph.services import Services
from credgraph.settings import Settings
from tests.conftest import ROOT, make_settings
from tests.ids import make_id, make_uscc

T = TypeVar("T")
KEEP = bool(os.environ.get("CREDGRAPH_TEST_KEEP"))
EXTERNAL = bool(os.environ.get("NEO4J_URI"))

# The partner city (滨州, 371600): its own secret, so its opaque person keys differ from ours.
PARTNER_SECRET = "partner-city-secret-not-for-production-987654"
PARTNER_NAME = "德州市公共信用信息平台"  # the key the partner city issued to us
BZ_COMPANY = make_uscc(region="371602", org="MA3D00001")
SHARED_COMPANY = make_uscc(region="371402", org="MA3C00001")  # known to both cities
SHARED_PERSON = make_id(region="371402", born="19800101", seq="123")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Background(Generic[T]):
    """A function run once in a daemon thread; `result()` waits for it and re-raises."""

    def __init__(self, fn: Callable[[], T]) -> None:
        self._value: list[T] = []
        self._error: list[BaseException] = []

        def run() -> None:
            try:
                self._value.append(fn())
            except BaseException as exc:  # handed to the waiting test
                self._error.append(exc)

        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def result(self) -> T:
        self._thread.join()
        if self._error:
            raise self._error[0]
        return self._value[0]


class Served:
    """An ASGI app served by uvicorn in a thread on a loopback port."""

    def __init__(self, app: ASGIApp, port: int | None = None,
                 log_level: str = "warning") -> None:
        self.port = port or free_port()
        self.server = uvicorn.Server(uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level=log_level, lifespan="off",
            timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/graphql"

    def __enter__(self) -> Served:
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"uvicorn did not start on port {self.port}")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(10)


def small_server_settings(home: Path, secret: str) -> Settings:
    """A second local Neo4j: its own folder, the port it already runs on or a free one."""
    conf = home / "neo4j" / "conf" / "neo4j.conf"
    port = None
    if conf.exists():
        for line in conf.read_text().splitlines():
            if line.startswith("server.bolt.listen_address="):
                port = int(line.rsplit(":", 1)[1])
    small = {"home": home, "heap": "512m", "pagecache": "256m", "secret": secret,
             "tx_timeout": 60.0, "start_timeout": 300.0}  # a busy machine is slow to start it
    settings = make_settings(bolt_port=port or free_port(), **small)
    if port and not LocalNeo4j(settings).status().running:
        settings = make_settings(bolt_port=free_port(), **small)
    return settings


def _write_csv(path: Path, headers: list[str], rows: list[list[Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(headers)
        writer.writerows(rows)


def write_partner_bundle(folder: Path, today: dt.date) -> None:
    """滨州's tiny bundle: a local company with a severe listing and penalties in two domains,
    a Dezhou company with one penalty here, and a person on the severe list."""
    day = dt.timedelta(days=1)
    _write_csv(folder / "legal_persons.csv", ["uscc", "name"], [
        [BZ_COMPANY, "滨州市丙化工有限公司"], [SHARED_COMPANY, "德州市甲食品有限公司"]])
    _write_csv(folder / "natural_persons.csv", ["id_number", "name", "address"], [
        [SHARED_PERSON, "张三明", "滨州市滨城区某路2号"]])
    _write_csv(folder / "penalties.csv", [
        "decision_no", "subject_name", "subject_id", "category", "fine", "decided_on",
        "authority", "domain"], [
        ["滨环罚〔2026〕1号", "滨州市丙化工有限公司", BZ_COMPANY, "罚款", "5",
         today - 40 * day, "滨州市生态环境局", "environment"],
        ["滨环罚〔2026〕2号", "滨州市丙化工有限公司", BZ_COMPANY, "罚款", "3",
         today - 20 * day, "滨州市生态环境局", "environment"],
        ["滨税罚〔2026〕1号", "滨州市丙化工有限公司", BZ_COMPANY, "罚款", "1",
         today - 10 * day, "国家税务总局滨州市税务局", "tax"],
        ["滨交罚〔2026〕1号", "德州市甲食品有限公司", SHARED_COMPANY, "罚款", "1",
         today - 5 * day, "滨州市交通运输局", "transport"],
    ])
    _write_csv(folder / "listings.csv", [
        "list_id", "subject_name", "subject_id", "list_type", "listed_on"], [
        ["BZ-L-1", "滨州市丙化工有限公司", BZ_COMPANY, "失信被执行人", today - 60 * day],
        ["BZ-L-2", "张三明", SHARED_PERSON, "严重失信主体", today - 60 * day],
    ])


@dataclass
class PartnerCity:
    """滨州's credgraph, served on a loopback port, and the partner key it issued us."""

    url: str
    key: str
    services: Services


def _start_second_server() -> tuple[Settings, Graph]:
    """The partner city's Neo4j (state in .credgraph-test-partner/), loaded with its bundle."""
    settings = small_server_settings(ROOT / ".credgraph-test-partner", PARTNER_SECRET)
    LocalNeo4j(settings).start()
    graph = connect(settings)
    migrate(graph)
    delete_all(graph, keep=(Label.SCHEMA_VERSION.value,))
    rules = Rules.load()
    with tempfile.TemporaryDirectory() as folder:
        write_partner_bundle(Path(folder), dt.date.today())
        summary = BundleLoader(graph, rules, Privacy(PARTNER_SECRET.encode()),
                               NameNormaliser(rules)).load([Path(folder)])
    assert summary.rejected == 0, summary.rejects
    return settings, graph


_STARTED: list[Background[tuple[Settings, Graph]]] = []
_USERS = {"second_server", "partner_city"}


def pytest_collection_finish(session: pytest.Session) -> None:
    """Start the second server when a collected test needs it, while the session starts its
    own."""
    wanted = {name for item in session.items for name in getattr(item, "fixturenames", ())}
    if not EXTERNAL and not _STARTED and wanted & _USERS:
        _STARTED.append(Background(_start_second_server))


@pytest.fixture(scope="session")
def second_server() -> Iterator[tuple[Settings, Graph]]:
    """A second local Neo4j, small, holding the partner city. The fault tests may kill it
    (and start it again); the partner city's data stays."""
    if EXTERNAL:
        pytest.skip("needs a second local Neo4j; NEO4J_URI points at an external one")
    settings, graph = (_STARTED.pop() if _STARTED else Background(_start_second_server)).result()
    yield settings, graph
    graph.close()
    if not KEEP:
        LocalNeo4j(settings).stop()


@pytest.fixture(scope="session")
def partner_city(second_server: tuple[Settings, Graph]) -> Iterator[PartnerCity]:
    settings, graph = second_server
    services = Services.build(settings, graph, Rules.load(), Privacy(PARTNER_SECRET.encode()))
    key = KeyStore(graph).create(PARTNER_NAME, Role.PARTNER)
    with Served(create_app(services)) as served:
        yield PartnerCity(url=served.url, key=key, services=services)
