"""Writers for subjects: legal persons (法人及非法人组织) and natural persons (自然人).

Rows arrive validated; these functions derive the stored properties and MERGE them in
`UNWIND` batches, so a second load of the same rows changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import Label, SubjectKind
from credgraph.schema.identifiers import IdNumber, Uscc
from credgraph.schema.names import NameNormaliser, person_name_norm
from credgraph.schema.privacy import Privacy, mask_id_number
from credgraph.schema.rows import BundleRow, LegalPersonRow, NaturalPersonRow

UPSERT_LEGAL_PERSONS = f"""
UNWIND $rows AS row
MERGE (n:{Label.SUBJECT} {{id: row.id}})
SET n:{Label.LEGAL_PERSON}, n += row.props
FOREACH (_ IN CASE WHEN row.agency THEN [1] ELSE [] END | SET n:{Label.AGENCY})
"""

UPSERT_NATURAL_PERSONS = f"""
UNWIND $rows AS row
MERGE (n:{Label.SUBJECT} {{id: row.id}})
ON CREATE SET n.idEnc = row.idEnc
SET n:{Label.NATURAL_PERSON}, n += row.props
"""


def from_columns(row: BundleRow, props: dict[str, str]) -> dict[str, Any]:
    """Properties of the columns the file has: a column a file lacks leaves what an earlier
    load stored untouched, an empty cell in a present column clears it."""
    return {prop: getattr(row, name) for name, prop in props.items()
            if name in row.model_fields_set}


LEGAL_PERSON_COLUMNS = {"industry": "industry", "status": "status", "established": "established",
                        "registered_capital": "registeredCapital", "address": "address",
                        "phone": "phone"}
NATURAL_PERSON_COLUMNS = {"phone": "phone", "address": "address"}


def legal_person_props(
    row: LegalPersonRow, uscc: Uscc, kind: SubjectKind, normaliser: NameNormaliser
) -> dict[str, Any]:
    return {
        "id": uscc.code,
        "agency": kind is SubjectKind.AGENCY,
        "props": {
            "name": row.name,
            "nameNorm": normaliser(row.name, row.region or uscc.region),
            "kind": kind.value,
            "region": row.region or uscc.region,
            **from_columns(row, LEGAL_PERSON_COLUMNS),
        },
    }


def natural_person_props(row: NaturalPersonRow, number: IdNumber,
                         privacy: Privacy) -> dict[str, Any]:
    return {
        "id": privacy.person_key(number),
        "idEnc": privacy.encrypt(number),
        "props": {
            "name": row.name,
            "nameNorm": person_name_norm(row.name),
            "kind": SubjectKind.NATURAL_PERSON.value,
            "idMasked": mask_id_number(number),
            "region": number.region,
            "birthYear": number.birth_date.year,
            "gender": number.gender,
            **from_columns(row, NATURAL_PERSON_COLUMNS),
        },
    }


def write_legal_persons(graph: Graph, rows: Iterable[dict[str, Any]], batch: int = 5000) -> int:
    return graph.write_batches(UPSERT_LEGAL_PERSONS, rows, batch)


def write_natural_persons(graph: Graph, rows: Iterable[dict[str, Any]], batch: int = 5000) -> int:
    return graph.write_batches(UPSERT_NATURAL_PERSONS, rows, batch)
