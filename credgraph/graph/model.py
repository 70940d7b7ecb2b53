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


RECORD_KIND_ZH: dict[RecordKind, str] = {
    RecordKind.PENALTY: "行政处罚",
    RecordKind.LICENSE: "行政许可",
    RecordKind.LISTING: "信用名单",
    RecordKind.JUDGMENT: "司法判决与执行",
    RecordKind.CONTRACT: "合同履约",
    RecordKind.COMMITMENT: "信用承诺",
}


class RecordStatus(StrEnum):
    ACTIVE = "ACTIVE"
    EXPIRED = "EXPIRED"
    REPAIRED = "REPAIRED"
    DISPUTED = "DISPUTED"
    REVOKED = "REVOKED"


RECORD_STATUS_ZH: dict[RecordStatus, str] = {
    RecordStatus.ACTIVE: "有效",
    RecordStatus.EXPIRED: "已届满",
    RecordStatus.REPAIRED: "已修复",
    RecordStatus.DISPUTED: "异议中",
    RecordStatus.REVOKED: "已撤销",
}


class Severity(StrEnum):
    """严重程度 of a penalty (SPEC §5); the values are what the data and the rules file say."""

    SEVERE = "严重"
    GENERAL = "一般"
    MINOR = "轻微"


# Other spellings a `severity` column may carry.
SEVERITY_ALIASES: dict[str, Severity] = {
    **{s.value: s for s in Severity},
    "severe": Severity.SEVERE, "general": Severity.GENERAL, "minor": Severity.MINOR,
    "较重": Severity.SEVERE, "重大": Severity.SEVERE, "较轻": Severity.MINOR,
}


class PartyRole(StrEnum):
    """The `role` on (subject)-[:HAS_RECORD]->(record): how the subject is party to it."""

    SUBJECT = "subject"
    DEBTOR = "debtor"
    CREDITOR = "creditor"
    AGENCY = "agency"
    COUNTERPARTY = "counterparty"


class EscalationLevel(StrEnum):
    """屡罚不改 levels (SPEC §8): 重点关注, 拟列入严重失信主体名单, 严重失信."""

    FOCUS = "FOCUS"
    SEVERE_PROPOSED = "SEVERE_PROPOSED"
    SEVERE = "SEVERE"


ESCALATION_LEVEL_ZH: dict[EscalationLevel, str] = {
    EscalationLevel.FOCUS: "重点关注",
    EscalationLevel.SEVERE_PROPOSED: "拟列入严重失信主体名单",
    EscalationLevel.SEVERE: "严重失信主体",
}


class EscalationStatus(StrEnum):
    ACTIVE = "ACTIVE"
    LIFTED = "LIFTED"


class ObjectionStatus(StrEnum):
    OPEN = "OPEN"
    RESOLVED = "RESOLVED"


class ObjectionOutcome(StrEnum):
    UPHOLD = "UPHOLD"
    CORRECT = "CORRECT"
    REVOKE = "REVOKE"


OBJECTION_OUTCOME_ZH: dict[ObjectionOutcome, str] = {
    ObjectionOutcome.UPHOLD: "维持原记录",
    ObjectionOutcome.CORRECT: "更正",
    ObjectionOutcome.REVOKE: "撤销",
}


class AlertStatus(StrEnum):
    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    CONFIRMED = "CONFIRMED"
    DISMISSED = "DISMISSED"


class AlertRule(StrEnum):
    """The monitoring rules (失信风险预警, SPEC §8); an alert's `rule` is one of these."""

    ESCALATION = "ESCALATION"            # a new or raised 屡罚不改 escalation
    RISK_RISE = "RISK_RISE"              # a watched subject's risk score rose
    NEAR_RECORD = "NEAR_RECORD"          # a new listing or 严重 penalty near a watched subject
    INTEGRITY = "INTEGRITY"              # a new 政务诚信 finding
    SEVERE_RECORD = "SEVERE_RECORD"      # a new record of a subject at SEVERE


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
    SHARING_QUOTA = "SharingQuota"
    SCHEMA_VERSION = "SchemaVersion"
    WATCHLIST = "Watchlist"
    WATCH_STATE = "WatchState"
    MONITOR_RUN = "MonitorRun"
    RUN_LOCK = "RunLock"


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


class Link(StrEnum):
    """Relationship types that are not relations between subjects: records and workflow.

    (s:Subject)-[:HAS_RECORD {role}]->(r), (r)-[:ISSUED_BY]->(a:Agency),
    (s)-[:HAS_ESCALATION]->(e:Escalation)-[:TRIGGERED_BY]->(r),
    (x:Repair)-[:REPAIRS]->(r), (o:Objection)-[:OBJECTS_TO]->(r),
    (new)-[:SUPERSEDES]->(old) between versions of a record,
    (a:Alert)-[:CONCERNS]->(s), (k:ApiKey)-[:WATCHES]->(s) for a key's own watchlist and
    (w:Watchlist {id: 'city'})-[:WATCHES]->(s) for the shared city watchlist.
    """

    HAS_RECORD = "HAS_RECORD"
    ISSUED_BY = "ISSUED_BY"
    HAS_ESCALATION = "HAS_ESCALATION"
    TRIGGERED_BY = "TRIGGERED_BY"
    REPAIRS = "REPAIRS"
    OBJECTS_TO = "OBJECTS_TO"
    SUPERSEDES = "SUPERSEDES"
    CONCERNS = "CONCERNS"
    WATCHES = "WATCHES"


class Endpoint(StrEnum):
    """What may stand at either end of a relation."""

    PERSON = "person"
    SUBJECT = "subject"
    LEGAL_PERSON = "legal_person"
    AGENCY = "agency"


# The label a relation's endpoint must carry.
ENDPOINT_LABELS: dict[Endpoint, Label] = {
    Endpoint.PERSON: Label.NATURAL_PERSON, Endpoint.LEGAL_PERSON: Label.LEGAL_PERSON,
    Endpoint.AGENCY: Label.AGENCY, Endpoint.SUBJECT: Label.SUBJECT,
}


@dataclass(frozen=True)
class RelationSpec:
    """One relation type between subjects: its direction and Chinese names. Its risk weight
    is a rule (rules.toml [relations]), not part of the model."""

    type: str
    zh: str
    source: Endpoint
    target: Endpoint
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
# A kinship read from the relation's other end: A 父母 B is B 子女 A. FAMILY is stored once per
# pair, its ends in key order (symmetric), so a row whose ends are swapped must name the converse
# or the stored edge says the child is the parent; the others read the same both ways.
KINSHIP_CONVERSE = {"父母": "子女", "子女": "父母"}


def converse_kinship(kind: str | None) -> str | None:
    """The kinship as the other person of a FAMILY relation stands in it (父母 ↔ 子女)."""
    return KINSHIP_CONVERSE.get(kind.strip(), kind) if kind else kind

RELATIONS: dict[RelationType, RelationSpec] = {
    RelationType(spec.type): spec
    for spec in (
        RelationSpec("LEGAL_REPRESENTATIVE", "法定代表人", Endpoint.PERSON, Endpoint.LEGAL_PERSON,
                     aliases=("负责人", "法定代表人/负责人", "经营者", "投资人")),
        RelationSpec("SHAREHOLDER", "股东", Endpoint.SUBJECT, Endpoint.LEGAL_PERSON,
                     properties=("ratio", "start", "end"), aliases=("出资人", "股东/出资人")),
        RelationSpec("ACTUAL_CONTROLLER", "实际控制人", Endpoint.SUBJECT, Endpoint.LEGAL_PERSON),
        RelationSpec("DIRECTOR", "董事", Endpoint.PERSON, Endpoint.LEGAL_PERSON,
                     properties=_OFFICER_PROPS, aliases=("董事长", "执行董事", "理事")),
        RelationSpec("SUPERVISOR", "监事", Endpoint.PERSON, Endpoint.LEGAL_PERSON,
                     properties=_OFFICER_PROPS, aliases=("监事会主席",)),
        RelationSpec("MANAGER", "高级管理人员", Endpoint.PERSON, Endpoint.LEGAL_PERSON,
                     properties=_OFFICER_PROPS, aliases=("经理", "总经理", "高管")),
        RelationSpec("BRANCH_OF", "分支机构", Endpoint.LEGAL_PERSON, Endpoint.LEGAL_PERSON,
                     properties=(), aliases=("分公司",)),
        RelationSpec("FAMILY", "亲属", Endpoint.PERSON, Endpoint.PERSON, symmetric=True,
                     properties=("kind",),
                     aliases=("亲属关系", "家庭成员", "近亲属", *KINSHIP)),
        RelationSpec("SERVES_IN", "任职", Endpoint.PERSON, Endpoint.AGENCY,
                     properties=("position", "rank", "start", "end"), aliases=("公职",)),
        RelationSpec("SUBORDINATE_TO", "隶属", Endpoint.AGENCY, Endpoint.AGENCY,
                     properties=(), aliases=("上级主管部门",)),
        RelationSpec("SHARES_CONTACT", "共用联系方式", Endpoint.SUBJECT, Endpoint.SUBJECT,
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


# Relation types through which risk may flow between subjects (every declared one, derived
# SHARES_CONTACT included); kept as a tuple so queries can splice them from the allow-list.
RISK_RELATIONS: tuple[RelationType, ...] = tuple(RELATIONS)

# Relations by which a person stands behind a legal person (control and office), used by
# ownership, escalation (R4, propagation) and integrity (G3).
CONTROL_RELATIONS: tuple[RelationType, ...] = (
    RelationType.LEGAL_REPRESENTATIVE, RelationType.ACTUAL_CONTROLLER,
)
OFFICER_RELATIONS: tuple[RelationType, ...] = (
    RelationType.DIRECTOR, RelationType.SUPERVISOR, RelationType.MANAGER,
)

# Record labels whose records can be risk signals (SPEC §8).
SIGNAL_RECORDS: tuple[RecordKind, ...] = (
    RecordKind.PENALTY, RecordKind.LISTING, RecordKind.JUDGMENT, RecordKind.CONTRACT,
)


def label_predicate(variable: str, kinds: tuple[RecordKind, ...]) -> str:
    """`(r:Penalty OR r:Listing …)` for the given record kinds, from the declared labels."""
    return "(" + " OR ".join(f"{variable}:{RECORD_LABELS[k].value}" for k in kinds) + ")"


def types_pattern(types: tuple[RelationType, ...] | list[RelationType]) -> str:
    """`A|B|C` for a relationship pattern, from declared relation types only."""
    return "|".join(RelationType(t).value for t in types)


class IntegrityPattern(StrEnum):
    """政务诚信 patterns (SPEC §8); a finding names one, the rules file weighs each."""

    G1 = "G1"
    G2 = "G2"
    G3 = "G3"
    G4 = "G4"
    G5 = "G5"


INTEGRITY_PATTERN_ZH: dict[IntegrityPattern, str] = {
    IntegrityPattern.G1: "失信政府机构（拒不履行生效判决）",
    IntegrityPattern.G2: "政府违约（拖欠账款、招商引资承诺不兑现）",
    IntegrityPattern.G3: "利益冲突（公职人员及亲属关联企业中标）",
    IntegrityPattern.G4: "向失信主体授予合同",
    IntegrityPattern.G5: "公职人员本人失信",
}

# 信用修复 (SPEC §8): the records a repair may be asked for. A listing leaves its list by the
# listing authority's removal (移出, the bundle's `removed_on`), not by a repair.
REPAIRABLE_RECORDS: tuple[RecordKind, ...] = (RecordKind.PENALTY,)
# Records of a subject's own conduct that count as re-offending (再次失信) after a repair.
REOFFENCE_RECORDS: tuple[RecordKind, ...] = (RecordKind.PENALTY, RecordKind.LISTING)
