"""Which columns each stored property of a record or relation comes from, so that a later file
without those columns leaves what an earlier load stored: departments deliver month after
month, not always with the same optional columns, and a listings file without 移出日期 must not
put a removed listing back in force. (Subjects do the same through `subjects.from_columns`.)

A property named here is written again only from a file that has every column it is named
with, else it goes into `defaults`, written only when the record or relation is created: a
listing's domain from 认定部门 and 认定依据, a penalty's title from 违法行为类型. One derived
from required columns as well as optional ones (a penalty's severity from 处罚类别 and
罚款金额, its publicity end from 处罚决定日期) is derived again from every row — a corrected
decision date must move it — with what the stored penalty says for each column the file lacks
(`with_stored`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

from credgraph.graph.model import PartyRole, RecordStatus
from credgraph.loaders.derive import PenaltyInputs
from credgraph.schema.rows import BundleRow

Sources = dict[str, tuple[str, ...]]

_ISSUED = {"authorityUscc": ("authority_uscc",)}

PROPERTY_SOURCES: dict[str, Sources] = {
    "relations": {"start": ("start_date",), "end": ("end_date",), "ratio": ("ratio",),
                  "role": ("role",), "kind": ("kind",)},
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
        **_ISSUED, "status": ("status", "valid_to"), "currentStatus": ("status",),
        "title": ("certificate_name", "document_name", "license_category"),
        "documentName": ("document_name",), "licenseCategory": ("license_category",),
        "certificateName": ("certificate_name",), "licenseNo": ("license_no",),
        "content": ("content",), "validFrom": ("valid_from",), "validTo": ("valid_to",),
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
        "govDefault": ("gov_default",), "subjectDefault": ("status", "gov_default"),
        "fulfilledUndated": ("status", "fulfilled_on"),
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
    # a property derived from several columns is derived again only from all of them: from a
    # part it would be wrong (a contract's 违约 without its 政府方违约 column is no default of
    # the counterparty's when the stored 政府方违约 says the government defaulted)
    absent = {prop for prop, columns in sources.items() if not given.issuperset(columns)}
    props = data[PROPERTY_HOLDERS.get(kind, "props")]
    absent -= {prop for prop in ALSO_REQUIRED.get(kind, ()) if props.get(prop) is not None}
    decided, data["choices"] = _from_part(kind, row, data, absent)
    absent -= decided
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


def _from_part(kind: str, row: BundleRow, data: dict[str, Any],
               absent: set[str]) -> tuple[set[str], list[dict[str, Any]]]:
    """What the row's part of a derived value's columns decides after all, whatever the
    stored part says: a licence its 当前状态 calls 吊销 is REVOKED whatever its 有效期至,
    one it calls 有效 ACTIVE or EXPIRED by the stored 有效期至, and one whose 有效期至 is
    given without 当前状态 dated by it unless the source revoked it (`statusByValidTo`,
    `revokedKept`: `writes.record_statement`); a contract whose 履约状态 names no default
    is no default of the counterparty's, nor performed without a date when it does not say
    performed. And the `choices` a record already stored takes by its stored part
    (`{when, then, else}`: `then` when its property `when` is set and not false, else
    `else`): 乙方违约 is the counterparty's default unless the stored 政府方违约 says the
    government's; 已履约 is performed on a day not given unless a 履约日期 is stored. A record
    new to the file takes the row's value (`defaults`).
    """
    given = row.model_fields_set
    props = data["props"]
    decided: set[str] = set()
    choices: list[dict[str, Any]] = []
    if kind == "licenses" and "status" in absent:
        if "status" in given:
            # 吊销 revokes whatever 有效期至 says; another word (有效) is ACTIVE, or EXPIRED by
            # the stored 有效期至 (`statusByValidTo`) — a 吊销 corrected to 有效 is not kept
            decided.add("status")
            data["statusByValidTo"] = data["status"] != RecordStatus.REVOKED.value
        elif "valid_to" in given:
            # 有效期至 without 当前状态: the row's dates decide, unless the source revoked it
            decided.add("status")
            data["revokedKept"] = True
    if kind == "contracts" and "status" not in given:
        # without 履约状态: 政府方违约 是 is no default of the counterparty's, and a 履约日期
        # is a performance whose day is given, whatever the stored 履约状态
        for prop, column in (("subjectDefault", "gov_default"), ("fulfilledUndated",
                                                                  "fulfilled_on")):
            if prop in absent and getattr(row, column, None):
                decided.add(prop)
    if kind == "contracts" and "status" in given:
        for prop, stored in (("subjectDefault", "govDefault"), ("fulfilledUndated", "fulfilledOn")):
            if prop not in absent:
                continue
            if props.get(prop):
                choices.append({"when": stored, "then": {prop: False}, "else": {prop: True}})
            else:
                decided.add(prop)
    return decided, choices


# A penalty's derivation inputs and the stored property standing for each when a later file
# lacks its column (a given severity, domain or publicity end only where the department gave
# it: one derived is derived again, under the rules of the day).
PENALTY_INPUTS: dict[str, str] = {
    "severity": "severity", "domain": "domain", "publicity_until": "publicityUntil",
    "content": "content", "fine": "fine", "license_action": "licenseAction",
    "violation_type": "title", "facts": "facts",
}
_GIVEN_FLAGS = {"severity": "severityGiven", "domain": "domainGiven",
                "publicity_until": "publicityGiven"}
# what `with_stored` reads of a stored penalty
STORED_PENALTY = sorted({*PENALTY_INPUTS.values(), *_GIVEN_FLAGS.values(), "category"})


@dataclass(frozen=True)
class MissingInputs:
    """A penalty row whose file lacks some of the columns its derived values come from."""

    given: PenaltyInputs
    absent: frozenset[str]


def missing_inputs(row: BundleRow, given: PenaltyInputs) -> MissingInputs | None:
    absent = frozenset(PENALTY_INPUTS) - row.model_fields_set
    return MissingInputs(given, absent) if absent else None


def with_stored(missing: MissingInputs, stored: dict[str, Any]) -> PenaltyInputs:
    """The row's inputs, with what the stored penalty says for each column the file lacks: a
    severity (严重程度) the department gave stays given, and one derived from a 罚款金额 a
    later file has no column for is not derived again without it."""
    taken: dict[str, Any] = {}
    for column in missing.absent:
        value = stored.get(PENALTY_INPUTS[column])
        flag = _GIVEN_FLAGS.get(column)
        if flag is not None and not stored.get(flag):
            value = None
        elif column == "violation_type" and value == stored.get("category"):
            value = None  # the title fell back on 处罚类别: no 违法行为类型 was given
        elif column == "publicity_until" and value is not None:
            value = dt.date.fromisoformat(value)
        taken[column] = value
    return dataclasses.replace(missing.given, **taken)
