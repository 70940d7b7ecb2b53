"""The credit report (信用报告) and the desk's server side: sections, escaping, masking, audit,
the authenticated report route, the public desk shell, `riskLevels` and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import re
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from credgraph.api.desk import NPM_FILES, desk_folder
from credgraph.cli import main
from credgraph.graph.model import RELATIONS, IntegrityPattern, RelationType, Severity
from credgraph.queries import report as credit
from credgraph.queries.fragments import status_as_of
from credgraph.queries.report import Report, Requester, build_report, cap_reason
from credgraph.queries.risk import assess
from credgraph.queries.subjects import find_subject
from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import mask_id_number
from credgraph.services import Services
from credgraph.settings import Settings
from tests.conftest import TEST_SECRET, TODAY, Api
from tests.graphs import record, relate, subject
from tests.ids import make_id, make_uscc

COMPANY = make_uscc(org="MA3C0R001")
RISKY = make_uscc(org="MA3C0R002")
UNKNOWN = make_uscc(org="MA3C0R999")
CONTROLLER = make_id(region="371402", born="19700101", seq="011")
HOSTILE_NAME = "德州市<b>鑫源</b>食品有限公司"
HOSTILE_TITLE = "<script>alert(1)</script>销售过期食品"
INVESTIGATOR = Requester("王科长", "investigator", True, "行政许可前核查")


@pytest.fixture()
def person(services: Services) -> str:
    """A small case: a company whose 60 % owner and legal representative also represents a
    company on the 严重失信主体 list."""
    graph = services.graph
    key = services.privacy.person_key(parse_id_number(CONTROLLER))
    subject(graph, COMPANY, HOSTILE_NAME)
    subject(graph, RISKY, "德州市风险贸易有限公司")
    subject(graph, key, "张三明", kind="NATURAL_PERSON")
    graph.write("MATCH (p:Subject {id: $id}) SET p.idMasked = $masked",
                {"id": key, "masked": mask_id_number(CONTROLLER)})
    relate(graph, key, COMPANY, "SHAREHOLDER", ratio=0.6)
    relate(graph, key, COMPANY, "LEGAL_REPRESENTATIVE")
    relate(graph, key, RISKY, "LEGAL_REPRESENTATIVE")
    record(graph, RISKY, "Listing", "LIST-001", listType="严重失信主体", domain="market",
           date=TODAY - dt.timedelta(days=100), title="列入严重失信主体名单")
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕1号", severity="一般", domain="food_drug",
           date=TODAY - dt.timedelta(days=30), title=HOSTILE_TITLE,
           authority="德州市市场监督管理局")
    record(graph, COMPANY, "Penalty", "德市监罚〔2019〕9号", severity="轻微", status="EXPIRED",
           domain="market", date=dt.date(2019, 5, 1), title="未按规定公示年度报告")
    record(graph, COMPANY, "License", "LIC-2024-1", domain="food_drug",
           date=dt.date(2024, 3, 1), title="食品经营许可")
    return key


def row(services: Services, sid: str) -> dict[str, Any]:
    found = find_subject(services.graph, [sid])
    assert found is not None
    return found


def section_of(page: str, title: str) -> str:
    """The HTML of one section, by its heading."""
    start = page.index(f"<h2>{title}</h2>")
    end = page.find("<section", start)
    return page[start:end if end > 0 else len(page)]


def test_the_report_is_as_of_the_apis_today(services: Services, person: str) -> None:
    """Without an asOf the report's data date (数据截至) is the API's today, not another
    clock's: the desk's report and the desk's graph answer as of one day."""
    earlier = dt.date(2026, 6, 30)
    then = Services.build(services.settings, services.graph, services.rules, services.privacy,
                          services.audit, today=lambda: earlier)
    assert f"<td>{earlier.isoformat()}</td>" in build_report(then, row(services, COMPANY),
                                                             INVESTIGATOR)
    assert f"<td>{TODAY.isoformat()}</td>" in build_report(services, row(services, COMPANY),
                                                           INVESTIGATOR)


def test_record_status_is_todays_not_the_stored_one(services: Services, person: str) -> None:
    """Found by a held-out review of asOf: the report split 有效/历史信用记录 by the status the
    last load stored, so a penalty loaded while published and whose 公示期 has ended since was
    printed 有效 where `records` says EXPIRED. Now the report shows today's status, as the API
    does; a listing removed since is history too."""
    record(services.graph, COMPANY, "Penalty", "德市监罚〔2025〕7号", severity="一般",
           domain="food_drug", date=TODAY - dt.timedelta(days=400),
           publicityUntil=TODAY - dt.timedelta(days=35), title="标签不合格")
    record(services.graph, COMPANY, "Listing", "JYYC-7", listType="经营异常名录",
           domain="market", date=TODAY - dt.timedelta(days=300),
           removedOn=TODAY - dt.timedelta(days=3), title="经营异常名录")
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    active, history = section_of(page, "有效信用记录"), section_of(page, "历史信用记录")
    assert "德市监罚〔2026〕1号" in active
    for rid in ("德市监罚〔2025〕7号", "JYYC-7"):
        assert rid not in active and rid in history


def test_an_objection_resolved_after_midnight_was_open_the_day_before(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Found by review: an objection's resolvedAt (a UTC instant) was cut to its UTC day, so
    one resolved at 00:30 China time — the revocation dated that day — read as resolved the
    day before, and a report of that day showed the record 有效 where it was 异议中."""
    monkeypatch.setenv("TZ", "Asia/Shanghai")
    time.tzset()
    try:
        resolved = dt.datetime(2026, 3, 1, 0, 30, tzinfo=credit.CHINA_TIME).astimezone(dt.UTC)
        penalty = {"kind": "PENALTY", "status": "REVOKED", "revokedOn": dt.date(2026, 3, 1),
                   "publicityUntil": dt.date(2027, 1, 1),
                   "objections": [{"filedOn": dt.date(2026, 2, 20), "resolvedAt": resolved}]}
        assert status_as_of(penalty, dt.date(2026, 2, 28)) == "DISPUTED"
        assert status_as_of(penalty, dt.date(2026, 3, 1)) == "REVOKED"
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()


def test_sections_in_print_order(services: Services, person: str) -> None:
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    titles = re.findall(r"<h2>(.*?)</h2>", page)
    assert titles == ["基本信息", "有效信用记录", "历史信用记录", "信用等级与屡罚不改",
                      "关联风险", "受益所有人"]
    number = re.search(r"报告编号</th><td>(CR\d{8}[0-9A-F]{8})<", page)
    assert number is not None
    assert f"<td>{TODAY.isoformat()}</td>" in page  # 数据截至
    assert "王科长（调查人员）" in page and "行政许可前核查" in page
    assert credit.DISCLAIMER in page
    assert COMPANY in section_of(page, "基本信息")
    active = section_of(page, "有效信用记录")
    assert "德市监罚〔2026〕1号" in active and "LIC-2024-1" in active
    assert "行政处罚（1 条）" in active and "行政许可（1 条）" in active
    history = section_of(page, "历史信用记录")
    assert "德市监罚〔2019〕9号" in history and "已届满" in history
    assert "德市监罚〔2026〕1号" not in history
    risk = section_of(page, "关联风险")
    expected = assess(services.graph, services.rules, COMPANY, 3, TODAY, services.risk_model)
    assert f"{expected.score} 分" in risk
    # the top path, step by step with the Chinese relation names of the model
    legal = RELATIONS[RelationType.LEGAL_REPRESENTATIVE].zh
    assert f"←{legal}— 张三明 —{legal}→ 德州市风险贸易有限公司" in risk
    assert "列入严重失信主体名单" in risk
    owners = section_of(page, "受益所有人")
    # 60 % and no declared controller: the suspected actual controller (SPEC §8)
    assert "张三明" in owners and "60.00%" in owners and "疑似实际控制人" in owners


def test_a_case_the_subject_brought_is_no_record_of_its_own(services: Services,
                                                            person: str) -> None:
    """A judgment in which the company is the creditor (申请执行人) was listed among its 有效信用
    记录 — labelled by its role, but read as adverse: it has a section of its own."""
    record(services.graph, COMPANY, "Judgment", "（2026）鲁1402执7号", role="creditor",
           domain="judicial", date=TODAY - dt.timedelta(days=20), title="买卖合同纠纷")
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert re.findall(r"<h2>(.*?)</h2>", page)[1:4] == ["有效信用记录", "历史信用记录",
                                                         "其他相关记录"]
    assert "（2026）鲁1402执7号" not in section_of(page, "有效信用记录")
    related = section_of(page, "其他相关记录")
    assert "（2026）鲁1402执7号" in related and "申请执行人" in related


def test_every_value_is_escaped(services: Services, person: str) -> None:
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;销售过期食品" in page
    assert "德州市&lt;b&gt;鑫源&lt;/b&gt;食品有限公司" in page
    assert "Content-Security-Policy" in page  # and the page itself forbids any script


def test_persons_masked_without_pii_access(services: Services, person: str) -> None:
    monitor = Requester("监测任务", "monitor", False)
    masked = build_report(services, row(services, COMPANY), monitor, TODAY)
    assert "张三明" not in masked and "张*明" in masked
    assert mask_id_number(CONTROLLER) not in masked
    about_person = build_report(services, row(services, person), monitor, TODAY)
    assert "张三明" not in about_person and "张*明" in about_person
    assert "身份证号" not in about_person
    full = build_report(services, row(services, person), INVESTIGATOR, TODAY)
    assert "张三明" in full and mask_id_number(CONTROLLER) in full
    for page in (masked, about_person, full):
        assert CONTROLLER not in page
    # a person has no shareholders to penetrate: no beneficial-owner section
    assert "受益所有人" not in re.findall(r"<h2>(.*?)</h2>", full)


def test_every_report_is_audited(services: Services, person: str) -> None:
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    number = re.search(r"CR\d{8}[0-9A-F]{8}", page)
    assert number is not None
    services.audit.flush()
    events = services.graph.read(
        "MATCH (e:AuditEvent {operation: 'creditReport'}) RETURN e {.*} AS e")
    assert [e["e"]["id"] for e in events] == [number.group()]
    event = events[0]["e"]
    # the company first, then the person whose name the page shows in full (its 60 % owner
    # and legal representative, in the owners and the risk paths): a PII reveal (SPEC §9)
    assert (event["actor"], event["role"], event["subjects"], event["purpose"]) == (
        "王科长", "investigator", [COMPANY, person], "行政许可前核查")
    assert event["at"] is not None and event["at"].utcoffset() == dt.timedelta(0)  # as every event


def test_an_id_number_in_the_purpose_is_masked_in_the_audit_log(services: Services,
                                                                person: str) -> None:
    """Found by a held-out review: `/report/…?purpose=核查 <an ID number>` (or `credgraph
    report --purpose`) masked the number on the page but wrote it whole into the audit event,
    which `auditLog` then showed."""
    asked = Requester("王科长", "investigator", True, f"核查 {CONTROLLER} 的关联企业")
    page = build_report(services, row(services, COMPANY), asked, TODAY)
    services.audit.flush()
    [event] = services.graph.read(
        "MATCH (e:AuditEvent {operation: 'creditReport'}) RETURN e.purpose AS purpose")
    assert event["purpose"] == f"核查 {mask_id_number(CONTROLLER)} 的关联企业"
    assert CONTROLLER not in page


def test_a_report_names_the_persons_it_shows(services: Services, person: str) -> None:
    """The person's report shows no one else; a masked report reveals nobody; the company's
    report names the owner it shows — as `riskAssessment` and `ultimateOwners` do."""
    monitor = Requester("监测任务", "monitor", False)
    build_report(services, row(services, COMPANY), monitor, TODAY)
    build_report(services, row(services, person), INVESTIGATOR, TODAY)
    build_report(services, row(services, RISKY), INVESTIGATOR, TODAY)
    services.audit.flush()
    events = services.graph.read(
        "MATCH (e:AuditEvent {operation: 'creditReport'}) RETURN e.actor AS actor, "
        "e.subjects AS subjects ORDER BY e.subjects[0]")
    assert sorted((e["actor"], e["subjects"]) for e in events) == sorted([
        ("监测任务", [COMPANY]), ("王科长", [person]), ("王科长", [RISKY, person])])


def test_a_section_is_one_function_and_one_entry(services: Services, person: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    def grade(report: Report) -> str:
        return credit.section("信用等级", credit.facts([("等级", credit.esc("A"))]))

    monkeypatch.setattr(credit, "SECTIONS", [*credit.SECTIONS[:-1], grade, credit.SECTIONS[-1]])
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert re.findall(r"<h2>(.*?)</h2>", page)[-1] == "信用等级"
    assert page.index("信用等级") < page.index(credit.DISCLAIMER)


# -- the report route --------------------------------------------------------------------------
def test_report_route(api: Api, person: str) -> None:
    client = api.client
    assert client.get(f"/report/{COMPANY}").status_code == 401
    for role in ("monitor", "partner"):
        refused = client.get(f"/report/{COMPANY}", headers=api.headers(role))
        assert refused.status_code == 403
        assert refused.json()["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    done = client.get(f"/report/{COMPANY}", params={"asOf": TODAY.isoformat(),
                                                   "purpose": "行政许可前核查"},
                      headers=api.headers("investigator"))
    assert done.status_code == 200
    assert done.headers["content-type"].startswith("text/html")
    assert done.headers["cache-control"] == "no-store"
    assert "default-src 'none'" in done.headers["content-security-policy"]
    assert "德州市&lt;b&gt;鑫源&lt;/b&gt;食品有限公司" in done.text
    assert "test-investigator（调查人员）" in done.text


@pytest.mark.parametrize(("path", "status", "code"), [
    (f"/report/{UNKNOWN}", 404, "NOT_FOUND"),
    ("/report/91371402MA3C0R00", 400, "BAD_USER_INPUT"),
    (f"/report/{COMPANY}?asOf=yesterday", 400, "BAD_USER_INPUT"),
    (f"/report/{COMPANY}?asOf=2026-W26-2", 400, "BAD_USER_INPUT"),  # was 2026-06-23
    (f"/report/{COMPANY}?asOf=20260630", 400, "BAD_USER_INPUT"),
    (f"/report/{COMPANY}?purpose={'x' * 201}", 400, "BAD_USER_INPUT"),
])
def test_report_route_refusals(api: Api, path: str, status: int, code: str) -> None:
    answer = api.client.get(path, headers=api.headers("investigator"))
    assert answer.status_code == status
    assert answer.json()["errors"][0]["extensions"]["code"] == code


def test_an_id_number_does_not_belong_in_a_url(api: Api, person: str) -> None:
    answer = api.client.get(f"/report/{CONTROLLER}", headers=api.headers("investigator"))
    assert answer.status_code == 400
    assert CONTROLLER not in answer.text
    key_answer = api.client.get(f"/report/{person}", headers=api.headers("investigator"))
    assert key_answer.status_code == 200 and "张三明" in key_answer.text


# -- the desk shell ----------------------------------------------------------------------------
def test_desk_is_public_and_self_contained(api: Api) -> None:
    client = api.client
    page = client.get("/desk")
    assert page.status_code == 200
    assert "default-src 'self'" in page.headers["content-security-policy"]
    sources = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/desk/") or s == "data:," for s in sources)
    for name in NPM_FILES:
        asset = client.get(f"/desk/{name}")
        assert asset.status_code == 200, f"{name}: run make setup"
        assert "javascript" in asset.headers["content-type"]
    assert client.get("/desk/desk.js").status_code == 200
    assert client.get("/desk/desk.py").status_code == 404  # only the listed files
    assert client.get("/desk/package.json").status_code == 404
    vocabulary = client.get("/desk/model.json").json()
    assert vocabulary["relations"] == {t.value: s.zh for t, s in RELATIONS.items()}
    assert vocabulary["kinds"]["NATURAL_PERSON"] == "自然人"
    assert set(vocabulary["symmetric"]) == {"FAMILY", "SHARES_CONTACT"}
    # the page's code never writes data as HTML
    script = (desk_folder() / "desk.js").read_text(encoding="utf-8")
    assert "innerHTML" not in script and "insertAdjacentHTML" not in script


# -- riskLevels --------------------------------------------------------------------------------
LEVELS = "query($ids: [ID!]!, $asOf: Date) { riskLevels(ids: $ids, asOf: $asOf) " \
         "{ id score level signals } }"


def test_risk_levels_match_the_assessment(api: Api, services: Services, person: str) -> None:
    answer = api.query(LEVELS, role="monitor", ids=[RISKY, COMPANY, UNKNOWN, person],
                       asOf=TODAY.isoformat())
    found = {r["id"]: r for r in answer["data"]["riskLevels"]}  # type: ignore[index]
    assert list(found) == [RISKY, COMPANY, person]
    for sid in found:
        own = assess(services.graph, services.rules, sid, 1, TODAY, services.risk_model)
        assert found[sid]["score"] == own.own_score
        assert found[sid]["level"] == services.risk_model.level(own.own_score)
    assert found[RISKY]["level"] == "SEVERE" and found[person]["score"] == 0


def test_risk_levels_limits_and_roles(api: Api, services: Services) -> None:
    many = [COMPANY] * (services.rules.limits.max_batch_ids + 1)
    over = api.query(LEVELS, ids=many)
    assert over["errors"][0]["extensions"]["code"] == "LIMIT_EXCEEDED"  # type: ignore[index]
    partner = api.query(LEVELS, role="partner", ids=[COMPANY])
    assert partner["errors"][0]["extensions"]["code"] == "FORBIDDEN"  # type: ignore[index]
    bad = api.query(LEVELS, ids=["9137"])
    assert bad["errors"][0]["extensions"]["code"] == "BAD_USER_INPUT"  # type: ignore[index]


# -- the CLI -----------------------------------------------------------------------------------
def cli_env(settings: Settings) -> dict[str, str]:
    from credgraph.graph.server import LocalNeo4j

    password = settings.neo4j_password or LocalNeo4j(settings).password()
    return {"NEO4J_URI": settings.bolt_uri, "NEO4J_PASSWORD": password,
            "NEO4J_DATABASE": settings.neo4j_database, "CREDGRAPH_SECRET": TEST_SECRET}


def test_cli_report_html(settings: Settings, person: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = CliRunner().invoke(main, ["report", CONTROLLER, "--html", str(out),
                                     "--purpose", "核查"], env=cli_env(settings))
    assert done.exit_code == 0, done.output
    page = out.read_text(encoding="utf-8")
    assert "张三明" in page and CONTROLLER not in page and "cli:" in page
    unknown = CliRunner().invoke(main, ["report", UNKNOWN], env=cli_env(settings))
    assert unknown.exit_code == 1 and "no subject with this id" in unknown.output


def test_cli_pdf_needs_chromium(settings: Settings, tmp_path: Path) -> None:
    env = {**cli_env(settings), "PATH": str(tmp_path)}
    done = CliRunner().invoke(main, ["report", COMPANY, "--pdf", str(tmp_path / "r.pdf")],
                              env=env)
    assert done.exit_code == 2
    assert "chromium is not installed" in done.output
    assert not (tmp_path / "r.pdf").exists()


def test_grade_and_escalation_section(services: Services, person: str) -> None:
    """The grade as of the report's date and the escalation with its triggering records."""
    graph = services.graph
    graph.write("MATCH (s:Subject {id: $id}), (r:Penalty {id: $pid}) "
                "CREATE (s)-[:HAS_ESCALATION]->(e:Escalation {id: 'E-' + $id, subject: $id, "
                "level: 'FOCUS', status: 'ACTIVE', since: $since, rules: ['R1'], "
                "measures: ['列入重点关注对象名单']})-[:TRIGGERED_BY]->(r)",
                {"id": COMPANY, "pid": "德市监罚〔2026〕1号", "since": TODAY})
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    part = section_of(page, "信用等级与屡罚不改")
    assert "信用等级" in part and "重点关注" in part and "R1" in part
    assert "德市监罚〔2026〕1号" in part and "列入重点关注对象名单" in part
    # the triggering record's domain by its name, as in the records table (it showed the key)
    domain = graph.read("MATCH (r:Penalty {id: $pid}) RETURN r.domain AS d",
                        {"pid": "德市监罚〔2026〕1号"})[0]["d"]
    name = services.rules.domains.names[domain]
    assert f"<td>{name}</td>" in part.split("触发记录")[1] and name != domain
    grade = re.search(r"信用等级</th><td>([ABCD])<", part)
    assert grade is not None and grade.group(1) in "BCD"  # FOCUS caps the grade at B
    assert "escalation FOCUS" not in part


def test_a_lifted_escalation_says_so_and_lists_no_measures(services: Services,
                                                          person: str) -> None:
    """A lifted escalation read as if in force: its 措施 listed, no 解除日期 (found by the
    credit-report review). Its page now gives the day it was lifted and no measure."""
    lifted = TODAY - dt.timedelta(days=3)
    services.graph.write(
        "MATCH (s:Subject {id: $id}) CREATE (s)-[:HAS_ESCALATION]->(:Escalation {id: 'E-' + $id, "
        "subject: $id, level: 'FOCUS', status: 'LIFTED', since: $since, liftedOn: $lifted, "
        "rules: ['R1'], measures: ['列入重点关注对象名单']})",
        {"id": COMPANY, "since": TODAY - dt.timedelta(days=90), "lifted": lifted})
    part = section_of(build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY),
                      "信用等级与屡罚不改")
    assert "已解除" in part and f"解除日期</th><td>{lifted}<" in part
    assert "列入重点关注对象名单" not in part and "已解除，不再适用" in part


def test_contracts_and_commitments_say_whether_they_were_kept(services: Services,
                                                             person: str) -> None:
    """A contract kept and one overdue, a commitment kept and one broken, all read 有效 (found
    by the credit-report review): each now says 已履约, 逾期未履约, 履约中 or 未履约 as of the
    report's date."""
    graph = services.graph
    day = dt.timedelta(days=1)
    record(graph, COMPANY, "Contract", "HT-KEPT", date=TODAY - 90 * day, title="采购",
           dueOn=TODAY - 30 * day, fulfilledOn=TODAY - 40 * day)
    record(graph, COMPANY, "Contract", "HT-LATE", date=TODAY - 90 * day, title="采购",
           dueOn=TODAY - 10 * day)
    record(graph, COMPANY, "Contract", "HT-OPEN", date=TODAY - 90 * day, title="采购",
           dueOn=TODAY + 10 * day)
    record(graph, COMPANY, "Commitment", "CN-KEPT", date=TODAY - 90 * day, title="信用承诺",
           dueOn=TODAY - 30 * day, fulfilled=True)
    record(graph, COMPANY, "Commitment", "CN-BROKEN", date=TODAY - 90 * day, title="信用承诺",
           dueOn=TODAY - 30 * day, fulfilled=False)
    part = section_of(build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY),
                      "有效信用记录")

    def status(rid: str) -> str:
        found = re.search(rf"<td>{rid}</td>(?:<td>[^<]*</td>){{4}}<td>([^<]*)</td>", part)
        assert found is not None, rid
        return found.group(1)

    assert [status(r) for r in ("HT-KEPT", "HT-LATE", "HT-OPEN", "CN-KEPT", "CN-BROKEN")] == [
        "已履约", "逾期未履约", "履约中", "已履约", "未履约"]
    # before the first was fulfilled, it was still to be kept
    earlier = section_of(build_report(services, row(services, COMPANY), INVESTIGATOR,
                                      TODAY - 50 * day), "有效信用记录")
    assert re.search(r"<td>HT-KEPT</td>(?:<td>[^<]*</td>){4}<td>履约中</td>", earlier)


def test_a_grades_cap_as_the_reader_reads_it() -> None:
    """The report showed the API's code of the cap ('escalation FOCUS'; a held-out review)."""
    assert (cap_reason("escalation FOCUS"), cap_reason("severe listing L-1")) == (
        "屡罚不改 重点关注", "严重失信名单 L-1")



def test_a_persons_report_shows_his_grade_and_escalation(services: Services,
                                                         person: str) -> None:
    """A person is escalated too (R1 on his own penalties, R4, 联合惩戒对象) and has the grade
    `Subject.creditGrade` and `sharedCheck` give him: his report said neither — a 严重失信
    person's page showed no 严重失信 (found by a held-out review with a 滨州 bundle). He is
    never drawn for a 双随机 inspection, so no inspection ratio."""
    graph = services.graph
    for n in range(3):
        record(graph, person, "Penalty", f"滨城市监罚〔2026〕{n + 1}号", severity="一般",
               domain="food_drug", date=TODAY - dt.timedelta(days=30 * (n + 1)),
               title="销售过期食品", authority="滨州市滨城区市场监督管理局")
    graph.write("MATCH (s:Subject {id: $id}), (r:Penalty) WHERE r.id STARTS WITH '滨城市监罚' "
                "MERGE (s)-[:HAS_ESCALATION]->(e:Escalation {id: 'E-' + $id, subject: $id, "
                "level: 'FOCUS', status: 'ACTIVE', since: $since, rules: ['R1'], "
                "measures: ['列入重点关注对象名单']}) MERGE (e)-[:TRIGGERED_BY]->(r)",
                {"id": person, "since": TODAY})
    page = build_report(services, row(services, person), INVESTIGATOR, TODAY)
    assert "信用等级与屡罚不改" in re.findall(r"<h2>(.*?)</h2>", page)
    part = section_of(page, "信用等级与屡罚不改")
    assert "重点关注" in part and "R1" in part and "列入重点关注对象名单" in part
    assert all(f"滨城市监罚〔2026〕{n}号" in part for n in (1, 2, 3))
    grade = re.search(r"信用等级</th><td>([ABCD])<", part)
    assert grade is not None and grade.group(1) in "BCD"  # FOCUS caps the grade at B
    assert "双随机抽查比例" not in part



def test_an_earlier_report_sees_records_and_escalation_as_they_were(services: Services,
                                                                     person: str) -> None:
    """A report dated before a repair, a correction, an objection and a confirmation showed
    them all — 已修复, the corrected version, 异议中, 严重失信主体 with its joint punishments —
    beside a grade of that date that still counted the record and capped at the proposal
    (found by a held-out review of the credit report, SPEC §8: an earlier asOf sees the record
    as it was). Each record's status and the escalation are now those of the report's date."""
    graph = services.graph
    earlier, proposed = TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=40)
    repaired = "德市监罚〔2026〕1号"
    graph.write("MATCH (r:Penalty {id: $id}) SET r.status = 'REPAIRED', r.repairedOn = $today",
                {"id": repaired, "today": TODAY})
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕2号", severity="一般", domain="market",
           status="REVOKED", revokedOn=TODAY, supersededBy="德市监罚〔2026〕2号#v2",
           date=TODAY - dt.timedelta(days=60), title="虚假宣传")
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕2号#v2", severity="轻微",
           domain="market", correctedOn=TODAY, date=TODAY - dt.timedelta(days=60),
           title="虚假宣传")
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕3号", severity="一般", domain="market",
           status="DISPUTED", date=TODAY - dt.timedelta(days=50), title="价格违法")
    graph.write("MATCH (r:Penalty {id: '德市监罚〔2026〕3号'}) CREATE (:Objection {id: 'OBJ-1', "
                "status: 'OPEN', filedOn: $today})-[:OBJECTS_TO]->(r)", {"today": TODAY})
    history = [json.dumps({"asOf": proposed.isoformat(), "at": f"{proposed}T10:00:00+00:00",
                           "action": "created", "level": "SEVERE_PROPOSED", "rules": ["R3"]}),
               json.dumps({"asOf": TODAY.isoformat(), "at": f"{TODAY}T10:00:00+00:00",
                           "action": "confirmed", "level": "SEVERE"})]
    graph.write("MATCH (s:Subject {id: $id}), (r:Penalty {id: $pid}) "
                "CREATE (s)-[:HAS_ESCALATION]->(e:Escalation {id: 'E-' + $id, subject: $id, "
                "level: 'SEVERE', status: 'ACTIVE', since: $today, proposedOn: $proposed, "
                "confirmedOn: $today, rules: ['R3'], history: $history, "
                "measures: ['限制政府采购']})-[:TRIGGERED_BY]->(r)",
                {"id": COMPANY, "pid": repaired, "today": TODAY, "proposed": proposed,
                 "history": history})

    then = build_report(services, row(services, COMPANY), INVESTIGATOR, earlier)
    active, past = section_of(then, "有效信用记录"), section_of(then, "历史信用记录")
    assert repaired in active and repaired not in past and "已修复" not in then
    assert "德市监罚〔2026〕2号<" in active and "#v2" not in then and "已撤销" not in then
    assert "德市监罚〔2026〕3号" in active and "异议中" not in then
    part = section_of(then, "信用等级与屡罚不改")
    assert "拟列入严重失信主体名单" in part and "限制政府采购" not in part
    assert earlier.isoformat() not in part and proposed.isoformat() in part
    grade = credit.credit_grades(graph, services.rules, [COMPANY], earlier)
    assert f"信用分</th><td>{grade[COMPANY].score}<" in part

    now = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    active, past = section_of(now, "有效信用记录"), section_of(now, "历史信用记录")
    assert repaired in past and "已修复" in past
    assert "德市监罚〔2026〕2号#v2" in active and "德市监罚〔2026〕2号<" in past
    assert "异议中" in active
    part = section_of(now, "信用等级与屡罚不改")
    assert "严重失信主体" in part and "限制政府采购" in part


def test_repairs_objections_and_escalation_history_as_of_the_report(services: Services,
                                                                    person: str) -> None:
    """The report had no repair, objection or escalation history (left as found by a review of
    the credit report): a reader saw 已修复 with no date, 异议中 with no objection, a level with
    no account of how it came. Each now has its table, as it stood on the report's date."""
    graph = services.graph
    earlier, proposed = TODAY - dt.timedelta(days=10), TODAY - dt.timedelta(days=40)
    graph.write("MATCH (r:Penalty {id: '德市监罚〔2026〕1号'}) SET r.status = 'REPAIRED', "
                "r.repairedOn = $today, r.repair = 'RP-7'", {"today": TODAY})
    record(graph, COMPANY, "Penalty", "德市监罚〔2026〕3号", severity="一般", domain="market",
           status="REVOKED", revokedOn=TODAY, date=TODAY - dt.timedelta(days=50),
           title="价格违法")
    resolved = dt.datetime.combine(TODAY, dt.time(3), tzinfo=dt.UTC)
    graph.write("MATCH (r:Penalty {id: '德市监罚〔2026〕3号'}) CREATE (:Objection {id: 'OBJ-9', "
                "status: 'RESOLVED', outcome: 'REVOKE', filedOn: $filed, resolvedAt: $resolved})"
                "-[:OBJECTS_TO]->(r)", {"filed": earlier - dt.timedelta(days=1),
                                        "resolved": resolved})
    history = [json.dumps({"asOf": proposed.isoformat(), "at": f"{proposed}T10:00:00+00:00",
                           "action": "created", "level": "SEVERE_PROPOSED",
                           "rules": ["R1", "R3"], "actor": "cli:escalate",
                           "note": "R1: 3 penalties in 市场监管 within 24 months; R3: repeat "
                                   "offender with 1 严重 penalties"}),
               json.dumps({"asOf": TODAY.isoformat(), "at": f"{TODAY}T10:00:00+00:00",
                           "action": "confirmed", "level": "SEVERE", "actor": "admin-li",
                           "note": "公示期满无异议"})]
    graph.write("MATCH (s:Subject {id: $id}) "
                "CREATE (s)-[:HAS_ESCALATION]->(:Escalation {id: 'E-' + $id, subject: $id, "
                "level: 'SEVERE', status: 'ACTIVE', since: $today, proposedOn: $proposed, "
                "confirmedOn: $today, rules: ['R3'], history: $history, "
                "measures: ['限制政府采购']})",
                {"id": COMPANY, "today": TODAY, "proposed": proposed, "history": history})

    then = build_report(services, row(services, COMPANY), INVESTIGATOR, earlier)
    part = section_of(then, "信用修复与异议处理")
    assert "RP-7" not in part and "信用修复</h3>" not in part  # repaired after that day
    assert "OBJ-9" in part and "处理中" in part and "撤销" not in part
    steps = section_of(then, "信用等级与屡罚不改").split("升级历史")[1]
    assert "认定" in steps and proposed.isoformat() in steps and "确认" not in steps

    now = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    titles = re.findall(r"<h2>(.*?)</h2>", now)
    assert titles.index("信用修复与异议处理") == titles.index("历史信用记录") + 1
    part = section_of(now, "信用修复与异议处理")
    assert re.search(rf"德市监罚〔2026〕1号</td><td>行政处罚</td><td>{TODAY}</td><td>RP-7<",
                     part)
    assert re.search(rf"OBJ-9</td><td>德市监罚〔2026〕3号</td><td>{earlier - dt.timedelta(days=1)}"
                     rf"</td><td>撤销</td><td>{TODAY}<", part)
    steps = section_of(now, "信用等级与屡罚不改").split("升级历史")[1]
    assert steps.index("认定") < steps.index("确认")
    assert "admin-li" in steps and "公示期满无异议" in steps and "严重失信主体" in steps
    # a run's 说明 in the report's words, the rules file's numbers: not the log's English
    assert "penalties" not in steps and "repeat offender" not in steps
    assert ("24个月内同一领域受到3次以上一般及以上行政处罚；"
            "屡罚不改，且有严重行政处罚或被列入失信名单") in steps


def test_no_repair_or_objection_no_section(services: Services, person: str) -> None:
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert "信用修复与异议处理" not in page and "升级历史" not in page


def test_a_contracts_authority_is_its_government_party(services: Services, person: str) -> None:
    """A contract's 机关 column was empty: contracts carry the agency as a party (政府方), not an
    authority name (left as found by the credit report's review)."""
    graph = services.graph
    agency = make_uscc(prefix="11", org="MB3C0R010")
    subject(graph, agency, "德州市财政局", kind="AGENCY")
    record(graph, COMPANY, "Contract", "ZFCG-2026-8", role="counterparty", domain="contract",
           date=TODAY - dt.timedelta(days=20), title="办公设备采购")
    graph.write("MATCH (a:Subject {id: $a}), (r:Contract {id: 'ZFCG-2026-8'}) "
                "CREATE (a)-[:HAS_RECORD {role: 'agency'}]->(r)", {"a": agency})
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert re.search(r"ZFCG-2026-8</td>(<td>[^<]*</td>){5}<td>德州市财政局</td>",
                     section_of(page, "有效信用记录"))


def test_a_cross_holding_group_beyond_the_budget_leaves_the_rest_of_the_report(
        services: Services, person: str) -> None:
    """A group with more shareholding paths than [ownership] path_budget ended `credgraph
    report` in a traceback and the report route in an error (found by the review of the day's
    diff); the 受益所有人 section now says the structure was not computed."""
    relate(services.graph, RISKY, COMPANY, "SHAREHOLDER", ratio=0.1)  # a second path
    tight = Services.build(services.settings, services.graph,
                           services.rules.with_overrides({"ownership": {"path_budget": 1}}),
                           services.privacy, services.audit)
    page = build_report(tight, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert "股权结构过于复杂" in section_of(page, "受益所有人")
    assert "德市监罚〔2026〕1号" in section_of(page, "有效信用记录")


def test_a_licence_in_force_on_the_reports_date_is_in_force_there(services: Services,
                                                                  person: str) -> None:
    """Found by the credit-report review: a licence whose 有效期至 had passed by the load day
    is stored EXPIRED, and a report dated while it was still valid printed it 已届满 under
    历史信用记录 (a 小作坊登记证 valid to 2026-01-01, in a report as of 2025-03-15). Now a
    report of an earlier date shows it as its 当前状态 and 有效期至 made it then."""
    record(services.graph, COMPANY, "License", "LIC-OLD", status="EXPIRED", currentStatus="有效",
           domain="market", date=TODAY - dt.timedelta(days=900),
           validTo=TODAY - dt.timedelta(days=30), title="小作坊登记证")
    then = build_report(services, row(services, COMPANY), INVESTIGATOR,
                        TODAY - dt.timedelta(days=60))
    assert "LIC-OLD" in section_of(then, "有效信用记录")
    assert "LIC-OLD" not in section_of(then, "历史信用记录")
    now = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    assert "LIC-OLD" in section_of(now, "历史信用记录")
    # its source calling it 无效 (template code 2) before its 有效期至: ended early then too
    void = {"kind": "LICENSE", "status": "EXPIRED", "currentStatus": "2",
            "validTo": TODAY - dt.timedelta(days=30)}
    assert status_as_of(void, TODAY - dt.timedelta(days=60)) == "REVOKED"
    assert status_as_of(void, TODAY) == "EXPIRED"


def test_a_licence_its_source_ended_reads_in_the_sources_word(services: Services,
                                                              person: str) -> None:
    """Found by the credit-report review: a licence 吊销 (a penalty) and one 注销 (cancelled)
    were both printed 已撤销, as one objection revoked; the reader now sees which."""
    for rid, said in (("LIC-DX", "吊销"), ("LIC-ZX", "注销")):
        record(services.graph, COMPANY, "License", rid, status="REVOKED", currentStatus=said,
               domain="market", date=dt.date(2022, 5, 1), title="食品生产许可证")
    record(services.graph, COMPANY, "License", "LIC-YY", status="REVOKED", currentStatus="有效",
           revokedOn=TODAY - dt.timedelta(days=3), domain="market", date=dt.date(2022, 5, 1),
           title="食品生产许可证")
    history = section_of(build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY),
                         "历史信用记录")
    for rid, shown in (("LIC-DX", "已吊销"), ("LIC-ZX", "已注销"), ("LIC-YY", "已撤销")):
        line = history.split(f"<td>{rid}</td>")[1].split("</tr>")[0]
        assert f"<td>{shown}</td>" in line, (rid, line)


def test_no_inspection_ratio_where_the_plan_draws_nobody(services: Services,
                                                        person: str) -> None:
    """Found by the credit-report review: an agency's report showed a 双随机抽查比例, though
    the plan never draws an agency (nor a defunct company); a trading company's shows it."""
    agency, defunct = make_uscc(prefix="11", org="MA3C0R003"), make_uscc(org="MA3C0R004")
    subject(services.graph, agency, "德州市某某局", kind="AGENCY")
    subject(services.graph, defunct, "德州市已吊销贸易有限公司")
    services.graph.write("MATCH (s:Subject {id: $id}) SET s.status = '吊销，未注销'",
                         {"id": defunct})
    for sid, shown in ((agency, False), (defunct, False), (COMPANY, True)):
        page = build_report(services, row(services, sid), INVESTIGATOR, TODAY)
        part = section_of(page, "信用等级与屡罚不改")
        assert "信用等级" in part and ("双随机抽查比例" in part) is shown, sid


def test_a_corrected_version_reads_corrected_not_revoked(services: Services,
                                                         person: str) -> None:
    """Found by the credit-report review: the version an objection corrected (异议更正) was
    printed 已撤销 beside its corrected #v2, as if the penalty had been withdrawn; it reads
    已更正, and a record an objection revoked still reads 已撤销."""
    on = TODAY - dt.timedelta(days=2)
    record(services.graph, COMPANY, "Penalty", "德农罚〔2026〕32号", status="REVOKED",
           revokedOn=on, supersededBy="德农罚〔2026〕32号#v2", severity="严重",
           domain="agriculture", date=TODAY - dt.timedelta(days=200), title="违法使用禁用农药")
    record(services.graph, COMPANY, "Penalty", "德农罚〔2026〕32号#v2", correctedOn=on,
           severity="一般", domain="agriculture", date=TODAY - dt.timedelta(days=200),
           title="违法使用禁用农药")
    record(services.graph, COMPANY, "Penalty", "德农罚〔2026〕33号", status="REVOKED",
           revokedOn=on, severity="一般", domain="agriculture",
           date=TODAY - dt.timedelta(days=220), title="未建立农药经营台账")
    page = build_report(services, row(services, COMPANY), INVESTIGATOR, TODAY)
    history = section_of(page, "历史信用记录")
    for rid, shown in (("德农罚〔2026〕32号", "已更正"), ("德农罚〔2026〕33号", "已撤销")):
        line = history.split(f"<td>{rid}</td>")[1].split("</tr>")[0]
        assert f"<td>{shown}</td>" in line, (rid, line)
    assert "德农罚〔2026〕32号#v2" in section_of(page, "有效信用记录")


def test_an_agencys_report_has_its_government_integrity(services: Services) -> None:
    """An agency's credit report had no 政务诚信 part (the integrity report had it; left as
    found last stop): a reader saw its records but not that it owes a judgment. Its score and
    findings as of the report's date, the officials its words name masked without PII."""
    graph = services.graph
    bureau = make_uscc(prefix="11", region="371481", org="MB3C0R020")
    builder = make_uscc(region="371481", org="MA3C0R021")
    head_key = services.privacy.person_key(parse_id_number(
        make_id(region="371481", born="19700101", seq="021")))
    subject(graph, bureau, "乐陵市住房和城乡建设局", "AGENCY", "371481")
    subject(graph, builder, "乐陵市建工有限公司", region="371481")
    subject(graph, head_key, "王建国", "NATURAL_PERSON")
    graph.write("MATCH (p:Subject {id: $id}) SET p:Official", {"id": head_key})
    relate(graph, head_key, bureau, "SERVES_IN", position="局长", start=dt.date(2020, 1, 1))
    due = TODAY - dt.timedelta(days=30)
    record(graph, bureau, "Judgment", "（2025）鲁1481执12号", role="debtor", dueOn=due,
           amount=50.0, date=due - dt.timedelta(days=90), court="乐陵市人民法院")
    graph.write("MATCH (b {id: $b}), (j:Judgment {id: '（2025）鲁1481执12号'}) "
                "CREATE (b)-[:HAS_RECORD {role: 'creditor'}]->(j)", {"b": builder})

    page = build_report(services, row(services, bureau), INVESTIGATOR, TODAY)
    part = section_of(page, "政务诚信")
    assert "G1" in part and "（2025）鲁1481执12号" in part and "王建国" in part
    rules = services.rules.integrity  # its base less one G1 一般 (30 days overdue, 50 万元)
    score = rules.base_score - rules.weight(IntegrityPattern.G1, Severity.GENERAL)
    assert f"政务诚信评分</th><td>{score}</td>" in part
    services.audit.flush()  # the official shown in full is named in the report's event
    named = services.graph.read("MATCH (e:AuditEvent {operation: 'creditReport'}) "
                                "RETURN e.subjects AS subjects")
    assert named == [{"subjects": [bureau, head_key]}]
    masked = build_report(services, row(services, bureau),
                          credit.Requester("监测", "monitor", False, None), TODAY)
    assert "王建国" not in section_of(masked, "政务诚信") and "王*国" in masked
    before = build_report(services, row(services, bureau), INVESTIGATOR,
                          due - dt.timedelta(days=1))
    assert "未发现政务失信问题" in section_of(before, "政务诚信")
    assert "政务诚信" not in build_report(services, row(services, builder), INVESTIGATOR, TODAY)
