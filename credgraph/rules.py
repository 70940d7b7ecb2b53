"""The rules file: shipped defaults (rules.toml) merged with a deployment's override, validated
into one typed model at start.

rules.toml is the only place a rule number is written: the models below have no defaults of
their own, and an unknown key (a typo in an override) is an error naming it.
"""

from __future__ import annotations

import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from credgraph.graph.model import (
    AlertRule,
    EscalationLevel,
    IntegrityPattern,
    RecordKind,
    RelationType,
    Severity,
)


class RulesError(ValueError):
    """The rules file (or an override) does not validate; the message names the key."""


# A risk weight, signal, share or ratio: a fraction. A negative weight or one above 1 in an
# override (a typo, a percentage) would make scores leave 0–100; it is refused at start.
Fraction = Annotated[float, Field(ge=0, le=1)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ShareholderRules(Section):
    bands: list[tuple[Fraction, Fraction]]
    unknown_ratio_weight: Fraction


class RelationRules(Section):
    """[relations]: risk weight per relation type; SHAREHOLDER by ratio bands."""

    weights: dict[RelationType, Fraction]
    shareholder: ShareholderRules

    @model_validator(mode="before")
    @classmethod
    def _split(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "weights" in data:
            return data
        weights = {k: v for k, v in data.items() if k != "shareholder"}
        return {"weights": weights, "shareholder": data.get("shareholder")}

    @model_validator(mode="after")
    def _complete(self) -> RelationRules:
        missing = [t.value for t in RelationType
                   if t is not RelationType.SHAREHOLDER and t not in self.weights]
        if missing:
            raise ValueError(f"no weight for {', '.join(missing)}")
        return self

    def weight(self, rtype: str, ratio: float | None = None) -> float:
        if rtype == RelationType.SHAREHOLDER:
            return self.shareholder_weight(ratio)
        return self.weights.get(RelationType(rtype), 0.0)

    def shareholder_weight(self, ratio: float | None) -> float:
        if ratio is None:
            return self.shareholder.unknown_ratio_weight
        for minimum, weight in self.shareholder.bands:
            if ratio >= minimum:
                return weight
        return self.shareholder.bands[-1][1]


class SignalRules(Section):
    penalty_severe: Fraction
    penalty_general: Fraction
    penalty_minor: Fraction
    listing_default: Fraction
    judgment_unfulfilled: Fraction
    contract_default: Fraction
    listing: dict[str, Fraction]


class RiskRules(Section):
    half_life_months: float
    default_depth: int
    max_depth: int
    degree_cap: int
    top_contributors: int
    edge_budget: int
    levels: list[tuple[int, str]]
    signals: SignalRules


class PenaltyRules(Section):
    severe_fine: float
    severe_keywords: list[str]
    minor_keywords: list[str]
    publicity_months: dict[str, int]


class DomainRules(Section):
    order: list[str]
    fallback: str
    judgments: str
    contracts: str
    commitments: str
    keywords: dict[str, list[str]]
    names: dict[str, str]
    refines: dict[str, str] = Field(default_factory=dict)

    @property
    def of_records(self) -> set[str]:
        """The domains a penalty, licence or listing can be of (a 领域 cell names one of
        these); contracts and commitments have a domain each of their own."""
        return {*self.keywords, self.fallback}

    @model_validator(mode="after")
    def _judgments_known(self) -> DomainRules:
        if self.judgments not in self.of_records:
            raise ValueError(f"judgments = {self.judgments!r} is not a domain of [domains]")
        for finer, coarser in self.refines.items():
            for key in (finer, coarser):
                if key not in self.keywords:
                    raise ValueError(f"refines: {key!r} is not a domain of [domains.keywords]")
        return self


class ListingRules(Section):
    types: list[str]
    severe: list[str]


class ContractRules(Section):
    """[contracts]: reading a contract's 履约状态 — whose default it names."""

    default_words: list[str]
    government_parties: list[str]
    no_default: list[str]
    fulfilled_words: list[str]
    unfulfilled_words: list[str]

    def says_fulfilled(self, status: str | None) -> bool:
        """The 履约状态 says the contract was performed (已履约, 履行完毕 — not 未履行完毕)."""
        text = status or ""
        return (any(word in text for word in self.fulfilled_words)
                and not any(word in text for word in self.unfulfilled_words))

    def subject_default(self, status: str | None, gov_default: bool | None) -> bool:
        """The counterparty's default as the 履约状态 names it: a default word, neither the
        government side's (政府方违约, 甲方违约, 采购人违约) nor a denial (未违约), and the row
        not recording 政府方违约 = 是."""
        text = status or ""
        return (not gov_default and any(word in text for word in self.default_words)
                and not any(word in text for word in self.government_parties)
                and not any(word in text for word in self.no_default))


class ResolutionRules(Section):
    threshold: float
    margin: float
    candidates: int
    namesakes: int
    contact_group_cap: int
    region_prefixes: list[str]
    min_name_after_prefix: int
    trade_name_chars: int = Field(ge=0)
    search_elsewhere: float = Field(gt=0, le=1)
    search_part: float = Field(ge=0, le=1)
    search_namesake: float = Field(gt=0, le=1)
    legal_forms: dict[str, str]


class OwnershipRules(Section):
    threshold: Fraction
    max_depth: int
    control_share: Fraction
    path_budget: int = Field(gt=0)
    paths_shown: int = Field(gt=0)


class IntegrityRules(Section):
    """[integrity]: 政务诚信 patterns G1–G5, the agency score and the procurement pre-check."""

    base_score: int
    weights: dict[IntegrityPattern, dict[Severity, int]]
    debtor_lists: list[str]
    superior_depth: int
    officials_per_agency: int
    ownership_hops: int
    severe_overdue_days: int
    severe_amount: float
    official_penalty_severities: list[Severity]
    procurement_lists: list[str]
    barring_levels: list[EscalationLevel]
    warning_levels: list[EscalationLevel]
    procurement_measure: str
    max_paths: int

    @model_validator(mode="after")
    def _complete(self) -> IntegrityRules:
        missing = [f"{p.value} {s.value}" for p in IntegrityPattern
                   for s in (Severity.SEVERE, Severity.GENERAL)
                   if s not in self.weights.get(p, {})]
        if missing:
            raise ValueError(f"no weight for {', '.join(missing)}")
        return self

    def weight(self, pattern: IntegrityPattern, severity: Severity) -> int:
        return self.weights[pattern][severity]


class CountRule(Section):
    count: int


class ShellRule(Section):
    """R4 换壳: people behind several penalised companies, or behind a defunct company with
    unpaid penalties and then a new one."""

    companies: int
    company_penalties: int
    majority_share: Fraction
    successor_months: int


class LevelMeasures(Section):
    inspection_ratio: Fraction
    measures: list[str]


class EscalationRules(Section):
    """[escalation]: 屡罚不改 rules R1–R4, the repair re-offence rule, notice period, measures."""

    window_months: int
    counted_severities: list[Severity]
    serious_severities: list[Severity]
    notice_days: int
    defunct_status: list[str]
    repair_reoffence_months: int
    repair_block_months: int
    lock_minutes: float
    r1: CountRule
    r2: CountRule
    r4: ShellRule
    levels: dict[EscalationLevel, LevelMeasures]

    @model_validator(mode="after")
    def _every_level(self) -> EscalationRules:
        missing = [level.value for level in EscalationLevel if level not in self.levels]
        if missing:
            raise ValueError(f"no measures for {', '.join(missing)}")
        return self


class GradeDeductions(Section):
    penalty_severe: int
    penalty_general: int
    penalty_minor: int
    listing_severe: int
    listing_other: int
    judgment_unfulfilled: int
    contract_default: int


# A credit grade's name (A, B+, AAA, A级, 3类, 优, 良等): a short code or one character, ours
# and a partner city's alike — a partner answering a grade with free text (a name, two
# characters and up) is answering something else.
GRADE_NAME = re.compile(r"[A-Za-z0-9+\-]{1,6}[级类]?|[\u4e00-\u9fff][级类等]?")


class GradeRules(Section):
    """[grade]: 分级分类 score, bands, caps and inspection ratios."""

    start: int
    bands: list[tuple[int, str]]
    inspection_ratio: dict[str, Fraction]
    caps: dict[EscalationLevel, str]
    severe_listing_cap: str
    deductions: GradeDeductions
    escalation: dict[EscalationLevel, int]

    @model_validator(mode="after")
    def _consistent(self) -> GradeRules:
        grades = [grade for _, grade in self.bands]
        if odd := [grade for grade in grades if not GRADE_NAME.fullmatch(grade)]:
            raise ValueError(f"a grade is a short code (A, B+, AAA, A级): not {odd[0]!r}")
        unknown = sorted({*self.caps.values(), self.severe_listing_cap,
                          *self.inspection_ratio} - set(grades))
        if unknown:
            raise ValueError(f"grades {', '.join(unknown)} are not in bands")
        if set(grades) - set(self.inspection_ratio):
            raise ValueError("every grade needs an inspection_ratio")
        missing = [level.value for level in EscalationLevel
                   if level not in self.caps or level not in self.escalation]
        if missing:
            raise ValueError(f"no cap or deduction for {', '.join(missing)}")
        if any(a[0] <= b[0] for a, b in zip(self.bands, self.bands[1:], strict=False)):
            raise ValueError("bands go from the highest minimum score down")
        # the score is floored at 0 and every score needs a grade: the last band takes all
        # below the one before it (D < 60), so a minimum there left low scores without one
        if self.bands and self.bands[-1][0] > 0:
            minimum, grade = self.bands[-1]
            raise ValueError(f"the last band ({grade}) takes every score below the one before "
                             f"it: its minimum must be 0, not {minimum}")
        return self


class LimitRules(Section):
    max_batch_ids: int
    max_list: int
    max_page: int
    max_query_depth: int
    max_query_tokens: int
    max_query_fields: int
    max_aliases: int
    requests_per_minute: int
    max_body_bytes: int
    city_wide_fields: frozenset[str]
    city_wide_per_request: int = Field(gt=0)


class SharingRules(Section):
    """[sharing]: what partner cities may ask (区域信用共享), and how we ask theirs."""

    requests_per_minute: int
    daily_ids: int
    max_purpose_length: int
    partner_timeout_s: float
    max_partner_answer_bytes: int


class MonitoringSeverity(Section):
    """Alert severity (严重/一般/轻微) of the rules whose evidence has none of its own."""

    escalation: dict[EscalationLevel, Severity]
    risk_rise: Severity
    severe_record: Severity

    @model_validator(mode="after")
    def _every_level(self) -> MonitoringSeverity:
        missing = [level.value for level in EscalationLevel if level not in self.escalation]
        if missing:
            raise ValueError(f"no escalation severity for {', '.join(missing)}")
        return self


class MonitoringRules(Section):
    """[monitoring]: 失信风险预警, the rules `credgraph monitor run` evaluates."""

    enabled: list[AlertRule]
    risk_rise: int
    near_hops: int
    lookback_days: int
    severe_record_kinds: list[RecordKind]
    lock_minutes: float
    severity: MonitoringSeverity


class RepairRules(Section):
    """[repair]: 信用修复 — minimum publicity per severity (per domain overridable), what
    counts as unfulfilled, the re-offending bar; and the length of the desk's free texts."""

    min_publicity_months: dict[Severity, int]
    domain_months: dict[str, dict[Severity, int]]
    reoffence_window_months: int
    ineligible_months: int
    unfulfilled_keywords: list[str]
    max_text: int

    @model_validator(mode="after")
    def _complete(self) -> RepairRules:
        missing = [s.value for s in Severity if s not in self.min_publicity_months]
        if missing:
            raise ValueError(f"no minimum publicity for {', '.join(missing)}")
        return self

    def months(self, severity: Severity, domain: str | None) -> int:
        """最短公示期 of a penalty: its domain's override, else its severity's default."""
        override = self.domain_months.get(domain or "", {})
        return override.get(severity, self.min_publicity_months[severity])


class Rules(Section):
    """Every rule number, typed. Build with `Rules.load()`; tests derive variants with
    `Rules.load(overrides={...})` so a changed rule is never "restored" by hand."""

    relations: RelationRules
    risk: RiskRules
    penalty: PenaltyRules
    domains: DomainRules
    listings: ListingRules
    contracts: ContractRules
    resolution: ResolutionRules
    ownership: OwnershipRules
    integrity: IntegrityRules


    escalation: EscalationRules
    grade: GradeRules
    limits: LimitRules
    monitoring: MonitoringRules
    repair: RepairRules
    sharing: SharingRules

    @model_validator(mode="after")
    def _known_domains(self) -> Rules:
        """[repair.domain_months] is keyed by the domains of [domains]: a key naming none (a
        typo, or a domain's Chinese name) would leave that domain's penalties on the default
        period — repaired months early — without a word."""
        known = self.domains.of_records
        names = {name: key for key, name in self.domains.names.items()}
        for key in sorted(set(self.repair.domain_months) - known):
            hint = f" (write {names[key]})" if key in names else ""
            raise ValueError(f"[repair.domain_months.{key}] is not a domain{hint}: one of "
                             f"{', '.join(sorted(known))}")
        return self

    @classmethod
    def load(cls, override: Path | None = None,
             overrides: dict[str, Any] | None = None) -> Rules:
        text = (resources.files("credgraph") / "rules.toml").read_text(encoding="utf-8")
        data = tomllib.loads(text)
        if override is not None:
            try:
                with override.open("rb") as handle:
                    data = merge(data, tomllib.load(handle))
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise RulesError(f"rules file {override}: {exc}") from None
        if overrides:
            data = merge(data, overrides)
        return cls.from_data(data, str(override or "rules.toml"))

    @classmethod
    def from_data(cls, data: dict[str, Any], source: str = "rules") -> Rules:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            # a check across sections has no location of its own: its message names the key
            problems = "; ".join(
                (f"[{_key(err['loc'])}] " if err["loc"] else "") + err["msg"]
                for err in exc.errors())
            raise RulesError(f"{source}: {problems}") from None

    def with_overrides(self, overrides: dict[str, Any]) -> Rules:
        """A copy with some keys changed (tables merge key by key), validated again."""
        return Rules.from_data(merge(self.raw(), overrides))

    def raw(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        relations = data["relations"]
        data["relations"] = {**relations["weights"], "shareholder": relations["shareholder"]}
        return data


def merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _key(loc: tuple[int | str, ...]) -> str:
    """A refused value's key as the file writes it: [relations] LEGAL_REPRESENTATIVE is held
    as relations.weights.LEGAL_REPRESENTATIVE (RelationRules._split), not written so."""
    parts = [str(part) for part in loc]
    if parts[:2] == ["relations", "weights"]:
        del parts[1]
    return ".".join(parts)
