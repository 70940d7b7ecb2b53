"""Which columns each stored property of a record or relation comes from, so that a later file
without those columns leaves what an earlier load stored: departments deliver month after
month, not always with the same optional columns, and a listings file without 移出日期 must not
put a removed listing back in force. (Subjects do the same through `subjects.from_columns`.)

A property named here is written again only from a file that has every column it is named
with, else it goes into `defaults`, written only when the record or relation is created: a
listing's domain from 认定部门 and 认定依据, a penalty's title from 违法行为类型. The values the
analyses turn on — a penalty's severity, domain and publicity end, a licence's status, a
contract's default — are derived again from every row (a corrected decision date must move
the publicity end), with what the stored record says for each column the file lacks
(`with_stored`)."""

from __future__ import annotations

from typing import Any

import neo4j.time

from credgraph.graph.model import PartyRole
from credgraph.schema.rows import ROW_MODELS, BundleRow

Sources = dict[str, tuple[str, ...]]

_ISSUED = {"authorityUscc": ("authority_uscc",)}

PROPERTY_SOURCES: dict[str, Sources] = {
    "relations": {"start": ("start_date",), "end": ("end_date",), "ratio": ("ratio",),
                  "role": ("role",), "position": ("role",), "kind": ("kind",)},
    # an official's post (SERVES_IN): its properties are the row's `rel`, not `props`
    "officials": {"position": ("position",), "rank": ("rank",), "start": ("start_date",),
                  "end": ("end_date",)},
    "penalties": {
        **_ISSUED, "content": ("content",), "facts": ("facts",), "basis": ("basis",),
        "fine": ("fine",), "confiscation": ("confiscation",),
        "licenseAction": ("license_action",), "validUntil": ("valid_until",),
        "source": ("source",), "sourceUscc": ("source_uscc",), "note": ("note",),
        "subjectCategory": ("subject_category",), "legalRep": ("legal_rep",),
        "title": ("violation_type",), "severityGiven": ("severity",),
        "domainGiven": ("domain",), "publicityGiven": ("publicity_until",),
    },
    "licenses": {
        **_ISSUED, "currentStatus": ("status",),
        "title": ("certificate_name", "document_name", "license_category"),
        "documentName": ("document_name",), "licenseCategory": ("license_category",),
        "certificateName": ("certificate_name",), "licenseNo": ("license_no",),
        "content": ("content",), "validFrom": ("valid_from",), "validTo": ("valid_to",),
        "domain": ("authority", "license_category", "certificate_name", "document_name"),
    },
    "listings": {
        "status": ("removed_on",), "removedOn": ("removed_on",),
        "removalReason": ("removal_reason",), "authority": ("authority",),
        "basis": ("basis",), "caseNo": ("case_no",), "amount": ("amount",),
        "domain": ("authority", "basis"),
    },
    "judgments": {
        "status": ("fulfilled_on",), "fulfilledOn": ("fulfilled_on",),
        "authority": ("court",), "court": ("court",), "amount": ("amount",),
        "date": ("filed_on", "due_on"), "filedOn": ("filed_on",), "dueOn": ("due_on",),
        "debtorName": ("debtor_name",), "creditorName": ("creditor_name",),
    },
    "contracts": {
        "contractKind": ("kind",), "title": ("title",), "amount": ("amount",),
        "dueOn": ("due_on",), "fulfilledOn": ("fulfilled_on",), "performance": ("status",),
        "govDefault": ("gov_default",),
    },
    "commitments": {
        "title": ("kind",), "commitmentKind": ("kind",), "authority": ("authority",),
        "content": ("content",), "dueOn": ("due_on",), "fulfilled": ("fulfilled",),
    },
}
# Properties a required column may give as well: kept only when that one does not (a FAMILY
# row's type 父母 is its kind; a type 亲属 leaves the stored 父母).
ALSO_REQUIRED: dict[str, set[str]] = {"relations": {"kind"}}
# The kinds whose kept properties are a relation's beside the row's subject (`data[...]`).
PROPERTY_HOLDERS: dict[str, str] = {"officials": "rel"}
# A party whose column the file lacks keeps its link (a judgment's 申请执行人).
PARTY_SOURCES: dict[str, dict[PartyRole, str]] = {"judgments": {PartyRole.CREDITOR: "creditor_id"}}


def keep_absent(kind: str, row: BundleRow, data: dict[str, Any]) -> None:
    """Move the properties of `data` whose columns `row`'s file lacks into `defaults`, and say
    which stored status, issuer link and party links the write must keep."""
    sources = PROPERTY_SOURCES.get(kind)
    if sources is None:
        return
    given = row.model_fields_set
    # a property named with several columns is written again only from a file with all of
    # them (a listing's domain from 认定部门 and 认定依据); the values the analyses turn on —
    # a penalty's severity, a licence's status, a contract's default — are derived from the
    # row with what is stored in place of the missing columns instead (`with_stored`)
    absent = {prop for prop, columns in sources.items() if not given.issuperset(columns)}
    props = data[PROPERTY_HOLDERS.get(kind, "props")]
    absent -= {prop for prop in ALSO_REQUIRED.get(kind, ()) if props.get(prop) is not None}
    if "start" in sources and props.get("start") is None:
        # an undated row (开始日期 empty, or no such column) is about the tie as stored — its
        # latest edge, else a new undated one — and an empty 结束日期 beside it ends nothing:
        # a file giving a tie undated and then dated, loaded again, changes nothing
        absent.add("start")
        if props.get("end") is None:
            absent.add("end")
    data["defaults"] = {prop: props.pop(prop) for prop in sorted(absent) if prop in props}
    if "status" in data:
        data["statusKept"] = "status" in absent
    if "start" in sources:
        data["startKept"] = "start" in absent
    if "issuer" in data:
        data["issuerKept"] = "authorityUscc" in absent
    if "partyKeys" in data:
        data["keptRoles"] = [role.value for role, column in PARTY_SOURCES.get(kind, {}).items()
                             if column not in given]


# What a kind's values derived from several columns come from (`Preparer.derived`): each
# column and the record property holding it — the row's (props) for a column the file has,
# the stored record's for one it lacks; for a penalty's severity, domain or publicity end only
# where the department gave it (its flag), one derived being derived again under the rules of
# the day. The required columns beside them are always the row's.
DERIVATION_INPUTS: dict[str, dict[str, str]] = {
    "penalties": {
        "severity": "severity", "domain": "domain", "publicity_until": "publicityUntil",
        "content": "content", "fine": "fine", "license_action": "licenseAction",
        "violation_type": "title", "facts": "facts",
    },
    "licenses": {"status": "currentStatus", "valid_to": "validTo"},
    "contracts": {"status": "performance", "gov_default": "govDefault",
                  "fulfilled_on": "fulfilledOn"},
}
_REQUIRED_INPUTS: dict[str, dict[str, str]] = {
    "penalties": {"category": "category", "authority": "authority", "decided_on": "date"},
}
GIVEN_FLAGS: dict[str, dict[str, str]] = {
    "penalties": {"severity": "severityGiven", "domain": "domainGiven",
                  "publicity_until": "publicityGiven"},
}
# what `with_stored` reads of a stored record of the kind
STORED_INPUTS: dict[str, list[str]] = {
    kind: sorted({*inputs.values(), *GIVEN_FLAGS.get(kind, {}).values(),
                  *(["category"] if kind == "penalties" else [])})
    for kind, inputs in DERIVATION_INPUTS.items()
}


def missing_inputs(kind: str, row: BundleRow) -> frozenset[str] | None:
    """The columns of a kind's derived values the row's file lacks, if any."""
    absent = frozenset(DERIVATION_INPUTS[kind]) - row.model_fields_set
    return absent or None


def with_stored(kind: str, props: dict[str, Any], absent: frozenset[str],
                stored: dict[str, Any]) -> BundleRow:
    """The row as its derivation reads it, from the record it prepared (`props`) and what
    the stored record says for each column the file lacks: a severity (严重程度) the
    department gave stays given, one derived from a 罚款金额 a later file has no column for is
    not derived again without it, a licence its source revoked stays revoked by a file giving
    only a new 有效期至, and a contract whose 政府方违约 turns 否 in a file without 履约状态 is
    the counterparty's default if its stored 履约状态 says so."""
    flags = GIVEN_FLAGS.get(kind, {})
    values: dict[str, Any] = {column: props.get(prop)
                              for column, prop in _REQUIRED_INPUTS.get(kind, {}).items()}
    for column, prop in DERIVATION_INPUTS[kind].items():
        source = stored if column in absent else props
        value = source.get(prop)
        flag = flags.get(column)
        if flag is not None and not source.get(flag):
            value = None
        elif column == "violation_type" and value == source.get("category"):
            value = None  # the title fell back on 处罚类别: no 违法行为类型 was given
        elif isinstance(value, neo4j.time.Date):
            value = value.to_native()
        values[column] = value
    return ROW_MODELS[kind].model_construct(**values)
