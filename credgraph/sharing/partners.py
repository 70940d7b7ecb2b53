"""The partners file (SPEC §9): the cities we ask, one `[[partner]]` table each, in the TOML
file that `CREDGRAPH_PARTNERS` names.

```toml
[[partner]]
city = "滨州"
code = "371600"                        # a known 6-digit region code
url = "https://credit.binzhou.example/graphql"
key_env = "CREDGRAPH_KEY_BINZHOU"      # or key = "cg_…" (the partner key it issued us)
timeout_s = 5                          # default: the rules file's [sharing] partner_timeout_s
```
"""

from __future__ import annotations

import os
import re
import tomllib
import unicodedata
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from credgraph.schema.regions import region_prefix

LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# A name a shell can export: what `key_env` must be for the key ever to be found.
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PartnersError(ValueError):
    """The partners file cannot be used; the message names the entry and key (never a key's
    value)."""


class Partner(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    city: str = Field(min_length=1, max_length=50)
    code: str
    url: str
    key: str | None = Field(default=None, repr=False)
    key_env: str | None = None
    timeout_s: float | None = Field(default=None, gt=0, le=120)

    @field_validator("code", mode="before")
    @classmethod
    def _region_code(cls, value: object) -> str:
        """The city's 行政区划代码, checked as the API's region arguments are (a known code, not
        merely six digits): it is shown as the provenance of every answer. Written as a string
        or as a TOML integer (`code = 371600`: no region code starts with 0)."""
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not (isinstance(value, str) and len(value) == 6 and value.isascii()
                and value.isdigit()):
            raise ValueError('must be the city\'s 6-digit region code ("371600")')
        region_prefix(value)  # ValueError: unknown region …
        return value

    @field_validator("key")
    @classmethod
    def _some_key(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must be the partner key it issued us, not empty")
        return value

    @field_validator("key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.fullmatch(value):
            raise ValueError("must name an environment variable (CREDGRAPH_KEY_BINZHOU)")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s) URL of the partner's /graphql")
        return value

    @model_validator(mode="after")
    def _one_key(self) -> Partner:
        if (self.key is None) == (self.key_env is None):
            raise ValueError("give exactly one of key and key_env")
        return self

    @property
    def token(self) -> str | None:
        """The key the partner issued us; None when `key_env` names an unset variable."""
        return self.key if self.key is not None else os.environ.get(self.key_env or "")

    @property
    def plain_http(self) -> bool:
        """True when ids would cross a network unencrypted (http to another host)."""
        parts = urlsplit(self.url)
        return parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS


class PartnersFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    partner: list[Partner] = Field(default_factory=list)

    @model_validator(mode="after")
    def _distinct_codes(self) -> PartnersFile:
        codes = [p.code for p in self.partner]
        doubled = sorted({c for c in codes if codes.count(c) > 1})
        if doubled:
            raise ValueError(f"region code {', '.join(doubled)} is given to two partners")
        # the city is how a person tells results and errors apart: one name, one partner
        # (a copied entry whose code alone was changed would answer twice under one name)
        seen: dict[str, str] = {}  # compared name → the name as the first entry gives it
        twice: list[str] = []
        for partner in self.partner:
            name = _city_name(partner.city)
            if name not in seen:
                seen[name] = partner.city.strip()
            elif seen[name] not in twice:
                twice.append(seen[name])
        if twice:
            raise ValueError(f"city {', '.join(twice)} is given to two partners")
        return self


def _city_name(city: str) -> str:
    """A city's name as two entries are compared: NFKC, spaces and case ignored."""
    return "".join(unicodedata.normalize("NFKC", city).split()).casefold()


def load_partners(path: Path | None) -> tuple[Partner, ...]:
    """The configured partners; none without a file. A file that is named but missing or
    invalid is an error: a typo must not silently mean "no partners"."""
    if path is None:
        return ()
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise PartnersError(f"partners file {path} is bad: {exc}") from None
    except UnicodeDecodeError as exc:  # tomllib reads UTF-8 only; a GBK file says so here
        raise PartnersError(f"partners file {path} is bad: not UTF-8 text ({exc.reason} at "
                            f"byte {exc.start})") from None
    try:
        return tuple(PartnersFile.model_validate(data).partner)
    except ValidationError as exc:
        # the messages only, never `input` (it could be a key)
        problems = "; ".join(
            f"[{'.'.join(str(p) for p in err['loc'])}] {err['msg']}" if err["loc"]
            else err["msg"] for err in exc.errors())
        raise PartnersError(f"partners file {path} is bad: {problems}") from None
