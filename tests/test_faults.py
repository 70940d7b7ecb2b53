"""Neo4j dying under the service (SPEC §10), tried by killing the tests' second Neo4j (the
partner city's, whose data stays) during a load while the API serves: `credgraph load` exits 2
with a clear message, queries answer SERVICE_UNAVAILABLE and /readyz 503; once Neo4j is back
the same API process serves again and a re-run of the load completes with nothing lost or
doubled."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from starlette.testclient import TestClient

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import Graph, connect
from credgraph.graph.model import Label
from credgraph.graph.server import LocalNeo4j
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.rules import Rules
from credgraph.schema.names import NameNormaliser
from credgraph.schema.privacy import Privacy
from credgraph.services import Services
from credgraph.settings import Settings
from tests.ids import make_uscc
from tests.servers import PARTNER_SECRET

COUNTS = """
CALL () { MATCH (n) UNWIND labels(n) AS label RETURN label AS name, count(*) AS n
          UNION ALL MATCH ()-[r]->() RETURN type(r) AS name, count(*) AS n }
RETURN name, sum(n) AS n ORDER BY name
"""


def kill(server: LocalNeo4j) -> None:
    """SIGKILL, as an out-of-memory killer or a pulled plug would."""
    pid = server.status().pid
    assert pid is not None
    os.killpg(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while server.status().running and time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
        time.sleep(0.1)
    assert not server.status().running


def counts(graph: Graph) -> dict[str, int]:
    """Loaded data by label: not the schema version, nor the audit log of the API's calls."""
    return {row["name"]: row["n"] for row in graph.read(COUNTS)
            if row["name"] not in (Label.SCHEMA_VERSION.value, Label.AUDIT_EVENT.value)}


def delta(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {k: n - before.get(k, 0) for k, n in after.items() if n != before.get(k, 0)}


def test_neo4j_killed_during_a_load_and_under_the_api(
        second_server: tuple[Settings, Graph], graph: Graph, tmp_path: Path) -> None:
    """One kill (a restart costs time): a load is running and the API is serving."""
    settings, _ = second_server
    server = LocalNeo4j(settings)
    server.start()
    bundle = tmp_path / "city"
    generate(bundle, subjects=1000, seed=11)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEO4J_", "CREDGRAPH_"))}
    env.update(CREDGRAPH_HOME=str(settings.home), CREDGRAPH_SECRET=PARTNER_SECRET,
               CREDGRAPH_BOLT_PORT=str(settings.bolt_port), CREDGRAPH_HEAP=settings.heap,
               CREDGRAPH_PAGECACHE=settings.pagecache, CREDGRAPH_DB_WAIT="2",
               CREDGRAPH_TX_TIMEOUT=str(settings.tx_timeout))
    command = [sys.executable, "-m", "credgraph.cli", "load", str(bundle), "--json",
               "--rejects", str(tmp_path / "rejects.csv")]
    slowly = [*command, "--batch-size", "200"]  # many small transactions: killed mid-way
    query = {"query": "query($id: ID!) { subject(id: $id) { id } }",
             "variables": {"id": make_uscc(org="MA3C00099")}}  # unknown there
    with connect(settings, serving=True) as served:
        services = Services.build(settings, served, Rules.load(),
                                  Privacy(PARTNER_SECRET.encode()))
        headers = {"Authorization": "Bearer "
                   + KeyStore(served).create("desk", Role.INVESTIGATOR)}
        api = TestClient(create_app(services))
        assert api.post("/graphql", json=query, headers=headers).json() == {
            "data": {"subject": None}}
        before = counts(served)
        load = subprocess.Popen(slowly, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        while load.poll() is None and served.read(
                "MATCH (n:Subject) RETURN count(n) AS n")[0]["n"] <= before["Subject"]:
            time.sleep(0.05)
        kill(server)

        out, err = load.communicate(timeout=300)
        assert load.returncode == 2, (out, err)
        assert "error: cannot reach Neo4j at bolt://127.0.0.1:" in err
        assert "Traceback" not in err
        answer = api.post("/graphql", json=query, headers=headers)
        # 503 when the key's own check needs Neo4j (its cache is kept short so a revoked key
        # is refused at once), else a GraphQL error; the code says why either way
        assert answer.status_code in (200, 503)
        assert answer.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
        assert api.get("/readyz").status_code == 503

        server.start()
        # the same process, app and driver serve again by themselves
        assert api.post("/graphql", json=query, headers=headers).json() == {
            "data": {"subject": None}}
        assert api.get("/readyz").status_code == 200
        rerun = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
        assert rerun.returncode == 0, rerun.stderr  # its bad rows are rejected, not a failure
        summary = json.loads(rerun.stdout)
        assert summary["read"] == summary["loaded"] + summary["rejected"]
        after = counts(served)

    # nothing lost, nothing doubled: what the bundle added equals what it adds when loaded
    # once, cleanly, into the session's empty database
    rules = Rules.load()
    BundleLoader(graph, rules, Privacy(PARTNER_SECRET.encode()), NameNormaliser(rules)).load(
        [bundle])
    assert delta(after, before) == counts(graph)
