"""The audit log in the API (SPEC §9, §10): one line for a resolver to say who asked what about
whom — `audit(info, "riskAssessment", [center])` —, the schema extension that audits personal
data shown by a resolver that named nobody and the requests refused before any resolver
recorded them, and `auditLog` for admins."""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import AsyncIterator, Iterable, Iterator
from contextvars import ContextVar
from typing import Any
from urllib.parse import unquote

import strawberry
from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
)
from strawberry.extensions import SchemaExtension
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from credgraph.api.auth import KEY_NAME_MAX, Principal
from credgraph.api.errors import ErrorCode, api_error, classify
from credgraph.api.types import (
    FOUND,
    REVEALED,
    PageInfo,
    authorize,
    check_first,
    decode_cursor,
    encode_cursor,
    in_thread,
    keys_for,
    principal,
    root_key,
    services,
)
from credgraph.queries.audit import (
    MAX_PURPOSE,
    AuditEvent,
    AuditTrail,
    audit_log,
    kept_purpose,
)
from credgraph.queries.subjects import candidate_keys
from credgraph.schema.identifiers import IdentifierError, is_person_number
from credgraph.schema.privacy import Privacy, scrub

log = logging.getLogger("credgraph.api")
PURPOSE_HEADER = "x-purpose"
# A sharing field's `purpose` argument once it has passed its checks, kept in the request's
# context for the event of a refusal that comes after them (a batch over its limit, a partner
# key's daily quota), which no resolver records (see `refusal_purpose`).
ARGUMENT_PURPOSE = "argument_purpose"
AUDIT_PAGE = 100  # SPEC §9's `auditLog(first)`; an explicit null means it too
# The response keys of the top-level fields whose resolvers recorded an event in this request
# (None outside a GraphQL execution).
RECORDED: ContextVar[list[str] | None] = ContextVar("recorded", default=None)


def audit(info: Info, operation: str, subjects: Iterable[str],
          purpose: str | None = None) -> None:
    """Record that the caller ran `operation` about `subjects` (graph keys: USCC or `P…`),
    with the persons whose personal data the answer has shown so far. Returns at once: the
    event is written off the request path. `purpose` — kept whole: the query that takes it
    has bounded it — defaults to the `X-Purpose` header (percent-encoded UTF-8, as HTTP
    headers carry only ASCII), of which the first MAX_PURPOSE characters are kept."""
    svc = services(info)
    purpose = stated_purpose(info.context) if purpose is None else kept_purpose(purpose)
    record(svc.audit, principal(info), operation, subjects, purpose, svc.privacy,
           root_key(info))


def stated_purpose(context: dict[str, Any]) -> str | None:
    """The purpose the request states in its `X-Purpose` header, as the log keeps it:
    percent-encoded UTF-8, or UTF-8 sent as it is (curl does), which the server reads as
    Latin-1 — 案件 would be kept as æ¡ä»¶."""
    request = context.get("request")
    header = request.headers.get(PURPOSE_HEADER) if request is not None else None
    if not header:
        return None
    with contextlib.suppress(UnicodeError):  # Latin-1 text that is not UTF-8: as sent
        header = header.encode("latin-1").decode("utf-8")
    return (kept_purpose(unquote(header)) or "")[:MAX_PURPOSE] or None


def refusal_purpose(context: dict[str, Any]) -> str | None:
    """The purpose of an event that records a refusal: the `X-Purpose` header, else the
    purpose a sharing field stated as its argument before it was refused — a partner that
    states it the contract's way, as the argument, is still on record with it when its
    batch is over the limit."""
    return stated_purpose(context) or context.get(ARGUMENT_PURPOSE)


def record(trail: AuditTrail, who: Principal, operation: str, subjects: Iterable[str],
           purpose: str | None, privacy: Privacy, key: str | None = None) -> None:
    """Queue the event; `purpose` as it is kept (scrubbed, bounded); `key` is the response key
    of the top-level field it is recorded for."""
    named = list(dict.fromkeys(safe_key(s, privacy) for s in subjects))
    revealed = REVEALED.get()
    if revealed:
        named += sorted(revealed - set(named))
        revealed.clear()
    trail.record(AuditEvent(actor=who.name, role=who.role.value, operation=operation,
                            subjects=tuple(named),
                            purpose=purpose))
    recorded = RECORDED.get()
    if recorded is not None:
        recorded.append(key or operation)


def safe_key(value: str, privacy: Privacy) -> str:
    """A subject as the log keeps it: a raw ID number never, its opaque key instead."""
    if is_person_number(value):
        try:
            return candidate_keys(value, privacy)[0]
        except IdentifierError:
            return scrub(value)
    return scrub(value)


def root_fields(document: DocumentNode | None, operation: str | None) -> list[str]:
    """The top-level fields an operation asks for, those its fragments (`... on Query`,
    `...F`) select included, once each in the order written."""
    return list(dict.fromkeys(root_selections(document, operation).values()))


def root_selections(document: DocumentNode | None, operation: str | None) -> dict[str, str]:
    """The top-level fields an operation asks for by the key they answer under (an alias, else
    the field's name), those its fragments select included, in the order written."""
    if document is None:
        return {}
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    names: dict[str, str] = {}

    def collect(selection_set: SelectionSetNode, spread: frozenset[str]) -> None:
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                key = selection.alias.value if selection.alias else selection.name.value
                names.setdefault(key, selection.name.value)
            elif isinstance(selection, InlineFragmentNode):
                collect(selection.selection_set, spread)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name in fragments and name not in spread:
                    collect(fragments[name].selection_set, spread | {name})

    for definition in document.definitions:
        if isinstance(definition, OperationDefinitionNode) and (
                operation is None or (definition.name and definition.name.value == operation)):
            collect(definition.selection_set, frozenset())
            return names
    return {}


def not_answered(fields: Iterable[str], codes: Iterable[str]) -> str:
    """A refusal's operation as the log keeps it: `<fields> (not answered: CODES)`."""
    return f"{'+'.join(fields) or 'query'} (not answered: {', '.join(sorted(set(codes)))})"


def refused_beside(document: DocumentNode | None, operation: str | None,
                   errors: list[GraphQLError], recorded: list[str],
                   found: list[tuple[str, str]]) -> tuple[str, tuple[str, ...]] | None:
    """`<fields> (not answered: CODES)` for the top-level fields refused in a request whose
    other fields were answered and recorded — a partner's `subject` beside its `sharedCheck` —,
    with the subjects those fields had found before they were refused; else None. A field
    refused at its root whose resolver recorded no event is kept — by its response key: a
    `riskAssessment` refused beside another, answered one under an alias is kept too —, so
    that an answered field beside it never hides who tried what about whom."""
    at_root = [(str(error.path[0]), error) for error in errors
               if error.path and len(error.path) == 1]
    if not at_root:
        return None  # the common case: the document is not walked again
    keys = root_selections(document, operation)
    refused: dict[str, set[str]] = {}
    refused_keys: set[str] = set()
    for key, error in at_root:
        if key not in recorded:
            refused.setdefault(keys.get(key, key), set()).add(classify(error).value)
            refused_keys.add(key)
    if not refused:
        return None
    subjects = tuple(dict.fromkeys(sid for key, sid in found if key in refused_keys))
    return not_answered(refused, set().union(*refused.values())), subjects


class AuditReveals(SchemaExtension):
    """Every PII reveal is audited: persons shown with their name unmasked or their masked ID
    number (`Subject.from_row` notes them) that no `audit()` call of the request named, with
    the purpose the request states. So is every request its resolvers refused before
    recording anything (a partner asking for `subject`, a mutation refused, a batch over the
    limit), and every top-level field refused beside answered ones: who tried what, and the
    codes it was answered with — naming the subjects a resolver had found by the ids sent
    before refusing (a `confirmEscalation` inside the notice period), none otherwise. A
    request refused when its document was validated (a `sharedCheck` without its `purpose`
    argument, more aliases than the limit) never executes: it is recorded here too."""

    def on_validate(self) -> Iterator[None]:
        yield
        context = self.execution_context
        errors = context.pre_execution_errors
        request = context.context if isinstance(context.context, dict) else {}
        who = request.get("principal")
        if not errors or not isinstance(who, Principal):
            return  # the common case: a valid document, executed (and audited) next
        # an invalid document may name fields no schema has (`{ x<ID number> }`): kept as such
        schema = context.schema._schema
        known = {name for root in (schema.query_type, schema.mutation_type) if root
                 for name in root.fields}
        asked = root_fields(context.graphql_document, context.operation_name)
        fields = dict.fromkeys(name if name in known else "unknown field" for name in asked)
        request["services"].audit.record(AuditEvent(
            actor=who.name, role=who.role.value,
            operation=not_answered(fields, (classify(error).value for error in errors)),
            subjects=(), purpose=refusal_purpose(request)))

    def on_execute(self) -> Iterator[None]:
        REVEALED.set(set())
        RECORDED.set([])
        FOUND.set([])
        yield
        left = REVEALED.get()
        recorded = RECORDED.get()
        found = FOUND.get() or []
        REVEALED.set(None)
        RECORDED.set(None)
        FOUND.set(None)
        context = self.execution_context.context
        who = context.get("principal")
        result = self.execution_context.result
        errors = (result.errors if result is not None else None) or []
        refused = not left and not recorded and bool(errors)
        document = self.execution_context.graphql_document
        name = self.execution_context.operation_name
        beside = refused_beside(document, name, errors, recorded, found) if recorded else None
        if who is None or not (left or refused or beside):
            return  # the common case: the resolvers recorded what they showed
        if left or refused:
            fields = root_fields(document, name)
            operation = (not_answered(fields, (classify(error).value for error in errors))
                         if refused else "+".join(fields) or "query")
            context["services"].audit.record(AuditEvent(
                actor=who.name, role=who.role.value, operation=operation,
                subjects=tuple(sorted(left)) if left else tuple(
                    dict.fromkeys(sid for _, sid in found)),
                purpose=refusal_purpose(context) if refused else stated_purpose(context)))
        if beside:
            context["services"].audit.record(AuditEvent(
                actor=who.name, role=who.role.value, operation=beside[0], subjects=beside[1],
                purpose=refusal_purpose(context)))


class MutationsAuditedFirst(SchemaExtension):
    """A mutation's events are written before its answer leaves: queued, they waited up to
    `CREDGRAPH_AUDIT_FLUSH_MS` for the writer, so a server killed right after answering left
    a committed repair or confirmation with no trace in the log (SPEC §8: every step is
    audited). Listed before `AuditReveals`, so that the events it records after execution
    are written too; queries keep the writer's batching."""

    async def on_execute(self) -> AsyncIterator[None]:
        yield
        context = self.execution_context
        request = context.context if isinstance(context.context, dict) else {}
        svc = request.get("services")
        if svc is None or context.operation_type is not OperationType.MUTATION:
            return
        try:
            await in_thread(svc.audit.flush)
        except Exception as exc:  # Neo4j away: the events stay queued, the writer retries
            log.error("a mutation's audit events are not written yet: %s", type(exc).__name__)


@strawberry.type
class AuditEntry:
    id: strawberry.ID
    at: dt.datetime
    actor: str
    role: str
    operation: str
    subjects: list[strawberry.ID]
    purpose: str | None


@strawberry.type
class AuditEdge:
    node: AuditEntry
    cursor: str


@strawberry.type
class AuditConnection:
    edges: list[AuditEdge]
    page_info: PageInfo
    total_count: int


@strawberry.type
class AuditQuery:
    @strawberry.field(description="The audit log, newest first (admin only): by subject (any "
                                  "id form), actor (key name) and time")
    async def audit_log(self, info: Info, subject: strawberry.ID | None = None,
                        actor: str | None = None, since: dt.datetime | None = None,
                        first: int | None = AUDIT_PAGE,
                        after: str | None = None) -> AuditConnection:
        authorize(info, "auditLog")
        first = AUDIT_PAGE if first is None else first
        check_first(info, first)
        key = keys_for(info, str(subject))[0] if subject is not None else None
        if actor is not None and not 0 < len(actor) <= KEY_NAME_MAX:
            raise api_error(ErrorCode.BAD_USER_INPUT,
                            f"actor must have 1 to {KEY_NAME_MAX} characters")
        if since is not None and since.tzinfo is None:
            since = since.replace(tzinfo=dt.UTC)
        cursor = decode_cursor("auditLog", after) if after is not None else None
        svc = services(info)
        await in_thread(svc.audit.flush)  # what was asked until now is in the answer
        page = await in_thread(audit_log, svc.graph, key, actor, since, first, cursor)
        audit(info, "auditLog", [key] if key else [])
        edges = [AuditEdge(node=AuditEntry(
            id=strawberry.ID(row["id"]), at=row["at"], actor=row["actor"], role=row["role"],
            operation=row["operation"], subjects=[strawberry.ID(s) for s in row["subjects"]],
            purpose=row.get("purpose")),
            cursor=encode_cursor("auditLog", row["at"], row["id"]))
            for row in page.entries]
        return AuditConnection(
            edges=edges, total_count=page.total,
            page_info=PageInfo(has_next_page=page.has_next,
                               end_cursor=edges[-1].cursor if edges else None))
