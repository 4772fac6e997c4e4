"""The ANPR leads workbench in headless Chromium, against the real app on 127.0.0.1 with the
tiny resolved city's lake: an investigator signs in with the purpose "investigation" and a case
reference, opens /leads, lists the crimes of a planted series' type and dates, ticks the
series' crimes, runs the search, and reads the series vehicle first with its explanation, its
timeline and its map; then the errors: nothing chosen, and old reads refused by the ANPR
access rules. Screenshots go to the test's tmp_path (never committed).

The server, browser and watched tabs are those of test_pages_browser.py (console errors, CSP
violations, requests off 127.0.0.1 and, on the phone, sideways scrolling fail a page there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_pages_browser import (  # the shared server, browser and tab fixtures
    OpenTab,
    Site,
    browser,
    open_tab,
    sign_in,
    site,
    viewport,
)

from helpers.appenv import CASE
from helpers.published import copy_into
from helpers.resolved import ResolvedWorld
from helpers.series import Series, planted_series
from peel.settings import get_settings

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("store", ["sqlite"], indirect=True),
]
__all__ = ["browser", "open_tab", "site", "viewport"]  # fixtures used by name


@pytest.fixture
def series(
    resolved_world: ResolvedWorld, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Series]:
    """The tiny city's lake in the site's data dir; the data clock a day after the series, so
    its reads are in the ANPR recent tier."""
    copy_into(resolved_world, data_dir)
    s = planted_series(resolved_world.city)
    monkeypatch.setenv("PEEL_REFERENCE_TIME", s.reference_time)
    get_settings.cache_clear()
    yield s
    get_settings.cache_clear()


def test_investigator_finds_the_series_vehicle_on_the_workbench(
    series: Series,
    site: Site,
    open_tab: OpenTab,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    tab = open_tab()
    tab.shots = tmp_path
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, "investigator")
    page.get_by_role("radio", name="Investigation").check()
    page.get_by_label("Case or investigation reference").fill(CASE)
    page.get_by_label("Justification").fill("a series of crimes")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    page.get_by_role("navigation", name="main").get_by_role("link", name="Leads").click()
    page.wait_for_url(f"{site.url}/leads")
    expect(page.get_by_role("heading", level=1)).to_have_text("ANPR leads: choose crimes")
    tab.check("l01-chooser")

    # List the crimes of the series' type and dates, and tick the series' crimes.
    page.get_by_label("Crime type").select_option(series.crime_type)
    page.get_by_label("Committed from").fill(series.first.date().isoformat())
    page.get_by_label("Committed to").fill(series.last.date().isoformat())
    page.get_by_role("button", name="List crimes").click()
    page.wait_for_url(re.compile(r"/leads\?crime_type="))
    listed = page.locator("table.crimes.listed tbody tr")
    assert listed.count() >= len(series.refs)
    crimes_map = page.get_by_role("img", name="Map of the crimes listed")
    expect(crimes_map).to_be_visible()
    assert crimes_map.locator("circle.crime").count() == listed.count()
    for ref in series.refs:
        page.get_by_label(ref, exact=True).check()
    # The map follows the boxes (static/leads.js), and a click on the map ticks a box.
    expect(crimes_map.locator("circle.crime.chosen")).to_have_count(len(series.refs))
    crimes_map.locator(f'circle.crime[data-ref="{series.refs[0]}"]').dispatch_event("click")
    expect(page.get_by_label(series.refs[0], exact=True)).not_to_be_checked()
    crimes_map.locator(f'circle.crime[data-ref="{series.refs[0]}"]').dispatch_event("click")
    expect(page.get_by_label(series.refs[0], exact=True)).to_be_checked()
    tab.check("l02-chosen")

    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Find vehicles").click()
    assert nav.value is not None and nav.value.status == 200
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"ANPR leads for {len(series.refs)} crime(s)"
    )
    first = page.locator("section.lead").first
    expect(first.get_by_role("heading", level=2)).to_contain_text(f"1. {series.vrm}")
    expect(first.locator(".tag.reported")).to_have_text("reported")
    expect(first.locator(".claim")).to_contain_text(f"read near {len(series.refs)} of")
    product = first.get_by_role("link", name="open the product to record a decision")
    expect(product).to_have_attribute("href", re.compile(r"^/products/[\w-]+$"))
    # The arithmetic, folded until asked for.
    lines = first.locator("details.arithmetic li")
    expect(lines.first).to_be_hidden()
    first.get_by_text("The arithmetic").click()
    expect(lines.first).to_be_visible()
    expect(first.locator("details.arithmetic")).to_contain_text("chance figure =")
    # The timeline: a row per crime, a near tick in every row; the map: the scenes and the
    # cameras that read it near them; both with text alternatives.
    timeline = first.get_by_role(
        "img", name=f"Timeline of {series.vrm} against each crime's window"
    )
    expect(timeline).to_be_visible()
    assert timeline.locator("rect.window").count() == len(series.refs)
    assert timeline.locator("line.tick.near").count() >= len(series.refs)
    where = first.get_by_role("img", name=f"Map of where {series.vrm} was read")
    expect(where).to_be_visible()
    assert where.locator("circle.scene").count() == len(series.refs)
    assert where.locator("rect.read.near").count() >= 1
    first.get_by_text("The reads (").click()
    expect(first.locator("details.reads tbody tr").first).to_be_visible()
    tab.check("l03-results")

    # Back to the chooser with the crimes chosen (the link the demo prints has this shape).
    page.get_by_role("link", name="Change the crimes").click()
    page.wait_for_url(re.compile(r"/leads\?crimes="))
    chosen = page.locator("table.crimes.chosen input[type=checkbox]:checked")
    expect(chosen).to_have_count(len(series.refs))
    tab.check("l04-prefilled")

    # Errors on the page: nothing chosen, then old reads without an authorisation.
    for box in page.locator("table.crimes.chosen input[type=checkbox]").all():
        box.uncheck()
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Find vehicles").click()
    assert nav.value is not None and nav.value.status == 400
    tab.expect_http_error(400)
    expect(page.get_by_role("alert")).to_have_text("crimes: choose at least one crime")
    tab.check("l05-nothing-chosen")

    monkeypatch.setenv("PEEL_REFERENCE_TIME", (series.last + timedelta(days=120)).isoformat())
    get_settings.cache_clear()
    page.goto(f"{site.url}/leads?crimes={','.join(series.refs)}")
    with page.expect_navigation() as nav:
        page.get_by_role("button", name="Find vehicles").click()
    assert nav.value is not None and nav.value.status == 403
    tab.expect_http_error(403)
    expect(page.get_by_role("alert")).to_contain_text("Access refused: ANPR reads from")
    expect(page.get_by_role("alert")).to_contain_text("no authorisation given")
    assert series.vrm not in page.content()
    tab.check("l06-old-reads-refused")
    assert len(list(tmp_path.glob("*.png"))) == 6
