"""The ANPR access page in headless Chromium, desktop and phone, against the real app on
127.0.0.1: an investigator requests an authorisation; the manager (a superintendent, a rank the
policy lets authorise) grants it; the investigator's stale withdraw button gets the reason on
the page, and the authorisation shows as live until the manager revokes it. Screenshots go to
the test's tmp_path (never committed).

The server, browser and watched tabs are those of test_pages_browser.py (console errors, CSP
violations, requests off 127.0.0.1 and sideways scrolling fail a page there too).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_pages_browser import (  # the shared server, browser and tab fixtures
    OpenTab,
    Site,
    Tab,
    browser,
    nav_links,
    open_tab,
    sign_in,
    site,
    viewport,
)

from helpers.appenv import CASE
from peel.settings import get_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("store", ["sqlite"], indirect=True),
]
__all__ = ["browser", "open_tab", "site", "viewport"]  # fixtures used by name

DATA_CLOCK = "2024-12-01T12:00:00+00:00"
PAGE = "/anpr/authorisations"


@pytest.fixture
def reference_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("PEEL_REFERENCE_TIME", DATA_CLOCK)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _signed_in(site: Site, open_tab: OpenTab, shots: Path, username: str) -> Tab:
    tab = open_tab()
    tab.shots = shots
    tab.page.goto(f"{site.url}/login")
    sign_in(tab, site, username)
    return tab


def _open_page(tab: Tab, site: Site) -> None:
    page = tab.page
    assert "ANPR access" in nav_links(page)
    page.get_by_role("navigation", name="main").get_by_role("link", name="ANPR access").click()
    page.wait_for_url(f"{site.url}{PAGE}")
    expect(page.get_by_role("heading", level=1)).to_have_text("ANPR access")


def test_request_grant_and_revoke_an_anpr_authorisation(
    site: Site, open_tab: OpenTab, reference_time: None, tmp_path: Path
) -> None:
    # 1. The investigator, under an investigation, asks for access to older reads.
    inv = _signed_in(site, open_tab, tmp_path, "investigator")
    page = inv.page
    page.get_by_role("radio", name="Investigation").check()
    page.get_by_label("Case or investigation reference").fill(CASE)
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    _open_page(inv, site)
    expect(page.locator("#pending")).to_have_count(0)  # not an authoriser
    form = page.locator("#request")
    expect(form.get_by_label("Investigation reference")).to_have_value(CASE)
    form.get_by_label("Offence category").fill("burglary")
    form.get_by_label("Reason").fill("reads near the burglary series last spring")
    form.get_by_label("Days").fill("14")
    form.get_by_role("button", name="Send request").click()
    page.wait_for_url(f"{site.url}{PAGE}?done=requested")
    expect(page.get_by_role("status")).to_have_text(re.compile("Request sent"))
    row = page.locator("#my-requests tbody tr")
    expect(row).to_have_count(1)
    expect(row.locator("td.status")).to_have_text("pending")
    request_id = row.locator("td").first.inner_text()
    expect(page.locator("#my-authorisations")).to_contain_text("None.")
    inv.check("a01-requested")

    # 2. The manager sees it waiting and grants it for fewer days than asked.
    mgr = _signed_in(site, open_tab, tmp_path, "manager")
    _open_page(mgr, site)
    mpage = mgr.page
    expect(mpage.locator("#request")).to_have_count(0)  # not a requester
    waiting = mpage.locator(f"#pending-{request_id}")
    expect(waiting).to_contain_text(f"Request {request_id} from investigator")
    expect(waiting).to_contain_text("reads near the burglary series last spring")
    expect(waiting.get_by_label("Days to grant")).to_have_value("14")
    mgr.check("a02-pending")
    waiting.get_by_label("Days to grant").fill("10")
    waiting.get_by_role("button", name="Grant").click()
    mpage.wait_for_url(f"{site.url}{PAGE}?done=granted")
    expect(mpage.get_by_role("status")).to_have_text("Authorisation granted.")
    expect(mpage.locator("#pending")).to_contain_text("No requests are waiting.")
    given = mpage.locator("#given tbody tr")
    expect(given).to_have_count(1)
    expect(given).to_contain_text("investigator")
    expect(given).to_contain_text("2024-12-11 12:00 UTC")  # the data clock + 10 days
    mgr.check("a03-granted")

    # 3. The investigator's page is stale: withdrawing now is refused, with the reason shown.
    with page.expect_navigation() as nav:
        page.locator("#my-requests").get_by_role("button", name="Withdraw").click()
    response = nav.value
    assert response is not None and response.status == 400
    inv.expect_http_error(400)
    expect(page.get_by_role("alert")).to_have_text(f"not pending: request {request_id} is granted")
    expect(row.locator("td.status")).to_contain_text("granted by manager (authorisation")
    held = page.locator("#my-authorisations tbody tr")
    expect(held).to_have_count(1)
    expect(held.locator("td.status")).to_have_text("live")
    expect(held).to_contain_text("2024-12-11 12:00 UTC")
    inv.check("a04-granted-seen")

    # 4. The manager revokes it; the investigator sees it revoked.
    given.get_by_role("button", name="Revoke").click()
    mpage.wait_for_url(f"{site.url}{PAGE}?done=revoked")
    expect(mpage.get_by_role("status")).to_have_text("Authorisation revoked.")
    expect(mpage.locator("#given")).to_contain_text("None live.")
    mgr.check("a05-revoked")
    page.goto(f"{site.url}{PAGE}")
    expect(held.locator("td.status")).to_have_text(re.compile(r"^revoked 2024-12-01 12:00 UTC$"))
    inv.check("a06-revoked-seen")
