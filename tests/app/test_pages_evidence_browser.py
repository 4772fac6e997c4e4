"""A disclosure officer reviews a case's digital evidence in headless Chromium: chooses the
disclosure purpose with the case reference, searches (highlighted snippets), opens a hit in
its conversation, codes the item the queue serves and is served the next, reads the review
record, and the disclosure schedules, and downloads them. The phone numbers, e-mail
addresses and contact names planted in the (synthetic) material never reach a page:
display is redacted. Screenshots go to test-artifacts/screenshots/ (never committed).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect
from test_pages_browser import OpenTab, Site, Tab, browser, open_tab, sign_in, site

from evidence.review_world import chat_file
from peel.evidence.ingest import ingest
from peel.governance import cases, history
from peel.governance.access import Caller
from peel.governance.policy import Policy
from peel.serving import Store

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("store", ["sqlite"], indirect=True),
]
__all__ = ["browser", "open_tab", "site"]  # fixtures used by name

REF = "OP/DISC/7"
OFFICER = "disclosure-officer"
PHONE = "07700 900461"
OTHER_PHONE = "+44 7700 900123"
EMAIL = "sam.example@example.com"
CONTACT = "Jo Bloggs-Sample"
PLANTED = (PHONE, "07700900461", "7700 900123", EMAIL, "example.com", "Bloggs")


def _case(store: Store, tmp_path: Path) -> None:
    """The case, the officer a member, and a chat plus a contact list (synthetic)."""
    policy = _policy(store)
    manager = Caller(username="manager", roles=("manager",))
    cases.create_case(store, policy, manager, reference=REF, title="Garage burglaries")
    cases.add_member(store, policy, manager, reference=REF, username=OFFICER)
    msgs = [("Sam Example", f"note number {i} about the weekend plans") for i in range(20)]
    msgs[3] = ("Alex Sample", f"bring the ladder to the garage, ring me on {PHONE}")
    msgs[4] = ("Sam Example", f"mail {EMAIL} or call {OTHER_PHONE} first")
    msgs[5] = ("Alex Sample", f"tell {CONTACT} the ladder is back in the van")
    chat = chat_file(tmp_path / "phone" / "Garage.txt", msgs)
    contacts = tmp_path / "phone" / "contacts.csv"
    contacts.write_text(f"name,phone,email\n{CONTACT},{PHONE},{EMAIL}\n", encoding="utf-8")
    officer = Caller(
        username=OFFICER, roles=("disclosure_officer",), purpose="disclosure", case_reference=REF
    )
    ingest(
        store,
        policy,
        officer,
        data_dir=store.settings.data_dir,
        reference=REF,
        paths=[chat, contacts],
    )


def _policy(store: Store) -> Policy:
    with store.begin() as conn:
        return history.ensure_installed(conn).loaded.policy


def _no_planted(tab: Tab, where: str) -> None:
    html = tab.page.content()
    shown = [v for v in PLANTED if v in html]
    assert shown == [], f"{where}: planted personal data on the page"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_disclosure_officer_searches_codes_and_reads_the_review_record(
    site: Site, open_tab: OpenTab, store: Store, tmp_path: Path, viewport: str
) -> None:
    _case(store, tmp_path)
    tab = open_tab()
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, OFFICER)
    page.get_by_role("radio", name="Disclosure").check()
    page.get_by_label("Case or investigation reference").fill(REF)
    page.get_by_label("Justification").fill("disclosure review of the seized phone")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    expect(page.locator("header .purpose")).to_have_text(f"Purpose: Disclosure · {REF}")
    base = f"{site.url}/cases/{REF}/evidence"

    # 1. Search from the home page's card: highlighted snippets, nothing planted shown.
    page.locator("a.card", has_text="Disclosure review").click()
    page.wait_for_url(base)
    page.get_by_role("navigation", name="review").get_by_role("link", name="Search").click()
    page.wait_for_url(f"{base}/search")
    page.get_by_label("Words").fill("ladder")
    page.get_by_role("button", name="Search").click()
    page.wait_for_url(re.compile(r"/evidence/search\?q=ladder"))
    expect(page.locator("#count")).to_contain_text("2 items match")
    hits = page.locator("li.hit")
    expect(hits).to_have_count(2)
    expect(hits.first.locator("mark").first).to_have_text(re.compile("ladder", re.I))
    expect(page.locator("li.hit", has_text="[phone]")).to_have_count(1)
    expect(page.locator("li.hit", has_text="the ladder is back")).to_contain_text("tell [name]")
    _no_planted(tab, "search")
    tab.check(f"60-evidence-search-{viewport}")

    # 2. A hit in its conversation: the neighbours (e-mail, second number) redacted too.
    hit_ids = [t.split()[-1] for t in hits.locator("a").all_inner_texts()]
    item_id = hit_ids[0]
    hits.first.get_by_role("link").first.click()
    page.wait_for_url(re.compile(rf"/evidence/items/{item_id}\?k=3$"))
    expect(page.locator("article.evidence-item")).to_have_count(7)
    expect(page.locator("article.evidence-item.focus")).to_contain_text(f"Item {item_id}")
    expect(page.locator(".context")).to_contain_text("[email]")
    _no_planted(tab, "item in context")
    tab.check(f"61-evidence-context-{viewport}")

    # 3. The queue: the served item, its context link, the coding form; a decision serves
    # the next item.
    page.get_by_role("navigation", name="review").get_by_role("link", name="Queue").click()
    page.wait_for_url(base)
    served_head = page.locator("article.evidence-item .item-head").first.inner_text()
    served_id = served_head.split()[1]
    expect(page.get_by_role("link", name="Show the conversation around it")).to_be_visible()
    _no_planted(tab, "queue")
    tab.check(f"62-evidence-queue-{viewport}")
    # The browser will not send the form without a relevance and a reason.
    form = page.locator("form.code-form")
    assert form.evaluate("f => f.checkValidity()") is False
    form.get_by_role("radio", name="Not relevant").check()
    form.get_by_label("Reason", exact=True).fill("weekend chatter, nothing about the burglaries")
    form.get_by_role("button", name="Record decision").click()
    page.wait_for_url(base)
    expect(page.locator("article.evidence-item .item-head").first).not_to_have_text(served_head)
    _no_planted(tab, "queue after coding")
    tab.check(f"63-evidence-queue-next-{viewport}")

    # 4. A hit of the search (not the item just coded), coded from its item page.
    hit = next(i for i in hit_ids if i != served_id)
    page.goto(f"{base}/items/{hit}?k=1")
    form = page.locator("form.code-form")
    form.get_by_role("radio", name="Relevant", exact=True).check()
    form.get_by_label("Meets the disclosure test").check()
    form.get_by_label("Reason", exact=True).fill("places the ladder at the garage")
    form.get_by_role("button", name="Record decision").click()
    page.wait_for_url(base)
    # The item the queue serves now, coded sensitive (for MG6D).
    nav = page.get_by_role("navigation", name="review")
    expect(nav.get_by_role("link", name="Schedules")).to_be_visible()
    form = page.locator("form.code-form")
    form.get_by_role("radio", name="Sensitive").check()
    form.get_by_label("Reason", exact=True).fill("would reveal who told police about the van")
    form.get_by_role("button", name="Record decision").click()
    page.wait_for_url(base)

    # 5. The review record.
    page.get_by_role("navigation", name="review").get_by_role("link", name="Review record").click()
    page.wait_for_url(f"{base}/record")
    expect(page.locator("#items")).to_have_text("21")
    expect(page.locator("#decided")).to_have_text("3")
    expect(page.locator("#seen")).to_contain_text("% of the material")
    expect(page.locator("#overturn")).to_have_text("none reviewed yet")
    expect(page.locator("#estimate")).to_contain_text("No estimate yet")
    expect(page.locator("table.decisions")).to_contain_text("by the model's ranking")
    _no_planted(tab, "record")
    tab.check(f"64-evidence-record-{viewport}")

    # 6. The schedules, from the record: three tables, the figures, nothing planted shown.
    page.get_by_role("link", name="Disclosure schedules").click()
    page.wait_for_url(f"{base}/schedules")
    expect(page.locator("table.schedule-table")).to_have_count(3)
    for key in ("mg6c", "mg6d", "mg6e"):
        expect(page.locator(f"#{key} tbody tr").first).not_to_have_class("nil")
    expect(page.locator("#mg6c h2")).to_contain_text("MG6C")
    expect(page.locator("#mg6c table")).to_contain_text("relevant, non-sensitive")
    expect(page.locator("#mg6c table")).to_contain_text("reviewed, not relevant")
    expect(page.locator("#mg6d table")).to_contain_text("who told police about the van")
    expect(page.locator("#mg6e table")).to_contain_text("places the ladder at the garage")
    expect(page.locator("#fig-reviewed")).to_contain_text("3 of 21")
    expect(page.locator("#fig-recall")).to_contain_text("no estimate yet")
    expect(page.locator("#fig-overturn")).to_have_text("no second reviews yet")
    _no_planted(tab, "schedules")
    tab.check(f"65-evidence-schedules-{viewport}")
    if viewport != "desktop":
        return  # the files are the same on every screen: fetched once

    # 7. The downloads: a link saves a file; each file has its type and a body.
    with page.expect_download() as download:
        page.get_by_role("link", name="MG6C.csv").click()
    assert download.value.suggested_filename == "OP-DISC-7-MG6C.csv"
    types = {".csv": "text/csv", ".json": "application/json", ".pdf": "application/pdf"}
    names = page.locator("ul.downloads a").all_inner_texts()
    assert len(names) == 8
    for name in names:
        r = page.request.get(f"{base}/schedules/{name}")
        assert r.status == 200, name
        assert r.headers["content-type"].startswith(types[Path(name).suffix]), name
        assert r.headers["content-disposition"].startswith("attachment;"), name
        body = r.body()
        assert body, name
        if name.endswith(".pdf"):
            assert body.startswith(b"%PDF"), name
        else:
            text = body.decode("utf-8")
            assert [v for v in PLANTED if v in text] == [], f"{name}: planted personal data"
    missing = page.request.get(f"{base}/schedules/MG6X.csv")
    assert missing.status == 404
