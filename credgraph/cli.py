"""The `credgraph` command (SPEC §9 CLI contract)."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import neo4j.exceptions

from credgraph.api.auth import KeyStore, Role
from credgraph.graph.driver import connect
from credgraph.graph.maintenance import delete_all
from credgraph.graph.migrations import CURRENT_VERSION, migrate, schema_version
from credgraph.graph.model import Label
from credgraph.graph.server import LocalNeo4j, ServerError
from credgraph.schema.privacy import scrub
from credgraph.services import Services
from credgraph.settings import Settings


def _settings() -> Settings:
    return Settings()


def _fail(message: str, code: int = 2) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


@click.group()
def main() -> None:
    """credgraph — the public credit graph (公共信用信息平台)."""


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
        status = LocalNeo4j(settings).status()
        click.echo(f"neo4j {status.detail}" + (f" (pid {status.pid})" if status.pid else "")
                   + f" at {status.uri}")
        if not status.running:
            sys.exit(1)
    try:
        with connect(settings) as graph:
            version = schema_version(graph)
    except Exception as exc:
        _fail(f"cannot reach neo4j: {type(exc).__name__}: {exc}", code=1)
    state = "current" if version == CURRENT_VERSION else f"expected {CURRENT_VERSION}"
    click.echo(f"schema version {version} ({state})")


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
@click.option("--batch-size", default=5000, show_default=True)
def load(paths: tuple[Path, ...], as_json: bool, rejects: Path, batch_size: int) -> None:
    """Load a data bundle (folders or files). Exit 0: all loaded; 1: some rows rejected;
    2: the load could not run."""
    from credgraph.loaders.bundle import BundleError
    from credgraph.loaders.report import run_load

    settings = _settings()
    try:
        if not settings.external:
            LocalNeo4j(settings).start()
        services = _services(settings)
        services.graph.driver.verify_connectivity()
        migrate(services.graph)
        summary = run_load(services, list(paths), rejects, batch_size, as_json)
    except (BundleError, ServerError) as exc:
        _fail(str(exc))
    except neo4j.exceptions.Neo4jError as exc:
        _fail(f"Neo4j refused a write ({exc.code}): {scrub(str(exc.message))}")
    except neo4j.exceptions.DriverError as exc:
        _fail(f"cannot reach Neo4j at {settings.bolt_uri}: {type(exc).__name__}")
    sys.exit(1 if summary.rejected else 0)


@main.group()
def demo() -> None:
    """The demo city (德州)."""


@demo.command("generate")
@click.option("--subjects", default=20000, show_default=True)
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
@click.option("--subjects", default=20000, show_default=True)
@click.option("--seed", default=371400, show_default=True)
@click.option("--out", type=click.Path(path_type=Path), default=Path(".credgraph/demo-city"),
              show_default=True)
def demo_ensure(subjects: int, seed: int, out: Path) -> None:
    """Generate and load the demo city when the database holds no subjects."""
    from credgraph.loaders.demo import generate
    from credgraph.loaders.report import run_load

    settings = _settings()
    services = _services(settings)
    migrate(services.graph)
    count = services.graph.read("MATCH (n:Subject) RETURN count(n) AS n")[0]["n"]
    if count:
        click.echo(f"database holds {count:,} subjects; demo city not loaded again")
        return
    click.echo(f"generating the demo city ({subjects:,} subjects, seed {seed}) in {out}")
    generate(out, subjects=subjects, seed=seed)
    run_load(services, [out], out / "rejects.csv", 5000, False)


@main.group()
def quality() -> None:
    """Data-quality checks."""


@quality.command("report")
@click.option("--out", type=click.Path(path_type=Path), default=Path("quality"),
              show_default=True)
def quality_report(out: Path) -> None:
    """Duplicates, invalid identifiers, orphan records, missing fields: JSON and HTML."""
    from credgraph.queries.quality import build_report, write_report

    services = _services(_settings())
    report = build_report(services.graph, Path("rejects.csv"))
    json_path, html_path = write_report(report, out)
    click.echo(f"{json_path}\n{html_path}")


@main.group()
def keys() -> None:
    """API keys (roles: admin, investigator, monitor, partner)."""


@keys.command("create")
@click.option("--name", required=True, help="who or what the key is for")
@click.option("--role", required=True, type=click.Choice([r.value for r in Role]))
def keys_create(name: str, role: str) -> None:
    """Create a key and print its token once (only its hash is stored)."""
    settings = _settings()
    with connect(settings) as graph:
        token = KeyStore(graph).create(name, Role(role))
    click.echo(f"{role} key for {name} (shown once, keep it safe):", err=True)
    click.echo(token)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
def serve(host: str, port: int) -> None:
    """Serve the GraphQL API and explorer."""
    import uvicorn

    from credgraph.api.app import create_app
    from credgraph.sharing.partners import PartnersError

    settings = _settings()
    services = Services.from_settings(settings, connect(settings, serving=True))
    try:  # read at start: a bad partners file stops serve here, not a later federatedCheck
        cities = ", ".join(f"{p.city} ({p.code})" for p in services.partners)
    except PartnersError as exc:
        _fail(str(exc))
    click.echo(f"partner cities: {cities or 'none'}")
    app = create_app(services)
    uvicorn.run(app, host=host, port=port, log_level="info")


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
