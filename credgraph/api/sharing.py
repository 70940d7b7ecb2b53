"""Inter-city sharing (区域信用共享, SPEC §8, §9): `sharedCheck`, which partner cities' keys
call, and `federatedCheck`, which asks every configured partner city at once."""

from __future__ import annotations

import datetime as dt
import logging
import unicodedata

import strawberry
from strawberry.types import Info

from credgraph.api.audit import ARGUMENT_PURPOSE, audit
from credgraph.api.auth import Role
from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.types import EscalationLevel, authorize, in_thread, services, today
from credgraph.queries.audit import kept_purpose
from credgraph.queries.sharing import (
    Asked,
    Status,
    grades_for,
    resolve_ids,
    statuses,
    take_quota,
)
from credgraph.sharing.client import CityAnswer, StatusAnswer, ask_partners

log = logging.getLogger("credgraph.api")


@strawberry.type(description="Penalties in force of one domain (领域)")
class DomainCount:
    domain: str
    count: int


@strawberry.type(description="What a partner city learns of one subject: never a name, an "
                             "address or an ID number. `id` is the USCC (or a malformed id) "
                             "as sent, or for a person the opaque key")
class SharedStatus:
    id: strawberry.ID
    found: bool
    severe_listings: int
    escalation: EscalationLevel | None
    active_penalties_by_domain: list[DomainCount]
    credit_grade: str | None

    @classmethod
    def of(cls, asked: Asked, status: Status | None, grade: str | None) -> SharedStatus:
        if status is None:
            return cls(id=strawberry.ID(asked.echo), found=False, severe_listings=0,
                       escalation=None, active_penalties_by_domain=[], credit_grade=None)
        return cls(id=strawberry.ID(asked.echo), found=True,
                   severe_listings=status.severe_listings, escalation=status.escalation,
                   active_penalties_by_domain=[DomainCount(domain=d, count=n)
                                               for d, n in status.penalties_by_domain],
                   credit_grade=grade)

    @classmethod
    def from_partner(cls, answer: StatusAnswer) -> SharedStatus:
        return cls(id=strawberry.ID(answer.id), found=answer.found,
                   severe_listings=answer.severe_listings, escalation=answer.escalation,
                   active_penalties_by_domain=[DomainCount(domain=d.domain, count=d.count)
                                               for d in answer.penalties_by_domain],
                   credit_grade=answer.credit_grade)


@strawberry.type(description="One partner city's answer, with its provenance")
class CityResult:
    city: str
    code: str
    statuses: list[SharedStatus]
    answered_at: dt.datetime


@strawberry.type(description="A partner city that did not answer usably, and why")
class CityError:
    city: str
    code: str
    message: str


@strawberry.type
class FederatedResult:
    results: list[CityResult]
    errors: list[CityError]


def checked_purpose(info: Info, ids: list[strawberry.ID], purpose: str) -> str:
    """The stated purpose, once the batch is within the limits."""
    rules = services(info).rules
    text = kept_purpose(purpose) or ""
    if not any(unicodedata.category(char)[0] not in "CZ" for char in text):
        # blank, or only invisible characters (a zero-width space, a BOM): nothing stated
        raise api_error(ErrorCode.BAD_USER_INPUT, "purpose must say why the subjects are checked")
    if len(text) > rules.sharing.max_purpose_length:
        raise api_error(ErrorCode.BAD_USER_INPUT, "purpose has more than "
                        f"{rules.sharing.max_purpose_length} characters")
    # stated: a refusal from here on is audited with it (audit.refusal_purpose)
    info.context.setdefault(ARGUMENT_PURPOSE, text)
    limit = rules.limits.max_batch_ids
    if len(ids) > limit:
        raise api_error(ErrorCode.LIMIT_EXCEEDED, f"{len(ids):,} ids are above the batch "
                        f"limit of {limit:,}")
    # the limit is a request's: aliased sharing fields (thirty sharedChecks of 1,000 ids, or
    # thirty federatedChecks fanning out to every partner) share it
    asked = info.context.get("batch_ids", 0) + len(ids)
    if asked > limit:
        raise api_error(ErrorCode.LIMIT_EXCEEDED, f"{asked:,} ids in this request's sharing "
                        f"fields are above the batch limit of {limit:,} a request")
    info.context["batch_ids"] = asked
    return text


async def on_record(info: Info, operation: str, keys: list[str], purpose: str) -> None:
    """A sharing call is in the audit log before it is answered (SPEC §8: every call)."""
    audit(info, operation, keys, purpose)
    await in_thread(services(info).audit.flush)


@strawberry.type
class SharingQuery:
    @strawberry.field(description="The sharing status of up to 1,000 subjects (USCC, ID number "
                                  "or opaque key), in the order asked; a malformed id is "
                                  "answered found: false. Audited with its purpose")
    async def shared_check(self, info: Info, ids: list[strawberry.ID],
                           purpose: str) -> list[SharedStatus]:
        who = authorize(info, "sharedCheck")
        why = checked_purpose(info, ids, purpose)
        svc = services(info)
        day = today()
        if who.role is Role.PARTNER:
            daily = svc.rules.sharing.daily_ids
            allowed, used = await in_thread(take_quota, svc.graph, who.key_id, day, len(ids),
                                            daily)
            if not allowed:
                raise api_error(ErrorCode.LIMIT_EXCEEDED,
                                f"{len(ids):,} more ids would pass this key's daily quota of "
                                f"{daily:,} ({used:,} checked today)")
        asked = resolve_ids([str(i) for i in ids], svc.privacy)
        keys = list(dict.fromkeys(a.key for a in asked if a.key))
        await on_record(info, "sharedCheck", keys, why)
        found = await in_thread(statuses, svc.graph, svc.rules, keys, day)
        grades = await in_thread(grades_for, svc.graph, svc.rules, sorted(found), day)
        return [SharedStatus.of(a, found.get(a.key or ""), grades.get(a.key or ""))
                for a in asked]

    @strawberry.field(description="Asks every partner city's sharedCheck at once: one result "
                                  "per city that answered, with provenance, and one error per "
                                  "city that did not. Audited with its purpose")
    async def federated_check(self, info: Info, ids: list[strawberry.ID],
                              purpose: str) -> FederatedResult:
        authorize(info, "federatedCheck")
        why = checked_purpose(info, ids, purpose)
        svc = services(info)
        asked = resolve_ids([str(i) for i in ids], svc.privacy)
        keys = list(dict.fromkeys(a.key for a in asked if a.key))
        await on_record(info, "federatedCheck", keys, why)
        answers = await ask_partners(svc.partners, asked, why, svc.rules.sharing)
        for failed in (a for a in answers if not isinstance(a, CityAnswer)):
            # an operator hears of a partner that keeps failing, not only the investigator
            log.warning("partner %s (%s) did not answer federatedCheck: %s (%d ms)",
                        failed.partner.city, failed.partner.code, failed.message,
                        failed.elapsed_ms)
            if (metrics := info.context.get("metrics")) is not None:
                metrics.partner_failures.labels(failed.partner.code).inc()
        return FederatedResult(
            results=[CityResult(city=a.partner.city, code=a.partner.code,
                                statuses=[SharedStatus.from_partner(s) for s in a.statuses],
                                answered_at=a.answered_at)
                     for a in answers if isinstance(a, CityAnswer)],
            errors=[CityError(city=a.partner.city, code=a.partner.code, message=a.message)
                    for a in answers if not isinstance(a, CityAnswer)],
        )
