"""Asking partner cities' `sharedCheck` concurrently (federatedCheck, `partners check`).

Each partner gets its own time limit; whatever goes wrong with one — down, slow, refusing our
key, HTTP 500, an answer that is not a sharedCheck answer, or too large — becomes a failure
for that city with a message a person can act on, never an exception for the whole call.
A partner's answer is validated against the ids sent before anyone sees it, and a failure
says only what we can vouch for (the HTTP status, the contract's error codes), never the
partner's own text, which may hold a name or a number.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from credgraph.api.errors import ErrorCode
from credgraph.graph.model import EscalationLevel
from credgraph.queries.sharing import Asked
from credgraph.rules import GRADE_NAME, SharingRules
from credgraph.schema.identifiers import IdentifierError, parse_uscc
from credgraph.schema.privacy import is_person_key, scrub
from credgraph.sharing.partners import Partner

SHARED_CHECK = """
query SharedCheck($ids: [ID!]!, $purpose: String!) {
  sharedCheck(ids: $ids, purpose: $purpose) {
    id found severeListings escalation activePenaltiesByDomain { domain count } creditGrade
  }
}
"""
CONTRACT_CODES = frozenset(code.value for code in ErrorCode)


class DomainCountAnswer(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    domain: str = Field(max_length=100)
    count: int = Field(ge=0)


class StatusAnswer(BaseModel):
    """One status as a partner sent it (the contract's camelCase names)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(max_length=200)
    found: bool
    severe_listings: int = Field(ge=0, alias="severeListings")
    escalation: EscalationLevel | None
    penalties_by_domain: list[DomainCountAnswer] = Field(alias="activePenaltiesByDomain")
    credit_grade: str | None = Field(pattern=f"^(?:{GRADE_NAME.pattern})$", max_length=20,
                                     alias="creditGrade")


@dataclass(frozen=True)
class CityAnswer:
    partner: Partner
    statuses: list[StatusAnswer]
    answered_at: dt.datetime
    elapsed_ms: int


@dataclass(frozen=True)
class CityFailure:
    partner: Partner
    message: str
    elapsed_ms: int
    error_code: str | None = None  # the partner's GraphQL error code, when it sent one


class _Refused(Exception):
    def __init__(self, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.error_code = error_code


async def _read_capped(response: httpx.Response, limit: int) -> bytes:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _Refused(f"answer larger than {limit:,} bytes")
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body.extend(chunk)
        if len(body) > limit:
            raise _Refused(f"answer larger than {limit:,} bytes")
    return bytes(body)


def _error_codes(payload: Any) -> list[str] | None:
    """The contract's codes among a GraphQL answer's errors, each once (None: no errors). The
    messages are not kept: a partner's text is its own — a masked number beside a person's
    name, an HTML error page — and a CityError shows only what we can vouch for."""
    errors = payload.get("errors") if isinstance(payload, dict) else None
    if not errors or not isinstance(errors, list):
        return None
    codes: list[str] = []
    for error in errors:
        extensions = error.get("extensions") if isinstance(error, dict) else None
        code = extensions.get("code") if isinstance(extensions, dict) else None
        if isinstance(code, str) and code in CONTRACT_CODES and code not in codes:
            codes.append(code)
    return codes


def _uscc(text: str) -> str | None:
    try:
        return parse_uscc(text).code
    except IdentifierError:
        return None


def _mismatch(asked: Asked, status: StatusAnswer) -> str | None:
    """What makes `status` no answer for the id we sent, judged as our own sharedCheck answers
    (SPEC §9), else None: an organisation's carries its USCC as sent (or normalised), a
    person's the partner's own opaque key — never an ID number, nor an organisation's USCC —,
    an id we cannot read whatever the partner made of it (its reading is its own; a version
    that folds or masks it differently is no liar). Otherwise a partner could hand an
    organisation asked by USCC someone else's status, or make us show a number."""
    organisation = asked.key is not None and not is_person_key(asked.key)
    if asked.key is None:
        matches = True
    elif organisation:
        matches = status.id == asked.echo or _uscc(status.id) == asked.key
    else:
        matches = _uscc(status.id) is None
    texts = [status.credit_grade or "", *(d.domain for d in status.penalties_by_domain)]
    if not (organisation and matches):  # the USCC we sent is ours to show, whatever its digits
        texts.append(status.id)
    if any(scrub(text) != text for text in texts):
        return "an unmasked ID number"
    return None if matches else "a status for an id other than the one sent"


def _statuses(status: int, body: bytes, asked: list[Asked]) -> list[StatusAnswer]:
    """The partner's statuses, one per id sent and in order, or _Refused saying what is wrong
    with the answer."""
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deep
        payload = None
    codes = _error_codes(payload)
    code, said = (codes[0], ", ".join(codes)) if codes else (None, "")
    if status in (401, 403):
        raise _Refused(f"refused our key (HTTP {status}{f' {said}' if said else ''})", code)
    if codes is not None:
        raise _Refused(f"answered HTTP {status} with {said or 'an error'}", code)
    if status != 200:
        raise _Refused(f"answered HTTP {status}")
    data = payload.get("data") if isinstance(payload, dict) else None
    items = data.get("sharedCheck") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _Refused("answered something that is not a sharedCheck answer")
    try:
        statuses = [StatusAnswer.model_validate(item) for item in items]
    except ValidationError as exc:
        where = ".".join(str(p) for p in exc.errors()[0]["loc"])
        raise _Refused(f"answered a malformed status ({where})") from None
    if len(statuses) != len(asked):
        raise _Refused(f"answered {len(statuses)} statuses for {len(asked)} ids")
    for number, (sent, answer) in enumerate(zip(asked, statuses, strict=True), 1):
        problem = _mismatch(sent, answer)
        if problem:
            raise _Refused(f"answered {problem} (status {number})")
    return statuses


async def ask_partner(client: httpx.AsyncClient, partner: Partner, asked: list[Asked],
                      purpose: str, rules: SharingRules) -> CityAnswer | CityFailure:
    """One partner's sharedCheck of the ids as sent, within its time limit."""
    started = time.perf_counter()
    timeout = partner.timeout_s or rules.partner_timeout_s

    def elapsed() -> int:
        return round((time.perf_counter() - started) * 1000)

    token = partner.token
    if not token:
        return CityFailure(partner, f"no key configured: set {partner.key_env}", elapsed())
    try:
        async with asyncio.timeout(timeout):
            async with client.stream(
                "POST", partner.url, json={"query": SHARED_CHECK, "variables": {
                    "ids": [a.sent for a in asked], "purpose": purpose}},
                headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
                timeout=httpx.Timeout(timeout),
            ) as response:
                body = await _read_capped(response, rules.max_partner_answer_bytes)
            statuses = _statuses(response.status_code, body, asked)
    except (TimeoutError, httpx.TimeoutException):
        return CityFailure(partner, f"no answer within {timeout:g} s", elapsed())
    except httpx.TransportError as exc:
        return CityFailure(partner, f"unreachable ({type(exc).__name__})", elapsed())
    except httpx.HTTPError as exc:  # a body its own Content-Encoding does not decode …
        return CityFailure(partner, f"answered something that could not be read "
                                    f"({type(exc).__name__})", elapsed())
    except _Refused as exc:
        return CityFailure(partner, str(exc), elapsed(), exc.error_code)
    return CityAnswer(partner, statuses, dt.datetime.now(dt.UTC), elapsed())


async def ask_partners(partners: tuple[Partner, ...] | list[Partner], asked: list[Asked],
                       purpose: str, rules: SharingRules) -> list[CityAnswer | CityFailure]:
    """Every partner at once; one answer or failure per partner, in the file's order."""
    if not partners:
        return []
    async with httpx.AsyncClient(follow_redirects=False) as client:
        return list(await asyncio.gather(
            *(ask_partner(client, p, asked, purpose, rules) for p in partners)))
