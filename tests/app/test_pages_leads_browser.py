"""A raised ANPR lead in headless Chromium: the investigator accepts it, confirms each read's
image and OCR confidence and marks it actioned, downloads its evidence pack (whose manifest
hashes check out), and the oversight panel reads the lead figures by the keeper's group.
Screenshots go to test-artifacts/screenshots/ (never committed); the lake holds only the
synthetic example files.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import insert
from test_pages_browser import OpenTab, Site, browser, open_tab, sign_in, site

from helpers.appenv import CASE
from helpers.appworld import EXAMPLES, lake_rows
from peel.governance.products import Explanation, NewProduct, write_products
from peel.ingest.pipeline import ingest_file
from peel.lake import Lake
from peel.serving import Store
from peel.serving.tables import lead_monitoring
from peel.sources import get_mapping

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("store", ["sqlite"], indirect=True),
    pytest.mark.parametrize("viewport", ["desktop"]),
]
__all__ = ["browser", "open_tab", "site"]  # fixtures used by name


def _a_lead(store: Store) -> tuple[str, list[str]]:
    lake = Lake(store.settings)
    for source, name in (("cris", "cris.csv"), ("anpr-read", "anpr-read.csv")):
        ingest_file(lake, EXAMPLES / name, get_mapping(source), dataset="examples")
    crime = str(lake_rows(lake, "crime")[0]["row_id"])
    reads = [str(r["row_id"]) for r in lake_rows(lake, "anpr_read")[:2]]
    lead = NewProduct(
        kind="anpr_lead",
        subject_type="vehicle",
        subject_ids=["LM21QZX"],
        explanation=Explanation(
            claim="read near 2 of 2 burglary scenes at cameras CAM-LX-001, CAM-LX-002",
            evidence=[f"crime:{crime}", *[f"anpr_read:{r}" for r in reads]],
            arithmetic=["score = 4.10", "chance figure = 0.012"],
            confidence=0.988,
            confidence_text="about 0.012 vehicles would do this by chance",
            code_version="test",
        ),
        dataset="examples",
        synthetic=False,
        case_reference=CASE,
    )
    now = datetime.now(UTC)
    with store.begin() as conn:
        write_products(conn, [lead], created_by="test", now=now)
        conn.execute(
            insert(lead_monitoring),
            [
                {
                    "product_id": lead.id,
                    "keeper_kind": "person",
                    "self_defined_ethnicity": "W1",
                    "age_band": "25-34",
                    "recorded_at": now,
                }
            ],
        )
    return lead.id, reads


def test_investigator_accepts_confirms_actions_and_exports_a_lead(
    site: Site, open_tab: OpenTab, store: Store, tmp_path: Path
) -> None:
    pid, reads = _a_lead(store)
    tab = open_tab()
    page = tab.page
    page.goto(f"{site.url}/login")
    sign_in(tab, site, "investigator")
    page.get_by_role("radio", name="Investigation").check()
    page.get_by_label("Case or investigation reference").fill(CASE)
    page.get_by_label("Justification").fill("burglary series")
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")

    page.goto(f"{site.url}/products/{pid}")
    expect(page.get_by_role("heading", name="The reads this lead rests on")).to_be_visible()
    rows = page.locator("section.card table tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("anpr-img/")
    expect(page.get_by_text("Accept the lead before marking it actioned.")).to_be_visible()
    # "actioned" is not offered in the plain decision form for a lead.
    assert "actioned" not in page.locator("select[name=decision] option").all_inner_texts()
    tab.check("40-lead-new")
    page.get_by_label("Decision").select_option("accepted")
    page.get_by_label("Reason", exact=True).last.fill("fits the series")
    page.get_by_role("button", name="Record decision").click()
    page.wait_for_url(f"{site.url}/products/{pid}")

    form = page.locator("form.confirm-reads")
    expect(form).to_be_visible()
    # The browser will not send the form until every read and the plate are ticked.
    assert form.evaluate("f => f.checkValidity()") is False
    for box in form.locator("input[name=read]").all():
        box.check()
    form.get_by_label("Every image shows this vehicle's plate").check()
    form.get_by_label("Reason").fill("stopped the car on the A1")
    tab.check("41-lead-confirm")
    form.get_by_role("button", name="Mark actioned").click()
    page.wait_for_url(f"{site.url}/products/{pid}")
    expect(page.locator("section.card li", has_text="actioned")).to_contain_text(
        "2 read(s) confirmed"
    )

    page.get_by_label("Recipient").fill("CPS reviewing lawyer")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download evidence pack").click()
    saved = tmp_path / "pack.zip"
    info.value.save_as(saved)
    zf = zipfile.ZipFile(io.BytesIO(saved.read_bytes()))
    manifest = json.loads(zf.read("manifest.json"))
    assert manifest["recipient"] == "CPS reviewing lawyer"
    for name, meta in manifest["files"].items():
        assert hashlib.sha256(zf.read(name)).hexdigest() == meta["sha256"]
    got = {json.loads(x)["row_id"] for x in zf.read("records/anpr_read.jsonl").splitlines()}
    assert got == set(reads)
    tab.check("42-lead-actioned")

    panel = open_tab()
    page = panel.page
    page.goto(f"{site.url}/login")
    sign_in(panel, site, "oversight-panel", totp=site.code("oversight_panel"))
    page.get_by_role("radio", name="Oversight").check()
    page.get_by_role("button", name="Start").click()
    page.wait_for_url(f"{site.url}/")
    page.get_by_role("navigation", name="main").get_by_role("link", name="Lead oversight").click()
    page.wait_for_url(f"{site.url}/oversight/leads")
    table = page.locator(
        "table", has=page.locator("caption", has_text="By self-defined ethnic group")
    )
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text("White")
    expect(table.locator("tbody tr")).to_contain_text("too small to compare")
    panel.check("43-lead-oversight")
