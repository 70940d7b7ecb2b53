"""The graph model, declared once (SPEC §4).

Migrations, loaders, queries and GraphQL enums are generic over these declarations; a label or
relation type that is not declared here never reaches a Cypher string.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class SubjectKind(StrEnum):
    """主体类别. Legal-person kinds follow USCC positions 1–2."""

    ENTERPRISE = "ENTERPRISE"
    INDIVIDUAL_BUSINESS = "INDIVIDUAL_BUSINESS"
    COOPERATIVE = "COOPERATIVE"
    AGENCY = "AGENCY"
    INSTITUTION = "INSTITUTION"
    SOCIAL_ORG = "SOCIAL_ORG"
    OTHER_ORG = "OTHER_ORG"
    NATURAL_PERSON = "NATURAL_PERSON"


SUBJECT_KIND_ZH: dict[SubjectKind, str] = {
    SubjectKind.ENTERPRISE: "企业",
    SubjectKind.INDIVIDUAL_BUSINESS: "个体工商户",
    SubjectKind.COOPERATIVE: "农民专业合作社",
    SubjectKind.AGENCY: "机关",
    SubjectKind.INSTITUTION: "事业单位",
    SubjectKind.SOCIAL_ORG: "社会组织",
    SubjectKind.OTHER_ORG: "其他组织",
    SubjectKind.NATURAL_PERSON: "自然人",
}


class RecordKind(StrEnum):
    PENALTY = "PENALTY"
    LICENSE = "LICENSE"
    LISTING = "LISTING"
    JUDGMENT = "JUDGMENT"
    CONTRACT = "CONTRACT"
    COMMITMENT = "COMMITMENT"


class RecordStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REPAIRED = "REPAIRED"
    DISPUTED = "DISPUTED"
    REVOKED = "REVOKED"


class Label(StrEnum):
    """Every node label the service writes."""

    SUBJECT = "Subject"
    LEGAL_PERSON = "LegalPerson"
    NATURAL_PERSON = "NaturalPerson"
    AGENCY = "Agency"
    OFFICIAL = "Official"
    PENALTY = "Penalty"
    LICENSE = "License"
    LISTING = "Listing"
    JUDGMENT = "Judgment"
    CONTRACT = "Contract"
    COMMITMENT = "Commitment"
    ESCALATION = "Escalation"
    ALERT = "Alert"
    OBJECTION = "Objection"
    REPAIR = "Repair"
    AUDIT_EVENT = "AuditEvent"
    API_KEY = "ApiKey"
    SCHEMA_VERSION = "SchemaVersion"


RECORD_LABELS: dict[RecordKind, Label] = {
    RecordKind.PENALTY: Label.PENALTY,
    RecordKind.LICENSE: Label.LICENSE,
    RecordKind.LISTING: Label.LISTING,
    RecordKind.JUDGMENT: Label.JUDGMENT,
    RecordKind.CONTRACT: Label.CONTRACT,
    RecordKind.COMMITMENT: Label.COMMITMENT,
}

# Labels that carry a unique `id` (constraints are created for each by migration).
KEYED_LABELS: tuple[Label, ...] = (
    Label.SUBJECT,
    *RECORD_LABELS.values(),
    Label.ESCALATION,
    Label.ALERT,
    Label.OBJECTION,
    Label.REPAIR,
    Label.AUDIT_EVENT,
    Label.API_KEY,
)


class Endpoint(StrEnum):
    """What may stand at either end of a relation."""

    PERSON = "person"
    SUBJECT = "subject"
    LEGAL_PERSON = "legal_person"
    AGENCY = "agency"


@dataclass(frozen=True)
class RelationSpec:
    """One relation type between subjects: its direction, Chinese names and risk weight."""

    type: str
    zh: str
    source: Endpoint
    target: Endpoint
    weight: float
    symmetric: bool = False
    derived: bool = False
    properties: tuple[str, ...] = ("start", "end")
    aliases: tuple[str, ...] = field(default_factory=tuple)

    @property
    def labels_zh(self) -> tuple[str, ...]:
        return (self.zh, *self.aliases)


class RelationType(StrEnum):
    LEGAL_REPRESENTATIVE = "LEGAL_REPRESENTATIVE"
    SHAREHOLDER = "SHAREHOLDER"
    ACTUAL_CONTROLLER = "ACTUAL_CONTROLLER"
    DIRECTOR = "DIRECTOR"
    SUPERVISOR = "SUPERVISOR"
    MANAGER = "MANAGER"
    BRANCH_OF = "BRANCH_OF"
    FAMILY = "FAMILY"
    SERVES_IN = "SERVES_IN"
    SUBORDINATE_TO = "SUBORDINATE_TO"
    SHARES_CONTACT = "SHARES_CONTACT"


_OFFICER_PROPS = ("role", "start", "end")
# 亲属 named by the kinship itself (a type column saying 配偶): FAMILY, with that kind.
KINSHIP = ("配偶", "夫妻", "父母", "父子", "母子", "父女", "母女", "子女", "兄弟姐妹", "兄弟",
           "姐妹")

# Default weights; the rules file may override them per deployment (rules.toml [relations]).
RELATIONS: dict[RelationType, RelationSpec] = {
    RelationType(spec.type): spec
    for spec in (
        RelationSpec("LEGAL_REPRESENTATIVE", "法定代表人", Endpoint.PERSON, Endpoint.LEGAL_PERSON,
                     0.9, aliases=("负责人", "法定代表人/负责人", "经营者", "投资人")),
        RelationSpec("SHAREHOLDER", "股东", Endpoint.SUBJECT, Endpoint.LEGAL_PERSON, 0.9,
                     properties=("ratio", "start", "end"), aliases=("出资人", "股东/出资人")),
        RelationSpec("ACTUAL_CONTROLLER", "实际控制人", Endpoint.SUBJECT, Endpoint.LEGAL_PERSON,
                     1.0),
        RelationSpec("DIRECTOR", "董事", Endpoint.PERSON, Endpoint.LEGAL_PERSON, 0.5,
                     properties=_OFFICER_PROPS, aliases=("董事长", "执行董事", "理事")),
        RelationSpec("SUPERVISOR", "监事", Endpoint.PERSON, Endpoint.LEGAL_PERSON, 0.5,
                     properties=_OFFICER_PROPS, aliases=("监事会主席",)),
        RelationSpec("MANAGER", "高级管理人员", Endpoint.PERSON, Endpoint.LEGAL_PERSON, 0.5,
                     properties=_OFFICER_PROPS, aliases=("经理", "总经理", "高管")),
        RelationSpec("BRANCH_OF", "分支机构", Endpoint.LEGAL_PERSON, Endpoint.LEGAL_PERSON, 0.9,
                     properties=(), aliases=("分公司",)),
        RelationSpec("FAMILY", "亲属", Endpoint.PERSON, Endpoint.PERSON, 0.5, symmetric=True,
                     properties=("kind",),
                     aliases=("亲属关系", "家庭成员", "近亲属", *KINSHIP)),
        RelationSpec("SERVES_IN", "任职", Endpoint.PERSON, Endpoint.AGENCY, 0.3,
                     properties=("position", "rank", "start", "end"), aliases=("公职",)),
        RelationSpec("SUBORDINATE_TO", "隶属", Endpoint.AGENCY, Endpoint.AGENCY, 0.6,
                     properties=(), aliases=("上级主管部门",)),
        RelationSpec("SHARES_CONTACT", "共用联系方式", Endpoint.SUBJECT, Endpoint.SUBJECT, 0.3,
                     symmetric=True, derived=True, properties=("via",)),
    )
}

def relation_type(text: str) -> RelationType | None:
    """Resolve a relation type from its English key or any of its Chinese names."""
    key = text.strip()
    upper = key.upper().replace(" ", "_").replace("-", "_")
    if upper in RelationType.__members__:
        return RelationType[upper]
    for rtype, spec in RELATIONS.items():
        if key in spec.labels_zh:
            return rtype
    return None


# Relation types through which risk may flow between subjects (all declared, non-derived ones
# plus SHARES_CONTACT); kept as a tuple so queries can splice them from the allow-list.
RISK_RELATIONS: tuple[RelationType, ...] = tuple(RELATIONS)
