"""信用报告: the printable credit report of one subject, built on the server from sections.

A section is a function of the report returning an HTML fragment, or None when it does not
apply to the subject; `SECTIONS` lists them in print order, so a new section is one function
and one list entry. Every value is HTML-escaped and free text scrubbed of anything shaped like
an ID number; person names are masked for roles without PII access (the rule of
`Subject.from_row`). The graph holds no raw ID number, so none can be printed.
"""

from __future__ import annotations

import datetime as dt
import html
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from credgraph.graph.driver import Graph
from credgraph.graph.model import (
    ESCALATION_LEVEL_ZH,
    OBJECTION_OUTCOME_ZH,
    RECORD_KIND_ZH,
    RECORD_STATUS_ZH,
    RELATIONS,
    SUBJECT_KIND_ZH,
    EscalationStatus,
    PartyRole,
    RecordKind,
    RecordStatus,
    SubjectKind,
)
from credgraph.loaders.derive import licence_ending
from credgraph.outputs import replacing
from credgraph.queries import integrity, ownership, risk
from credgraph.queries.audit import AuditEvent, AuditTrail, kept_purpose
from credgraph.queries.escalation import (
    CONFIRMED,
    CREATED,
    LIFTED,
    LOWERED,
    PROPAGATION,
    R1,
    R2,
    R3,
    R4,
    R5,
    RAISED,
    UPDATED,
    escalation_on,
    escalations_of,
    history_events,
)
from credgraph.queries.fragments import (
    resolved_day,
)
from credgraph.queries.grading import credit_grades
from credgraph.queries.neighbourhood import Edge, as_date
from credgraph.queries.risk_levels import RISK_LEVEL_ZH
from credgraph.queries.subjects import ACTIVE_STATUSES, subject_records
from credgraph.rules import EscalationRules
from credgraph.schema.privacy import mask_name, scrub
from credgraph.schema.regions import region_name
from credgraph.services import Services

OPERATION = "creditReport"
CHINA_TIME = dt.timezone(dt.timedelta(hours=8), "UTC+8")

ROLE_ZH = {"admin": "管理员", "investigator": "调查人员", "monitor": "监测人员",
           "partner": "合作城市"}
PARTY_ROLE_ZH = {PartyRole.SUBJECT: "当事人", PartyRole.DEBTOR: "被执行人",
                 PartyRole.CREDITOR: "申请执行人", PartyRole.AGENCY: "机关",
                 PartyRole.COUNTERPARTY: "合同相对方"}
# `ultimateOwners` bases (SPEC §8, 受益所有人).
BASIS_ZH = {"SHARE": "受益所有人（持股）", "ACTUAL_CONTROLLER": "实际控制人（申报）",
            "SUSPECTED_CONTROLLER": "疑似实际控制人", "STATE": "国有出资"}
RELATION_ZH = {t.value: spec.zh for t, spec in RELATIONS.items()}
ESCALATION_STATUS_ZH = {EscalationStatus.ACTIVE: "生效", EscalationStatus.LIFTED: "已解除"}
ESCALATION_ACTION_ZH = {CREATED: "认定", RAISED: "升级", LOWERED: "降级", LIFTED: "解除",
                        UPDATED: "依据更新", CONFIRMED: "确认"}
DISCLAIMER = ("本报告依据公共信用信息平台截至数据日期归集的信息生成，仅供信用监管与核查参考，"
              "不作为行政处罚或其他处理的唯一依据；如对所列信息有异议，可依法提出异议申请或"
              "申请信用修复。")

class ReportError(RuntimeError):
    """The report cannot be printed (no chromium, or chromium failed)."""


@dataclass(frozen=True)
class Requester:
    """Who asked (the API key's name, or `cli:<user>`), in which role, and why (查询事由)."""

    actor: str
    role: str
    pii: bool
    purpose: str | None = None


@dataclass
class Report:
    """One report being built: the subject, the date of the data, and lazily the analyses the
    sections share (each runs at most once)."""

    services: Services
    subject: dict[str, Any]
    as_of: dt.date
    requester: Requester
    number: str
    generated_at: dt.datetime
    # persons whose unmasked name the page shows (PII reveals, SPEC §9): audited with it
    revealed: dict[str, None] = field(default_factory=dict)

    @property
    def graph(self) -> Graph:
        return self.services.graph

    @property
    def kind(self) -> SubjectKind:
        return SubjectKind(self.subject.get("kind") or SubjectKind.OTHER_ORG)

    @cached_property
    def records(self) -> list[dict[str, Any]]:
        """Every record of the subject that existed on the report's date (a corrected version
        from its `correctedOn`), newest first, each with its status on that date, the
        subject's part in it and its repair — as `records(asOf)` lists them."""
        return subject_records(self.graph, self.subject["id"], None, False,
                               self.services.rules.limits.max_list, self.as_of, self.as_of)

    @cached_property
    def assessment(self) -> risk.Assessment:
        return risk.assess(self.graph, self.services.rules, self.subject["id"],
                           self.services.rules.risk.default_depth, self.as_of,
                           self.services.risk_model)

    @cached_property
    def owners(self) -> ownership.OwnershipResult:
        rules = self.services.rules
        return ownership.ultimate_owners(self.graph, rules, self.subject["id"],
                                         rules.ownership.threshold, self.as_of)

    def name(self, row: dict[str, Any] | None) -> str:
        """A subject's name as this requester may see it (persons masked without PII)."""
        if not row:
            return "（未知主体）"
        name = str(row.get("name") or "")
        person = row.get("kind") == SubjectKind.NATURAL_PERSON or bool(row.get("person"))
        if not person:
            return name
        if not self.requester.pii:
            return mask_name(name)
        if row.get("id"):
            self.revealed[str(row["id"])] = None
        return name


Section = Callable[[Report], str | None]


# -- HTML helpers ------------------------------------------------------------------------------
def esc(value: object) -> str:
    """Escaped text for the page; free text scrubbed of ID-number-shaped digits."""
    if value is None or value == "":
        return "—"
    return html.escape(scrub(str(value)))


def section(title: str, body: str) -> str:
    """A part of the report: its heading (numbered 一、二、… in print order by the style
    sheet) and already-escaped body."""
    return f"<section><h2>{html.escape(title)}</h2>{body}</section>"


def table(headers: Iterable[str], rows: Iterable[Iterable[str]], css: str = "") -> str:
    """A table of already-escaped cells."""
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>"
                   for row in rows)
    klass = f' class="{css}"' if css else ""
    return f"<table{klass}><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def facts(pairs: Iterable[tuple[str, str]]) -> str:
    """A two-column fact table (label, escaped value)."""
    cells = "".join(f"<tr><th>{html.escape(k)}</th><td>{v}</td></tr>" for k, v in pairs)
    return f'<table class="facts"><tbody>{cells}</tbody></table>'


def percent(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.2f}%"


def level_badge(level: str) -> str:
    return (f'<span class="level level-{html.escape(level.lower())}">'
            f"{html.escape(RISK_LEVEL_ZH.get(level, level))}</span>")


def zh(names: Mapping[Any, str], value: Any) -> str | None:
    """The Chinese name of a declared value (enum keys compare equal to their strings), else
    the value as stored."""
    return names.get(value, value)


def relation_zh(rtype: str) -> str:
    return RELATION_ZH.get(rtype, rtype)


def path_text(report: Report, start: str, path: list[Edge],
              subjects: dict[str, dict[str, Any]]) -> str:
    """A → B walk in words, each step's arrow in the relation's stored direction:
    甲公司 ←法定代表人— 张*明 —法定代表人→ 乙公司."""
    parts = [esc(report.name(subjects.get(start)))]
    here = start
    for edge in path:
        label = relation_zh(edge.type)
        if edge.ratio is not None:
            label += f" {percent(edge.ratio)}"
        if edge.source == here:
            there, arrow = edge.target, f" —{esc(label)}→ "
        else:
            there, arrow = edge.source, f" ←{esc(label)}— "
        parts.append(arrow + esc(report.name(subjects.get(there))))
        here = there
    return "".join(parts)


# -- sections ----------------------------------------------------------------------------------
def report_header(report: Report) -> str:
    """Title, subject, report number and time, data date, who asked and why."""
    who = report.requester
    asked = f"{esc(who.actor)}（{esc(ROLE_ZH.get(who.role, who.role))}）"
    meta = facts([
        ("报告编号", esc(report.number)),
        ("报告时间", esc(f"{report.generated_at:%Y-%m-%d %H:%M:%S} (UTC+8)")),
        ("数据截至", esc(report.as_of.isoformat())),
        ("查询人", asked),
        ("查询事由", esc(who.purpose)),
    ])
    return (f'<header><h1>信用报告</h1><p class="subject-name">{esc(report.name(report.subject))}'
            f"</p>{meta}</header>")


def basic_facts(report: Report) -> str:
    """基本信息: identity and registration facts; a person's masked ID only with PII access."""
    row = report.subject
    person = report.kind is SubjectKind.NATURAL_PERSON
    pairs = [("名称" if not person else "姓名", esc(report.name(row))),
             ("主体类别", esc(SUBJECT_KIND_ZH.get(report.kind, report.kind.value)))]
    if person:
        pairs.append(("主体标识", esc(row.get("id"))))
        if report.requester.pii:
            pairs.append(("身份证号（脱敏）", esc(row.get("idMasked"))))
    else:
        pairs.append(("统一社会信用代码", html.escape(str(row.get("id")))))
    pairs += [("所属地区", esc(region_name(row.get("region")) or row.get("region"))),
              ("登记状态", esc(row.get("status")))]
    if not person:
        capital = row.get("registeredCapital")
        pairs += [("行业", esc(row.get("industry"))),
                  ("成立日期", esc(as_date(row.get("established")))),
                  ("注册资本", esc(f"{capital:g} 万元" if capital is not None else None)),
                  ("住所", esc(row.get("address")))]
    return section("基本信息", facts(pairs))


def records_table(report: Report, rows: list[dict[str, Any]]) -> str:
    domains = report.services.rules.domains.names
    if not rows:
        return '<p class="none">无</p>'
    parts = []
    for kind in RecordKind:
        of_kind = [r for r in rows if r.get("kind") == kind]
        if not of_kind:
            continue
        lines = [[esc(r.get("id")), esc(as_date(r.get("date"))), esc(r.get("title")),
                  esc(domains.get(r.get("domain") or "")),
                  esc(r.get("severity")), esc(performance_zh(r, report.as_of) or status_zh(r)),
                  esc(r.get("authority")), esc(zh(PARTY_ROLE_ZH, r.get("role")))]
                 for r in of_kind]
        parts.append(f"<h3>{html.escape(RECORD_KIND_ZH[kind])}（{len(of_kind)} 条）</h3>"
                     + table(["编号", "日期", "事项", "领域", "严重程度", "状态", "机关",
                              "身份"], lines, "records"))
    return "".join(parts)


# A licence its source ended (当前状态, `licence_ending`): 吊销 is a penalty, 注销 a
# cancellation, 撤销 a withdrawal — not one status to the reader, as they are one (REVOKED) to
# the analyses.
LICENCE_ENDED_ZH = {"吊销": "已吊销", "注销": "已注销", "撤销": "已撤销", "无效": "已失效"}


def status_zh(record: Mapping[str, Any]) -> str | None:
    """A record's status as the reader reads it: a version an objection replaced by a
    corrected one (异议更正, `supersededBy`) 已更正, not 已撤销 as if the record had been
    withdrawn; a licence REVOKED by its source (not by an objection, which dates its
    revocation) in its source's word."""
    status = record.get("status")
    if status == RecordStatus.REVOKED and record.get("supersededBy"):
        return "已更正"
    if (record.get("kind") == RecordKind.LICENSE and status == RecordStatus.REVOKED
            and record.get("revokedOn") is None):
        ending = licence_ending(str(record.get("currentStatus") or ""))
        if ending is not None:
            return LICENCE_ENDED_ZH[ending]
    return zh(RECORD_STATUS_ZH, status)


def performance_zh(record: Mapping[str, Any], as_of: dt.date) -> str | None:
    """A contract's or a commitment in force, as a reader asks of it: kept (已履约), overdue
    (逾期未履约) or not yet due (履约中) on the report's date — 有效 said neither. None for
    other records and for one no longer in force (its status says why)."""
    kind, status = record.get("kind"), record.get("status")
    if kind not in (RecordKind.CONTRACT, RecordKind.COMMITMENT) or status != RecordStatus.ACTIVE:
        return None
    due = as_date(record.get("dueOn"))
    if kind == RecordKind.CONTRACT:
        fulfilled = as_date(record.get("fulfilledOn"))
        kept = fulfilled is not None and fulfilled <= as_of
    else:
        kept = record.get("fulfilled") is True
        if record.get("fulfilled") is False and (due is None or due < as_of):
            return "未履约"
    if kept:
        return "已履约"
    return "逾期未履约" if due is not None and due < as_of else "履约中"


def capped(report: Report) -> str:
    limit = report.services.rules.limits.max_list
    if len(report.records) < limit:
        return ""
    return f'<p class="note">注：记录较多，仅列出最近的 {limit} 条。</p>'


# A record the subject is party to without it being about the subject: a court case it
# brought as 申请执行人 is no credit record of its own, and was listed among them as if adverse.
NOT_ITS_OWN = frozenset({PartyRole.CREDITOR.value})


def its_own(report: Report) -> list[dict[str, Any]]:
    return [r for r in report.records if r.get("role") not in NOT_ITS_OWN]


def active_records(report: Report) -> str:
    """有效信用记录 by kind: in force (有效) or under objection (异议中)."""
    rows = [r for r in its_own(report) if r.get("status") in ACTIVE_STATUSES]
    return section("有效信用记录", records_table(report, rows) + capped(report))


def historical_records(report: Report) -> str:
    """历史信用记录 by kind: expired, repaired or revoked."""
    rows = [r for r in its_own(report) if r.get("status") not in ACTIVE_STATUSES]
    return section("历史信用记录", records_table(report, rows) + capped(report))


def related_records(report: Report) -> str | None:
    """其他相关记录: the cases the subject brought as 申请执行人, when there are any."""
    rows = [r for r in report.records if r.get("role") in NOT_ITS_OWN]
    return section("其他相关记录", records_table(report, rows)) if rows else None


def association_risk(report: Report) -> str:
    """关联风险: the score, the worst domains and the top paths risk flows along."""
    result = report.assessment
    model = report.services.risk_model
    level = model.level(result.score)
    summary = facts([
        ("综合风险", f"{result.score} 分 {level_badge(level)}"),
        ("自身风险", esc(f"{result.own_score} 分")),
        ("关联风险", esc(f"{result.association_score} 分")),
        ("跨领域", "是" if result.cross_domain else "否"),
        ("跨地区", "是" if result.cross_region else "否"),
    ])
    domains = result.ranked_domains(report.services.rules)
    domain_table = table(["领域", "自身风险", "关联风险", "信号数"], [
        [esc(d.name), esc(percent(d.own)), esc(percent(d.associated)), esc(d.signals)]
        for d in domains]) if domains else ""
    paths = [[esc(i), esc(report.name(result.subjects.get(c.subject))),
              path_text(report, result.subject, c.path, result.subjects),
              esc(f"{c.strength:.2f}"), esc(percent(c.risk)), esc(percent(c.contribution)),
              "<br>".join(esc(s.record.get("title") or s.record.get("id"))
                          for s in c.signals[:3])]
             for i, c in enumerate(result.contributors, 1)]
    top = (table(["序号", "关联主体", "关联路径", "路径强度", "自身风险", "贡献", "主要信号"],
                 paths, "paths") if paths else '<p class="none">未发现关联风险</p>')
    note = ""
    if result.cut_hubs or result.truncated:
        note = (f'<p class="note">注：关联网络中有 {len(result.cut_hubs)} 个枢纽节点（关系数超过 '
                f"{report.services.rules.risk.degree_cap}），经其传导的路径未计入。</p>")
    return section("关联风险", summary + domain_table + "<h3>主要风险路径</h3>" + top + note)


def beneficial_owners(report: Report) -> str | None:
    """受益所有人 with effective shares and their shareholding paths (organisations only)."""
    if report.kind is SubjectKind.NATURAL_PERSON:
        return None
    try:
        result = report.owners
    except ownership.TooManyPaths:
        # a 交叉持股 group beyond [ownership] path_budget: the rest of the report still stands
        budget = report.services.rules.ownership.path_budget
        return section("受益所有人", f'<p class="note">股权结构过于复杂（持股路径超过 {budget} '
                                     "条），未计算最终持股比例，请人工核查。</p>")
    threshold = report.services.rules.ownership.threshold
    rows = []
    for owner in result.owners:
        row = result.subjects.get(owner.id)
        kind = SubjectKind(row.get("kind") or SubjectKind.OTHER_ORG) if row else None
        routes = "<br>".join(path_text(report, p.ids[0], p.edges(), result.subjects)
                             for p in owner.paths) or "—"
        rows.append([esc(report.name(row)), esc(SUBJECT_KIND_ZH.get(kind) if kind else None),
                     esc(percent(owner.share)), esc(BASIS_ZH.get(owner.basis, owner.basis)),
                     routes])
    body = (table(["受益人", "类别", "最终持股比例", "认定依据", "持股路径"], rows, "owners")
            if rows else f'<p class="none">未识别到最终持股达到 {percent(threshold)} 的受益所有人或'
                         "实际控制人</p>")
    return section("受益所有人", body)


def grade_and_escalation(report: Report) -> str | None:
    """分级分类 and 屡罚不改: the credit grade as of the report's date (as `Subject.creditGrade`
    and `sharedCheck` give it) and any escalation with its rules, measures and triggering
    records — for a person too: R1–R5 escalate persons, PROPAGATION makes them 联合惩戒对象,
    and a confirmed SEVERE restricts them. The inspection ratio only for a subject the 双随机
    plan may draw (`drawn_for_inspection`): not a person, an agency or a defunct company."""
    drawn = drawn_for_inspection(report)
    key = report.subject["id"]
    grade = credit_grades(report.graph, report.services.rules, [key], report.as_of).get(key)
    escalation = escalation_on(report.graph, report.services.rules,
                               escalations_of(report.graph, [key]).get(key), report.as_of)
    pairs = []
    if grade is not None:
        pairs += [("信用等级", esc(grade.grade)), ("信用分", esc(grade.score))]
        if drawn:
            pairs.append(("双随机抽查比例", esc(percent(grade.inspection_ratio))))
        if grade.capped_by:
            pairs.append(("等级上限", esc(cap_reason(grade.capped_by))))
    body = facts(pairs)
    if escalation is None:
        body += "<p>无屡罚不改升级记录。</p>"
    else:
        level = escalation.get("level")
        # a lifted escalation's measures no longer apply: its page says when it was lifted
        lifted = escalation.get("status") == EscalationStatus.LIFTED
        body += facts([
            ("惩戒级别", esc(zh(ESCALATION_LEVEL_ZH, level) or level)),
            ("状态", esc(zh(ESCALATION_STATUS_ZH, escalation.get("status")))),
            ("起始日期", esc(escalation.get("since"))),
            *([("解除日期", esc(as_date(escalation.get("liftedOn"))))] if lifted else []),
            ("触发规则", esc("、".join(escalation.get("rules") or []))),
            ("措施", "已解除，不再适用" if lifted
             else esc("、".join(escalation.get("measures") or []))),
        ])
        triggers = escalation.get("triggers") or []
        if triggers:
            domains = report.services.rules.domains.names
            body += table(("触发记录", "日期", "领域", "严重程度"),
                          [(esc(r.get("id")), esc(r.get("date")),
                            esc(domains.get(r.get("domain") or "", r.get("domain"))),
                            esc(r.get("severity"))) for r in triggers])
        body += escalation_history(report, escalation)
    return section("信用等级与屡罚不改", body)


def drawn_for_inspection(report: Report) -> bool:
    """Whether the 双随机 plan may draw the subject, so its page shows the inspection ratio:
    a legal person, not an agency (机关) and not defunct (登记状态 吊销, 注销 … as it reads now)
    — the population `inspectionPlan` draws from (docs/rules.md, [grade])."""
    if report.kind in (SubjectKind.NATURAL_PERSON, SubjectKind.AGENCY):
        return False
    status = str(report.subject.get("status") or "")
    return not any(word in status for word in report.services.rules.escalation.defunct_status)


def rule_zh(rules: EscalationRules, rule: str) -> str:
    """What an escalation rule says, in the report's words and the rules file's numbers — the
    run's own reasons are the log's, in English."""
    window = rules.window_months
    return {
        R1: f"{window}个月内同一领域受到{rules.r1.count}次以上一般及以上行政处罚",
        R2: f"{window}个月内受到{rules.r2.count}次以上一般及以上行政处罚",
        R3: "屡罚不改，且有严重行政处罚或被列入失信名单",
        R4: "换壳：关联企业多次受罚，或企业吊销、注销后另设企业",
        R5: f"信用修复后{rules.repair_reoffence_months}个月内再次受罚",
        PROPAGATION: "所任法定代表人或实际控制人的单位被列入严重失信主体名单（联合惩戒对象）",
    }.get(rule, rule)


def event_words(report: Report, event: Mapping[str, Any]) -> str:
    """An event's 说明: a confirmation's own note (a person's words), a lift's, else what its
    rules say."""
    if event["action"] == CONFIRMED:
        return str(event.get("note") or "")
    if event["action"] == LIFTED:
        return "不再符合升级规则"
    rules = report.services.rules.escalation
    return "；".join(rule_zh(rules, rule) for rule in event.get("rules") or [])


def escalation_history(report: Report, escalation: Mapping[str, Any]) -> str:
    """升级历史: every run and confirmation dated by the report's date, oldest first — how
    the level came to be, as `Escalation.history` keeps it."""
    events = sorted((event for event in history_events(escalation.get("history") or [])
                     if {"asOf", "action"} <= event.keys()
                     and str(event["asOf"]) <= report.as_of.isoformat()),
                    key=lambda event: (str(event["asOf"]), str(event.get("at") or "")))
    if not events:
        return ""
    return "<h3>升级历史</h3>" + table(("日期", "事项", "级别", "规则", "经办", "说明"), [
        (esc(event["asOf"]), esc(ESCALATION_ACTION_ZH.get(event["action"], event["action"])),
         esc(zh(ESCALATION_LEVEL_ZH, event.get("level")) or event.get("level")),
         esc("、".join(event.get("rules") or [])), esc(event.get("actor")),
         esc(event_words(report, event))) for event in events])


def repairs_and_objections(report: Report) -> str | None:
    """信用修复与异议处理: the repairs granted and the objections filed by the report's date,
    each with its outcome as it stood then (one resolved later is still 处理中) — when there
    are any."""
    day = report.as_of
    repaired = sorted(((on, r) for r in report.records
                       if (on := as_date(r.get("repairedOn"))) is not None and on <= day),
                      key=lambda pair: (str(pair[0]), str(pair[1].get("id"))))
    objected = sorted(((objection, r) for r in report.records
                       for objection in r.get("objections") or []
                       if (as_date(objection.get("filedOn")) or day) <= day),
                      key=lambda pair: (str(pair[0].get("filedOn")), str(pair[0].get("id"))))
    if not repaired and not objected:
        return None
    body = ""
    if repaired:
        body += "<h3>信用修复</h3>" + table(("记录编号", "类别", "修复日期", "修复编号"), [
            (esc(r.get("id")), esc(zh(RECORD_KIND_ZH, r.get("kind"))), esc(on),
             esc(r.get("repair"))) for on, r in repaired])
    if objected:
        lines = []
        for objection, r in objected:
            resolved = resolved_day(objection)
            done = resolved is not None and resolved <= day
            outcome = (zh(OBJECTION_OUTCOME_ZH, objection.get("outcome")) if done else "处理中")
            lines.append((esc(objection.get("id")), esc(r.get("id")),
                          esc(as_date(objection.get("filedOn"))), esc(outcome),
                          esc(resolved if done else None)))
        body += "<h3>异议处理</h3>" + table(("异议编号", "记录编号", "提出日期", "处理结果",
                                           "办结日期"), lines)
    return section("信用修复与异议处理", body)


def cap_reason(capped_by: str) -> str:
    """The grade's cap as the report's reader reads it: `escalation FOCUS` is 屡罚不改 重点关注,
    `severe listing L-1` 严重失信名单 L-1 (the API keeps the codes)."""
    what, _, rest = capped_by.partition(" ")
    if what == "escalation":
        return f"屡罚不改 {zh(ESCALATION_LEVEL_ZH, rest) or rest}"
    if capped_by.startswith("severe listing "):
        return f"严重失信名单 {capped_by.removeprefix('severe listing ')}"
    return capped_by


def disclaimer(report: Report) -> str:
    """免责声明, with the report number once more at the end."""
    return (f'<footer><p class="disclaimer">{html.escape(DISCLAIMER)}</p>'
            f'<p class="number">报告编号 {esc(report.number)}</p></footer>')


def government_integrity(report: Report) -> str | None:
    """政务诚信 of an agency's report: its score and findings (G1–G5) as of the report's date,
    each in its words with the records it rests on — what `integrityReport(agency)` gives; the
    officials and relatives its words name are persons (masked without PII)."""
    if report.kind is not SubjectKind.AGENCY:
        return None
    services = report.services
    found = integrity.integrity_report(report.graph, services.rules, report.as_of,
                                       agency=str(report.subject["id"]))
    score = next((a for a in found.agencies if a.agency == report.subject["id"]), None)
    if score is None:
        return None

    def named(sid: str) -> str:
        return report.name(found.subjects.get(sid) or {"id": sid})

    body = facts([("政务诚信评分", esc(score.score)),
                  ("发现问题", esc(f"{len(score.findings)} 项"))])
    if score.findings:
        body += table(("类型", "严重程度", "日期", "说明", "依据记录"), [
            (esc(f"{f.pattern.value} {f.title}"), esc(f.severity.value), esc(f.date),
             esc(f.summary(named)), esc("、".join(str(r["id"]) for r in f.records)))
            for f in score.findings])
    else:
        body += '<p class="note">截至数据日期未发现政务失信问题。</p>'
    return section("政务诚信", body)


# Print order.
SECTIONS: list[Section] = [
    report_header,
    basic_facts,
    active_records,
    historical_records,
    related_records,
    repairs_and_objections,
    grade_and_escalation,
    government_integrity,
    association_risk,
    beneficial_owners,
    disclaimer,
]

STYLE = """
@page { size: A4; margin: 16mm 14mm; }
* { box-sizing: border-box; }
body { margin: 0; color: #1f1f1f; font-size: 10.5pt; line-height: 1.55;
       font-family: "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "PingFang SC",
                    "Microsoft YaHei", "WenQuanYi Micro Hei", sans-serif; }
main { max-width: 190mm; margin: 0 auto; padding: 8mm 0; }
header h1 { text-align: center; font-size: 22pt; letter-spacing: 0.5em; margin: 0 0 2mm; }
.subject-name { text-align: center; font-size: 15pt; font-weight: 700; margin: 0 0 4mm; }
main { counter-reset: part; }
h2 { font-size: 13pt; border-bottom: 2px solid #8c1d18; color: #8c1d18; padding-bottom: 1mm;
     margin: 7mm 0 3mm; }
h2::before { counter-increment: part; content: counter(part, simp-chinese-informal) "、"; }
h3 { font-size: 11pt; margin: 4mm 0 2mm; }
table { width: 100%; border-collapse: collapse; margin: 0 0 3mm; }
th, td { border: 1px solid #bfbfbf; padding: 1.2mm 2mm; text-align: left; vertical-align: top; }
thead th { background: #f3f0ee; }
tr { page-break-inside: avoid; }
.facts th { width: 36mm; background: #f7f5f3; font-weight: 600; }
.records { table-layout: fixed; font-size: 9.5pt; }
.records th, .paths th, .owners th { white-space: nowrap; }
.records th:nth-child(1) { width: 21%; } .records th:nth-child(2) { width: 12%; }
.records th:nth-child(3) { width: 22%; } .records th:nth-child(4) { width: 9%; }
.records th:nth-child(5) { width: 9%; } .records th:nth-child(6) { width: 7%; }
.records th:nth-child(7) { width: 12%; } .records th:nth-child(8) { width: 8%; }
.records td { word-break: break-all; }
.paths th:nth-child(1) { width: 6%; } .paths th:nth-child(2) { width: 18%; }
.paths th:nth-child(3) { width: 34%; } .owners th:nth-child(5) { width: 40%; }
h2, h3 { break-after: avoid; page-break-after: avoid; }
.records td:nth-child(2), .records td:nth-child(6) { white-space: nowrap; word-break: normal; }
.level { padding: 0 2mm; border-radius: 2mm; color: #fff; font-weight: 600; }
.level-low { background: #389e0d; } .level-medium { background: #d48806; }
.level-high { background: #d4380d; } .level-severe { background: #a8071a; }
.none { color: #595959; }
.note { color: #595959; font-size: 9.5pt; }
footer { margin-top: 8mm; border-top: 1px solid #bfbfbf; padding-top: 2mm; font-size: 9pt;
         color: #595959; }
"""


def render(report: Report) -> str:
    """The whole document: every section that applies, in order; no script, no outside
    resource (the page's own policy forbids both)."""
    body = "".join(part for fn in SECTIONS if (part := fn(report)))
    return ("<!doctype html><html lang=\"zh-CN\"><head><meta charset=\"utf-8\">"
            "<meta http-equiv=\"Content-Security-Policy\" "
            "content=\"default-src 'none'; style-src 'unsafe-inline'\">"
            f"<title>信用报告 · {esc(report.name(report.subject))} · {esc(report.number)}</title>"
            f"<style>{STYLE}</style></head><body><main>{body}</main></body></html>")


def record_report_request(trail: AuditTrail, report: Report) -> None:
    """Audit (SPEC §9, §10): who asked for whose report, when and why, in the audit log (the
    event id is the report number) — the subject first, then every person whose unmasked name
    the rendered page shows, as the API's queries name the persons they reveal."""
    who = report.requester
    key = str(report.subject["id"])
    subjects = (key, *(k for k in report.revealed if k != key))
    # the purpose kept as every event's is: an ID number typed into it (查询事由) masked,
    # control characters dropped — never written to Neo4j whole (SPEC §6)
    trail.record(AuditEvent(actor=who.actor, role=who.role, operation=OPERATION,
                            subjects=subjects, purpose=kept_purpose(who.purpose),
                            at=report.generated_at.astimezone(dt.UTC), id=report.number))


def build_report(services: Services, subject: dict[str, Any], requester: Requester,
                 as_of: dt.date | None = None) -> str:
    """Number, audit and render one report of a found subject (a `find_subject` row), as of
    the API's today unless told (its number and time are China's)."""
    now = dt.datetime.now(CHINA_TIME).replace(microsecond=0)
    report = Report(services, subject, as_of or services.today(), requester,
                    f"CR{now:%Y%m%d}{secrets.token_hex(4).upper()}", now)
    page = render(report)  # first: the event names the persons the page shows
    record_report_request(services.audit, report)
    return page


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        raise ReportError("chromium is not installed: PDF reports are printed with headless "
                          "chromium (as root, `make browser` installs Debian's)")
    return found


def print_pdf(page: str, out: Path, browser: str | None = None) -> None:
    """Print the report's HTML to PDF with headless chromium (no network: the page has no
    outside resource)."""
    browser = browser or chromium()
    with tempfile.TemporaryDirectory(prefix="credgraph-report-") as tmp:
        source = Path(tmp) / "report.html"
        source.write_text(page, encoding="utf-8")
        with replacing(out.resolve()) as target:
            target.unlink()  # chromium writes it anew: an empty file is one it did not print
            done = subprocess.run(
                [browser, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--no-pdf-header-footer",
                 f"--user-data-dir={Path(tmp) / 'profile'}", f"--print-to-pdf={target}",
                 source.as_uri()],
                capture_output=True, text=True, timeout=120, check=False)
            if not target.exists() or target.stat().st_size == 0:
                detail = (done.stderr or done.stdout).strip().splitlines()[-1:]
                raise ReportError(f"chromium did not print the PDF (exit {done.returncode}): "
                                  f"{scrub(' '.join(detail))}")
            target.chmod(0o600)  # owner-only, as every report file `outputs` writes
