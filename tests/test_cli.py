"""The `credgraph` command's contract (SPEC §9): `load --json` exit codes 0 / 1 / 2 and
`--rejects`, `keys create` printing a token whose hash alone is stored, and `serve`."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import gc
import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from credgraph.graph.driver import Graph
from credgraph.settings import Settings
from tests.ids import make_id, make_uscc, raw_id_numbers
from tests.runner import cli_env, invoke
from tests.servers import free_port

CO = make_uscc(region="371402", org="MA3C00001")


def legal_persons(folder: Path, *rows: tuple[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    with (folder / "legal_persons.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["uscc", "name"])
        writer.writerows(rows)
    return folder


def test_load_json_exit_0_when_everything_loads(graph: Graph, settings: Settings,
                                                tmp_path: Path) -> None:
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"))
    rejects = tmp_path / "out" / "my-rejects.csv"
    result = invoke(settings, "load", str(bundle), "--json", "--rejects", str(rejects))
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (1, 1, 0)
    assert summary["balanced"] is True and summary["rejectsFile"] == str(rejects)
    assert [(f["kind"], f["read"], f["loaded"]) for f in summary["files"]] == [
        ("legal_persons", 1, 1)]
    assert rejects.read_text(encoding="utf-8").splitlines() == ["file,line,column,value,reason"]
    assert graph.read("MATCH (s:Subject) RETURN s.id AS id") == [{"id": CO}]


def test_load_json_with_rejects_where_asked(graph: Graph, settings: Settings,
                                            tmp_path: Path) -> None:
    bad = CO[:-1] + ("0" if CO[-1] != "0" else "1")
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"),
                           (bad, "坏代码公司"), ("", "无代码公司"))
    rejects = tmp_path / "elsewhere" / "rejected-rows.csv"
    result = invoke(settings, "load", str(bundle / "legal_persons.csv"), "--json",
                    "--rejects", str(rejects))
    assert result.exit_code == 0, result.output  # the load ran; its rejects are reported
    summary = json.loads(result.stdout)
    assert (summary["read"], summary["loaded"], summary["rejected"]) == (3, 1, 2)
    assert summary["files"][0]["reasons"] == {"bad check digit": 1, "missing required field": 1}
    rows = list(csv.DictReader(rejects.read_text(encoding="utf-8").splitlines()))
    assert [(r["file"], r["line"], r["column"], r["value"]) for r in rows] == [
        ("legal_persons.csv", "3", "uscc", bad), ("legal_persons.csv", "4", "uscc", "")]
    assert rows[0]["reason"].startswith("bad check digit")
    assert rows[1]["reason"] == "missing required field"
    assert not (tmp_path / "rejects.csv").exists()


def test_load_exit_2_when_the_load_cannot_run(graph: Graph, settings: Settings,
                                              tmp_path: Path) -> None:
    (tmp_path / "weather.csv").write_text("a,b\n1,2\n", encoding="utf-8")
    unknown = invoke(settings, "load", str(tmp_path / "weather.csv"), "--json")
    assert unknown.exit_code == 2
    assert "weather.csv: unknown file" in unknown.stderr
    assert json.loads(unknown.stdout)["exitCode"] == 2  # --json's reader hears why too
    assert "weather.csv: unknown file" in json.loads(unknown.stdout)["error"]
    missing = invoke(settings, "load", str(tmp_path / "nowhere"), "--json")
    assert missing.exit_code == 2 and "no such file or folder" in missing.stderr
    (tmp_path / "p").mkdir()
    (tmp_path / "p" / "penalties.csv").write_text("foo,bar\n1,2\n", encoding="utf-8")
    columns = invoke(settings, "load", str(tmp_path / "p"), "--json")
    assert columns.exit_code == 2 and "missing required column" in columns.stderr
    assert graph.read("MATCH (n) WHERE NOT n:SchemaVersion RETURN count(n) AS n") == [{"n": 0}]


@pytest.mark.parametrize("where", ["folder", "under a file"])
def test_load_exit_2_when_the_rejects_cannot_be_written(graph: Graph, settings: Settings,
                                                        tmp_path: Path, where: str) -> None:
    """`--rejects` naming a folder (or a place under a file) let the load write every row,
    then end in a traceback (exit 1, no JSON) when the rejects were written: loaded, with
    its rejected rows lost. Found by a held-out CLI review; it is now refused before the load
    (exit 2, nothing written)."""
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"), ("", "无代码公司"))
    rejects = tmp_path / "b" if where == "folder" else bundle / "legal_persons.csv" / "r.csv"
    result = invoke(settings, "load", str(bundle), "--json", "--rejects", str(rejects))
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert answer["exitCode"] == 2 and f"--rejects {rejects}" in answer["error"]
    assert "Traceback" not in result.output
    assert graph.read("MATCH (s:Subject) RETURN count(s) AS n") == [{"n": 0}]


def test_load_exit_2_when_the_disk_fills_up_before_the_rejects_are_written(
        graph: Graph, settings: Settings, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A disk that fills up during the load (a 16 KB tmpfs for --rejects, in a held-out
    operations review) ended in a traceback, exit 1, no summary and a half rejects file: now
    one line saying the rows are in, which file could not be written and that a re-run
    writes it anew (exit 2), and no partial file."""
    import errno

    from credgraph.loaders import bundle as bundle_module

    real_writer = bundle_module.csv.writer

    class Full:
        def __init__(self, handle: Any) -> None:
            self.inner = real_writer(handle)

        def writerow(self, row: Any) -> None:
            self.inner.writerow(row)

        def writerows(self, rows: Any) -> None:
            raise OSError(errno.ENOSPC, "No space left on device")

    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"), ("", "无代码公司"))
    rejects = tmp_path / "out" / "rejects.csv"
    monkeypatch.setattr(bundle_module.csv, "writer", Full)
    result = invoke(settings, "load", str(bundle), "--json", "--rejects", str(rejects))
    monkeypatch.undo()
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert "Traceback" not in result.output
    assert (f"the rows are in the graph (1 loaded, 1 rejected of 2 read) but {rejects} could "
            "not be written (No space left on device)") in error
    assert not rejects.exists()
    # the re-run changes nothing and writes the files
    again = invoke(settings, "load", str(bundle), "--json", "--rejects", str(rejects))
    assert again.exit_code == 0 and json.loads(again.stdout)["rejected"] == 1
    assert len(rejects.read_text(encoding="utf-8").splitlines()) == 2


def test_load_exit_2_when_neo4j_is_unreachable(settings: Settings, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from credgraph.cli import main

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**cli_env(settings), "NEO4J_URI": f"bolt://127.0.0.1:{port}"}
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"))
    result = CliRunner().invoke(main, ["load", str(bundle), "--json"], env=env)
    assert result.exit_code == 2
    assert f"cannot reach Neo4j at bolt://127.0.0.1:{port}" in result.stderr
    # --json's reader hears why on stdout too
    assert json.loads(result.stdout) == {
        "error": f"cannot reach Neo4j at bolt://127.0.0.1:{port}: ServiceUnavailable",
        "exitCode": 2}


@pytest.mark.parametrize("command", [
    ["keys", "list"], ["keys", "create", "--name", "x", "--role", "admin"],
    ["keys", "revoke", "x"], ["db", "migrate"], ["quality", "report"], ["watch", "list"],
    ["monitor", "status"], ["integrity", "check", CO]])
def test_a_command_says_when_neo4j_is_unreachable(settings: Settings, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch,
                                                  command: list[str]) -> None:
    """Exit 2 with a line saying so (SPEC §9's CLI against a stopped database), not a
    driver traceback (exit 1), which these commands printed."""
    from click.testing import CliRunner

    from credgraph.cli import main

    port = free_port()
    env = {**cli_env(settings), "NEO4J_URI": f"bolt://127.0.0.1:{port}",
           "CREDGRAPH_DB_WAIT": "1"}
    monkeypatch.chdir(tmp_path)  # quality report writes its files here
    result = CliRunner().invoke(main, command, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert result.stderr.splitlines()[-1] == (
        f"error: cannot reach Neo4j at bolt://127.0.0.1:{port}: ServiceUnavailable")


@pytest.mark.parametrize("scheme", ["bolt+s", "neo4j+ssc"])
def test_a_tls_uri_to_a_server_without_tls_says_so(settings: Settings, scheme: str) -> None:
    """NEO4J_URI asking for TLS of a server that has none said only "cannot reach Neo4j …:
    ServiceUnavailable" (the driver's words for neo4j+ssc: "Unable to retrieve routing
    information") — as if the server were down; found pointing credgraph at an external
    Neo4j without TLS. The TLS failure is named, and the scheme that would reach it."""
    import threading

    from click.testing import CliRunner

    from credgraph.cli import main

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]

    def answer_plain() -> None:  # a plain TCP server: it reads no TLS hello and hangs up
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                connection.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
                connection.close()

    threading.Thread(target=answer_plain, daemon=True).start()
    env = {**cli_env(settings), "NEO4J_URI": f"{scheme}://127.0.0.1:{port}",
           "CREDGRAPH_DB_WAIT": "1"}
    try:
        for command in (["db", "migrate"], ["db", "status"]):
            result = CliRunner().invoke(main, command, env=env)
            assert result.exit_code in (1, 2), result.output
            assert "Traceback" not in result.output
            assert "the TLS handshake failed" in result.stderr, result.stderr
            assert "bolt:// or neo4j://" in result.stderr
    finally:
        listener.close()


WRONG_PASSWORD = "not-the-password-7f3a"


@pytest.mark.parametrize("command", [
    ["keys", "list"], ["db", "migrate"], ["db", "status"], ["db", "reset", "--yes"],
    ["watch", "list"], ["quality", "report"], ["load", "BUNDLE", "--json"],
    ["escalate", "--json"], ["monitor", "run", "--json"]])
def test_a_command_says_when_neo4j_refuses_its_credentials(
        graph: Graph, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        command: list[str]) -> None:
    """A wrong NEO4J_PASSWORD ended most commands in the driver's AuthError traceback (exit
    1); load and escalate said "Neo4j refused a write". Now one line names the server and
    the settings to mend, never the password. A user of its own (Neo4j locks a user out
    after a few wrong passwords: the tests' user must not be)."""
    from click.testing import CliRunner

    from credgraph.cli import main

    user = f"nobody{command[0]}{len(command)}"
    env = {**cli_env(settings), "NEO4J_USER": user, "NEO4J_PASSWORD": WRONG_PASSWORD}
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"))
    monkeypatch.chdir(tmp_path)  # quality report writes its files here
    args = [str(bundle) if part == "BUNDLE" else part for part in command]
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == (1 if command == ["db", "status"] else 2), result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output and WRONG_PASSWORD not in result.output
    last = result.stderr.splitlines()[-1]
    assert last.startswith(f"error: Neo4j at {settings.bolt_uri} refused user '{user}': ")
    assert last.endswith("(check NEO4J_USER and NEO4J_PASSWORD)")


def test_a_command_says_when_neo4j_holds_no_such_database(graph: Graph,
                                                          settings: Settings) -> None:
    """A NEO4J_DATABASE the server does not hold: a line naming it, not a traceback."""
    from click.testing import CliRunner

    from credgraph.cli import main

    env = {**cli_env(settings), "NEO4J_DATABASE": "nosuchdb"}
    result = CliRunner().invoke(main, ["keys", "list"], env=env)
    assert result.exit_code == 2, result.output
    assert result.stderr.splitlines()[-1] == (
        f"error: Neo4j at {settings.bolt_uri} holds no database 'nosuchdb' "
        "(check NEO4J_DATABASE)")


def test_serve_answers_service_unavailable_when_neo4j_refuses_its_password(
        graph: Graph, settings: Settings, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """A key lookup refused by Neo4j (the API's own password wrong) was an HTTP 500 "Internal
    Server Error" in plain text with a traceback in the log; it is a 503 SERVICE_UNAVAILABLE
    as when Neo4j is down, and the log says what to mend."""
    import logging

    import uvicorn
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    served: list[Starlette] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: served.append(app))
    from click.testing import CliRunner

    from credgraph.cli import main

    env = {**cli_env(settings), "NEO4J_USER": "nobodyserve", "NEO4J_PASSWORD": WRONG_PASSWORD}
    try:
        result = CliRunner().invoke(main, ["serve", "--port", "1"], env=env)
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    with caplog.at_level(logging.WARNING), TestClient(served[0]) as client:
        response = client.post("/graphql", json={"query": "{ __typename }"},
                               headers={"Authorization": "Bearer cg_never_checked"})
        ready = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert ready.status_code == 503
    assert "check NEO4J_USER and NEO4J_PASSWORD" in caplog.text
    assert WRONG_PASSWORD not in caplog.text


def test_a_command_waiting_for_neo4j_prints_only_its_own_error(settings: Settings,
                                                              tmp_path: Path) -> None:
    """Run as a user runs it (no test logging installed): the driver's multi-line "will be
    retried" warnings, printed by Python's last-resort handler, came before the one line."""
    port = free_port()
    env = {**os.environ, **cli_env(settings), "NEO4J_URI": f"bolt://127.0.0.1:{port}",
           "CREDGRAPH_DB_WAIT": "3"}
    done = subprocess.run([sys.executable, "-m", "credgraph.cli", "keys", "list"], env=env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines() == [
        f"error: cannot reach Neo4j at bolt://127.0.0.1:{port}: ServiceUnavailable"]


@pytest.mark.parametrize("command", [
    ["load", "BUNDLE", "--json"], ["escalate", "--json"], ["monitor", "run", "--json"],
    ["integrity", "check", CO], ["serve", "--port", "1"]])
def test_a_command_says_when_its_rules_file_does_not_validate(
        settings: Settings, tmp_path: Path, command: list[str]) -> None:
    """Exit 2 with a line naming the file and the key (and --json's object), not a
    traceback (exit 1) before anything ran."""
    from click.testing import CliRunner

    from credgraph.cli import main

    rules = tmp_path / "deployment.toml"
    rules.write_text('[grade]\nstart = "hundred"\n', encoding="utf-8")
    said = "deployment.toml: [grade.start] Input should be a valid integer"
    bundle = str(legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司")))
    args = [bundle if arg == "BUNDLE" else arg for arg in command]
    env = {**cli_env(settings), "CREDGRAPH_RULES_FILE": str(rules)}
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert said in result.stderr.splitlines()[-1]
    if "--json" in command:
        answer = json.loads(result.stdout.splitlines()[-1])
        assert answer["exitCode"] == 2 and said in answer["error"]


@pytest.mark.parametrize(("command", "said"), [
    (["escalate", "--as-of", "2026-13-01", "--json"], "2026-13-01 is not a date"),
    (["monitor", "run", "--json", "--as-of", "tomorrow"], "'tomorrow' is not a date"),
    (["monitor", "run", "--batch-size", "0", "--json"], "0 is not in the range"),
])
def test_a_usage_error_of_a_json_run_is_said_on_stdout(command: list[str], said: str) -> None:
    """A bad --as-of is refused before the run (exit 2, usage on stderr) — with --json, the
    job reading stdout gets {"error", "exitCode"} as for every other refusal."""
    from click.testing import CliRunner

    from credgraph.cli import main

    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, result.output
    answer = json.loads(result.stdout)
    assert answer["exitCode"] == 2 and said in answer["error"], answer
    assert "Usage:" in result.stderr and "Usage:" not in result.stdout


def test_keys_create_prints_the_token_once_and_stores_its_hash(graph: Graph,
                                                               settings: Settings) -> None:
    result = invoke(settings, "keys", "create", "--name", "德州市信用中心", "--role", "partner")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert token.startswith("cg_") and "shown once" in result.stderr
    stored = graph.read("MATCH (k:ApiKey) RETURN properties(k) AS k")
    assert len(stored) == 1
    key = stored[0]["k"]
    assert key["id"] == hashlib.sha256(token.encode()).hexdigest()
    assert key["role"] == "partner" and key["name"] == "德州市信用中心"
    assert not [value for value in key.values() if token[7:15] in str(value)]


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "张\t三", "line\nbreak", " 小王",
                                  f"张三{make_id()}"])
def test_keys_create_refuses_a_name_the_audit_log_could_not_show(
        graph: Graph, settings: Settings, name: str) -> None:
    """The name is the actor of every audit event the key's requests write."""
    result = invoke(settings, "keys", "create", "--name", name, "--role", "admin")
    assert result.exit_code == 2, result.output
    assert "--name" in result.stderr and "key's name" in result.stderr
    assert not raw_id_numbers(result.output)
    assert graph.read("MATCH (k:ApiKey) RETURN count(k) AS n") == [{"n": 0}]


def test_keys_create_takes_spaces_inside_a_name(graph: Graph, settings: Settings) -> None:
    name = "德州市\u3000监测岗 2"
    result = invoke(settings, "keys", "create", "--name", name, "--role", "monitor")
    assert result.exit_code == 0, result.output
    assert graph.read("MATCH (k:ApiKey) RETURN k.name AS name") == [{"name": name}]


def test_load_strict_exits_1_on_rejects(graph: Graph, settings: Settings, tmp_path: Path) -> None:
    bad = CO[:-1] + ("0" if CO[-1] != "0" else "1")
    bundle = legal_persons(tmp_path / "b", (CO, "德州市德城区鑫源食品有限公司"),
                           (bad, "坏代码公司"))
    rejects = tmp_path / "rejects.csv"
    result = invoke(settings, "load", str(bundle), "--strict", "--rejects", str(rejects))
    assert result.exit_code == 1, result.output
    clean = legal_persons(tmp_path / "c", (CO, "德州市德城区鑫源食品有限公司"))
    again = invoke(settings, "load", str(clean), "--strict", "--rejects", str(rejects))
    assert again.exit_code == 0, again.output
    assert graph.read("MATCH (s:Subject) RETURN s.id AS id") == [{"id": CO}]


def test_serve_freezes_what_start_up_built(settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """`serve` moves the start-up objects out of the collector's reach before serving, so no
    request pays for a full collection walking them."""
    import uvicorn

    frozen: list[int] = []
    logged: list[bool] = []

    def run(*args: Any, **kwargs: Any) -> None:
        frozen.append(gc.get_freeze_count())
        logged.append(kwargs["access_log"])

    monkeypatch.setattr(uvicorn, "run", run)
    try:
        result = invoke(settings, "serve", "--port", "1")
        with_lines = invoke(settings, "serve", "--port", "1", "--access-log")
    finally:
        gc.unfreeze()
    assert result.exit_code == 0 and with_lines.exit_code == 0, result.output
    assert len(frozen) == 2 and frozen[0] > 10_000
    assert logged == [False, True]  # the per-request line only when asked for


def test_serve_logs_one_json_object_a_line(settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Structured logs (SPEC §10): `serve` gives uvicorn a logging configuration whose lines
    are JSON objects — time, level, logger, message, exception — with ID numbers masked in
    the message and the traceback (SPEC §6), whoever logged them."""
    import logging

    import uvicorn

    from credgraph.logs import LOG_CONFIG, JsonFormatter

    configs: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: configs.append(k.get("log_config")))
    try:
        result = invoke(settings, "serve", "--port", "1")
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    assert configs == [LOG_CONFIG]
    assert LOG_CONFIG["formatters"]["json"]["()"] is JsonFormatter
    number = make_id()
    try:
        raise ValueError(f"bad row {number}")
    except ValueError as exc:
        record = logging.LogRecord("credgraph.api", logging.ERROR, __file__, 1,
                                   "internal error for %s", (number,), (type(exc), exc, None))
    line = JsonFormatter().format(record)
    assert "\n" not in line and not raw_id_numbers(line)
    entry = json.loads(line)
    assert (entry["level"], entry["logger"]) == ("ERROR", "credgraph.api")
    assert entry["message"] == "internal error for 371402********" + number[-4:]
    assert "ValueError: bad row 371402********" in entry["exception"]
    assert dt.datetime.fromisoformat(entry["time"]).tzinfo is not None


def test_serve_answers_service_unavailable_at_once_when_neo4j_is_gone(
        settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    """The API `serve` builds gives up on an unreachable Neo4j after CREDGRAPH_API_DB_WAIT
    (1 s), as docs/security.md promises — not after the 30 s of retries a load rides out."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.testclient import TestClient

    served: list[Starlette] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: served.append(app))
    gone = settings.model_copy(update={"neo4j_uri": f"bolt://127.0.0.1:{free_port()}",
                                       "neo4j_password": "unused"})
    try:
        result = invoke(gone, "serve", "--port", "1")
    finally:
        gc.unfreeze()
    assert result.exit_code == 0, result.output
    with TestClient(served[0]) as client:
        started = time.monotonic()
        response = client.post("/graphql", json={"query": "{ __typename }"},
                               headers={"Authorization": "Bearer cg_never_checked"})
        waited = time.monotonic() - started
    assert response.status_code == 503
    assert response.json()["errors"][0]["extensions"]["code"] == "SERVICE_UNAVAILABLE"
    assert waited < 10, f"answered after {waited:.1f} s"


@pytest.mark.parametrize(("command", "problem"), [
    (["quality", "report", "--out", "{file}"], "Invalid value for '--out'"),
    # a folder that cannot be made: a FileNotFoundError / NotADirectoryError traceback, exit 1
    (["quality", "report", "--out", "{file}/q"], "cannot write there (Not a directory)"),
    (["integrity", "report", "--out", "{file}"], "Invalid value for '--out'"),
    (["load", "{file}", "--batch-size", "0"], "Invalid value for '--batch-size'"),
    (["load", "{file}", "--batch-size", "-5"], "Invalid value for '--batch-size'"),
    (["demo", "generate", "--subjects", "300", "--out", "{file}.d"],
     "the demo city has 1,000 to 1,000,000 subjects, not 300"),
    (["demo", "ensure", "--subjects", "2000000"],
     "the demo city has 1,000 to 1,000,000 subjects, not 2,000,000")])
def test_usage_errors_exit_2_before_anything_runs(settings: Settings, tmp_path: Path,
                                                   command: list[str], problem: str) -> None:
    """An --out that is a file ended in a FileExistsError traceback (exit 1) after the report
    was built; a batch size of 0 or less loaded a row per transaction; a demo city of a size
    the generator refuses ended in its ValueError traceback."""
    taken = tmp_path / "taken.csv"
    taken.write_text("uscc,name\n", encoding="utf-8")
    result = invoke(settings, *(part.format(file=taken) for part in command))
    assert result.exit_code == 2, result.output
    assert problem in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("variable", "value", "problem"), [
    ("CREDGRAPH_SECRET", "short-secret-15", "CREDGRAPH_SECRET: must be at least 16 bytes"),
    ("CREDGRAPH_BOLT_PORT", "seven-six-eight-seven", "CREDGRAPH_BOLT_PORT: Input should be"),
    ("CREDGRAPH_TX_TIMEOUT", "ten-seconds-please", "CREDGRAPH_TX_TIMEOUT: Input should be"),
    # out of bounds: 99999 ended `db start` in an OverflowError traceback, a time limit of 0
    # turned the Cypher limit off, the others were taken without a word
    ("CREDGRAPH_BOLT_PORT", "99999", "CREDGRAPH_BOLT_PORT: Input should be less than or"),
    ("CREDGRAPH_TX_TIMEOUT", "0", "CREDGRAPH_TX_TIMEOUT: Input should be greater than 0"),
    ("CREDGRAPH_API_DB_WAIT", "-1", "CREDGRAPH_API_DB_WAIT: Input should be greater than 0"),
    ("CREDGRAPH_DB_WAIT", "0", "CREDGRAPH_DB_WAIT: Input should be greater than 0"),
    ("CREDGRAPH_LOAD_WORKERS", "-3", "CREDGRAPH_LOAD_WORKERS: Input should be greater than"),
    ("CREDGRAPH_AUDIT_BATCH", "0", "CREDGRAPH_AUDIT_BATCH: Input should be greater than"),
    # an external server's URI: the browser's http:// address ended in a traceback asking for
    # aiohttp; a password in the URI in the driver's traceback showing it. Named as set
    # (NEO4J_URI), not as CREDGRAPH_NEO4J_URI
    ("NEO4J_URI", "http://127.0.0.1:7474", "NEO4J_URI: must begin with bolt://"),
    ("NEO4J_URI", "bolt://neo4j:pw-in-the-uri-0451@127.0.0.1:7687",
     "NEO4J_URI: must not hold a user or password"),
    ("NEO4J_URI", "neo4j://127.0.0.1:76870", "NEO4J_URI: is not a URI of the form")])
def test_a_refused_setting_is_named_not_shown(settings: Settings, variable: str, value: str,
                                              problem: str) -> None:
    """A secret under 16 bytes ended the first load in a traceback from the encryption, and a
    malformed variable in pydantic's, which prints the value given — a password or the
    secret. Exit 2 naming the variable, with --json as well."""
    from click.testing import CliRunner

    from credgraph.cli import main

    env = {**cli_env(settings), variable: value}
    result = CliRunner().invoke(main, ["escalate", "--json"], env=env)
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["exitCode"] == 2
    assert problem in result.stderr and "Traceback" not in result.output
    assert len(value) < 3 or value not in result.output  # "0" is in any message


@pytest.mark.parametrize("port", ["99999", "65536", "0", "-1"])
def test_serve_refuses_a_port_tcp_has_not(settings: Settings, monkeypatch: pytest.MonkeyPatch,
                                          port: str) -> None:
    """A usage error (exit 2) before anything is built: 99999 was served on 34463 (the port
    modulo 65536) while the log announced http://127.0.0.1:99999."""
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: served.append(app))
    result = invoke(settings, "serve", "--port", port)
    assert result.exit_code == 2, result.output
    assert "Invalid value for '--port'" in result.output and "1<=x<=65535" in result.output
    assert served == []



def test_serve_says_when_its_port_is_taken(settings: Settings,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A port another process listens on (a second `make run`, another service on 8000): exit 2
    naming the port and how to choose another, before anything is built — it logged 'Application
    startup complete', then '[Errno 98] … address already in use' as a JSON line and exit 3."""
    import uvicorn

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: served.append(app))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = invoke(settings, "serve", "--port", str(port))
    assert result.exit_code == 2, result.output
    assert f"port {port} on 127.0.0.1 is in use by another process" in result.output
    assert "--port" in result.output and "Traceback" not in result.output
    assert served == []

@pytest.mark.parametrize(("content", "problem"), [
    (None, "No such file or directory"),
    (b"[[partner]\n", "Expected ']]'"),
    ('[[partner]]\ncity = "滨州"\ncode = "3716"\nurl = "https://x/graphql"\nkey = "cg_k"\n'
     .encode(), "[partner.0.code] Value error, must be the city's 6-digit region code"),
    ('[[partner]]\ncity = "滨州"\ncode = "371600"\n'.encode("gbk"), "not UTF-8 text"),
])
def test_serve_stops_at_start_on_a_bad_partners_file(
        settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        content: bytes | None, problem: str) -> None:
    """No server that says it is ready and then answers every federatedCheck INTERNAL: exit 2
    with the file's problem, before anything is served."""
    import uvicorn
    from click.testing import CliRunner

    from credgraph.cli import main

    served: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **k: served.append(app))
    path = tmp_path / "partners.toml"
    if content is not None:
        path.write_bytes(content)
    result = CliRunner().invoke(main, ["serve", "--port", "1"],
                                env={**cli_env(settings), "CREDGRAPH_PARTNERS": str(path)})
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"error: partners file {path} is bad: ")
    assert problem in result.stderr
    assert served == []


@pytest.mark.parametrize("command", [
    ["escalate"], ["monitor", "run"], ["report", CO], ["integrity", "report"],
    ["integrity", "check", CO]])
@pytest.mark.parametrize(("given", "problem"), [
    ("2026-02-30", "2026-02-30 is not a date: day is out of range for month"),
    ("2026-13-01", "2026-13-01 is not a date: month must be in 1..12"),
    ("2026-2-3", "'2026-2-3' is not a date in the form YYYY-MM-DD"),
])
def test_as_of_says_which_day_does_not_exist(command: list[str], given: str,
                                              problem: str) -> None:
    """Every --as-of: a usage error (exit 2) naming the problem, before anything runs — not
    "does not match the format '%Y-%m-%d'" for a day that is merely impossible."""
    from click.testing import CliRunner

    from credgraph.cli import main

    result = CliRunner().invoke(main, [*command, "--as-of", given])
    assert result.exit_code == 2, result.output
    assert f"Invalid value for '--as-of': {problem}" in result.stderr


def test_as_of_takes_a_real_day() -> None:
    from credgraph.cli import ISO_DATE

    assert ISO_DATE.convert(" 2028-02-29 ", None, None) == dt.date(2028, 2, 29)


def test_quality_report_refuses_a_rejects_file_that_is_not_there(
        graph: Graph, settings: Settings, tmp_path: Path) -> None:
    missing = tmp_path / "rejects-0601.csv"
    result = invoke(settings, "quality", "report", "--rejects", str(missing),
                    "--out", str(tmp_path / "q"))
    assert result.exit_code == 2, result.output
    assert "--rejects" in result.stderr and "no such file" in result.stderr
    assert not (tmp_path / "q").exists()


def test_db_status_says_a_schema_behind_is_not_ready(graph: Graph, settings: Settings) -> None:
    """`db status` printed "schema version 0 (expected 8)" and exited 0 against a database
    never migrated, which /readyz calls not ready: now exit 1 and the command that mends it."""
    from click.testing import CliRunner

    from credgraph.cli import main
    from credgraph.graph.migrations import CURRENT_VERSION, migrate

    env = {**cli_env(settings), "NEO4J_URI": settings.bolt_uri}
    graph.write("MATCH (v:SchemaVersion) DELETE v")
    try:
        behind = CliRunner().invoke(main, ["db", "status"], env=env)
    finally:
        migrate(graph)
    current = CliRunner().invoke(main, ["db", "status"], env=env)
    assert (behind.exit_code, behind.output.splitlines()[-1]) == (
        1, f"schema version 0 (expected {CURRENT_VERSION}: run `credgraph db migrate`)")
    assert (current.exit_code, current.output.splitlines()[-1]) == (
        0, f"schema version {CURRENT_VERSION} (current)")


PERSON = make_id(region="371402", born="19800101", seq="123")


@pytest.mark.parametrize("command", [
    ["escalate", "--as-of", PERSON], ["monitor", "run", "--as-of", PERSON],
    ["report", "x", "--as-of", PERSON], ["quality", "report", "--rejects", f"{PERSON}.csv"],
    ["watch", "add", "--file", f"{PERSON}.txt"], [PERSON], ["keys", "list", PERSON]])
def test_click_errors_mask_an_id_number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        command: list[str]) -> None:
    """click's own usage errors quote the value given — `Invalid value for '--as-of':
    '371402198001011234' is not a date`, `No such command '…'` — and printed it raw on
    stderr (a service's log) while the --json line beside it was masked (found in review).
    Every such message now shows the masked form."""
    from click.testing import CliRunner

    from credgraph.cli import main

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, command, env={"NEO4J_URI": "bolt://127.0.0.1:1",
                                                   "CREDGRAPH_DB_WAIT": "1"})
    assert result.exit_code == 2, result.output
    assert PERSON[:6] + "********" + PERSON[-4:] in result.stderr, result.stderr
    assert PERSON not in result.output
