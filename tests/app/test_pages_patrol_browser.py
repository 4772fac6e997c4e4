"""The patrol page in headless Chromium at phone size (390x844), against the real app on
127.0.0.1 with the tiny city published: a patrol officer signs in, sets the purpose in two
taps and checks plates and people; then every way a check can fail, each shown plainly and
never as "no warnings". Screenshots go to the test's tmp_path (never committed).

The server, browser and watched tabs are those of test_pages_browser.py (console errors, CSP
violations, requests off 127.0.0.1 and sideways scrolling fail a page there too).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from test_pages_browser import (  # the shared server, browser and tab fixtures
    OpenTab,
    Site,
    Tab,
    browser,
    open_tab,
    sign_in,
    site,
)

from helpers.published import copy_into, publish
from helpers.resolved import ResolvedWorld
from peel.app import pages_patrol
from peel.resolve import check
from peel.serving import Store
from peel.settings import get_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("store", ["sqlite"], indirect=True),
    pytest.mark.parametrize("viewport", ["phone"]),
]
__all__ = ["browser", "open_tab", "site"]  # fixtures used by name

SAFE_WORDING = "no warnings"


@pytest.fixture
def reference_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The data clock inside the synthetic year, so its hotlist entries are current."""
    monkeypatch.setenv("PEEL_REFERENCE_TIME", "2024-12-01T12:00:00+00:00")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _publish(world: ResolvedWorld, store: Store, data_dir: Path) -> None:
    copy_into(world, data_dir)
    publish(store)


def _patrol_tab(site: Site, open_tab: OpenTab, shots: Path) -> Tab:
    """Signed in as the patrol officer, the purpose set in two taps."""
    tab = open_tab()
    tab.shots = shots
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, "patrol-officer")
    page.goto(f"{site.url}/patrol")
    expect(page.get_by_role("heading", level=1)).to_have_text(
        "Patrol check: why did you stop them?"
    )
    tab.check("p00-purpose-taps")
    page.get_by_label("Suspicious behaviour").check()  # tap 1
    page.get_by_role("button", name="Start patrol check").click()  # tap 2
    page.wait_for_url(f"{site.url}/patrol")
    expect(page.locator("header .purpose")).to_have_text("Purpose: Patrol check")
    expect(page.locator(".purpose-line")).to_contain_text("Suspicious behaviour")
    return tab


def _search(tab: Tab, text: str, name: str, *, status: int = 200) -> str:
    page = tab.page
    page.get_by_label("Plate, or surname, forename, dd/mm/yyyy").fill(text)
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Check", exact=True).click()
    response = nav.value
    assert response is not None and response.status == status, (name, response)
    if status != 200:
        tab.expect_http_error(status)
    tab.check(name)
    body = page.locator("#result").inner_text()
    return body


def _failure(body: str, heading: str) -> None:
    assert heading in body, body
    assert "NOT CHECKED" in body or "PARTIAL" in body or "NO MATCH" in body, body
    assert "says nothing about warnings" in body, body
    assert SAFE_WORDING not in body.lower(), body


def test_patrol_officer_checks_plates_and_people_safety_first(
    site: Site,
    open_tab: OpenTab,
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    reference_time: None,
    tmp_path: Path,
) -> None:
    _publish(resolved_world, store, data_dir)
    tab = _patrol_tab(site, open_tab, tmp_path)
    page = tab.page

    # The exact plate, stolen: the safety block first and unmistakable.
    body = _search(tab, "uq22 frx", "p01-stolen-plate")
    safety = page.locator(".block.safety.danger")
    expect(safety).to_contain_text("STOLEN VEHICLE")
    expect(safety).to_contain_text("UQ22FRX (exact plate)")
    expect(safety).to_contain_text("vehicle_of_interest:")
    top = safety.bounding_box()
    exact = page.locator(".plate.exact").bounding_box()
    assert top and exact and top["y"] < exact["y"]
    assert "Exact plate UQ22FRX: found" in body
    assert "/vehicles/" not in page.content()  # the patrol role may not see vehicle profiles

    # A misread of it: the exact plate not found, the stolen one listed apart as a misread.
    body = _search(tab, "UQ2ZFRX", "p02-misread")
    assert "Exact plate UQ2ZFRX: not found" in body
    expect(page.locator(".block.safety")).to_contain_text(
        "UQ22FRX (POSSIBLE MISREAD, a different plate)"
    )
    expect(page.locator(".plate.misread")).to_contain_text("Possible misreads: 1 different plate")

    # A person with a typo in the surname: found, the warrant and marker first, what differs.
    body = _search(tab, "Fassasi, Lere, 04/05/1995", "p03-person-typo")
    safety = page.locator(".block.safety.danger")
    expect(safety).to_contain_text("WANTED: breach warrant outstanding")
    expect(safety).to_contain_text("WARNING: Mental health")
    expect(safety).to_contain_text("warrant:WA-000001")
    candidate = page.locator("section.candidate")
    expect(candidate).to_have_count(1)
    expect(candidate).to_contain_text("surname spelled differently")
    expect(candidate).to_contain_text("score 0.")
    expect(candidate.locator("ul.facts li").first).to_contain_text("as of")
    assert "community mental health" not in body.lower()

    # An ambiguous name: several people, each with what differs and the score; none chosen.
    body = _search(tab, "Khan, Amina", "p04-ambiguous")
    expect(page.locator(".block.ambiguous")).to_contain_text("none is chosen for you")
    people = page.locator("section.candidate")
    assert people.count() >= 2
    for i in range(people.count()):
        expect(people.nth(i)).to_contain_text("ambiguous: several profiles are plausible")
        expect(people.nth(i)).to_contain_text("score ")
        expect(people.nth(i)).to_contain_text("What differs")


def test_every_failure_of_a_check_is_shown_plainly(
    site: Site,
    open_tab: OpenTab,
    resolved_world: ResolvedWorld,
    store: Store,
    data_dir: Path,
    reference_time: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Access refused: no purpose set yet (the check refuses, and the refusal is audited).
    tab = open_tab()
    tab.shots = tmp_path
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, "patrol-officer")
    page.goto(f"{site.url}/patrol?q=AB12CDE")
    tab.expect_http_error(403)
    tab.check("f01-refused-no-purpose")
    _failure(page.locator("#result").inner_text(), "NOT CHECKED: access refused")
    expect(page.locator("#result")).to_contain_text("lawful purpose")

    # Access refused: a role without the check permission.
    other = open_tab()
    other.shots = tmp_path
    other.page.goto(f"{site.url}/login")
    sign_in(other, site, "analyst")
    other.page.goto(f"{site.url}/patrol?q=AB12CDE")
    other.expect_http_error(403)
    other.check("f02-refused-role")
    _failure(other.page.locator("#result").inner_text(), "NOT CHECKED: access refused")
    expect(other.page.locator("#result")).to_contain_text("vehicle.check")

    tab = _patrol_tab(site, open_tab, tmp_path)
    page = tab.page

    # Nothing published yet.
    body = _search(tab, "AB12 CDE", "f03-not-published", status=503)
    _failure(body, "NOT CHECKED: nothing has been published yet")
    body = _search(tab, "Smith, John", "f04-not-published-person", status=503)
    _failure(body, "NOT CHECKED: nothing has been published yet")

    _publish(resolved_world, store, data_dir)

    # Bad input, from the box and from the check itself.
    body = _search(tab, "Smith, John, 31/02/1990", "f05-bad-date", status=400)
    _failure(body, "NOT CHECKED: the search could not be read")
    assert "date of birth: use dd/mm/yyyy" in body and "31/02" not in body
    body = _search(tab, "AB12 CDE FGH", "f06-bad-plate", status=400)
    _failure(body, "NOT CHECKED: the search could not be read")

    # The lookup failed.
    def broken(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("store went away")

    with monkeypatch.context() as m:
        m.setattr(check, "person_check", broken)
        body = _search(tab, "Fasasi, Lere", "f07-lookup-failed", status=503)
    _failure(body, "NOT CHECKED: the lookup failed")
    assert "store went away" not in body

    # A timeout: the check does not answer within the page's deadline.
    release = threading.Event()

    def stuck(*args: Any, **kwargs: Any) -> dict[str, Any]:
        release.wait(5)
        raise RuntimeError("too late")

    try:
        with monkeypatch.context() as m:
            m.setattr(check, "vehicle_check", stuck)
            m.setattr(pages_patrol, "TIMEOUT_SECONDS", 0.3)
            body = _search(tab, "UQ22FRX", "f08-timeout", status=504)
    finally:
        release.set()
    _failure(body, "NOT CHECKED: the lookup timed out")

    # A partial search: the name matches more keys than the check reads.
    with monkeypatch.context() as m:
        m.setattr(check, "MAX_KEY_ROWS", 1)
        body = _search(tab, "Khan", "f09-partial")
    _failure(body, "PARTIAL SEARCH: not everything was searched")
    assert "add a date of birth" in body
    expect(page.locator(".block.safety")).to_have_class("block safety incomplete")

    # No match, for a person and for a plate.
    body = _search(tab, "Quillfeather, Zebedee, 01/01/1901", "f10-no-match-person")
    _failure(body, "NO MATCH: nothing found for these details")
    body = _search(tab, "ZZ99ZZZ", "f11-no-match-plate")
    _failure(body, "NO MATCH: nothing found for these details")
    expect(page.locator(".searched")).to_contain_text("misread variants")

    # Back to a working check: the same page answers again.
    body = _search(tab, "UQ22 FRX", "f12-working-again")
    assert "STOLEN VEHICLE" in body
    assert len(list(tmp_path.glob("phone-*.png"))) >= 12
