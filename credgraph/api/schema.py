"""The GraphQL schema (SPEC §9). Resolvers are thin: they parse, call `credgraph.queries`,
and shape the answer."""

from __future__ import annotations

import datetime as dt
from enum import Enum
from typing import Any

import strawberry
from strawberry.types import Info

from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.services import Services
from credgraph.graph import model
from credgraph.queries.subjects import candidate_keys, find_subject
from credgraph.schema.identifiers import IdentifierError
from credgraph.schema.regions import region_name

SubjectKind = strawberry.enum(Enum("SubjectKind", {k.name: k.value for k in model.SubjectKind}))
RecordKind = strawberry.enum(Enum("RecordKind", {k.name: k.value for k in model.RecordKind}))
RecordStatus = strawberry.enum(
    Enum("RecordStatus", {k.name: k.value for k in model.RecordStatus})
)
RelationType = strawberry.enum(
    Enum("RelationType", {k.name: k.value for k in model.RelationType})
)


@strawberry.type
class CreditRecord:
    id: strawberry.ID
    kind: RecordKind  # type: ignore[valid-type]
    domain: str | None
    severity: str | None
    status: RecordStatus  # type: ignore[valid-type]
    date: dt.date | None
    title: str | None
    authority: str | None


@strawberry.type
class Subject:
    id: strawberry.ID
    kind: SubjectKind  # type: ignore[valid-type]
    name: str
    region: str | None
    status: str | None
    id_masked: str | None

    @strawberry.field
    def region_name(self) -> str | None:
        return region_name(self.region)

    @strawberry.field
    def records(
        self, info: Info, kind: RecordKind | None = None,  # type: ignore[valid-type]
        active_only: bool | None = None,
    ) -> list[CreditRecord]:
        return []

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Subject:
        return cls(
            id=strawberry.ID(row["id"]),
            kind=SubjectKind(row.get("kind") or "OTHER_ORG"),
            name=row.get("name") or "",
            region=row.get("region"),
            status=row.get("status"),
            id_masked=row.get("idMasked"),
        )


def services(info: Info) -> Services:
    return info.context["services"]  # type: ignore[no-any-return]


@strawberry.type
class Query:
    @strawberry.field(description="A subject by USCC, raw ID number (hashed on arrival) or key")
    def subject(self, info: Info, id: strawberry.ID) -> Subject | None:
        svc = services(info)
        try:
            keys = candidate_keys(str(id), svc.privacy)
        except IdentifierError as exc:
            raise api_error(ErrorCode.BAD_USER_INPUT, f"malformed id: {exc}") from None
        row = find_subject(svc.graph, keys)
        return Subject.from_row(row) if row else None


schema = strawberry.Schema(query=Query)
