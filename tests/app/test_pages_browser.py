"""The pages in real headless Chromium (Debian's package, driven by Playwright), at a desktop
and a phone viewport, against the real app served by uvicorn on 127.0.0.1.

Every page visited is checked for console errors (CSP violations are console errors),
uncaught script errors and requests that leave 127.0.0.1; on the phone, for horizontal
scrolling (a wide table may scroll only inside its `.scroll` container). Screenshots of each
page at each size go to test-artifacts/screenshots/ (never committed).

SQLite only: the pages reach the store through the same code as the API, and every page is
already rendered on PostgreSQL too (the route x role matrix in test_routes.py; the world of
test_fault_injection.py, with a sample); what the browser adds (CSS, script, CSP, layout)
does not depend on the store. (The same walk passes on PostgreSQL when `store` is switched.)
"""

from __future__ import annotations

import re
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pyotp
import pytest
import uvicorn
from playwright.sync_api import (
    Browser,
    BrowserContext,
    ConsoleMessage,
    Page,
    Route,
    expect,
    sync_playwright,
)

from helpers.appenv import CASE, PASSWORD
from helpers.env import require
from peel.app.main import create_app
from peel.app.security import CSP
from peel.serving import Store

pytestmark = pytest.mark.browser
# The `store` fixture runs on SQLite and PostgreSQL; these tests take SQLite (see above).
sqlite_only = pytest.mark.parametrize("store", ["sqlite"], indirect=True)

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORTS: dict[str, dict[str, Any]] = {
    "desktop": {"viewport": {"width": 1280, "height": 800}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
LOCAL_HOST = "127.0.0.1"
# What Chromium logs for a page answered with an error status (the wrong-password form is a
# 401, the refused page a 403): expected where the test says so, an error anywhere else.
HTTP_ERROR = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")


# -- the server ------------------------------------------------------------------------------
@dataclass
class Site:
    url: str
    secrets: dict[str, str | None]
    codes_given: dict[str, int] = field(default_factory=dict)

    def code(self, role: str) -> str:
        """A code works once, so a second sign-in in the same 30 s uses the next step's code
        (the server accepts one step either side of its clock)."""
        secret = self.secrets[role]
        assert secret, f"{role} has no TOTP secret"
        n = self.codes_given.get(role, 0)
        assert n < 2, "only two sign-ins with a second factor per test"
        self.codes_given[role] = n + 1
        return pyotp.TOTP(secret).at(time.time() + 30 * n)


@pytest.fixture
def site(store: Store) -> Iterator[Site]:
    """The real app on the real wall clock, one account per role (as in conftest.app_env),
    served by uvicorn on 127.0.0.1 and an ephemeral port in a background thread."""
    app = create_app(store.settings)
    state = app.state.peel
    secrets: dict[str, str | None] = {}
    ranks = {"manager": "superintendent", "oversight_panel": "chief_inspector"}
    for role in state.policy.roles:
        secrets[role] = state.accounts.seed_user(
            username=role.replace("_", "-"),
            display_name=f"Test {role}",
            roles=[role],
            password=PASSWORD,
            rank=ranks.get(role, "constable"),
            team="T1",
            collar_number=None,
            totp=role in state.policy.totp_required,
        )
    config = uvicorn.Config(
        app,
        host=LOCAL_HOST,
        port=0,
        http="h11",
        ws="none",
        lifespan="on",
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=5,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="peel-uvicorn", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 15 s"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield Site(url=f"http://{LOCAL_HOST}:{port}", secrets=secrets)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "uvicorn did not shut down within 10 s"


# -- the browser -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    executable = shutil.which("chromium")
    require(executable is not None, "Chromium (Debian package `chromium`)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class Tab:
    """One browser context and page, watched: console errors, uncaught errors, requests."""

    page: Page
    viewport: str
    shots: Path
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def watch(self, context: BrowserContext) -> None:
        context.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"uncaught: {exc}"))
        # A CSP violation is reported as a console error by Chromium; this makes sure even a
        # violation Chromium reported some other way shows up (init scripts are exempt from
        # the page's CSP).
        context.add_init_script(
            "document.addEventListener('securitypolicyviolation', function (e) {"
            " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
        )

    def _route(self, route: Route) -> None:
        url = route.request.url
        self.requests.append(url)
        if urlsplit(url).hostname == LOCAL_HOST:
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def _console(self, msg: ConsoleMessage) -> None:
        if msg.type in ("error", "assert"):
            where = msg.location.get("url", "") if msg.location else ""
            self.errors.append(f"{msg.text} ({where})")

    def expect_http_error(self, status: int) -> None:
        """The page just loaded was answered with `status`, as the test meant: Chromium
        logged that as a console error, once; forget it."""
        hits = [e for e in self.errors if (m := HTTP_ERROR.search(e)) and m[1] == str(status)]
        assert len(hits) == 1, (status, self.errors)
        self.errors.remove(hits[0])

    def check(self, name: str, *, screenshot: bool = True) -> None:
        """Screenshot the page; assert no console error, no CSP violation, no request off
        127.0.0.1 so far; on the phone, no horizontal scrolling of the page."""
        self.page.wait_for_load_state("load")
        if screenshot:
            path = self.shots / f"{self.viewport}-{name}.png"
            self.page.screenshot(path=path, full_page=True)
        assert self.errors == [], f"{name}: console errors or CSP violations"
        assert self.outside == [], f"{name}: requests that left {LOCAL_HOST}"
        if self.viewport == "phone":
            self._check_phone_layout(name)

    def _check_phone_layout(self, name: str) -> None:
        width = VIEWPORTS["phone"]["viewport"]["width"]
        layout = self.page.evaluate(
            """(vw) => {
              const wide = [];
              for (const el of document.body.querySelectorAll('*')) {
                if (el.closest('.scroll, pre')) continue;
                const r = el.getBoundingClientRect();
                if (r.right > vw + 1) wide.push(el.tagName.toLowerCase()
                  + (el.className ? '.' + el.className : '') + ' ' + Math.round(r.right));
              }
              const tables = [...document.querySelectorAll('table')].map(t => {
                const box = t.closest('.scroll');
                return box ? getComputedStyle(box).overflowX : 'none';
              });
              return {scrollWidth: document.documentElement.scrollWidth,
                      innerWidth: window.innerWidth,
                      wide: wide.slice(0, 10), tables: tables};
            }""",
            width,
        )
        # A phone zooms out to fit a page wider than itself: innerWidth grows with it.
        fits = layout["innerWidth"] == width and layout["scrollWidth"] <= width + 1
        assert fits, f"{name}: the page scrolls sideways {layout}"
        assert layout["wide"] == [], f"{name}: elements wider than the phone {layout}"
        assert all(o in ("auto", "scroll") for o in layout["tables"]), (
            f"{name}: a table outside a scrolling .scroll container {layout}"
        )


@pytest.fixture(params=list(VIEWPORTS))
def viewport(request: pytest.FixtureRequest) -> str:
    return str(request.param)


OpenTab = Callable[[], Tab]


@pytest.fixture
def open_tab(browser: Browser, viewport: str) -> Iterator[OpenTab]:
    """open_tab() -> a new watched Tab in its own context (own cookies) at the viewport."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    contexts: list[BrowserContext] = []

    def open_() -> Tab:
        context = browser.new_context(**VIEWPORTS[viewport])
        context.set_default_timeout(10_000)
        contexts.append(context)
        tab = Tab(page=context.new_page(), viewport=viewport, shots=SHOTS)
        tab.watch(context)
        return tab

    yield open_
    for c in contexts:
        c.close()


def sign_in(tab: Tab, site: Site, username: str, *, totp: str = "") -> None:
    page = tab.page
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_label("Authenticator code").fill(totp)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{site.url}/purpose")


def nav_links(page: Page) -> list[str]:
    return page.get_by_role("navigation", name="main").get_by_role("link").all_inner_texts()


# -- the tests -------------------------------------------------------------------------------
@sqlite_only
def test_oversight_panel_signs_in_and_works_the_audit_and_policy_pages(
    site: Site, open_tab: OpenTab
) -> None:
    tab = open_tab()
    page = tab.page

    # 1. Sign-in: a wrong password gets the one generic message; then password + TOTP.
    page.goto(f"{site.url}/")
    expect(page).to_have_url(f"{site.url}/login")
    tab.check("01-login")
    page.get_by_label("Username").fill("investigator")
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("invalid username, password or code")
    tab.expect_http_error(401)
    tab.check("02-login-refused")
    sign_in(tab, site, "oversight-panel", totp=site.code("oversight_panel"))
    tab.check("03-purpose")
    page.get_by_role("radio", name="Oversight").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    expect(page.locator("header .purpose")).to_have_text("Purpose: Oversight")
    links = nav_links(page)
    assert "Audit" in links and "Policy" in links, links
    expect(page.get_by_role("heading", level=1)).to_contain_text("oversight-panel")
    tab.check("04-home")

    # 2. Audit: the logins so far, a filter by user, one entry, verify, a sample and verdict.
    page.get_by_role("navigation", name="main").get_by_role("link", name="Audit").click()
    page.wait_for_url(f"{site.url}/audit")
    rows = page.locator("table.audit tbody tr")
    users = rows.locator("td:nth-child(3)").all_inner_texts()
    operations = rows.locator("td:nth-child(5)").all_inner_texts()
    outcomes = rows.locator("td:nth-child(8)").all_inner_texts()
    logins = [(u, o) for u, op, o in zip(users, operations, outcomes, strict=True) if op == "login"]
    assert ("investigator", "denied") in logins and ("oversight-panel", "ok") in logins, logins
    tab.check("05-audit")

    page.get_by_label("User").fill("oversight-panel")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url(re.compile(r"/audit\?actor=oversight-panel"))
    users = rows.locator("td:nth-child(3)").all_inner_texts()
    assert users and set(users) == {"oversight-panel"}, users
    expect(page.get_by_text(f"{len(users)} entries match.")).to_be_visible()
    tab.check("06-audit-filtered")

    first = rows.first.locator("td").first.inner_text()
    rows.first.get_by_role("link").click()
    page.wait_for_url(f"{site.url}/audit/entries/{first}")
    expect(page.locator("p.ok")).to_have_text("Its hash matches its contents.")
    tab.check("07-audit-entry")

    page.goto(f"{site.url}/audit")
    page.get_by_role("button", name="Verify now").click()
    page.wait_for_url(f"{site.url}/audit/verify")
    expect(page.get_by_role("status")).to_contain_text("Intact:")
    tab.check("08-audit-verified")

    page.goto(f"{site.url}/audit")
    page.get_by_label("Entries to draw at random").fill("3")
    page.get_by_role("button", name="Draw sample").click()
    page.wait_for_url(re.compile(r"/audit/samples/[0-9a-f]+$"))
    sections = page.locator("section.card")
    expect(sections).to_have_count(3)
    tab.check("09-audit-sample")
    # No verdict is chosen for the reviewer: an untouched entry cannot be sent as it stands.
    expect(sections.nth(1).locator("select")).to_have_value("")
    assert sections.nth(1).locator("select").evaluate("s => s.checkValidity()") is False
    section_id = sections.first.get_attribute("id")
    sections.first.get_by_label("Verdict").select_option("inappropriate")
    sections.first.get_by_label("Note").fill("no purpose for this look")
    sections.first.get_by_role("button", name="Record verdict").click()
    page.wait_for_url(re.compile(rf"/audit/samples/[0-9a-f]+#{section_id}$"))
    expect(page.locator(f"#{section_id}")).to_contain_text(
        "Verdict: inappropriate: no purpose for this look"
    )
    expect(page.locator(f"#{section_id} select")).to_have_value("inappropriate")
    tab.check("10-audit-verdict")

    # 3. Policy: the history with version 1 running, and its changes page.
    page.get_by_role("navigation", name="main").get_by_role("link", name="Policy").click()
    page.wait_for_url(f"{site.url}/policy")
    first_row = page.locator("table tbody tr").first
    expect(first_row.locator("td").first).to_have_text("1 running")
    tab.check("11-policy")
    first_row.get_by_role("link", name="changes").click()
    page.wait_for_url(f"{site.url}/policy/1")
    expect(page.locator("pre.diff span.add").first).to_be_visible()
    assert page.locator("pre.diff span.add").count() > 10
    tab.check("12-policy-changes")

    page.get_by_role("navigation", name="main").get_by_role("link", name="Products").click()
    page.wait_for_url(f"{site.url}/products")
    tab.check("13-products")

    assert all(urlsplit(u).hostname == LOCAL_HOST for u in tab.requests)
    assert any(u.endswith("/static/peel.css") for u in tab.requests)


@sqlite_only
def test_investigator_has_no_audit_link_and_gets_the_refusal_page(
    site: Site, open_tab: OpenTab
) -> None:
    tab = open_tab()
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, "investigator")
    page.get_by_role("radio", name="Investigation").check()
    page.get_by_label("Case or investigation reference").fill(CASE)
    page.get_by_label("Justification").fill("checking a burglary series")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    expect(page.locator("header .purpose")).to_have_text(f"Purpose: Investigation · {CASE}")
    links = nav_links(page)
    assert "Audit" not in links and "Policy" in links, links
    expect(page.locator("a.card", has_text="Audit")).to_have_count(0)
    tab.check("20-home-investigator")

    response = page.goto(f"{site.url}/audit")
    assert response is not None and response.status == 403
    expect(page.get_by_role("heading", level=1)).to_have_text("Not allowed")
    expect(page.get_by_role("alert")).to_be_visible()
    tab.expect_http_error(403)
    tab.check("21-audit-refused")


@pytest.mark.parametrize("viewport", ["phone"])
def test_the_checks_catch_csp_violations_script_errors_outside_requests_and_wide_pages(
    open_tab: OpenTab,
) -> None:
    """The checks above can fail. Pages made up here (on a port nothing listens on; the
    browser never asks the network for them) break each rule once."""
    tab = open_tab()
    base = f"http://{LOCAL_HOST}:9"
    head = "<!doctype html><meta name='viewport' content='width=device-width, initial-scale=1'>"
    pages = {
        # Under Peel's CSP: an inline style, a style attribute, an inline script, and a
        # script file that throws.
        "/csp": (
            head + "<style>p { color: red }</style><p style='color: blue'>probe</p>"
            "<script>window.x = 1</script><script src='/boom.js'></script>",
            {"content-security-policy": CSP},
        ),
        "/boom.js": ("undefined_function();", {"content-type": "text/javascript"}),
        # Without a CSP (which would stop these first): an image from elsewhere, a page
        # wider than the phone, and a wide table that scrolls inside its container.
        "/outside": (head + "<img src='http://example.invalid/pixel.png' alt=''>", {}),
        "/wide": (head + "<div style='width: 900px'>wide</div>", {}),
        "/wide-table": (
            head + "<div class='scroll' style='overflow-x: auto'>"
            "<table style='width: 900px'><tr><td>wide</td></tr></table></div>",
            {},
        ),
    }

    def serve(route: Route) -> None:
        body, headers = pages[urlsplit(route.request.url).path]
        route.fulfill(status=200, body=body, headers={"content-type": "text/html", **headers})

    tab.page.route(f"{base}/*", serve)
    tab.page.goto(f"{base}/csp")
    with pytest.raises(AssertionError, match="console errors or CSP violations"):
        tab.check("probe", screenshot=False)
    text = "\n".join(tab.errors)
    assert "style-src" in text and "script-src" in text, text
    assert "uncaught:" in text and "undefined_function" in text, text
    tab.errors.clear()

    tab.page.goto(f"{base}/outside")
    with pytest.raises(AssertionError):
        tab.check("probe", screenshot=False)
    assert tab.outside == ["http://example.invalid/pixel.png"]
    tab.errors.clear()  # Chromium logs the refused request too
    tab.outside.clear()

    tab.page.goto(f"{base}/wide")
    with pytest.raises(AssertionError, match="the page scrolls sideways"):
        tab.check("probe", screenshot=False)
    tab.page.goto(f"{base}/wide-table")
    tab.check("probe", screenshot=False)
