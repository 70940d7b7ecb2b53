"""A real browser opens the explorer with no network beyond localhost, runs a query, and sees
its result (Debian's chromium, driven by Playwright with the system browser)."""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
from collections.abc import Iterator

import pytest
import uvicorn

from credgraph.api.app import create_app
from credgraph.api.auth import KeyStore, Role
from credgraph.services import Services
from tests.graphs import subject

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed")


@pytest.fixture()
def served(services: Services) -> Iterator[tuple[str, str]]:
    subject(services.graph, "91371402MA3C00001A", "德州市德城区鑫源食品有限公司")
    token = KeyStore(services.graph).create("browser", Role.INVESTIGATOR)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(services), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", token
    server.should_exit = True
    thread.join(10)


def test_explorer_runs_a_query_offline(served: tuple[str, str]) -> None:
    url, token = served
    outside: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"])
        context = browser.new_context()

        def only_localhost(route, request):  # type: ignore[no-untyped-def]
            if request.url.startswith(url):
                route.continue_()
            else:
                outside.append(request.url)
                route.abort()

        context.route("**/*", only_localhost)
        # the header as the explorer's own header editor stores it
        context.add_init_script(
            "localStorage.setItem('graphiql:headers', "
            + json.dumps(json.dumps({"Authorization": f"Bearer {token}"})) + ");")
        page = context.new_page()
        page.goto(url + "/graphql", wait_until="networkidle")
        page.wait_for_selector(".graphiql-execute-button", timeout=20_000)
        page.click(".graphiql-execute-button")
        page.wait_for_function(
            "document.querySelector('.result-window') && "
            "document.querySelector('.result-window').innerText.includes('鑫源食品')",
            timeout=20_000)
        result = page.inner_text(".result-window")
        browser.close()
    assert "91371402MA3C00001A" in result
    assert outside == []
