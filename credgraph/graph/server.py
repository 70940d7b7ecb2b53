"""The managed local Neo4j (SPEC §3): Community 5.26 jars resolved with Maven, run as its own
process with a generated neo4j.conf, Bolt on 127.0.0.1 only, authentication on."""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import neo4j
from neo4j.exceptions import AuthError, ServiceUnavailable

from credgraph.settings import Settings

MAIN_CLASS = "org.neo4j.server.CommunityEntryPoint"
ADMIN_CLASS = "org.neo4j.cli.AdminTool"
JVM_OPTIONS = (
    "-XX:+UseG1GC",
    "-XX:+ExitOnOutOfMemoryError",
    "-XX:-OmitStackTraceInFastThrow",
    "-Dfile.encoding=UTF-8",
    "-Djdk.tls.ephemeralDHKeySize=2048",
    "--add-opens=java.base/java.nio=ALL-UNNAMED",
    "--add-opens=java.base/java.io=ALL-UNNAMED",
    "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED",
)


BULK_MARKER = "bulk-import.json"

log = logging.getLogger("credgraph.server")


class ServerError(RuntimeError):
    """The local server could not be obtained, started or stopped; the message says why."""


@dataclass(frozen=True)
class ServerStatus:
    running: bool
    pid: int | None
    uri: str
    detail: str


def _owner_only_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(text)
    path.chmod(0o600)


def process_alive(pid: int) -> bool:
    """A local process that runs (a zombie, exited but not reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        # A zombie (our own exited child not yet reaped) is not a running server.
        try:
            fields = stat.read_text().rsplit(")", 1)[-1].split()
        except OSError:  # gone between the two looks (a load's worker watching it ended)
            return False
        return bool(fields) and fields[0] != "Z"
    return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


class LocalNeo4j:
    """One Neo4j server process whose state lives under `settings.home`."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.home = settings.server_dir
        self.conf_dir = self.home / "conf"
        self.data_dir = self.home / "data"
        self.logs_dir = self.home / "logs"
        self.pid_file = self.home / "neo4j.pid"
        self.password_file = settings.home.resolve() / "neo4j-password"
        self.lib_dir = settings.jar_cache / settings.neo4j_version / "lib"

    # -- java -----------------------------------------------------------------------------
    def java(self) -> str:
        """The Java that runs the server and neo4j-admin (CREDGRAPH_JAVA), or a clear error."""
        found = shutil.which(self.settings.java)
        if found is None:
            raise ServerError(
                f"Java {self.settings.java!r} is not found (CREDGRAPH_JAVA, default `java` on "
                "PATH): install a Java 17 or name its `java` with CREDGRAPH_JAVA"
            )
        return found

    # -- jars -----------------------------------------------------------------------------
    def ensure_jars(self, log: bool = True) -> Path:
        """Resolve the pinned Neo4j from Maven Central once; later runs reuse the cache."""
        marker = self.lib_dir / ".complete"
        if marker.exists():
            return self.lib_dir
        mvn = shutil.which("mvn")
        if mvn is None:
            raise ServerError("Maven (mvn) is not on PATH; it is needed once to fetch Neo4j")
        # Two commands started together on a fresh machine (make run, make test) share the
        # cache: one fetches, the other waits for it and then finds the jars complete.
        self.lib_dir.parent.mkdir(parents=True, exist_ok=True)
        with (self.lib_dir.parent / "fetch.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if marker.exists():
                return self.lib_dir
            return self._fetch_jars(mvn, marker, log)

    def _fetch_jars(self, mvn: str, marker: Path, log: bool) -> Path:
        staging = self.lib_dir.with_name("lib.partial")
        shutil.rmtree(staging, ignore_errors=True)
        with resources.as_file(resources.files("credgraph.graph") / "pom.xml") as pom:
            command = [
                mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
                f"-DoutputDirectory={staging}", "-DincludeScope=runtime",
                f"-Dneo4j.version={self.settings.neo4j_version}",
            ]
            if log:
                print(f"fetching Neo4j {self.settings.neo4j_version} from Maven Central …",
                      file=sys.stderr, flush=True)
            result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
            raise ServerError("Maven could not resolve Neo4j:\n" + "\n".join(tail))
        shutil.rmtree(self.lib_dir, ignore_errors=True)
        staging.rename(self.lib_dir)
        marker.write_text(self.settings.neo4j_version)
        return self.lib_dir

    # -- configuration --------------------------------------------------------------------
    def password(self) -> str:
        if self.password_file.exists():
            return self.password_file.read_text(encoding="utf-8").strip()
        # a leading letter: neo4j-admin would read a password starting with "-" as an option
        value = "n" + secrets.token_urlsafe(24)
        _owner_only_write(self.password_file, value + "\n")
        return value

    def write_conf(self) -> Path:
        for folder in (self.conf_dir, self.data_dir, self.logs_dir, self.home / "run",
                       self.home / "plugins", self.home / "import"):
            folder.mkdir(parents=True, exist_ok=True)
        s = self.settings
        # Relative to the home the server and neo4j-admin are given (--home-dir, NEO4J_HOME),
        # never written out: Neo4j reads neo4j.conf as ISO-8859-1, so a CREDGRAPH_HOME with
        # Chinese characters in it (信用中心/…) became another, mangled folder — the store
        # outside CREDGRAPH_HOME, and `db reset` deleting an empty folder beside it.
        lines = {
            "server.directories.data": self.data_dir.relative_to(self.home),
            "server.directories.logs": self.logs_dir.relative_to(self.home),
            "server.directories.plugins": "plugins",
            "server.directories.run": "run",
            "server.directories.import": "import",
            "server.default_listen_address": "127.0.0.1",
            "server.default_advertised_address": "127.0.0.1",
            "server.bolt.enabled": "true",
            "server.bolt.listen_address": f"127.0.0.1:{s.bolt_port}",
            "server.bolt.advertised_address": f"127.0.0.1:{s.bolt_port}",
            "server.http.enabled": "false",
            "server.https.enabled": "false",
            "dbms.security.auth_enabled": "true",
            "dbms.usage_report.enabled": "false",
            "server.memory.pagecache.size": s.pagecache,
            "db.transaction.timeout": f"{max(int(s.tx_timeout * 6), 60)}s",
            "db.tx_log.rotation.retention_policy": "1G size",
            "server.jvm.additional": "-XX:+UseG1GC",
        }
        conf = self.conf_dir / "neo4j.conf"
        conf.write_text("".join(f"{key}={value}\n" for key, value in lines.items()))
        return conf

    def _set_initial_password(self, lib: Path) -> None:
        if (self.data_dir / "dbms" / "auth.ini").exists():
            return
        env = dict(os.environ, NEO4J_HOME=str(self.home), NEO4J_CONF=str(self.conf_dir))
        result = subprocess.run(
            [self.java(), "-cp", f"{lib}/*", ADMIN_CLASS, "dbms",
             "set-initial-password", self.password()],
            capture_output=True, text=True, env=env, cwd=self.home, check=False,
        )
        if result.returncode != 0:
            raise ServerError("could not set the initial Neo4j password: "
                              + result.stderr.strip()[-500:])

    # -- process --------------------------------------------------------------------------
    def _pid(self) -> int | None:
        """The server's pid, clearing a stale pid file (dead process or a reused pid)."""
        if not self.pid_file.exists():
            return None
        try:
            pid = int(self.pid_file.read_text().strip())
        except ValueError:
            self.pid_file.unlink(missing_ok=True)
            return None
        if process_alive(pid) and MAIN_CLASS in _cmdline(pid) and str(self.home) in _cmdline(pid):
            return pid
        self.pid_file.unlink(missing_ok=True)
        return None

    def status(self) -> ServerStatus:
        uri = self.settings.bolt_uri
        pid = self._pid()
        if pid is None:
            return ServerStatus(False, None, uri, "not running")
        detail = "running" if self._bolt_ready() else "starting (Bolt not answering yet)"
        return ServerStatus(True, pid, uri, detail)

    def _bolt_ready(self) -> bool:
        try:
            with neo4j.GraphDatabase.driver(
                self.settings.bolt_uri,
                auth=(self.settings.neo4j_user, self.password()),
                connection_timeout=2.0,
            ) as driver:
                driver.verify_connectivity()
            return True
        except (ServiceUnavailable, OSError):
            return False
        except AuthError as exc:
            raise ServerError(
                f"Neo4j at {self.settings.bolt_uri} rejected the password in "
                f"{self.password_file}: {exc.message}"
            ) from exc

    def log_tail(self, lines: int = 40) -> str:
        chunks = []
        for name in ("console.log", "neo4j.log"):
            path = self.logs_dir / name
            if path.exists():
                text = path.read_text(encoding="utf-8", errors="replace").splitlines()
                chunks.append(f"--- {path} ---\n" + "\n".join(text[-lines:]))
        return "\n".join(chunks) or "(no server log written)"

    def start(self) -> ServerStatus:
        """Start the server unless it runs already; return once Bolt answers."""
        if self.settings.external:
            raise ServerError("NEO4J_URI is set: that server is used and none is started here")
        # One start at a time per home: two commands starting the server at once (a cron'd
        # `monitor run` and a `load`, `db start` twice) both found it stopped and both launched
        # a JVM; the pid file named whichever wrote last — at times the one that lost the port
        # and exited — so `db status` and `db stop` no longer saw the server that ran.
        self.home.mkdir(parents=True, exist_ok=True)
        with (self.home / "start.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            existing = self.status()
            if existing.running:
                pid, already = existing.pid, True
            else:
                pid, already = self._launch(), False
        return self._await_ready(pid, already=already)

    def _launch(self) -> int:
        """Launch the server process (the caller holds the start lock); its pid is written."""
        self.recover_bulk()
        if not _port_free(self.settings.bolt_port):
            raise ServerError(
                f"port {self.settings.bolt_port} on 127.0.0.1 is in use by another process; "
                "stop it or choose another port with CREDGRAPH_BOLT_PORT"
            )
        java = self.java()
        lib = self.ensure_jars()
        self.write_conf()
        self._set_initial_password(lib)
        command = [
            java, f"-Xms{self.settings.heap}", f"-Xmx{self.settings.heap}",
            *JVM_OPTIONS, "-cp", f"{lib}/*", MAIN_CLASS,
            f"--home-dir={self.home}", f"--config-dir={self.conf_dir}",
        ]
        console = (self.logs_dir / "console.log").open("ab")
        process = subprocess.Popen(
            command, stdout=console, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            cwd=self.home, start_new_session=True,
        )
        console.close()
        self.pid_file.write_text(str(process.pid))
        return process.pid

    def _await_ready(self, pid: int | None, already: bool) -> ServerStatus:
        deadline = time.monotonic() + self.settings.start_timeout
        while time.monotonic() < deadline:
            if pid is None or not process_alive(pid):
                self.pid_file.unlink(missing_ok=True)
                raise ServerError("Neo4j exited during start-up.\n" + self.log_tail())
            if self._bolt_ready():
                detail = "already running" if already else "started"
                return ServerStatus(True, pid, self.settings.bolt_uri, detail)
            time.sleep(0.5)
        raise ServerError(
            f"Neo4j did not answer on {self.settings.bolt_uri} within "
            f"{self.settings.start_timeout:.0f}s.\n" + self.log_tail()
        )

    def stop(self, timeout: float = 60.0) -> bool:
        """Stop the server; False when none was running."""
        pid = self._pid()
        if pid is None:
            return False
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and process_alive(pid):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.2)
        if process_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
        self.pid_file.unlink(missing_ok=True)
        return True

    def reset(self) -> None:
        """Stop the server and delete its databases (the password and jars are kept)."""
        self.stop()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.bulk_marker.unlink(missing_ok=True)

    # -- the offline window of `load --bulk` -------------------------------------------------
    @property
    def bulk_marker(self) -> Path:
        return self.home / BULK_MARKER

    def mark_bulk(self, saved: list[tuple[Path, Path]], import_pid: int | None = None) -> None:
        """Note, before the store is moved aside, that a bulk import runs with the server
        stopped: who runs it and where each folder's previous version is kept, so that a
        start after the loader was killed puts the previous database back (`recover_bulk`)."""
        _owner_only_write(self.bulk_marker, json.dumps({
            "pid": os.getpid(), "importPid": import_pid,
            "saved": [[str(folder), str(backup)] for folder, backup in saved]}))

    def clear_bulk_mark(self) -> None:
        self.bulk_marker.unlink(missing_ok=True)

    def put_back(self, saved: list[tuple[Path, Path]]) -> bool:
        """The folders a bulk load moved aside put back in place of what the import left, and
        its marker cleared; whether any was there to put back."""
        restored = False
        for folder, backup in saved:
            if backup.exists():
                shutil.rmtree(folder, ignore_errors=True)
                backup.rename(folder)
                restored = True
        self.clear_bulk_mark()
        return restored

    def _bulk_window(self) -> tuple[list[tuple[Path, Path]], int | None] | None:
        """The open offline window of a bulk load, if any: the folders it moved aside and the
        pid of the loader (or its import) when one still runs. ServerError: an unreadable
        marker."""
        marker = self.bulk_marker
        if not marker.exists():
            return None
        try:
            note = json.loads(marker.read_text(encoding="utf-8"))
            saved = [(Path(folder), Path(backup)) for folder, backup in note["saved"]]
        except (OSError, ValueError, KeyError, TypeError):
            raise ServerError(f"{marker} is unreadable: a bulk load was interrupted while the "
                              "server was stopped; check the folders under "
                              f"{self.data_dir} and delete the file") from None
        running = [pid for pid in (note.get("pid"), note.get("importPid"))
                   if isinstance(pid, int) and pid != os.getpid() and process_alive(pid)]
        return saved, (running[0] if running else None)

    def bulk_note(self) -> str | None:
        """What `db status` adds while a bulk load's offline window is open: a stopped server
        is then no mishap but an import running, or one killed whose previous database the
        next start puts back."""
        try:
            found = self._bulk_window()
        except ServerError as exc:
            return str(exc)
        if found is None:
            return None
        if found[1]:
            return (f"a bulk load (pid {found[1]}) is importing with the server stopped; it "
                    "starts the server when it is done")
        return ("a bulk load was interrupted during its import: `credgraph db start` puts the "
                "database as it was before it back (then run the load again)")

    def recover_bulk(self) -> None:
        """Before a start: a bulk load interrupted while the server was stopped for its import
        (killed, the machine restarted) left the previous database moved aside and a partial
        store, or none, in its place — started so, Neo4j made an empty database and the API
        keys were gone without a word. The previous database is put back, saying so; a bulk
        load still running is waited for, not started under."""
        found = self._bulk_window()
        if found is None:
            return
        saved, running = found
        if running:
            raise ServerError(f"a bulk load (pid {running}) is importing into this database "
                              "with the server stopped; it starts the server when it is done — "
                              "wait for it")
        if self.put_back(saved):
            log.warning("a bulk load was interrupted while the server was stopped for its "
                        "import: the database as it was before it is put back (run the load "
                        "again)")
