"""The managed local server: idempotent start, stale pid, busy port, clean stop."""

from __future__ import annotations

import datetime as dt
import os
import socket
import stat

import pytest

from credgraph.graph.driver import Graph
from credgraph.graph.migrations import CURRENT_VERSION, MIGRATIONS, migrate, schema_version
from credgraph.graph.server import LocalNeo4j, ServerError, ServerStatus
from credgraph.settings import Settings
from tests.conftest import make_settings

pytestmark = pytest.mark.skipif(bool(os.environ.get("NEO4J_URI")),
                                reason="an external Neo4j is in use")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_second_start_reports_the_running_server(server: LocalNeo4j) -> None:
    before = server.status()
    again = server.start()
    assert before.running and again.running
    assert again.pid == before.pid
    assert again.detail == "already running"


def test_password_file_is_owner_only(server: LocalNeo4j) -> None:
    assert stat.S_IMODE(server.password_file.stat().st_mode) == 0o600


def test_stale_pid_file_is_detected(tmp_path) -> None:  # type: ignore[no-untyped-def]
    local = LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port()))
    local.home.mkdir(parents=True)
    local.pid_file.write_text("999999")
    status = local.status()
    assert not status.running
    assert not local.pid_file.exists()
    assert local.stop() is False


def test_busy_port_is_a_clear_error(tmp_path, settings: Settings,  # type: ignore[no-untyped-def]
                                    server: LocalNeo4j) -> None:
    other = LocalNeo4j(make_settings(home=tmp_path, bolt_port=settings.bolt_port))
    with pytest.raises(ServerError, match=f"port {settings.bolt_port}.*in use"):
        other.start()


def test_a_java_that_is_not_there_is_a_clear_error(tmp_path) -> None:  # type: ignore[no-untyped-def]
    # CREDGRAPH_JAVA naming no program (or no `java` on PATH) was a Python traceback
    # (FileNotFoundError from subprocess) out of `credgraph db start`.
    local = LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port(),
                                     java=str(tmp_path / "no-such-java")))
    with pytest.raises(ServerError, match="CREDGRAPH_JAVA"):
        local.start()
    assert not local.pid_file.exists()


def test_start_stop_status_of_a_second_server(tmp_path, server: LocalNeo4j) -> None:  # type: ignore[no-untyped-def]
    local = LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port(), heap="512m",
                                     pagecache="128m"))
    started = local.start()
    try:
        assert started.running and started.detail == "started"
        assert local.status().running
        assert (local.conf_dir / "neo4j.conf").read_text().count("127.0.0.1") >= 2
        assert "server.http.enabled=false" in (local.conf_dir / "neo4j.conf").read_text()
    finally:
        assert local.stop() is True
    assert not local.status().running
    assert local.stop() is False


def test_a_home_with_chinese_characters_and_a_space_keeps_the_store_in_it(
        tmp_path, server: LocalNeo4j) -> None:  # type: ignore[no-untyped-def]
    """neo4j.conf held the directories as absolute paths, and Neo4j reads the file as
    ISO-8859-1: under CREDGRAPH_HOME=…/信用 中心/ the store and logs went to a mangled folder
    beside it (…/u00E4/u00BF/…), so `db reset` deleted an empty data folder and reported
    "database reset" with every node, key included, still there."""
    home = tmp_path / "信用 中心" / "state"
    local = LocalNeo4j(make_settings(home=home, bolt_port=_free_port(), heap="512m",
                                     pagecache="128m"))
    local.start()
    try:
        assert (local.conf_dir / "neo4j.conf").read_text().isascii()
        assert (local.data_dir / "databases" / "neo4j").is_dir()
        assert (local.logs_dir / "neo4j.log").is_file()
    finally:
        local.stop()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["信用 中心"]


def test_migrations_applied_twice(graph: Graph) -> None:
    assert migrate(graph) == []  # already current: nothing to apply
    assert schema_version(graph) == CURRENT_VERSION
    names = {row["name"] for row in graph.read("SHOW CONSTRAINTS YIELD name RETURN name")}
    assert {"subject_id", "penalty_id", "listing_id"} <= names
    indexes = {row["name"]: row for row in graph.read(
        "SHOW INDEXES YIELD name, type, options RETURN name, type, options")}
    assert indexes["subject_names"]["type"] == "FULLTEXT"
    assert indexes["subject_names"]["options"]["indexConfig"]["fulltext.analyzer"] == "cjk"
    assert "subject_region" in indexes


def test_migrate_from_scratch_is_idempotent(graph: Graph) -> None:
    graph.write("MATCH (v:SchemaVersion) DELETE v")
    assert schema_version(graph) == 0
    applied = migrate(graph)
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]

    assert applied[-1].version == CURRENT_VERSION

    assert schema_version(graph) == CURRENT_VERSION
    assert migrate(graph) == []


def test_a_migration_racing_another_one_succeeds(graph: Graph, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two commands started together on a new database both migrated it: both `CREATE INDEX …
    IF NOT EXISTS` passed the check, and the later commit was refused with
    EquivalentSchemaRuleAlreadyExists — one of two concurrent loads ended exit 2 (found by a
    held-out concurrency review; reproduced by two threads migrating a database whose indexes
    were dropped). Here the server answers as it does to the slower of the two."""
    import neo4j

    graph.write("MATCH (v:SchemaVersion) DELETE v")
    real = Graph.write
    refused: list[str] = []

    def racing(self: Graph, cypher: str, params=None, timeout=None):  # type: ignore[no-untyped-def]
        if cypher.startswith("CREATE") and len(refused) < 3:
            real(self, cypher, params, timeout)  # the other migration's creation
            refused.append(cypher)
            raise neo4j.exceptions.Neo4jError._hydrate_neo4j(
                code="Neo.ClientError.Schema.EquivalentSchemaRuleAlreadyExists",
                message="An equivalent index already exists")
        return real(self, cypher, params, timeout)

    monkeypatch.setattr(Graph, "write", racing)
    applied = migrate(graph)
    assert len(refused) == 3
    assert [m.version for m in applied] == [m.version for m in MIGRATIONS]
    assert schema_version(graph) == CURRENT_VERSION
    monkeypatch.undo()
    from credgraph.graph.migrations import _create

    with pytest.raises(neo4j.exceptions.ClientError):  # any other refusal still fails
        _create(graph, "CREATE INDEX broken IF NOT EXISTS FOR (n:Subject) ON (n.`")


def test_indexes_no_query_reads_are_dropped(graph: Graph) -> None:
    """A database migrated before migration 7 keeps the indexes migration 1 used to make until
    it runs: then of the record property indexes only the penalties' date and status (the
    escalation run's starting points) stay, and subjects keep region and core name."""
    for label, prop in (("License", "domain"), ("Penalty", "domain"), ("Subject", "kind")):
        graph.write(f"CREATE INDEX {label.lower()}_{prop} IF NOT EXISTS "
                    f"FOR (n:{label}) ON (n.{prop})")
    graph.write("MATCH (v:SchemaVersion) SET v.applied = [x IN v.applied WHERE x <> 7], "
                "v.version = 6")
    assert [m.version for m in migrate(graph)] == [7]
    names = {row["name"] for row in graph.read("SHOW INDEXES YIELD name RETURN name")}
    assert {"penalty_date", "penalty_status", "penalty_id", "license_id", "subject_region",
            "subject_namenorm", "subject_names"} <= names
    assert not {"license_domain", "penalty_domain", "license_date", "commitment_status",
                "subject_kind"} & names
    assert schema_version(graph) == CURRENT_VERSION


def test_migration_10_puts_the_folded_core_name_into_the_full_text_index(graph: Graph) -> None:
    """A store migrated before migration 10 has the full-text index on the name as written
    only; the migration makes it again over the name and the folded core."""
    def fields() -> list[str]:
        return graph.read("SHOW INDEXES YIELD name, properties WHERE name = 'subject_names' "
                          "RETURN properties")[0]["properties"]

    assert fields() == ["name", "nameNorm"]
    graph.write("DROP INDEX subject_names")
    graph.write("CREATE FULLTEXT INDEX subject_names FOR (n:Subject) ON EACH [n.name] "
                "OPTIONS {indexConfig: {`fulltext.analyzer`: 'cjk'}}")
    graph.write("MATCH (v:SchemaVersion) SET v.applied = [x IN v.applied WHERE x <> 10], "
                "v.version = 9")
    assert schema_version(graph) == 9
    assert [m.version for m in migrate(graph)] == [10]
    assert fields() == ["name", "nameNorm"]
    assert schema_version(graph) == CURRENT_VERSION


def test_a_held_monitoring_lock_of_the_previous_version_survives_migration_8(
        graph: Graph) -> None:
    """Before migration 8 monitoring's lock was a :MonitorLock node; the migration dropped it
    with its holder, so a run the earlier version left killed stayed RUNNING for ever in
    `monitor status` (no run took its lock over), and a run of the earlier version still
    going did not keep a new one out. Its holder now holds the new lock."""
    from credgraph.queries.monitoring import MonitorRun
    from credgraph.rules import Rules

    graph.write("MATCH (l:RunLock) DELETE l")
    graph.write("DROP CONSTRAINT runlock_id IF EXISTS")
    graph.write("CREATE CONSTRAINT monitorlock_id IF NOT EXISTS "
                "FOR (n:MonitorLock) REQUIRE n.id IS UNIQUE")
    graph.write("CREATE (:MonitorLock {id: 'monitor', owner: 'MR-old', host: $host, pid: $pid, "
                "since: datetime(), expiresAt: datetime() + duration('PT1H')})",
                {"host": socket.gethostname(), "pid": 2 ** 22 + 12345})
    graph.write("CREATE (:MonitorRun {id: 'MR-old', status: 'RUNNING'})")
    graph.write("MATCH (v:SchemaVersion) SET v.applied = [x IN v.applied WHERE x <> 8], "
                "v.version = 7")
    assert [m.version for m in migrate(graph)] == [8]
    assert graph.read("MATCH (l:MonitorLock) RETURN count(l) AS n") == [{"n": 0}]
    assert "monitorlock_id" not in {row["name"] for row in graph.read(
        "SHOW CONSTRAINTS YIELD name RETURN name")}
    assert graph.read("MATCH (l:RunLock {id: 'monitoring'}) RETURN l.owner AS owner") == [
        {"owner": "MR-old"}]
    # the killed run's lock is taken over by the next run, which says the run crashed
    MonitorRun(graph, Rules.load(), dt.date(2026, 6, 30)).run()
    assert graph.read("MATCH (r:MonitorRun {id: 'MR-old'}) RETURN r.status AS s") == [
        {"s": "CRASHED"}]
    assert graph.read("MATCH (l:RunLock {id: 'monitoring'}) RETURN l.owner AS owner") == [
        {"owner": None}]
    assert schema_version(graph) == CURRENT_VERSION


def test_generated_password_never_looks_like_an_option(tmp_path) -> None:  # type: ignore[no-untyped-def]
    for index in range(200):
        local = LocalNeo4j(make_settings(home=tmp_path / str(index), bolt_port=_free_port()))
        assert not local.password().startswith("-")
        assert len(local.password()) >= 24


def test_two_processes_fetching_the_jars_at_once_both_succeed(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """`make run` and `make test` started together on a fresh machine both resolve Neo4j: they
    once shared one staging folder, so the slower one found it renamed away (a traceback) after
    deleting the faster one's finished jars. Now one fetches while the other waits for it."""
    import threading

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls"
    mvn = bin_dir / "mvn"  # a stand-in for Maven: slow, writes one jar into -DoutputDirectory
    mvn.write_text(
        "#!/bin/sh\n"
        f"echo call >> {calls}\n"
        "for arg in \"$@\"; do case $arg in -DoutputDirectory=*) out=${arg#*=};; esac; done\n"
        "sleep 1\nmkdir -p \"$out\" && echo jar > \"$out/neo4j.jar\"\n")
    mvn.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    cache = tmp_path / "cache"
    results: list[object] = []

    def fetch(index: int) -> None:
        settings = Settings(home=tmp_path / f"home{index}", jar_cache=cache)
        try:
            results.append(LocalNeo4j(settings).ensure_jars(log=False))
        except Exception as error:  # the test reports it
            results.append(error)

    threads = [threading.Thread(target=fetch, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    lib = cache / Settings().neo4j_version / "lib"
    assert results == [lib, lib]
    assert (lib / ".complete").exists() and (lib / "neo4j.jar").exists()
    assert calls.read_text().count("call") == 1  # the second found the first's jars


def _interrupted_bulk(local: LocalNeo4j, pid: int) -> tuple:  # type: ignore[type-arg]
    """The folders a bulk load killed during its import leaves: the store moved aside, a
    partial one in its place, and the marker naming them."""
    databases = local.data_dir / "databases" / "neo4j"
    backup = databases.with_name("neo4j.before-bulk")
    backup.mkdir(parents=True)
    (backup / "neostore").write_text("before")
    databases.mkdir()
    (databases / "half-imported").write_text("partial")
    local.mark_bulk([(databases, backup)])
    note = local.bulk_marker.read_text()
    local.bulk_marker.write_text(note.replace(f'"pid": {os.getpid()}', f'"pid": {pid}'))
    return databases, backup


def test_a_start_after_a_killed_bulk_import_puts_the_previous_database_back(
        tmp_path, caplog) -> None:  # type: ignore[no-untyped-def]
    """A bulk load killed while the server was stopped for its import left the store moved
    aside: the next start made an empty database and every API key was gone, without a word
    (found by a held-out operations review: kill -9 of `load --bulk` mid-import, then
    `credgraph db start`). The start now puts the previous database back and says so."""
    import subprocess

    local = LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port()))
    gone = subprocess.Popen(["true"])
    gone.wait()
    databases, backup = _interrupted_bulk(local, gone.pid)
    with caplog.at_level("WARNING", logger="credgraph.server"):
        local.recover_bulk()
    assert (databases / "neostore").read_text() == "before"
    assert not (databases / "half-imported").exists() and not backup.exists()
    assert not local.bulk_marker.exists()
    assert "bulk load was interrupted" in caplog.text
    local.recover_bulk()  # nothing left to do
    assert (databases / "neostore").read_text() == "before"


def test_no_start_under_a_bulk_import_that_still_runs(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A command that starts the server (a cron'd `monitor run`, `escalate`) while a bulk
    load imports with the server stopped would start it on the store being written."""
    import subprocess

    local = LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port()))
    with subprocess.Popen(["sleep", "30"]) as importing:
        _, backup = _interrupted_bulk(local, importing.pid)
        with pytest.raises(ServerError, match=f"a bulk load \\(pid {importing.pid}\\) is "
                                              "importing"):
            local.start()
        importing.kill()
    assert backup.exists() and local.bulk_marker.exists()  # left for the next start


def test_two_starts_at_once_launch_one_server(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """Two commands that start the server at once (a cron'd `monitor run` and a `load`, `db
    start` twice) both found it stopped and both launched a JVM on the same home; the pid file
    named the last one written — at times the JVM that lost the port and exited —, so `db
    status` said "not running" and `db stop` "was not running" while a server ran on (found
    by a held-out concurrency review: two loads at once on a fresh CREDGRAPH_HOME). One start
    at a time now: the second finds the first's server and waits for it."""
    import subprocess
    import sys
    import threading
    import time

    java = tmp_path / "java"  # a stand-in JVM that stays up, its arguments in its command line
    java.write_text(f"#!/bin/sh\nexec {sys.executable} -c 'import time; time.sleep(60)' \"$@\"\n")
    java.chmod(0o755)
    local = LocalNeo4j(make_settings(home=tmp_path / "home", bolt_port=_free_port(),
                                     java=str(java)))
    monkeypatch.setattr(LocalNeo4j, "ensure_jars", lambda self, log=True: tmp_path)
    # the slow first start (the initial password is set by a JVM of its own) is the window
    monkeypatch.setattr(LocalNeo4j, "_set_initial_password", lambda self, lib: time.sleep(1))
    monkeypatch.setattr(LocalNeo4j, "_bolt_ready", lambda self: True)
    results: list[ServerStatus | Exception] = []

    def start() -> None:
        try:
            results.append(LocalNeo4j(local.settings).start())
        except Exception as error:  # the test reports it
            results.append(error)

    threads = [threading.Thread(target=start) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
        launched = subprocess.run(["pgrep", "-f", "--", f"--home-dir={local.home}"],
                                  capture_output=True, text=True).stdout.split()
        assert len(launched) == 1, launched
        statuses = [r for r in results if isinstance(r, ServerStatus)]
        assert len(statuses) == 2, results
        assert sorted(r.detail for r in statuses) == ["already running", "started"]
        assert {r.pid for r in statuses} == {int(launched[0])}
        assert local.status().pid == int(launched[0])
    finally:
        for pid in subprocess.run(["pgrep", "-f", "--", f"--home-dir={local.home}"],
                                  capture_output=True, text=True).stdout.split():
            os.kill(int(pid), 9)


def test_status_names_a_bulk_import_killed_with_the_server_stopped(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """After kill -9 of `load --bulk` during its import, `db status` said only "neo4j not
    running" — nothing of the database moved aside nor of what puts it back (found by a
    held-out crash review). It now says so, and names a bulk load that still imports."""
    import subprocess

    from click.testing import CliRunner

    from credgraph.cli import main

    settings = make_settings(home=tmp_path, bolt_port=_free_port())
    local = LocalNeo4j(settings)
    env: dict[str, str | None] = {
        "CREDGRAPH_HOME": str(tmp_path), "CREDGRAPH_BOLT_PORT": str(settings.bolt_port),
        "CREDGRAPH_SECRET": settings.secret, "NEO4J_URI": None}
    gone = subprocess.Popen(["true"])
    gone.wait()
    _interrupted_bulk(local, gone.pid)
    result = CliRunner().invoke(main, ["db", "status"], env=env)
    assert result.exit_code == 1
    assert "a bulk load was interrupted during its import: `credgraph db start` puts" in (
        result.output)
    with subprocess.Popen(["sleep", "30"]) as importing:
        _interrupted_bulk(LocalNeo4j(make_settings(home=tmp_path / "b",
                                                   bolt_port=_free_port())), importing.pid)
        env["CREDGRAPH_HOME"] = str(tmp_path / "b")
        result = CliRunner().invoke(main, ["db", "status"], env=env)
        importing.kill()
    assert f"a bulk load (pid {importing.pid}) is importing" in result.output
    assert LocalNeo4j(make_settings(home=tmp_path, bolt_port=_free_port())).bulk_marker.exists()
