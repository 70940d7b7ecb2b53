"""All configuration in one place: `CREDGRAPH_*` environment variables plus `NEO4J_*` for an
external server. Tests build their own `Settings` instead of mutating globals."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MIN_SECRET_BYTES = 16
# the schemes of the Neo4j driver's Bolt connections (its http:// is a preview, and no Bolt)
NEO4J_SCHEMES = ("bolt", "bolt+s", "bolt+ssc", "neo4j", "neo4j+s", "neo4j+ssc")


class Settings(BaseSettings):
    # an empty variable (CREDGRAPH_PARTNERS=) means "not set", not the current folder
    model_config = SettingsConfigDict(env_prefix="CREDGRAPH_", extra="ignore",
                                      env_ignore_empty=True)

    home: Path = Field(default=Path(".credgraph"), description="state folder: Neo4j, secrets")
    rules_file: Path | None = Field(default=None, description="TOML overriding rules defaults")
    secret: str | None = Field(default=None, description="HMAC/AES secret for personal data")

    # An external Neo4j (cluster, Aura): when `neo4j_uri` is set no local server is started.
    neo4j_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("NEO4J_URI", "CREDGRAPH_NEO4J_URI")
    )
    neo4j_user: str = Field(
        default="neo4j", validation_alias=AliasChoices("NEO4J_USER", "CREDGRAPH_NEO4J_USER")
    )
    neo4j_password: str | None = Field(
        default=None,
        validation_alias=AliasChoices("NEO4J_PASSWORD", "CREDGRAPH_NEO4J_PASSWORD"),
    )
    neo4j_database: str = Field(
        default="neo4j",
        validation_alias=AliasChoices("NEO4J_DATABASE", "CREDGRAPH_NEO4J_DATABASE"),
    )

    # The managed local server.
    neo4j_version: str = "5.26.30"
    # bounds: a value out of them stops every command at start (exit 2) naming the variable;
    # CREDGRAPH_BOLT_PORT=99999 ended `db start` in an OverflowError traceback, and
    # CREDGRAPH_TX_TIMEOUT=0 turned the Cypher time limit off without a word
    bolt_port: int = Field(default=7687, ge=1, le=65535)
    heap: str = "2g"
    pagecache: str = "2g"
    start_timeout: float = Field(default=120.0, gt=0)
    java: str = "java"
    jar_cache: Path = Field(
        default=Path.home() / ".cache" / "credgraph" / "neo4j",
        description="where the Maven-resolved Neo4j jars are kept between runs",
    )

    # Query limits (SPEC §10).
    tx_timeout: float = Field(default=10.0, gt=0)
    # Seconds an unreachable Neo4j is retried before giving up: the API answers
    # SERVICE_UNAVAILABLE after `api_db_wait`; batch commands (load, migrate …) ride out a
    # restart for `db_wait`.
    api_db_wait: float = Field(default=1.0, gt=0)
    db_wait: float = Field(default=30.0, gt=0)

    # Processes validating a load's rows beside the writer (0: one per core; 1: in process).
    load_workers: int = Field(default=0, ge=0)

    # Inter-city sharing (SPEC §9): the partner cities we ask; no file = no partners.
    partners: Path | None = Field(default=None, description="TOML file of partner cities")

    # The audit log is written off the request path: every this many milliseconds, or as soon
    # as this many events wait.
    audit_flush_ms: int = Field(default=200, gt=0)
    audit_batch: int = Field(default=500, ge=1)

    @field_validator("secret")
    @classmethod
    def _secret_long_enough(cls, value: str | None) -> str | None:
        if value is not None and len(value.encode()) < MIN_SECRET_BYTES:
            raise ValueError(f"must be at least {MIN_SECRET_BYTES} bytes (it keys every "
                             "person's opaque id and the encryption of ID numbers)")
        return value

    @field_validator("neo4j_uri")
    @classmethod
    def _bolt_uri(cls, value: str | None) -> str | None:
        """A URI the driver can open: the Bolt schemes only, no credentials in it. `http://`
        (the browser's address) ended every command but `db status` in a traceback asking for
        aiohttp, and `bolt://neo4j:secret@host` in the driver's traceback printing the URI
        with the password in it; every message names the URI, so it must hold none."""
        if value is None:
            return None
        try:
            parts = urlsplit(value)
            port = parts.port
        except ValueError:
            raise ValueError("is not a URI of the form bolt://host:7687 or "
                             "neo4j://host:7687") from None
        scheme = parts.scheme.lower()
        if scheme not in NEO4J_SCHEMES:
            raise ValueError(
                "must begin with bolt:// (one server) or neo4j:// (a cluster, Aura), +s or "
                "+ssc for TLS (bolt+s://, neo4j+ssc:// …): credgraph speaks Bolt, not HTTP")
        if "@" in parts.netloc:
            raise ValueError("must not hold a user or password: give them in NEO4J_USER and "
                             "NEO4J_PASSWORD")
        if not parts.hostname:
            raise ValueError("names no host (bolt://host:7687)")
        if port == 0:
            raise ValueError("port must be 1 to 65535")
        if parts.query and scheme.startswith("bolt"):
            raise ValueError("a routing context (?…) is for neo4j:// URIs only")
        return value

    @property
    def external(self) -> bool:
        return bool(self.neo4j_uri)

    @property
    def server_dir(self) -> Path:
        return self.home.resolve() / "neo4j"

    @property
    def bolt_uri(self) -> str:
        return self.neo4j_uri or f"bolt://127.0.0.1:{self.bolt_port}"


def settings_problems(error: ValidationError) -> list[str]:
    """Each refused setting as the variable to mend and why — never the value given, which
    may be a password or the secret."""
    problems = []
    for item in error.errors(include_input=False, include_url=False):
        name = str(item["loc"][0]) if item["loc"] else ""
        field = Settings.model_fields.get(name)
        alias = field.validation_alias if field else None
        if isinstance(alias, AliasChoices):
            variable = str(alias.choices[0])
        elif field is None and name.isupper():
            variable = name  # read from its alias (NEO4J_URI), which pydantic reports
        else:
            variable = f"CREDGRAPH_{name.upper()}"
        problems.append(f"{variable}: {item['msg'].removeprefix('Value error, ')}")
    return problems
