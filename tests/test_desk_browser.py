"""The investigator's desk in a real browser on the demo city (Debian's chromium driven by
Playwright; every request that is not to the app is blocked and recorded), and the credit
report printed to PDF by the CLI.

One demo city, one server and one browser page serve the whole module (the load is the slow
part). Screenshots go to the module's temporary folder. Without chromium the module is
skipped — except under CI=true, where that is a failure.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from click.testing import CliRunner

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.cli import main
from credgraph.graph.driver import Graph
from credgraph.graph.maintenance import delete_all
from credgraph.graph.model import RELATIONS, Label
from credgraph.loaders.bundle import BundleLoader
from credgraph.loaders.demo import generate
from credgraph.queries.neighbourhood import explore
from credgraph.queries.risk import assess
from credgraph.rules import Rules
from credgraph.schema.identifiers import parse_id_number
from credgraph.schema.privacy import Privacy
from credgraph.services import Services
from credgraph.settings import Settings
from tests.ids import make_id, make_uscc, raw_id_numbers
from tests.test_report import cli_env

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
PDFTOTEXT = shutil.which("pdftotext")
playwright = pytest.importorskip("playwright.sync_api")
VIEWPORT = {"width": 1280, "height": 800}
# Bounds for waiting on the page, not timings: the machine is shared and may be very busy.
PATIENCE_S = 120


def require(found: str | None, what: str) -> str:
    """A tool the test needs: missing is a skip on a workstation, a failure in CI."""
    if found is None:
        message = f"{what} is not installed (as root, `make browser` installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return found


@dataclass
class City:
    services: Services
    folder: Path
    cases: dict[str, dict[str, Any]]
    names: dict[str, str]  # USCC -> name
    id_numbers: list[str]  # every raw ID number of the bundle (none may ever be shown)


@dataclass
class Desk:
    url: str
    token: str
    city: City
    page: Any
    shots: Path
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def js(self, expression: str) -> Any:
        return self.page.evaluate(expression)

    def wait(self, expression: str, timeout: float = PATIENCE_S) -> None:
        """Poll an expression (the page's policy forbids eval, so no wait_for_function)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.page.evaluate(f"!!({expression})"):
                return
            self.page.wait_for_timeout(100)
        raise AssertionError(f"not true after {timeout}s: {expression}; page errors: "
                             f"{self.errors}")

    def idle(self) -> None:
        self.page.wait_for_timeout(150)
        self.wait("window.desk && window.desk.busy === 0")

    def shot(self, name: str) -> Path:
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path))
        return path

    def click_node(self, node_id: str) -> None:
        x, y = self.js(f"""(() => {{
            const n = window.desk.cy.getElementById({json.dumps(node_id)});
            const p = n.renderedPosition();
            const box = document.getElementById('graph').getBoundingClientRect();
            return [box.left + p.x, box.top + p.y]; }})()""")
        self.page.mouse.click(x, y)
        self.idle()


@pytest.fixture(scope="module")
def city(session_graph: Graph, settings: Settings, rules: Rules, privacy: Privacy,
         tmp_path_factory: pytest.TempPathFactory) -> City:
    require(CHROMIUM, "Debian chromium")
    delete_all(session_graph, keep=(Label.SCHEMA_VERSION.value,))
    folder = tmp_path_factory.mktemp("desk-city")
    generate(folder, subjects=1000, seed=15)
    services = Services.build(settings, session_graph, rules, privacy)
    BundleLoader(session_graph, rules, privacy, services.normaliser).load([folder])
    truth = json.loads((folder / "truth.json").read_text(encoding="utf-8"))
    with (folder / "legal_persons.csv").open(encoding="utf-8-sig") as handle:
        names = {row["uscc"]: row["name"] for row in csv.DictReader(handle)}
    with (folder / "natural_persons.csv").open(encoding="utf-8-sig") as handle:
        numbers = [row["id_number"] for row in csv.DictReader(handle)]
    return City(services, folder, {c["pattern"]: c for c in truth["cases"]}, names, numbers)


@pytest.fixture(scope="module")
def desk(city: City, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Desk]:
    token = KeyStore(city.services.graph).create("调查员小王", Role.INVESTIGATOR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(city.services), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + PATIENCE_S
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN")
        found = Desk(url, token, city, None, tmp_path_factory.mktemp("desk-screenshots"))

        def only_localhost(route, request):  # type: ignore[no-untyped-def]
            if request.url.startswith(url):
                route.continue_()
            else:
                found.outside.append(request.url)
                route.abort()

        context.route("**/*", only_localhost)
        page = context.new_page()
        page.set_default_timeout(PATIENCE_S * 1000)
        page.on("pageerror", lambda error: found.errors.append(str(error)))
        found.page = page
        yield found
        browser.close()
    server.should_exit = True
    thread.join(10)


def enter_key(desk: Desk) -> None:
    desk.page.wait_for_selector("#key-dialog:not([hidden])")
    desk.page.fill("#key-input", desk.token)
    desk.page.click("#key-form button[type=submit]")
    desk.page.wait_for_selector("#key-dialog", state="hidden")


def drawn_pixels(desk: Desk, container: str) -> int:
    """Non-white pixels on the canvases cytoscape drew into a container."""
    return int(desk.js(f"""(() => {{
        let count = 0;
        for (const canvas of document.querySelectorAll('#{container} canvas')) {{
            if (!canvas.width || !canvas.height) continue;
            const w = canvas.width, h = canvas.height;
            const data = canvas.getContext('2d').getImageData(0, 0, w, h).data;
            for (let i = 0; i < data.length; i += 4) {{
                const ink = data[i] < 235 || data[i + 1] < 235 || data[i + 2] < 235;
                if (data[i + 3] > 0 && ink) count++;
            }}
        }}
        return count; }})()"""))


def richest_company(city: City) -> str:
    """A company with a neighbourhood worth drawing (15–60 subjects within two hops) and risk
    flowing to it, the same one for the seed."""
    rows = city.services.graph.read("""
        MATCH (c:LegalPerson) WHERE NOT c:Agency AND COUNT { (c)--(:Subject) } >= 3
        MATCH (c)-[*1..2]-(n:Subject)
        WITH c, count(DISTINCT n) AS around WHERE 15 <= around <= 60
        RETURN c.id AS id ORDER BY around DESC, c.id LIMIT 20""")
    for row in rows:
        found = assess(city.services.graph, city.services.rules, row["id"], 3, dt.date.today(),
                       city.services.risk_model)
        if len(found.contributors) >= 2:
            return str(row["id"])
    raise AssertionError("the demo city has no company with a drawable risky neighbourhood")


def test_investigation_flow(desk: Desk) -> None:
    """Key, search a demo-city name, open its graph, expand a node, follow a contributor's
    path, switch to the ownership view."""
    page = desk.page
    page.goto(desk.url + "/desk")
    enter_key(desk)
    company = richest_company(desk.city)
    name = desk.city.names[company]
    page.fill("#search", name)
    page.click("#search-form button")
    page.wait_for_selector(f'#result-list button[data-id="{company}"]')
    desk.shot("1-search")
    page.click(f'#result-list button[data-id="{company}"]')
    desk.wait("window.desk.center && window.desk.cy.nodes().length > 1")
    desk.idle()
    desk.wait("document.querySelectorAll('#contributors button').length >= 2")
    assert desk.js("window.desk.center.id") == company
    assert page.inner_text("#subject-card h2") == name
    nodes = desk.js("window.desk.cy.nodes().length")
    assert nodes >= 15
    # every node is coloured by its own risk level, the centre is marked
    levels = desk.js("window.desk.cy.nodes().map(n => n.data('level'))")
    assert set(levels) <= {"LOW", "MEDIUM", "HIGH", "SEVERE"} and len(set(levels)) >= 2
    assert desk.js(f"window.desk.cy.getElementById('{company}').hasClass('center')")
    # edges carry the model's Chinese names, with the share where there is one
    labels = desk.js("window.desk.cy.edges().map(e => e.data('label'))")
    assert any(re.fullmatch(r"股东 \d+(\.\d+)?%", label) for label in labels)
    assert all(re.match(r"[\u4e00-\u9fff]", label) for label in labels)
    assert drawn_pixels(desk, "graph") > 2000
    assert page.is_visible("#legend")
    desk.shot("2-graph")

    # expand: the first outer node that brings new relations
    outer = desk.js("window.desk.cy.nodes().filter(n => !window.desk.expanded.has(n.id()))"
                    ".map(n => n.id())")
    for node in outer:
        desk.click_node(node)
        if desk.js("window.desk.cy.nodes().length") > nodes:
            break
    assert desk.js("window.desk.cy.nodes().length") > nodes
    assert page.is_visible("#node-card")
    desk.shot("3-expanded")

    # a contributor's path is highlighted on the graph
    first = page.locator("#contributors button").first
    contributor = first.get_attribute("data-id")
    first.click()
    desk.idle()
    path_edges = desk.js("window.desk.cy.edges('.path').length")
    expected = desk.js("window.desk.risk.contributors[0].path.length")
    assert path_edges == expected >= 1
    assert desk.js(f"window.desk.cy.getElementById('{contributor}').hasClass('path')")
    assert desk.js("window.desk.cy.nodes('.faded').length") > 0
    assert "active" in (first.get_attribute("class") or "")
    desk.shot("4-path")

    # the ownership view of the two-path case: 40 % × 50 % + 30 % × 20 % = 26 %
    two = desk.city.cases["ownership_two_paths"]
    owner = desk.city.services.privacy.person_key(parse_id_number(two["owner"]))
    page.goto(desk.url + "/desk#" + two["company"])
    desk.wait(f"window.desk.center && window.desk.center.id === '{two['company']}'")
    desk.idle()
    page.click("#view-owners")
    desk.wait("window.desk.ownersCy && window.desk.owners !== null")
    desk.idle()
    assert page.is_visible("#owners") and not page.is_visible("#graph")
    row = page.locator(f'#owner-list button[data-id="{owner}"]')
    assert "26%" in row.inner_text()
    assert desk.js(f"window.desk.ownersCy.getElementById('{owner}').data('label')").endswith(
        "26%")
    assert desk.js("window.desk.ownersCy.edges().length") >= 4  # two paths of two steps
    assert drawn_pixels(desk, "owners") > 1000
    desk.shot("5-ownership")
    # asOf before the shareholdings began: no owner any more
    page.fill("#as-of", "2000-01-01")
    page.dispatch_event("#as-of", "change")
    desk.wait("window.desk.asOf === '2000-01-01' && window.desk.ownersFor && "
              "window.desk.ownersFor.includes('2000-01-01')")
    desk.idle()
    assert desk.js("window.desk.owners.length") == 0
    today = dt.date.today().isoformat()
    page.fill("#as-of", today)
    page.dispatch_event("#as-of", "change")
    desk.wait(f"window.desk.asOf === '{today}'")
    desk.idle()
    page.click("#view-graph")
    desk.idle()
    assert desk.outside == [] and desk.errors == []


def test_readme_screenshot(desk: Desk) -> None:
    """The picture of the README: the richest case at 1280×800 with a path highlighted."""
    company = richest_company(desk.city)
    desk.page.goto(desk.url + "/desk#" + company)
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()
    desk.wait("document.querySelectorAll('#contributors button').length >= 2")
    desk.page.locator("#contributors button").first.click()
    desk.idle()
    desk.js("void window.desk.cy.fit(undefined, 30)")
    path = desk.shot("desk")
    assert path.stat().st_size > 20_000
    assert desk.outside == [] and desk.errors == []


def test_a_hub_stays_usable(desk: Desk) -> None:
    """The registration agent of 220 companies: drawn, marked as a hub beyond the degree cap,
    and said to be truncated exactly when the API's answer is (the relations past the
    desk's read limit of 300; the hub's companies seen again from hop 2 spend none of it)."""
    services = desk.city.services
    hub = services.privacy.person_key(parse_id_number(desk.city.cases["hub_cut"]["hub"]))
    desk.page.goto(desk.url + "/desk#" + hub)
    desk.wait(f"window.desk.center && window.desk.center.id === '{hub}'")
    desk.idle()
    answer = explore(services.graph, [hub], 2, list(RELATIONS), dt.date.today(),
                     services.rules.risk.degree_cap, 300)
    assert answer is not None and hub in answer.hubs
    assert desk.js("window.desk.cy.nodes().length") == len(answer.hops) >= 150
    assert desk.js("window.desk.truncated") == answer.truncated
    status = desk.page.inner_text("#status")
    # the centre's own relations are read (up to the limit): it is not said to be left out
    assert "中心主体是枢纽节点" in status and "未自动展开" not in status
    assert ("部分关联已截断" in status) == answer.truncated
    assert drawn_pixels(desk, "graph") > 2000
    desk.shot("6-hub")
    assert desk.outside == [] and desk.errors == []


FAN = """
UNWIND $rows AS row
MERGE (p:Subject:NaturalPerson {id: row.person})
  ON CREATE SET p.name = row.personName, p.kind = 'NATURAL_PERSON', p.region = '371402'
MERGE (c:Subject:LegalPerson {id: row.company})
  ON CREATE SET c.name = row.companyName, c.kind = 'ENTERPRISE', c.region = '371402'
MERGE (p)-[r:SHAREHOLDER {key: row.company}]->(c) SET r.ratio = row.ratio
"""


def test_three_hundred_nodes(desk: Desk) -> None:
    """A company whose three shareholders hold 110 companies each: about 300 nodes drawn,
    the walk capped and said to be, a node still expandable."""
    privacy = desk.city.services.privacy
    center = make_uscc(org="MA3CWF000")
    persons = [privacy.person_key(parse_id_number(make_id(born="19700101", seq=f"{i:03d}")))
               for i in (901, 902, 903)]
    rows = [{"person": p, "personName": f"测试股东{i}", "company": center,
             "companyName": "德州市三百节点测试有限公司", "ratio": 0.3}
            for i, p in enumerate(persons)]
    rows += [{"person": p, "personName": f"测试股东{i}", "ratio": 0.6,
              "company": make_uscc(org=f"MA3C{i}{n:04d}"),
              "companyName": f"德州市测试{i}-{n}有限公司"}
             for i, p in enumerate(persons) for n in range(110)]
    desk.city.services.graph.write(FAN, {"rows": rows})
    desk.page.goto(desk.url + "/desk#" + center)
    desk.wait(f"window.desk.center && window.desk.center.id === '{center}'")
    desk.idle()
    assert desk.js("window.desk.cy.nodes().length") >= 290
    assert "部分关联已截断" in desk.page.inner_text("#status")
    assert drawn_pixels(desk, "graph") > 2000
    desk.click_node(persons[0])
    assert desk.page.is_visible("#node-card")
    assert desk.js(f"window.desk.expanded.has('{persons[0]}')")
    desk.shot("7-three-hundred")
    assert desk.outside == [] and desk.errors == []


def test_unknown_id_says_so(desk: Desk) -> None:
    unknown = make_uscc(org="MA3CWX991")
    desk.page.goto(desk.url + "/desk#" + unknown)
    desk.wait("!document.getElementById('message').hidden && "
              "document.getElementById('message').innerText.includes('未找到该主体')")
    assert unknown in desk.page.inner_text("#message")
    assert desk.js("window.desk.cy.nodes().length") == 0
    desk.shot("8-unknown")


def test_an_unknown_id_typed_leaves_no_other_subject_in_the_address(desk: Desk) -> None:
    """An unknown code typed in the search box after a subject was open left that subject's
    id in the address while the screen said 未找到 — a reload reopened it (found by the desk
    review)."""
    company = desk.city.cases["ownership_two_paths"]["company"]
    desk.page.goto(desk.url + "/desk#" + company)
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()
    desk.page.fill("#search", make_uscc(org="MA3CWX992"))
    desk.page.click("#search-form button")
    desk.wait("!document.getElementById('message').hidden && "
              "document.getElementById('message').innerText.includes('未找到该主体')")
    assert desk.js("location.hash") == ""
    assert desk.outside == [] and desk.errors == []


def test_a_rejected_key_asks_again(desk: Desk) -> None:
    company = desk.city.cases["ownership_two_paths"]["company"]
    desk.page.goto(desk.url + "/desk")
    desk.js("sessionStorage.setItem('credgraph:key', 'cg_expired0000000000000000000000')")
    desk.page.goto(desk.url + "/desk#" + company)
    desk.page.wait_for_selector("#key-dialog:not([hidden])")
    assert "密钥无效" in desk.page.inner_text("#key-reason")
    assert desk.js("sessionStorage.getItem('credgraph:key')") is None
    desk.shot("9-key-again")
    enter_key(desk)  # and the page carries on where it was
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()


def test_changing_the_key_may_be_called_off(desk: Desk) -> None:
    """The 密钥 button opened a dialog only a key could close: Escape and 取消 keep the key."""
    desk.page.goto(desk.url + "/desk")
    if desk.js("sessionStorage.getItem('credgraph:key')") is None:
        enter_key(desk)
    for leave in ("Escape", "#key-cancel"):
        desk.page.click("#key-change")
        desk.page.wait_for_selector("#key-dialog:not([hidden])")
        if leave == "Escape":
            desk.page.keyboard.press("Escape")
        else:
            desk.page.click(leave)
        desk.page.wait_for_selector("#key-dialog", state="hidden")
    assert desk.js("sessionStorage.getItem('credgraph:key')") == desk.token


def test_report_from_the_desk(desk: Desk) -> None:
    company = desk.city.cases["ownership_two_paths"]["company"]
    desk.page.goto(desk.url + "/desk#" + company)
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()
    desk.page.click("#report-open")
    desk.page.fill("#report-purpose", "招投标资格审查")
    desk.page.click("#report-make")
    desk.wait("document.getElementById('report-frame').srcdoc.length > 0")
    desk.idle()
    text = desk.js("document.getElementById('report-frame').contentDocument.body.innerText")
    assert "信用报告" in text and desk.city.names[company] in text
    assert "调查员小王" in text and "招投标资格审查" in text
    assert not raw_id_numbers(text.replace(company, ""))
    desk.shot("10-report")
    events = desk.city.services.graph.read(
        "MATCH (e:AuditEvent {operation: 'creditReport', purpose: '招投标资格审查'}) "
        "RETURN e.actor AS actor, e.subjects AS subjects")
    # the company, then the persons the report shows by name (its beneficial owners)
    assert [e["actor"] for e in events] == ["调查员小王"]
    assert events[0]["subjects"][0] == company and len(events[0]["subjects"]) > 1
    assert all(key.startswith("P") for key in events[0]["subjects"][1:])
    desk.page.click("#report-close")
    assert desk.outside == [] and desk.errors == []


def test_a_declared_controller_is_drawn_as_such(desk: Desk) -> None:
    """A declared actual controller who holds no shares: his path is the declared tie, drawn
    and listed as 实际控制人 — not as a 股东 edge without a share (the desk read no step
    type and took every ownership step for a shareholding)."""
    case = desk.city.cases["declared_controller"]
    owner = desk.city.services.privacy.person_key(parse_id_number(case["owner"]))
    desk.page.goto(desk.url + "/desk#" + case["company"])
    desk.wait(f"window.desk.center && window.desk.center.id === '{case['company']}'")
    desk.idle()
    desk.page.click("#view-owners")
    desk.wait("window.desk.ownersCy && window.desk.owners !== null")
    desk.idle()
    row = desk.page.locator(f'#owner-list button[data-id="{owner}"]').inner_text()
    assert "实际控制人（申报）" in row
    assert "—实际控制人→" in row and "股东" not in row
    labels = desk.js(f"window.desk.ownersCy.getElementById({json.dumps(owner)})"
                     ".connectedEdges().map(e => e.data('label'))")
    assert labels == ["实际控制人"]
    desk.page.click(f'#owner-list button[data-id="{owner}"]')
    desk.idle()
    assert desk.js("window.desk.ownersCy.edges('.path').length") == 1
    desk.page.click("#view-graph")
    desk.idle()
    assert desk.outside == [] and desk.errors == []


def test_a_monitor_key_is_told_what_it_may_see(desk: Desk) -> None:
    """A monitor key searches and sees 关联风险 with persons' names masked; the graph, the
    owners and the report are refused with a message saying which key they need (it showed
    the API's English 'the monitor role may not ask for associations')."""
    case = desk.city.cases["risky_controller"]
    token = KeyStore(desk.city.services.graph).create("监测员", Role.MONITOR)
    desk.page.goto(desk.url + "/desk")
    desk.js(f"sessionStorage.setItem('credgraph:key', {json.dumps(token)})")
    try:
        desk.page.goto(desk.url + "/desk#" + case["company"])
        desk.wait(f"window.desk.center && window.desk.center.id === '{case['company']}'")
        desk.wait("document.querySelectorAll('#contributors button').length >= 1")
        desk.idle()
        message = desk.page.inner_text("#message")
        assert desk.page.is_visible("#message") and "无权查看" in message
        assert "调查人员或管理员密钥" in message
        # the controller on the contributors' paths is a person: masked for a monitor
        paths = desk.page.inner_text("#contributors")
        assert "*" in paths
        desk.shot("11-monitor")
        desk.page.click("#view-owners")
        desk.wait("!document.getElementById('owners-card').hidden && "
                  "document.getElementById('owners-card').innerText.includes('管理员密钥')")
        desk.page.click("#view-graph")
        desk.idle()
        desk.page.click("#report-open")
        desk.page.click("#report-make")
        desk.wait("document.getElementById('report-note').innerText.includes('管理员密钥')")
        desk.page.click("#report-close")
    finally:
        desk.js(f"sessionStorage.setItem('credgraph:key', {json.dumps(desk.token)})")
    assert desk.outside == [] and desk.errors == []

def test_the_status_says_what_cut_the_walk(desk: Desk) -> None:
    """The company whose agent is a hub: the walk is cut by the hub, not by the read limit
    (the status line said 超过单次读取上限 for a graph of two nodes, found by a review)."""
    services = desk.city.services
    case = desk.city.cases["hub_cut"]
    hub = services.privacy.person_key(parse_id_number(case["hub"]))
    answer = explore(services.graph, [case["company"]], 2, list(RELATIONS), dt.date.today(),
                     services.rules.risk.degree_cap, 300)
    assert answer is not None and answer.truncated and hub in answer.hubs
    assert len(answer.edges) < 300
    desk.page.goto(desk.url + "/desk#" + case["company"])
    desk.wait(f"window.desk.center && window.desk.center.id === '{case['company']}'")
    desk.idle()
    status = desk.page.inner_text("#status")
    assert "部分关联已截断（经枢纽节点的关联未读取）" in status
    assert "超过单次读取上限" not in status and "1 个枢纽节点关系过多，未自动展开" in status
    desk.click_node(hub)  # expanded: its first relations are read, the read limit cuts them
    status = desk.page.inner_text("#status")
    assert "部分关联已截断（超过单次读取上限）" in status and "未自动展开" not in status
    assert desk.js(f"window.desk.cy.getElementById('{hub}').hasClass('hub')")
    assert desk.outside == [] and desk.errors == []


def test_an_id_number_leaves_no_trace_in_the_address(desk: Desk) -> None:
    """An ID number put in the address is replaced at once — an unknown one stayed in the
    address and the history (a known one was replaced by the person's key only once found) —
    and one written with spaces or full-width digits (a Chinese input method) is opened as an
    ID number: it was searched as a name, found nothing and was shown back on the screen."""
    page = desk.page
    cdp = page.context.new_cdp_session(page)
    unknown = make_id(born="19990909", seq="555")
    page.goto(desk.url + "/desk#" + unknown)
    desk.wait("!document.getElementById('message').hidden && "
              "document.getElementById('message').innerText.includes('未找到该主体')")
    assert desk.js("location.hash") == ""
    assert unknown not in page.inner_text("body")
    number = desk.city.id_numbers[0]
    person = desk.city.services.privacy.person_key(parse_id_number(number))
    for written in (f"{number[:6]} {number[6:14]} {number[14:]}",
                    "".join(chr(ord(c) + 0xFEE0) for c in number)):
        page.goto(desk.url + "/desk")
        page.fill("#search", written)
        page.click("#search-form button")
        desk.wait(f"window.desk.center && window.desk.center.id === '{person}'")
        desk.idle()
        assert desk.js("location.hash") == "#" + person
        assert page.is_hidden("#results")
    entries = cdp.send("Page.getNavigationHistory")["entries"]
    assert entries and not any(unknown in e["url"] or number in e["url"] for e in entries)
    cdp.detach()
    assert desk.outside == [] and desk.errors == []


def test_a_malformed_address_says_so(desk: Desk) -> None:
    """A broken %-escape in the address threw URIError and the page showed nothing."""
    desk.page.goto(desk.url + "/desk#%E4%zz")
    desk.wait("!document.getElementById('message').hidden && "
              "document.getElementById('message').innerText.includes('输入有误')")
    assert desk.outside == [] and desk.errors == []


def test_a_failed_expand_can_be_tried_again(desk: Desk) -> None:
    """The API away (Neo4j down, 503) or the server gone (no answer): the desk says so in
    Chinese — it showed 页面出错 'Failed to fetch' and the API's English text — and the node
    whose expansion failed expands on the next click (it was marked expanded and a click
    did nothing any more). A date whose answers fail leaves no answers of the previous date."""
    page = desk.page
    company = richest_company(desk.city)
    page.goto(desk.url + "/desk#" + company)
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()
    drawn = set(desk.js("window.desk.cy.nodes().map(n => n.id())"))
    services = desk.city.services
    outer = None
    for node in sorted(drawn - {company}):
        near = explore(services.graph, [node], 1, list(RELATIONS), dt.date.today(),
                       services.rules.risk.degree_cap, 100)
        if near is not None and set(near.hops) - drawn:
            outer = node
            break
    assert outer is not None
    unavailable = json.dumps({"errors": [{"message": "the credit database cannot be reached",
                                          "extensions": {"code": "SERVICE_UNAVAILABLE"}}]})
    for failure, title in (("503", "服务暂不可用"), ("gone", "无法连接服务器")):
        def fail(route, request, failure=failure):  # type: ignore[no-untyped-def]
            if failure == "503":
                route.fulfill(status=503, body=unavailable, content_type="application/json")
            else:
                route.abort("connectionrefused")
        page.route("**/graphql", fail)
        desk.click_node(outer)
        message = page.inner_text("#message")
        assert title in message and "请稍后重试" in message and "页面出错" not in message
        assert not desk.js(f"window.desk.expanded.has('{outer}')")
        page.unroute("**/graphql")
        page.click("#message")  # put away: the node may lie under it
        assert page.is_hidden("#message")
    desk.click_node(outer)
    assert set(desk.js("window.desk.cy.nodes().map(n => n.id())")) > drawn
    page.route("**/graphql", lambda route, request: route.fulfill(
        status=503, body=unavailable, content_type="application/json"))
    page.fill("#as-of", "2025-01-01")
    page.dispatch_event("#as-of", "change")
    desk.idle()
    page.unroute("**/graphql")
    assert desk.js("window.desk.cy.nodes().length") == 0 and page.is_hidden("#risk-card")
    assert "服务暂不可用" in page.inner_text("#message")
    today = dt.date.today().isoformat()
    page.fill("#as-of", today)
    page.dispatch_event("#as-of", "change")
    desk.wait(f"window.desk.graphFor && window.desk.graphFor.includes('{today}')")
    desk.idle()
    assert set(desk.js("window.desk.cy.nodes().map(n => n.id())")) >= drawn
    assert page.is_hidden("#message") and page.is_visible("#risk-card")
    assert desk.errors == []


def test_a_long_chinese_name_wraps(desk: Desk) -> None:
    """A name has no spaces: its label was one line as wide as the name (1,300 px for 120
    characters) and fitting the graph zoomed out until no label could be read."""
    long_name = "德州市德城区新湖街道天衢东路与三八东路交叉口东北角天衢国际商务中心写字楼第十八层" \
                "一八零六室万家兴旺农业科技发展与现代物流供应链管理服务有限责任公司"
    company = make_uscc(org="MA3CWL001")
    person = desk.city.services.privacy.person_key(parse_id_number(
        make_id(born="19850505", seq="777")))
    desk.city.services.graph.write(FAN, {"rows": [
        {"person": person, "personName": "测试长名股东", "company": company,
         "companyName": long_name, "ratio": 0.6}]})
    desk.page.goto(desk.url + "/desk#" + company)
    desk.wait(f"window.desk.center && window.desk.center.id === '{company}'")
    desk.idle()
    box = desk.js(f"window.desk.cy.getElementById('{company}')"
                  ".boundingBox({includeLabels: true})")
    assert box["w"] < 200 and box["h"] > 100
    assert desk.js("window.desk.cy.zoom()") > 0.7  # the labels are readable
    desk.shot("12-long-name")
    assert desk.outside == [] and desk.errors == []


def test_cli_prints_the_report_to_pdf(city: City, settings: Settings, tmp_path: Path) -> None:
    pdftotext = require(PDFTOTEXT, "pdftotext (Debian's poppler-utils)")
    case = city.cases["risky_controller"]
    pdf = tmp_path / "report.pdf"
    done = CliRunner().invoke(main, ["report", case["company"], "--pdf", str(pdf),
                                     "--purpose", "测试"], env=cli_env(settings))
    assert done.exit_code == 0, done.output
    first_page = subprocess.run([pdftotext, "-f", "1", "-l", "1", "-layout", str(pdf), "-"],
                                capture_output=True, text=True, check=True).stdout
    assert city.names[case["company"]] in first_page
    assert "信用报告" in first_page and "一、基本信息" in first_page  # parts numbered in print
    everything = subprocess.run([pdftotext, str(pdf), "-"], capture_output=True, text=True,
                                check=True).stdout
    assert not any(number in everything for number in city.id_numbers)
    assert "关联风险" in everything and "受益所有人" in everything
