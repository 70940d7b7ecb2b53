"""API keys and roles (SPEC §10): tokens are shown once and stored only as SHA-256 hashes;
each role may run a declared set of queries."""

from __future__ import annotations

import hashlib
import secrets
import time
import unicodedata
from dataclasses import dataclass
from enum import StrEnum

from credgraph.graph.driver import Graph
from credgraph.schema.privacy import scrub


class Role(StrEnum):
    ADMIN = "admin"
    INVESTIGATOR = "investigator"
    MONITOR = "monitor"
    PARTNER = "partner"


_INVESTIGATION = frozenset({
    "subject", "subjects", "searchSubjects", "associations", "riskAssessment", "ultimateOwners",
    "repeatOffenders", "inspectionPlan", "integrityReport", "countyIntegrity",
    "conflictsOfInterest",
    "procurementCheck", "federatedCheck", "fileObjection", "objections", "repairs",
    "riskLevels", "creditReport",
})
_CASEWORK = frozenset({"alerts", "updateAlert", "watch", "unwatch", "watchlist"})
_ADMINISTRATION = frozenset({"runEscalation", "confirmEscalation", "requestRepair",
                             "resolveObjection", "auditLog", "sharedCheck"})
# Which top-level fields each role may ask for (SPEC §9 "Roles"). Partners see only the
# sharing query; monitoring jobs read subjects, risk and escalations, draw the 双随机
# inspection plan and work their alerts. SPEC §9 gives inspectionPlan no role limit, so
# investigators draw the plan too.
ROLE_FIELDS: dict[Role, frozenset[str]] = {
    Role.ADMIN: _INVESTIGATION | _CASEWORK | _ADMINISTRATION,
    Role.INVESTIGATOR: _INVESTIGATION | _CASEWORK,
    Role.MONITOR: frozenset({"subject", "subjects", "searchSubjects", "riskAssessment",
                             "riskLevels", "repeatOffenders", "inspectionPlan"}) | _CASEWORK,
    Role.PARTNER: frozenset({"sharedCheck"}),
}
# Roles that may introspect the schema (the explorer does): not a partner city's key.
INTROSPECTING_ROLES = frozenset({Role.ADMIN, Role.INVESTIGATOR, Role.MONITOR})
# Roles that may see the masked ID number; others see the name masked too.
PII_ROLES = frozenset({Role.ADMIN, Role.INVESTIGATOR})


@dataclass(frozen=True)
class Principal:
    key_id: str
    name: str
    role: Role

    def may(self, field: str) -> bool:
        return field in ROLE_FIELDS[self.role]


# A key's name is the actor of every audit event its requests write, and what `auditLog`
# filters by: this long at most.
KEY_NAME_MAX = 200


def check_key_name(value: str) -> str:
    """A key's name as the audit log will show it; ValueError says what is wrong with it."""
    if not value.strip() or len(value) > KEY_NAME_MAX:
        raise ValueError(f"a key's name has 1 to {KEY_NAME_MAX} characters, not only spaces")
    if value != value.strip():
        raise ValueError("a key's name has no leading or trailing spaces")
    if any(unicodedata.category(c)[0] == "C" or c in "\u2028\u2029" for c in value):
        raise ValueError("a key's name is one line of text: no tabs, line breaks, control or "
                         "invisible characters")
    if scrub(value) != value:  # the actor of every audit event: stored and shown as it is
        raise ValueError("a key's name holds no ID number (name the person or the office)")
    return value


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


CREATE_KEY = """
CREATE (k:ApiKey {id: $id, name: $name, role: $role, prefix: $prefix,
                  createdAt: datetime(), revoked: false})
"""
FIND_KEY = "MATCH (k:ApiKey {id: $id}) WHERE NOT k.revoked RETURN k.name AS name, k.role AS role"
LIST_KEYS = """
MATCH (k:ApiKey)
WITH k ORDER BY k.createdAt, k.name
RETURN collect(k {.name, .role, .prefix, .createdAt, .revoked, .revokedAt}) AS rows
"""
REVOKE_KEYS = """
MATCH (k:ApiKey {name: $name}) WHERE NOT k.revoked AND ($prefix IS NULL OR k.prefix = $prefix)
SET k.revoked = true, k.revokedAt = datetime()
RETURN count(k) AS revoked
"""


class KeyStore:
    """Keys in Neo4j. A lookup is remembered for `ttl` seconds, so a burst of requests costs
    one round trip, and a key revoked elsewhere (`credgraph keys revoke`) is refused within
    that second; one revoked through this store is refused at once."""

    # Lookups remembered at most: every token sent is remembered, unknown ones too, and
    # anyone may send tokens — without a bound, a stream of made-up keys (no key needed to
    # send one) grew the process by about 200 bytes each, for ever.
    MAX_REMEMBERED = 10_000

    def __init__(self, graph: Graph, ttl: float = 1.0) -> None:
        self.graph = graph
        self.ttl = ttl
        self._cache: dict[str, tuple[float, Principal | None]] = {}

    def create(self, name: str, role: Role) -> str:
        token = "cg_" + secrets.token_urlsafe(32)
        self.graph.write(CREATE_KEY, {"id": token_hash(token), "name": check_key_name(name),
                                      "role": role.value, "prefix": token[:7]})
        return token

    def cached(self, token: str) -> tuple[bool, Principal | None]:
        """(True, principal or None) when the answer is known without Neo4j, else (False, None)."""
        if not token.startswith("cg_") or len(token) > 100:
            return True, None
        found = self._cache.get(token_hash(token))
        if found and time.monotonic() - found[0] < self.ttl:
            return True, found[1]
        return False, None

    def lookup(self, token: str) -> Principal | None:
        known, principal = self.cached(token)
        if known:
            return principal
        digest = token_hash(token)
        now = time.monotonic()
        rows = self.graph.read(FIND_KEY, {"id": digest})
        principal = (Principal(digest[:12], rows[0]["name"], Role(rows[0]["role"]))
                     if rows else None)
        if len(self._cache) >= self.MAX_REMEMBERED:
            self._forget(now)
        self._cache[digest] = (now, principal)
        return principal

    def _forget(self, now: float) -> None:
        """Drop the lookups older than `ttl` (no use any more), and all of them if every one
        is fresh (a flood within the second): the next request of a key looks it up again."""
        entries = list(self._cache.items())  # a copy: lookups in other threads add to it
        fresh = {digest: entry for digest, entry in entries if now - entry[0] < self.ttl}
        self._cache = fresh if len(fresh) < self.MAX_REMEMBERED else {}

    def list_keys(self) -> list[dict[str, object]]:
        """Every key with its name, role, token prefix, creation and revocation; never a
        token or its hash."""
        return self.graph.read_rows(LIST_KEYS)

    def revoke(self, name: str, prefix: str | None = None) -> int:
        """Revoke every active key of that name — only the one whose token starts with
        `prefix` when given (the old key of a rotation, whose new key has the same name);
        returns how many."""
        revoked = int(self.graph.write(REVOKE_KEYS, {"name": name,
                                                     "prefix": prefix})[0]["revoked"])
        self._cache = {digest: entry for digest, entry in list(self._cache.items())
                       if entry[1] is None or entry[1].name != name}
        return revoked


class RateLimiter:
    """A token bucket per key: `per_minute` requests, bursts up to the same number."""

    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60.0
        self.capacity = float(per_minute)
        self._buckets: dict[str, tuple[float, float]] = {}

    def allow(self, key: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens < 1:
            self._buckets[key] = (tokens, now)
            return False
        self._buckets[key] = (tokens - 1, now)
        return True

    def wait(self, key: str) -> float:
        """Seconds until `key` may make its next request (0 when it may now)."""
        tokens, last = self._buckets.get(key, (self.capacity, time.monotonic()))
        tokens = min(self.capacity, tokens + (time.monotonic() - last) * self.rate)
        return max(0.0, (1 - tokens) / self.rate)
