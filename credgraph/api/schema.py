"""The GraphQL schema (SPEC §9). Resolvers are thin: they parse, call `credgraph.queries`,
and shape the answer."""

from __future__ import annotations

import datetime as dt
from typing import Any

import strawberry
from strawberry.types import Info

from credgraph.api.errors import ErrorCode, api_error
from credgraph.api.services import Services
from credgraph.graph import model
from credgraph.queries.subjects import candidate_keys, find_subject
from credgraph.schema.identifiers import IdentifierError
from credgraph.schema.regions import region_name

# GraphQL enums are the declared model's enums.
for _enum in (model.SubjectKind, model.RecordKind, model.RecordStatus, model.RelationType):
    strawberry.enum(_enum)
SubjectKind = model.SubjectKind
RecordKind = model.RecordKind
RecordStatus = model.RecordStatus
RelationType = model.RelationType


@strawberry.type
class CreditRecord:
    id: strawberry.ID
    kind: RecordKind
    domain: str | None
    severity: str | None
    status: RecordStatus
    date: dt.date | None
    title: str | None
    authority: str | None


@strawberry.type
class Subject:
    id: strawberry.ID
    kind: SubjectKind
    name: str
    region: str | None
    status: str | None
    id_masked: str | None

    @strawberry.field
    def region_name(self) -> str | None:
        return region_name(self.region)

    @strawberry.field
    def records(
        self, info: Info, kind: RecordKind | None = None,
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
    svc: Services = info.context["services"]
    return svc


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
