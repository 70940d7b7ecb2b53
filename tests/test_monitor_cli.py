"""`credgraph watch` and `credgraph monitor run` as an operator runs them: real processes
against the test Neo4j, killed half-way (SIGKILL) and run twice at once."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.server import LocalNeo4j
from credgraph.queries import alerts
from credgraph.queries.monitoring import Evaluator, MonitorRun
from credgraph.rules import Rules
from credgraph.schema.identifiers import parse_id_number
from credgraph.services import Services
from credgraph.settings import Settings
from tests.conftest import TEST_SECRET
from tests.graphs import AS_OF, record, relate, subject
from tests.ids import make_id, make_uscc, raw_id_numbers

WATCHED = 12


@pytest.fixture()
def env(settings: Settings) -> dict[str, str]:
    """What a `credgraph` process needs to reach the test server."""
    password = (os.environ.get("NEO4J_PASSWORD", "") if settings.external
                else LocalNeo4j(settings).password())
    return {**os.environ, "NEO4J_URI": settings.bolt_uri, "NEO4J_USER": settings.neo4j_user,
            "NEO4J_PASSWORD": password, "NEO4J_DATABASE": settings.neo4j_database,
            "CREDGRAPH_SECRET": TEST_SECRET, "CREDGRAPH_HOME": str(settings.home)}


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "credgraph.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)


def start(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "credgraph.cli", *args], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def count(graph: Graph, cypher: str) -> int:
    return int(graph.read(cypher)[0]["n"])


ALERTS = "MATCH (a:Alert) RETURN count(a) AS n"
MOVED_STATES = "MATCH (s:WatchState) WHERE s.score > 0 RETURN count(s) AS n"


@pytest.fixture()
def busy(graph: Graph, rules: Rules) -> set[str]:
    """Twelve watched companies, their state noted by a first run; then three listings on
    each one's majority shareholder: the next run raises 36 NEAR_RECORD and 12 RISK_RISE
    alerts and moves 12 states. Returns the fingerprints one clean run would store."""
    for index in range(WATCHED):
        subject(graph, f"W{index}", f"德州被关注{index}有限公司")
        subject(graph, f"N{index}", f"德州股东{index}有限公司")
        relate(graph, f"N{index}", f"W{index}", "SHAREHOLDER", ratio=0.6)
    alerts.watch(graph, alerts.CITY, [f"W{i}" for i in range(WATCHED)], "test")
    assert MonitorRun(graph, rules, AS_OF).run().total == 0
    for index in range(WATCHED):
        for number in range(3):
            record(graph, f"N{index}", "Listing", f"L{index}-{number}", listType="失信被执行人",
                   severity="严重", date=AS_OF)
    hits = Evaluator(graph, rules, AS_OF).evaluate().hits
    assert len(hits) == WATCHED * 4
    return {hit.fingerprint for hit in hits}


def wait_until(condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the run never reached the point to kill it"
        time.sleep(0.02)


@pytest.mark.parametrize("phase", ["alerts", "states"])
def test_killed_run_rerun_ends_like_one_clean_run(busy: set[str], graph: Graph,
                                                  env: dict[str, str], rules: Rules,
                                                  phase: str) -> None:
    process = start(env, "monitor", "run", "--as-of", AS_OF.isoformat(), "--batch-size", "1",
                    "--pause", "0.1")
    if phase == "alerts":
        wait_until(lambda: count(graph, ALERTS) >= 3, process)
    else:
        wait_until(lambda: count(graph, MOVED_STATES) >= 1, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    written, moved = count(graph, ALERTS), count(graph, MOVED_STATES)
    if phase == "alerts":
        assert 3 <= written < len(busy) and moved == 0
    else:
        assert written == len(busy) and 1 <= moved < WATCHED

    again = cli(env, "monitor", "run", "--as-of", AS_OF.isoformat(), "--json")
    assert again.returncode == 0, again.stderr
    counts = json.loads(again.stdout)
    assert counts["total"] == len(busy)
    # what the killed run stored it never delivered: new to the re-run (its JSON lines say
    # so), not 'updated' — a consumer reading new alerts lost them. (A RISK_RISE whose state
    # the killed run had moved is not raised again: the rise is behind the state.)
    if phase == "alerts":
        assert counts["new"] == len(busy)
    else:
        assert counts["new"] == len(busy) - moved
    stored = graph.read("MATCH (a:Alert) RETURN a.fingerprint AS f")
    assert sorted(r["f"] for r in stored) == sorted(busy)  # nothing twice, nothing missing
    assert count(graph, MOVED_STATES) == WATCHED
    assert graph.read("MATCH (r:MonitorRun) WHERE r.status = 'CRASHED' RETURN count(r) AS n") \
        == [{"n": 1}]
    assert MonitorRun(graph, rules, AS_OF).run().counts() == {
        "new": 0, "updated": len(busy) - WATCHED, "total": len(busy)}


def test_two_runs_at_once_one_writes(busy: set[str], graph: Graph,
                                     env: dict[str, str]) -> None:
    runs = [start(env, "monitor", "run", "--as-of", AS_OF.isoformat(), "--json",
                  "--batch-size", "4", "--pause", "0.2") for _ in range(2)]
    outcomes = sorted((run.wait(timeout=300), *run.communicate()) for run in runs)
    (ok, out, _), (refused, _, message) = outcomes
    assert (ok, refused) == (0, 3)
    assert json.loads(out) == {"new": len(busy), "updated": 0, "total": len(busy)}
    assert "another monitoring run holds the lock" in message
    assert sorted(r["f"] for r in graph.read("MATCH (a:Alert) RETURN a.fingerprint AS f")) \
        == sorted(busy)


def test_sigterm_stops_the_loop_cleanly(busy: set[str], graph: Graph,
                                        env: dict[str, str]) -> None:
    process = start(env, "monitor", "run", "--every", "15m", "--json")
    wait_until(lambda: count(graph, "MATCH (r:MonitorRun {status: 'COMPLETED'}) "
                                    "RETURN count(r) AS n") == 2, process)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "monitoring stopped" in err
    assert list(json.loads(out)) == ["new", "updated", "total"]
    assert graph.read("MATCH (l:RunLock {id: 'monitoring'}) RETURN l.owner AS owner") == [
        {"owner": None}]


def test_watch_and_run_from_the_command_line(graph: Graph, services: Services,
                                             env: dict[str, str], tmp_path: Path) -> None:
    company, other = make_uscc(org="MA3C0000W"), make_uscc(org="MA3C0000X")
    number = make_id()
    broken = number[:-1] + ("1" if number[-1] != "1" else "2")
    person = services.privacy.person_key(parse_id_number(number))
    subject(graph, company, "德州甲公司")
    subject(graph, person, "张三明", "NATURAL_PERSON")
    record(graph, person, "Listing", "L-1", listType="失信被执行人", date=AS_OF)
    relate(graph, person, company, "LEGAL_REPRESENTATIVE")
    ids = tmp_path / "watch.csv"
    ids.write_text(f"统一社会信用代码,名称\n{company},德州甲公司\n{number},张三明\n\n# note\n"
                   f"{other},未登记\n{broken},坏号\n", encoding="utf-8")
    runner = CliRunner()
    added = runner.invoke(main, ["watch", "add", "--file", str(ids), "--json"], env=env)
    assert added.exit_code == 1
    summary = json.loads(added.stdout)
    assert summary["watched"] == 2
    assert summary["problems"] == ["watch.csv line 6: no subject with this id",
                                   "watch.csv line 7: malformed id (ID number check digit does "
                                   "not match (MOD 11-2))"]
    assert not raw_id_numbers(added.output)
    listed = runner.invoke(main, ["watch", "list", "--json"], env=env)
    assert sorted(s["id"] for s in json.loads(listed.stdout)) == sorted([company, person])

    out = tmp_path / "alerts.jsonl"
    ran = runner.invoke(main, ["monitor", "run", "--as-of", AS_OF.isoformat(), "--json",
                               "--jsonl", str(out)], env=env)
    assert ran.exit_code == 0, ran.output
    assert json.loads(ran.stdout) == {"new": 2, "updated": 0, "total": 2}
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert {(a["rule"], a["subject"]["id"]) for a in lines} == {
        ("NEAR_RECORD", company), ("NEAR_RECORD", person)}
    assert not raw_id_numbers(out.read_text(encoding="utf-8"))

    removed = runner.invoke(main, ["watch", "remove", number, "--json"], env=env)
    assert json.loads(removed.stdout) == {"removed": 1, "problems": []}


def test_command_line_errors(graph: Graph, env: dict[str, str], tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(main, ["monitor", "run", "--jsonl",
                                   str(tmp_path / "nowhere" / "a.jsonl")], env=env)
    assert missing.exit_code == 2 and "does not exist" in missing.output
    assert graph.read("MATCH (r:MonitorRun) RETURN count(r) AS n") == [{"n": 0}]
    every = runner.invoke(main, ["monitor", "run", "--every", "soon"], env=env)
    assert every.exit_code == 2 and "15m" in every.output
    both = runner.invoke(main, ["monitor", "run", "--every", "1h", "--as-of", "2026-01-01"],
                         env=env)
    assert both.exit_code == 2
    nothing = runner.invoke(main, ["watch", "add"], env=env)
    assert nothing.exit_code == 2 and "--file" in nothing.output
    nokey = runner.invoke(main, ["watch", "list", "--key", "nobody"], env=env)
    assert nokey.exit_code == 2 and "no active API key named 'nobody'" in nokey.output
    date = runner.invoke(main, ["monitor", "run", "--as-of", "30/06/2026"], env=env)
    assert date.exit_code == 2 and "is not a date in the form YYYY-MM-DD" in date.output
    status = runner.invoke(main, ["monitor", "status"], env=env)
    assert status.exit_code == 0 and "lock free" in status.output
    # a killed run's lock: held, and said to be taken over by the next run
    graph.write("CREATE (:RunLock {id: 'monitoring', owner: 'MR-dead', host: $host, pid: $pid, "
                "expiresAt: datetime() + duration('PT1H')})",
                {"host": socket.gethostname(), "pid": 2 ** 22 + 12345})
    status = runner.invoke(main, ["monitor", "status"], env=env)
    assert "lock held by run MR-dead" in status.output
    assert "its process is gone; the next run takes it over" in status.output
    # an expired lock is not said to be held (a run elsewhere that stopped renewing it)
    graph.write("MATCH (l:RunLock {id: 'monitoring'}) SET l.host = 'elsewhere', "
                "l.expiresAt = datetime() - duration('PT1M')")
    status = runner.invoke(main, ["monitor", "status"], env=env)
    assert "lock held" not in status.output
    assert "lock of run MR-dead on elsewhere pid 4206649 expired at" in status.output
    assert "the next run takes it over" in status.output



@pytest.mark.parametrize("args", [
    ["--jsonl", "nowhere/a.jsonl"],
    ["--every", "soon"],
    ["--every", "1h", "--as-of", "2026-01-01"],
    ["--jsonl", "-"],
    ["--as-of", (dt.date.today() + dt.timedelta(days=1)).isoformat()],  # froze RISK_RISE
])
def test_monitor_run_json_says_why_it_could_not_run(graph: Graph, env: dict[str, str],
                                                     tmp_path: Path, args: list[str]) -> None:
    """A run refused before it starts (an unwritable --jsonl, a bad --every, --every with
    --as-of, --jsonl - with --json) printed its error on stderr only: a job reading --json's
    stdout heard nothing. It now prints {"error", "exitCode"} there too, as a failed run does."""
    args = [str(tmp_path / a) if a.startswith("nowhere") else a for a in args]
    result = CliRunner().invoke(main, ["monitor", "run", "--json", *args], env=env)
    assert result.exit_code == 2
    answer = json.loads(result.stdout)
    assert answer["exitCode"] == 2 and answer["error"]
    assert answer["error"] in result.stderr
    assert count(graph, "MATCH (r:MonitorRun) RETURN count(r) AS n") == 0


@pytest.mark.parametrize("size", ["0", "-5", "100001"])
def test_monitor_run_refuses_a_batch_size_out_of_range(graph: Graph, env: dict[str, str],
                                                       size: str) -> None:
    """A usage error before anything runs: 0 used to fail the run with a traceback, -5 to
    finish it writing no alerts."""
    result = CliRunner().invoke(main, ["monitor", "run", "--batch-size", size], env=env)
    assert result.exit_code == 2
    assert "Invalid value for '--batch-size'" in result.stderr
    assert "1<=x<=100000" in result.stderr
    assert count(graph, "MATCH (r:MonitorRun) RETURN count(r) AS n") == 0


def test_a_taken_bolt_port_is_named_by_every_batch_command(tmp_path: Path) -> None:
    """The local server cannot start because another process holds its Bolt port: `load` and
    `escalate` said so, but `monitor run` said 'cannot reach Neo4j …: ServerError (start it
    with `credgraph db start`)' — advice that fails the same way. Each now names the port
    (found by a held-out CLI review)."""
    import socket

    env = {key: value for key, value in os.environ.items()
           if not key.startswith(("NEO4J_", "CREDGRAPH_"))}
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env.update(CREDGRAPH_HOME=str(tmp_path / "home"), CREDGRAPH_BOLT_PORT=str(port),
                   CREDGRAPH_SECRET=TEST_SECRET)
        for args in (["monitor", "run", "--json"], ["escalate", "--json"],
                     ["load", "--json", str(tmp_path)]):
            result = CliRunner().invoke(main, args, env=env)
            assert result.exit_code == 2, (args, result.output)
            answer = json.loads(result.stdout)
            assert f"port {port} on 127.0.0.1 is in use" in answer["error"], args
            assert answer["error"] in result.stderr


def test_a_full_disk_leaves_no_half_jsonl_behind(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`--jsonl` on a disk that filled up: the run failed with `[Errno 28] No space left on
    device`, naming no file, and left its half-written temporary file (8 KB on a full 8 KB
    tmpfs) for ever (found by a held-out operations review). Now the message names the file
    and says the alerts are kept for the next run, and the temporary file is gone."""
    import errno

    from credgraph.queries import monitoring
    from credgraph.queries.monitoring import MonitorError, write_jsonl

    def full(alerts: list[dict[str, object]]) -> object:
        yield "{}\n"
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(monitoring, "jsonl_lines", full)
    target = tmp_path / "alerts.jsonl"
    with pytest.raises(MonitorError, match=f"--jsonl {target}: cannot be written \\(No space "
                                           "left on device\\); the alerts are stored"):
        write_jsonl(target, [{"id": "x"}])
    assert list(tmp_path.iterdir()) == []
