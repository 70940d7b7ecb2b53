"""The `credgraph` command (SPEC §9 CLI contract)."""

from __future__ import annotations

import datetime as dt
import errno
import gc
import getpass
import json
import logging
import re
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any, NoReturn

import click
import neo4j.exceptions
from pydantic import ValidationError

from credgraph.api.auth import KeyStore, Role, check_key_name
from credgraph.api.errors import TLS_HINT, UNREACHABLE, refused, tls_failed
from credgraph.graph.driver import connect
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import CURRENT_VERSION, migrate, schema_version
from credgraph.graph.model import Label
from credgraph.graph.server import LocalNeo4j, ServerError
from credgraph.queries.alerts import Watcher
from credgraph.rules import RulesError
from credgraph.schema.privacy import scrub
from credgraph.services import Services
from credgraph.settings import Settings, settings_problems


def _settings(as_json: bool = False) -> Settings:
    """The settings, or exit 2 naming each environment variable to mend."""
    try:
        return Settings()
    except ValidationError as exc:
        _fail("the configuration is refused — " + "; ".join(settings_problems(exc)),
              as_json=as_json)


def _operator() -> str:
    """Who the local operator is in audit events, watchlists and escalation runs."""
    return f"cli:{getpass.getuser()}"


def _fail(message: str, code: int = 2, as_json: bool = False) -> NoReturn:
    text = scrub(message)
    if as_json:  # a job reading --json's stdout hears why, not nothing
        click.echo(json.dumps({"error": text, "exitCode": code}, ensure_ascii=False))
    click.echo(f"error: {text}", err=True)
    sys.exit(code)


class IsoDate(click.ParamType):
    """A day written YYYY-MM-DD, as every --as-of takes it. click.DateTime said a day that does
    not exist (2026-02-30) "does not match the format": the format was right, the day wrong."""

    name = "date"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.date:
        text = str(value).strip()
        found = re.fullmatch(r"([0-9]{4})-([0-9]{2})-([0-9]{2})", text)
        if not found:
            self.fail(f"{text!r} is not a date in the form YYYY-MM-DD", param, ctx)
        try:
            return dt.date(*(int(part) for part in found.groups()))
        except ValueError as exc:  # day is out of range for month, month must be in 1..12
            self.fail(f"{text} is not a date: {exc}", param, ctx)


ISO_DATE = IsoDate()


def _unreachable(settings: Settings, exc: Exception) -> str:
    """What a command says when it cannot reach Neo4j: where, the driver's reason, and for
    the local server how to start it."""
    if tls_failed(exc):
        return f"cannot reach Neo4j at {settings.bolt_uri}: {type(exc).__name__} — {TLS_HINT}"
    hint = "" if settings.external else " (start it with `credgraph db start`)"
    return f"cannot reach Neo4j at {settings.bolt_uri}: {type(exc).__name__}{hint}"


def _refused(settings: Settings, exc: neo4j.exceptions.Neo4jError) -> str:
    """What a command says when Neo4j refuses its configuration (errors.refused): a wrong
    password, the lock-out after a few, a database the server does not hold — which setting
    to mend, Neo4j's own words, never the password."""
    if exc.code == "Neo.ClientError.Database.DatabaseNotFound":
        return (f"Neo4j at {settings.bolt_uri} holds no database {settings.neo4j_database!r} "
                "(check NEO4J_DATABASE)")
    mend = ("check NEO4J_USER and NEO4J_PASSWORD" if settings.external else
            f"the password in {LocalNeo4j(settings).password_file} is not the server's")
    return (f"Neo4j at {settings.bolt_uri} refused user {settings.neo4j_user!r}: "
            f"{exc.message} ({mend})")


class JsonAwareCommand(click.Command):
    """A usage error (an --as-of that is no date, an option out of range) of a command asked
    for --json is said on stdout too, as every refusal of a --json run is: a job reading
    stdout hears why, not nothing. click still prints the usage on stderr and exits 2."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        asked_json = "--json" in args  # before parsing: the parser consumes the list
        try:
            return super().parse_args(ctx, args)
        except click.UsageError as exc:
            if asked_json:
                click.echo(json.dumps({"error": scrub(exc.format_message()),
                                       "exitCode": exc.exit_code}, ensure_ascii=False))
            raise


class Commands(click.Group):
    """The command group: a command that finds Neo4j unreachable (the local server stopped,
    the external one down), or a rules file that does not validate, ends with a message
    saying so (the rules error names the file and the key), not a traceback. click's own
    errors (an --as-of that is no date, a --rejects file that is missing) quote the value
    given: an ID number in it is masked there too, as in every other message."""

    command_class = JsonAwareCommand
    group_class = type  # sub-groups are Commands too, their commands JsonAwareCommand

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            # click declares both Final; its printer reads them when the error reaches it
            setattr(exc, "message", scrub(exc.message))  # noqa: B010
            if isinstance(exc, click.FileError):
                setattr(exc, "ui_filename", scrub(exc.ui_filename))  # noqa: B010
            raise
        except UNREACHABLE as exc:
            _fail(_unreachable(_settings(), exc))
        except neo4j.exceptions.Neo4jError as exc:
            if not refused(exc):
                raise
            _fail(_refused(_settings(), exc))
        except RulesError as exc:
            _fail(str(exc))


@click.group(cls=Commands)
def main() -> None:
    """credgraph — the public credit graph (公共信用信息平台)."""
    # the driver's "Transaction failed and will be retried" lines while a command waits for
    # Neo4j (CREDGRAPH_DB_WAIT) are noise before the command's own one-line error: a handler
    # of its own keeps them from Python's last-resort printer; they still reach any handler
    # configured above (`serve` logs them, structured: credgraph.logs)
    driver_log = logging.getLogger("neo4j")
    if not any(isinstance(handler, logging.NullHandler) for handler in driver_log.handlers):
        driver_log.addHandler(logging.NullHandler())


@main.group()
def db() -> None:
    """The Neo4j server: the managed local one, or the one NEO4J_URI names."""


def ensure_database(settings: Settings) -> None:
    """Start the local server when no external one is configured, then migrate."""
    if not settings.external:
        status = LocalNeo4j(settings).start()
        click.echo(f"neo4j {status.detail} (pid {status.pid}) at {status.uri}")
    with connect(settings) as graph:
        applied = migrate(graph)
        version = schema_version(graph)
    if applied:
        click.echo(f"schema migrated to version {version}")


@db.command("start")
def db_start() -> None:
    """Start Neo4j (idempotent) and migrate the schema."""
    settings = _settings()
    if settings.external:
        _fail("NEO4J_URI is set: that server is used, none is started here")
    try:
        ensure_database(settings)
    except ServerError as exc:
        _fail(str(exc))


@db.command("stop")
def db_stop() -> None:
    """Stop the managed local Neo4j."""
    settings = _settings()
    if settings.external:
        _fail("NEO4J_URI is set: the external server is not managed here")
    stopped = LocalNeo4j(settings).stop()
    click.echo("neo4j stopped" if stopped else "neo4j was not running")


@db.command("status")
def db_status() -> None:
    """Whether Neo4j runs, where, and the schema version."""
    settings = _settings()
    if settings.external:
        click.echo(f"external neo4j at {settings.bolt_uri}")
    else:
        local = LocalNeo4j(settings)
        status = local.status()
        click.echo(f"neo4j {status.detail}" + (f" (pid {status.pid})" if status.pid else "")
                   + f" at {status.uri}")
        if not status.running:
            note = local.bulk_note()
            if note:
                click.echo(note)
            sys.exit(1)
    try:
        with connect(settings) as graph:
            version = schema_version(graph)
    except neo4j.exceptions.Neo4jError as exc:
        _fail(_refused(settings, exc) if refused(exc) else
              f"Neo4j at {settings.bolt_uri} refused ({exc.code}): {exc.message}", code=1)
    except Exception as exc:
        _fail(_unreachable(settings, exc) if tls_failed(exc) else
              f"cannot reach neo4j: {type(exc).__name__}: {exc}", code=1)
    if version == CURRENT_VERSION:
        click.echo(f"schema version {version} (current)")
        return
    # not ready, as /readyz says: the API would answer what an older schema cannot
    hint = ("run `credgraph db migrate`" if version < CURRENT_VERSION
            else "this credgraph is older than the database: upgrade it")
    click.echo(f"schema version {version} (expected {CURRENT_VERSION}: {hint})")
    sys.exit(1)


@db.command("migrate")
def db_migrate() -> None:
    """Apply pending schema migrations."""
    settings = _settings()
    with connect(settings) as graph:
        applied = migrate(graph)
        version = schema_version(graph)
    click.echo(f"applied {len(applied)} migration(s); schema version {version}")


@db.command("reset")
@click.option("--yes", is_flag=True, help="confirm that every node and relation is deleted")
def db_reset(yes: bool) -> None:
    """Delete the whole database (asks for --yes)."""
    if not yes:
        _fail("reset deletes every node and relation; run again with --yes to confirm")
    settings = _settings()
    if settings.external:
        with connect(settings) as graph:
            # the constraints and indexes stay on a server we do not own, so does their version
            delete_all(graph, keep=(Label.SCHEMA_VERSION.value,))
    else:
        LocalNeo4j(settings).reset()
        ensure_database(settings)
    click.echo("database reset")


def _services(settings: Settings) -> Services:
    return Services.from_settings(settings)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
@click.option("--rejects", type=click.Path(path_type=Path), default=Path("rejects.csv"),
              show_default=True, help="where rejected rows are written")
@click.option("--batch-size", default=5000, show_default=True, type=click.IntRange(min=1),
              help="rows per write transaction")
@click.option("--bulk", is_flag=True,
              help="first load into an empty local database through neo4j-admin import")
@click.option("--strict", is_flag=True, help="exit 1 when any row was rejected")
def load(paths: tuple[Path, ...], as_json: bool, rejects: Path, batch_size: int,
         bulk: bool, strict: bool) -> None:
    """Load a data bundle (folders or files). Exit 0: the load ran, every row loaded or
    rejected with its reason (rejects are a daily matter, not a failed job); with --strict, 1
    when any row was rejected; 2: the load could not run."""
    from credgraph.loaders.bundle import BundleError
    from credgraph.loaders.report import run_load

    settings = _settings(as_json)
    try:
        if not settings.external:
            LocalNeo4j(settings).start()
        services = _services(settings)
        services.graph.driver.verify_connectivity()
        migrate(services.graph)
        summary = run_load(services, list(paths), rejects, batch_size, as_json, bulk)
    except (BundleError, ServerError, RulesError) as exc:
        _fail(str(exc), as_json=as_json)
    except neo4j.exceptions.Neo4jError as exc:
        _fail(_refused(settings, exc) if refused(exc) else
              f"Neo4j refused a write ({exc.code}): {exc.message}", as_json=as_json)
    except neo4j.exceptions.DriverError as exc:
        _fail(_unreachable(settings, exc), as_json=as_json)
    sys.exit(1 if strict and summary.rejected else 0)


@main.group()
def demo() -> None:
    """The demo city (德州)."""


def _city_size(ctx: click.Context, param: click.Parameter, value: int) -> int:
    """A usage error, not the generator's traceback, for a size the demo city cannot have."""
    from credgraph.loaders.demo import MAX_SUBJECTS, MIN_SUBJECTS

    if not MIN_SUBJECTS <= value <= MAX_SUBJECTS:
        raise click.BadParameter(f"the demo city has {MIN_SUBJECTS:,} to {MAX_SUBJECTS:,} "
                                 f"subjects, not {value:,}")
    return value


@demo.command("generate")
@click.option("--subjects", default=20000, show_default=True, callback=_city_size)
@click.option("--seed", default=371400, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path("demo-city"),
              show_default=True)
def demo_generate(subjects: int, seed: int, out: Path) -> None:
    """Write a realistic Dezhou bundle with planted cases and truth.json."""
    from credgraph.loaders.demo import generate

    counts = generate(out, subjects=subjects, seed=seed)
    for name, count in counts.items():
        click.echo(f"{name:16} {count:>9,}")
    click.echo(f"written to {out}")


@demo.command("ensure")
@click.option("--subjects", default=20000, show_default=True, callback=_city_size)
@click.option("--seed", default=371400, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=None,
              show_default="CREDGRAPH_HOME/demo-city")
def demo_ensure(subjects: int, seed: int, out: Path | None) -> None:
    """Generate and load the demo city when the database holds no subjects."""
    from credgraph.loaders.demo import generate
    from credgraph.loaders.report import run_load

    settings = _settings()
    out = out or settings.home / "demo-city"
    services = _services(settings)
    migrate(services.graph)
    count = services.graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    if count:
        click.echo(f"database holds {count:,} subjects; demo city not loaded again")
        return
    from credgraph.graph.maintenance import count_nodes
    from credgraph.loaders.bulk import ALLOWED_BEFORE

    click.echo(f"generating the demo city ({subjects:,} subjects, seed {seed}) in {out}")
    generate(out, subjects=subjects, seed=seed)
    # an empty local database is built offline by neo4j-admin import, much faster
    bulk = not settings.external and not count_nodes(
        services.graph, exclude=[label.value for label in ALLOWED_BEFORE])
    run_load(services, [out], out / "rejects.csv", 5000, False, bulk)


@main.group()
def quality() -> None:
    """Data-quality checks."""


@quality.command("report")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("quality"), show_default=True,
              help="folder for quality.json and quality.html")
@click.option("--rejects", type=click.Path(path_type=Path), default=Path("rejects.csv"),
              show_default=True, help="the rejects file of the load to report on")
@click.option("--limit", type=click.IntRange(min=1), default=200, show_default=True,
              help="items listed of each long list (duplicates, orphans, stubs, departments); "
                   "`totals` and the page say how many there are in all")
@click.pass_context
def quality_report(ctx: click.Context, out: Path, rejects: Path, limit: int) -> None:
    """Duplicates, invalid identifiers, orphan records, missing fields: JSON and HTML."""
    from credgraph.queries.quality import build_report, write_report

    if not rejects.is_file():
        if ctx.get_parameter_source("rejects") is not click.core.ParameterSource.DEFAULT:
            raise click.BadParameter(f"{rejects}: no such file", param_hint="--rejects")
        click.echo(f"no {rejects} here: the last load's invalid identifiers and missing fields "
                   "are not in the report (give its rejects file with --rejects)", err=True)
    _writable_folder("--out", out)
    services = _services(_settings())
    report = build_report(services.graph, services.normaliser, rejects,
                          services.rules.resolution.contact_group_cap, limit)
    try:
        json_path, html_path = write_report(report, out)
    except OSError as exc:
        _unwritten("--out", out, exc)
    click.echo(f"{json_path}\n{html_path}")


def _unwritten(option: str, path: Path, exc: OSError) -> NoReturn:
    """Exit 2 naming the report file or folder a full disk or a refused folder kept from being
    written (nothing half-written is left: `credgraph.outputs`)."""
    _fail(f"{option} {path}: cannot write the report ({exc.strerror or exc})")


def _writable_folder(option: str, folder: Path) -> None:
    """Refuse, before any work is done, a folder that cannot be made or written in (under a
    file, on a read-only disk, a place the user may not write): exit 2 with one line, not a
    traceback after the work."""
    from credgraph.loaders.bundle import probe_writable

    try:
        probe_writable(folder)
    except OSError as exc:
        _fail(f"{option} {folder}: cannot write there ({exc.strerror or exc})")


@main.group()
def keys() -> None:
    """API keys (roles: admin, investigator, monitor, partner)."""


@keys.command("create")
@click.option("--name", required=True, help="who or what the key is for")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
def keys_create(name: str, role: str) -> None:
    """Create a key and print its token once (only its hash is stored)."""
    try:
        check_key_name(name)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--name") from None
    settings = _settings()
    with connect(settings) as graph:
        token = KeyStore(graph).create(name, Role(role))
    click.echo(f"{role} key for {name} (shown once, keep it safe):", err=True)
    click.echo(token)


def _port_taken(host: str, port: int) -> bool:
    """Another process listens on host:port (a bind with SO_REUSEADDR, as uvicorn's, fails
    with EADDRINUSE). Anything else — a name that does not resolve, a privileged port — is
    left to the server to report."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[0]
    except (OSError, IndexError):
        return False
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535),
              help="a TCP port, 1 to 65535")
@click.option("--access-log/--no-access-log", default=False, show_default=True,
              help="a text line per request (ID numbers masked); who asked what about whom is "
                   "in the audit log either way")
def serve(host: str, port: int, access_log: bool) -> None:
    """Serve the GraphQL API and explorer. Exit 2 at start when the partners file is bad or
    the port is taken."""
    import uvicorn

    from credgraph.api.app import create_app
    from credgraph.logs import LOG_CONFIG
    from credgraph.sharing.partners import PartnersError

    settings = _settings()
    if _port_taken(host, port):  # else: 'startup complete', then a JSON line and exit 3
        _fail(f"port {port} on {host} is in use by another process; stop it or choose another "
              f"with --port (make run PORT=…)")
    # the serving driver: an unreachable Neo4j is SERVICE_UNAVAILABLE after api_db_wait,
    # not after the batch commands' db_wait of retries
    try:
        app = create_app(Services.from_settings(settings, connect(settings, serving=True)))
    except (PartnersError, RulesError) as exc:  # no server that would fail every federatedCheck
        _fail(str(exc))
    # What start-up built (modules, the schema, models) lives as long as the process: frozen,
    # a full collection no longer walks its 100,000-odd objects — a 60–80 ms pause of some
    # request every few thousand, 5 ms after (measured on the 100k city, in-process).
    gc.collect()
    gc.freeze()
    # The per-request line is off unless asked for: the audit log already names the actor,
    # the operation and the subjects of every request that reads data, /metrics counts them
    # all, and the line cost the event loop ≈ 0.15 ms a request (5 % of a `subject` answer).
    # Structured logs (SPEC §10): a JSON object a line, ID numbers masked (credgraph.logs).
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=access_log,
                log_config=LOG_CONFIG)


# -- 信用报告 (credit report) ---------------------------------------------------------------------
@main.command("report")
@click.argument("subject_id")
@click.option("--pdf", "pdf", type=click.Path(path_type=Path),
              help="print the report to this PDF file (headless chromium)")
@click.option("--html", "html_file", type=click.Path(path_type=Path),
              help="write the report's HTML to this file")
@click.option("--as-of", type=ISO_DATE, help="the date of the data (default: today)")
@click.option("--purpose", help="查询事由, kept in the audit log")
def credit_report(subject_id: str, pdf: Path | None, html_file: Path | None,
                  as_of: dt.date | None, purpose: str | None) -> None:
    """The credit report (信用报告) of a subject by USCC, ID number or key: PDF with --pdf,
    HTML with --html, else HTML on stdout. Every report is audited."""
    from credgraph.outputs import write_text
    from credgraph.queries.audit import kept_purpose
    from credgraph.queries.report import ReportError, Requester, build_report, chromium, print_pdf
    from credgraph.queries.subjects import candidate_keys, find_subject
    from credgraph.schema.identifiers import IdentifierError

    try:
        browser = chromium() if pdf else None
    except ReportError as exc:
        _fail(str(exc))
    services = _services(_settings())
    try:
        row = find_subject(services.graph, candidate_keys(subject_id, services.privacy))
    except IdentifierError as exc:
        _fail(f"malformed id: {exc}")
    except neo4j.exceptions.DriverError as exc:
        _fail(_unreachable(services.settings, exc))
    if row is None:
        _fail("no subject with this id", 1)
        return
    # The local operator holds the database's own credentials: an administrator.
    requester = Requester(_operator(), Role.ADMIN.value, True, kept_purpose(purpose))
    page = build_report(services, row, requester, as_of)
    services.audit.stop()  # the audit event is written before the command ends
    if html_file:
        try:
            write_text(html_file, page)
        except OSError as exc:
            _unwritten("--html", html_file, exc)
    if pdf:
        try:
            print_pdf(page, pdf, browser)
        except ReportError as exc:
            _fail(str(exc))
        except OSError as exc:
            _unwritten("--pdf", pdf, exc)
        click.echo(f"report written to {pdf}", err=True)
    elif not html_file:
        click.echo(page)


# -- 政务诚信 (government integrity) -------------------------------------------------------------
def _subject_key(services: Services, value: str, agency: bool) -> str:
    """The graph key of an id given on the command line, or exit 2 saying what is wrong."""
    from credgraph.queries.subjects import candidate_keys, find_subject
    from credgraph.schema.identifiers import IdentifierError

    try:
        row = find_subject(services.graph, candidate_keys(value, services.privacy))
    except IdentifierError as exc:
        _fail(f"malformed id: {exc}")
    if row is None:
        _fail("no subject with this id")
    assert row is not None
    if agency and Label.AGENCY.value not in row["labels"]:
        _fail(f"{row['id']} is not an agency (机关) but {row.get('kind')}")
    return str(row["id"])


@main.group()
def integrity() -> None:
    """政务诚信: the agency integrity report and the procurement pre-check."""


def _audited(services: Services, operation: str, subjects: list[str]) -> None:
    """The audit event of a command that shows subjects, as the API's query of the same name
    writes it; the local operator holds the database's own credentials: an administrator."""
    from credgraph.queries.audit import AuditEvent

    services.audit.record(AuditEvent(actor=_operator(), role=Role.ADMIN.value,
                                     operation=operation, subjects=tuple(subjects)))
    services.audit.stop()  # written before the command ends


@integrity.command("report")
@click.option("--as-of", "as_of", type=ISO_DATE, default=None,
              help="the date the report is made as of (default today)")
@click.option("--agency", default=None, help="one agency's USCC")
@click.option("--region", default=None,
              help="division code or prefix: 371481 (乐陵市), 371400 or 3714 (德州)")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False),
              default=Path("integrity"), show_default=True,
              help="folder for integrity.json and integrity.html")
@click.option("--json", "as_json", is_flag=True, help="also print the report as JSON")
@click.option("--names", "full_names", is_flag=True,
              help="persons' names in full (masked by default: the report may leave the desk)")
def integrity_report(as_of: dt.date | None, agency: str | None, region: str | None,
                     out: Path, as_json: bool, full_names: bool) -> None:
    """G1–G5 per agency and per county, ranked worst first, with the evidence in words;
    audited as the API's integrityReport is (the agencies listed, the legal persons the
    findings name, and the persons shown with --names)."""
    import json

    from credgraph.queries import integrity as tracing
    from credgraph.schema.regions import region_prefix

    try:
        prefix = region_prefix(region) if region is not None else None
    except ValueError as exc:
        _fail(f"--region: {exc}")
    _writable_folder("--out", out)
    services = _services(_settings())
    key = _subject_key(services, agency, agency=True) if agency else None
    day = as_of or dt.date.today()
    report = tracing.integrity_report(services.graph, services.rules, day, key,
                                      prefix, timeout=600)
    data = tracing.report_data(report, mask_persons=not full_names)
    # as the API's event: the agencies listed, the legal persons their findings name, and
    # with --names the persons shown in full
    listed = [a.agency for a in report.agencies]
    organisations = tracing.organisations_named(
        (f for a in report.agencies for f in a.findings), report.subjects)
    named = sorted(sid for sid, row in report.subjects.items()
                   if row.get("person")) if full_names else []
    _audited(services, "integrityReport", list(dict.fromkeys([*listed, *organisations, *named])))
    try:
        json_path, html_path = tracing.write_report(data, out)
    except OSError as exc:
        _unwritten("--out", out, exc)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False, indent=2))
    else:
        flagged = [a for a in report.agencies if a.findings]
        click.echo(f"{len(report.agencies)} agencies, {len(flagged)} with findings, "
                   f"{sum(len(a.findings) for a in flagged)} findings as of {day}")
        for score in flagged[:10]:
            click.echo(f"{score.rank:>4}  {score.score:>3}  "
                       f"{report.subjects.get(score.agency, {}).get('name', score.agency)}  "
                       + " ".join(f"{p.value}×{n}" for p, (n, _) in score.counts().items()))
        click.echo(f"{json_path}\n{html_path}")


@integrity.command("check")
@click.argument("supplier")
@click.option("--as-of", "as_of", type=ISO_DATE, default=None,
              help="the date the check is made as of (default today)")
@click.option("--json", "as_json", is_flag=True, help="print the answer as JSON")
@click.option("--names", "full_names", is_flag=True, help="persons' names in full")
def integrity_check(supplier: str, as_of: dt.date | None, as_json: bool,
                    full_names: bool) -> None:
    """信用+审批 前置核查 of a supplier before an award. Exit 0: allowed; 1: barred. Audited as
    the API's procurementCheck is (the supplier, and the persons named with --names)."""
    import json

    from credgraph.queries.integrity import procurement_check

    services = _services(_settings())
    key = _subject_key(services, supplier, agency=False)
    day = as_of or dt.date.today()
    result = procurement_check(services.graph, services.rules, [key], day, not full_names)
    assert result is not None
    _audited(services, "procurementCheck", [key, *result.named])
    if as_json:
        click.echo(json.dumps({"supplier": key, "asOf": day.isoformat(),
                               "allowed": result.allowed, "reasons": result.reasons,
                               "warnings": result.warnings}, ensure_ascii=False, indent=2))
    else:
        click.echo(f"{key} as of {day}: {'allowed' if result.allowed else 'BARRED'}")
        for reason in result.reasons:
            click.echo(f"  reason:  {reason}")
        for warning in result.warnings:
            click.echo(f"  warning: {warning}")
    sys.exit(0 if result.allowed else 1)


# -- monitoring (失信风险预警): watchlists and monitoring runs ------------------------------------
def _watcher(services: Services, key_name: str | None) -> Watcher:
    from credgraph.queries.alerts import CITY, AlertError, key_watcher

    if key_name is None:
        return CITY
    try:
        return key_watcher(services.graph, key_name)
    except AlertError as exc:
        _fail(str(exc))


def _read_ids(ids: tuple[str, ...], file: Path | None) -> list[tuple[str, str]]:
    """(where, value) of every id given: arguments, or one per line of a file (the first cell
    of a CSV line; blank lines, # comments and a header line skipped; UTF-8 or GBK)."""
    found = [(f"argument {index}", value) for index, value in enumerate(ids, 1)]
    if file is not None:
        try:
            raw = file.read_bytes()
        except OSError as exc:
            _fail(f"{file}: {exc.strerror}")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            text = raw.decode("gb18030", errors="replace")
        for number, line in enumerate(text.splitlines(), 1):
            value = re.split(r"[,\t;]", line, maxsplit=1)[0].strip().strip('"')
            if not value or value.startswith("#"):
                continue
            if number == 1 and not any(char.isdigit() for char in value):
                continue  # a header: id, uscc, 统一社会信用代码 …
            found.append((f"{file.name} line {number}", value))
    if not found:
        _fail("give ids as arguments or --file FILE (one USCC, ID number or key per line)")
    return found


def _resolve_ids(services: Services, given: list[tuple[str, str]]
                 ) -> tuple[list[str], list[str]]:
    """Graph keys of the subjects given (ID numbers hashed on arrival), and the problems, each
    naming where the id came from but never repeating an ID number."""
    from credgraph.queries.subjects import candidate_keys, subjects_by_ids
    from credgraph.schema.identifiers import IdentifierError

    keys: dict[str, int] = {}
    problems: dict[int, str] = {}
    for position, (where, value) in enumerate(given):
        try:
            keys.setdefault(candidate_keys(value, services.privacy)[0], position)
        except IdentifierError as exc:
            problems[position] = f"{where}: malformed id ({scrub(str(exc))})"
    known = subjects_by_ids(services.graph, list(keys))
    for key, position in keys.items():
        if key not in known:
            problems[position] = f"{given[position][0]}: no subject with this id"
    return [key for key in keys if key in known], [problems[p] for p in sorted(problems)]


def _watch_report(verb: str, count: int, problems: list[str], listname: str,
                  as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({verb: count, "problems": problems}, ensure_ascii=False))
    else:
        click.echo(f"{count} subject(s) {verb} on {listname}")
        for problem in problems:
            click.echo(f"  {problem}", err=True)
    sys.exit(1 if problems else 0)


@main.group()
def watch() -> None:
    """Watchlists: the shared city watchlist, or an API key's own with --key NAME."""


@watch.command("add")
@click.argument("ids", nargs=-1)
@click.option("--file", type=click.Path(path_type=Path), help="one id per line")
@click.option("--key", "key_name", help="the API key (by name) whose watchlist to change")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def watch_add(ids: tuple[str, ...], file: Path | None, key_name: str | None,
              as_json: bool) -> None:
    """Watch subjects by USCC, ID number (hashed on arrival) or key. Exit 1 when some id
    was malformed or unknown (the others are watched)."""
    from credgraph.queries.alerts import watch as add

    given = _read_ids(ids, file)
    services = _services(_settings())
    watcher = _watcher(services, key_name)
    keys, problems = _resolve_ids(services, given)
    watched = add(services.graph, watcher, keys, _operator()) if keys else []
    listname = f"the watchlist of key {key_name}" if key_name else "the city watchlist"
    _watch_report("watched", len(watched), problems, listname, as_json)


@watch.command("remove")
@click.argument("ids", nargs=-1)
@click.option("--file", type=click.Path(path_type=Path), help="one id per line")
@click.option("--key", "key_name", help="the API key (by name) whose watchlist to change")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON")
def watch_remove(ids: tuple[str, ...], file: Path | None, key_name: str | None,
                 as_json: bool) -> None:
    """Stop watching subjects."""
    from credgraph.queries.alerts import unwatch

    given = _read_ids(ids, file)
    services = _services(_settings())
    watcher = _watcher(services, key_name)
    keys, problems = _resolve_ids(services, given)
    removed = unwatch(services.graph, watcher, keys) if keys else []
    listname = f"the watchlist of key {key_name}" if key_name else "the city watchlist"
    _watch_report("removed", len(removed), problems, listname, as_json)


@watch.command("list")
@click.option("--key", "key_name", help="the API key (by name) whose watchlist to show")
@click.option("--json", "as_json", is_flag=True, help="print the subjects as JSON")
def watch_list(key_name: str | None, as_json: bool) -> None:
    """The subjects on a watchlist (the city's unless --key)."""
    from credgraph.queries.alerts import watchlist

    services = _services(_settings())
    rows = watchlist(services.graph, _watcher(services, key_name))
    if as_json:
        click.echo(json.dumps([{"id": r["id"], "kind": r["kind"], "name": r["name"],
                                "region": r["region"], "since": str(r["since"])}
                               for r in rows], ensure_ascii=False))
        return
    for row in rows:
        click.echo(f"{row['id']:24} {row['kind'] or '':20} {row['name'] or ''}")
    click.echo(f"{len(rows)} subject(s) watched", err=True)


# Alerts per write transaction of a monitoring run: one holds the alerts, evidence included,
# in memory on both sides, so a bound keeps a typo (1000000) from becoming one huge write.
MAX_MONITOR_BATCH = 100_000


def _interval(text: str, as_json: bool = False) -> float:
    found = re.fullmatch(r"\s*(\d+)\s*([smhd]?)\s*", text)
    if not found or int(found.group(1)) == 0:
        _fail(f"--every {text!r}: give an interval such as 90s, 15m, 1h or 1d",
              as_json=as_json)
    return int(found.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[found.group(2)]


@main.group()
def monitor() -> None:
    """Monitoring jobs (失信风险预警): rules evaluated into deduplicated alerts."""


@monitor.command("run")
@click.option("--as-of", "as_of", type=ISO_DATE,
              help="evaluate as of this date (default today)")
@click.option("--jsonl", type=click.Path(path_type=Path, allow_dash=True),
              help="write the run's alerts, one JSON object per line ('-' for stdout)")
@click.option("--json", "as_json", is_flag=True,
              help='print {"new": n, "updated": n, "total": n}')
@click.option("--every", help="run again at this interval (15m, 1h …) until SIGTERM")
@click.option("--batch-size", default=1000, show_default=True,
              type=click.IntRange(1, MAX_MONITOR_BATCH),
              help="alerts per transaction; more spares round trips, fewer a busy server")
@click.option("--pause", default=0.0, show_default=True,
              help="seconds to wait between write batches, to spare a busy server")
def monitor_run(as_of: dt.date | None, jsonl: Path | None, as_json: bool,
                every: str | None, batch_size: int, pause: float) -> None:
    """Evaluate the monitoring rules once (or --every interval) and write the alerts.

    Exit 0: done; 2: could not run (nothing written); 3: another run holds the lock;
    143: stopped by SIGTERM before the end (run again to finish). With --every, SIGTERM
    stops the loop cleanly (exit 0) and a held lock skips that turn.
    """
    from credgraph.queries.monitoring import MonitorError, check_jsonl

    interval = _interval(every, as_json) if every else None
    if interval and as_of:
        _fail("--every runs as of each day it runs; leave out --as-of", as_json=as_json)
    if as_of and as_of > dt.date.today():
        # the watched subjects' scores would be dated then, and no run before that day would
        # compare with them: RISK_RISE silent until it
        _fail(f"--as-of {as_of} is ahead of today: monitoring watches what has happened",
              as_json=as_json)
    if as_json and jsonl is not None and str(jsonl) == "-":
        _fail("--json and --jsonl - both write to stdout; give --jsonl a file",
              as_json=as_json)
    try:
        check_jsonl(jsonl)
    except MonitorError as exc:
        _fail(str(exc), as_json=as_json)
    stop = threading.Event()
    previous = {signum: signal.signal(signum, lambda *_: stop.set())
                for signum in (signal.SIGTERM, signal.SIGINT)}
    try:
        _monitor_loop(as_of, jsonl, as_json, interval, batch_size, pause, stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _monitor_loop(as_of: dt.date | None, jsonl: Path | None, as_json: bool,
                  interval: float | None, batch_size: int, pause: float,
                  stop: threading.Event) -> None:
    from credgraph.graph.locks import LockHeld, LockLost
    from credgraph.queries.monitoring import (
        Interrupted,
        MonitorError,
        MonitorRun,
        jsonl_lines,
    )

    settings = _settings(as_json)
    try:
        if not settings.external:
            LocalNeo4j(settings).start()
        services = _services(settings)
        migrate(services.graph)
    except (RulesError, ServerError) as exc:  # a ServerError says why: the port is taken …
        _fail(str(exc), as_json=as_json)
    except (neo4j.exceptions.DriverError, neo4j.exceptions.Neo4jError) as exc:
        _fail(_refused(settings, exc) if refused(exc) else _unreachable(settings, exc),
              as_json=as_json)
    while not stop.is_set():
        day = as_of or dt.date.today()
        run = MonitorRun(services.graph, services.rules, day, services.risk_model,
                         batch_size=batch_size, pause=pause, stop=stop.is_set)
        try:
            result = run.run(jsonl)
        except LockHeld as exc:
            if interval is None:
                _fail(str(exc), code=3, as_json=as_json)
            click.echo(f"warning: {exc}", err=True)
        except Interrupted as exc:
            if interval is None:
                _fail(str(exc), code=143, as_json=as_json)
            break
        except (MonitorError, LockLost, OSError, neo4j.exceptions.DriverError,
                neo4j.exceptions.Neo4jError) as exc:
            message = (type(exc).__name__ if isinstance(exc, neo4j.exceptions.DriverError)
                       else scrub(str(exc)))
            if interval is None:
                _fail(f"monitoring run failed: {message}", as_json=as_json)
            click.echo(f"error: monitoring run failed: {message}", err=True)
        else:
            if jsonl is not None and str(jsonl) == "-":
                sys.stdout.writelines(jsonl_lines(result.alerts))
            if as_json:
                click.echo(json.dumps(result.counts()))
            else:
                rules = ", ".join(f"{k} {v}" for k, v in result.by_rule.items() if v)
                click.echo(f"monitor run {result.run} as of {day}: {result.new} new, "
                           f"{result.updated} updated, {result.total} alerts in all"
                           f"{' (' + rules + ')' if rules else ''} in {result.seconds:.1f} s",
                           err=jsonl is not None and str(jsonl) == "-")
            sys.stdout.flush()
        if interval is None or stop.wait(interval):
            break
    if interval is not None:
        click.echo("monitoring stopped", err=True)


@monitor.command("status")
def monitor_status() -> None:
    """Who holds the monitoring lock, and the last runs."""
    from credgraph.graph.locks import orphaned
    from credgraph.queries.monitoring import recent_runs

    services = _services(_settings())
    lock, runs = recent_runs(services.graph, 10)
    if lock and lock.get("owner") and lock.get("expired"):
        click.echo(f"lock of run {lock['owner']} on {lock['host']} pid {lock['pid']} expired "
                   f"at {lock['expiresAt']} (the run never released it); the next run takes "
                   "it over")
    elif lock and lock.get("owner"):
        gone = " — its process is gone; the next run takes it over" if orphaned(lock) else ""
        click.echo(f"lock held by run {lock['owner']} on {lock['host']} pid {lock['pid']} "
                   f"until {lock['expiresAt']}{gone}")
    else:
        click.echo("lock free")
    for run in runs:
        click.echo(f"{run['id']}  {run['status']:9} as of {run['asOf']}  started "
                   f"{run['startedAt']}  new {run['new']}  updated {run['updated']}  "
                   f"total {run['total']}  {run['seconds']} s")


# -- keys: list and revoke (issue 11) ------------------------------------------------------------
@keys.command("list")
@click.option("--json", "as_json", is_flag=True, help="print the keys as JSON")
def keys_list(as_json: bool) -> None:
    """Every key: name, role, token prefix, created, revoked (never a token or its hash)."""
    import json

    settings = _settings()
    with connect(settings) as graph:
        found = KeyStore(graph).list_keys()
    rows = [{"name": k["name"], "role": k["role"], "prefix": k["prefix"],
             "created": str(k["createdAt"])[:19],
             "revoked": str(k["revokedAt"])[:19] if k.get("revoked") else None} for k in found]
    if as_json:
        click.echo(json.dumps(rows, ensure_ascii=False, indent=2))
        return
    from rich.cells import cell_len

    # a Chinese name (监测岗) takes two terminal cells a character: padded by cells, not chars
    width = max([24, *(cell_len(str(row["name"])) for row in rows)])
    click.echo(f"{'name':{width}} {'role':13} {'prefix':8} {'created':20} status")
    for row in rows:
        status = f"revoked {row['revoked']}" if row["revoked"] else "active"
        name = str(row["name"]) + " " * (width - cell_len(str(row["name"])))
        click.echo(f"{name} {row['role']:13} {row['prefix']:8} {row['created']:20} {status}")


@keys.command("revoke")
@click.argument("name")
@click.option("--prefix", help="only the key whose token starts so (`keys list` shows it): "
                               "the old key of a rotation, not its successor of the same name")
def keys_revoke(name: str, prefix: str | None) -> None:
    """Revoke every active key of that name (or the one --prefix names); the API refuses it
    from then on (401)."""
    settings = _settings()
    with connect(settings) as graph:
        revoked = KeyStore(graph).revoke(name, prefix)
    with_prefix = f" with prefix {prefix}" if prefix else ""
    if not revoked:
        _fail(f"no active key named {name!r}{with_prefix} (see `credgraph keys list`)", code=1)
    click.echo(f"revoked {revoked} key(s) named {name}{with_prefix}")


@main.command()
@click.option("--as-of", "as_of", type=ISO_DATE, default=None,
              help="the date the rules are evaluated at, YYYY-MM-DD (default today)")
@click.option("--json", "as_json", is_flag=True, help="print the counts as JSON")
def escalate(as_of: dt.date | None, as_json: bool) -> None:
    """Run the 屡罚不改 escalation rules over the whole city; safe to run twice and to re-run
    after a crash. Prints what changed (EscalationRun)."""
    from credgraph.graph.locks import LockLost
    from credgraph.queries.escalation import EscalationRefused, check_run_date, run_escalation

    settings = _settings(as_json)
    day = as_of or dt.date.today()
    bar: Any = None

    def progress(done: int, total: int) -> None:
        nonlocal bar
        if bar is None and total and sys.stdout.isatty() and not as_json:
            bar = click.progressbar(length=total, label="writing escalations").__enter__()
        if bar is not None:
            bar.update(done - bar.pos)

    def waiting(holder: dict[str, Any]) -> None:
        click.echo(f"waiting for escalation run {holder['owner']} (on {holder['host']}, pid "
                   f"{holder['pid']}, since {holder['since']}) to finish …", err=True)

    try:
        if not settings.external:
            LocalNeo4j(settings).start()
        services = _services(settings)
        check_run_date(services.rules, day)
        if day > dt.date.today():
            click.echo(f"warning: --as-of {day} is ahead of today: the stored escalations are "
                       "brought to that day (those whose window will have passed are lifted); "
                       "a run as of today reopens them as they stood", err=True)
        migrate(services.graph)
        result = run_escalation(
            services.graph, services.rules, day, _operator(), progress, wait=None,
            waiting=waiting,
            before_write=lambda changed: _audited(services, "runEscalation", changed))
    except (ServerError, EscalationRefused, RulesError, LockLost) as exc:
        _fail(str(exc), as_json=as_json)
    except neo4j.exceptions.Neo4jError as exc:
        _fail(_refused(settings, exc) if refused(exc) else
              f"Neo4j refused the run ({exc.code}): {scrub(str(exc.message))}", as_json=as_json)
    except neo4j.exceptions.DriverError as exc:
        _fail(_unreachable(settings, exc), as_json=as_json)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    counts = result.as_dict()
    if as_json:
        click.echo(json.dumps(counts))
        return
    click.echo(f"escalation as of {counts.pop('asOf')}")
    for name, count in counts.items():
        click.echo(f"{name:10} {count:>9,}")


# -- inter-city sharing (区域信用共享) ----------------------------------------------------------
@main.group()
def partners() -> None:
    """Partner cities: the TOML file CREDGRAPH_PARTNERS names."""


@partners.command("check")
@click.option("--json", "as_json", is_flag=True, help="print one JSON object per partner")
def partners_check(as_json: bool) -> None:
    """Ask each partner's sharedCheck (an empty batch, audited there as a connectivity check)
    with the key it issued us. Exit 0: all answered; 1: some did not; 2: bad file."""
    import asyncio
    import json

    from credgraph.rules import Rules, RulesError
    from credgraph.sharing.client import CityAnswer, ask_partners
    from credgraph.sharing.partners import PartnersError, load_partners

    settings = _settings()
    try:
        rules = Rules.load(settings.rules_file)
        configured = load_partners(settings.partners)
    except (PartnersError, RulesError) as exc:
        _fail(str(exc))
    if not configured:
        click.echo("no partners configured (set CREDGRAPH_PARTNERS to a partners file)")
        return
    answers = asyncio.run(ask_partners(configured, [], "connectivity check (partners check)",
                                       rules.sharing))
    failed = 0
    for answer in answers:
        p = answer.partner
        if isinstance(answer, CityAnswer):
            ok, detail = True, "ok"
        else:  # a partner that refuses an empty batch as bad input has still taken our key
            ok = answer.error_code == "BAD_USER_INPUT"
            detail = "ok (key accepted)" if ok else answer.message
        failed += not ok
        if as_json:
            click.echo(json.dumps({"city": p.city, "code": p.code, "url": p.url, "ok": ok,
                                   "detail": detail, "ms": answer.elapsed_ms},
                                  ensure_ascii=False))
        else:
            warn = "  (plain http: ids cross the network unencrypted)" if p.plain_http else ""
            click.echo(f"{p.city} {p.code} {p.url}: {detail} ({answer.elapsed_ms} ms){warn}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
