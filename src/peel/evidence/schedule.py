"""`peel evidence schedule`: the disclosure documents of a reviewed case, as CSV and PDF.

- **MG6C**, the schedule of relevant non-sensitive unused material: each item coded
  relevant (not sensitive) on its own line; the items coded not relevant block-listed by
  conversation and run of days ("1,243 messages between A and B, 1-3 March 2025, reviewed,
  not relevant"); the items the review did not reach in one block per conversation, saying
  that the stopping rule left them and with what recall estimate.
- **MG6D**, the schedule of relevant sensitive unused material: each item coded sensitive,
  with the reviewer's reason.
- **MG6E**, the disclosure officer's report: each item whose decision says it meets the
  disclosure test (might reasonably be considered capable of undermining the prosecution
  case or of assisting the case for the accused), with the reason.
- **The review record**: the batches and their manifest hashes, what was searched with which
  terms by whom, items reviewed and by how each reached a reviewer, the share of the material
  any person has seen, the recall estimate and its interval at the last check, the
  second-review overturn rate, and the attachments that were listed but not text-reviewed.

Descriptions are redacted (phone numbers, e-mail addresses, postcodes, names from the
case's contact list) unless the caller asks otherwise. Every item described is read through
the case store, so its hash is checked again at export, and is recorded as seen by the
person who made the schedules ("export"). The export is audited as a disclosure.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from peel.evidence.ingest import PERMISSION, open_case
from peel.evidence.redact import Redactor
from peel.evidence.review import authorise, now_utc, record_views, status
from peel.evidence.store import CaseStore, StoredItem
from peel.governance.access import Caller, operation
from peel.governance.policy import Policy
from peel.serving import Store
from peel.serving.tables import evidence_batches, evidence_codes, evidence_searches

EXCERPT = 90
BLOCK_GAP_DAYS = 7
FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
)
MG6C_COLUMNS = ["item_no", "description", "location", "items", "reviewed", "cps_comment"]
MG6D_COLUMNS = ["item_no", "description", "location", "reason_for_sensitivity", "cps_comment"]
MG6E_COLUMNS = ["item_no", "description", "location", "how_it_meets_the_test"]


def _latest_codes(store: Store, reference: str) -> dict[int, dict[str, Any]]:
    """Each item's standing decision: a second review replaces the first."""
    out: dict[int, dict[str, Any]] = {}
    with store.read() as conn:
        for r in conn.execute(
            select(evidence_codes)
            .where(evidence_codes.c.case_reference == reference)
            .order_by(evidence_codes.c.id)
        ).mappings():
            out[int(r["item_id"])] = dict(r)
    return out


def _who(s: StoredItem) -> str:
    it = s.item
    parties = [p for p in (it.sender, *it.recipients) if p]
    conv = it.conversation or s.thread
    base = {"chat": "WhatsApp message", "sms": "SMS", "call": "Call", "email": "E-mail"}.get(
        it.kind, "Record"
    )
    who = f" from {parties[0]}" if parties else ""
    to = f" to {', '.join(parties[1:3])}" if len(parties) > 1 else ""
    where = f" in '{conv}'" if conv and it.kind == "chat" else ""
    return f"{base}{who}{to}{where}"


def _when(s: StoredItem) -> str:
    at = s.item.sent_at
    return at.strftime("%d/%m/%Y %H:%M") if at else "time not recorded"


def _excerpt(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= EXCERPT else flat[: EXCERPT - 1] + "…"


def _describe(s: StoredItem, redact: Callable[[str], str]) -> str:
    subject = f" '{redact(s.item.subject)}'" if s.item.subject else ""
    return redact(f'{_who(s)}, {_when(s)}{subject}: "{_excerpt(s.item.text)}"')


def _location(s: StoredItem) -> str:
    return f"{s.file}, line {s.line} (item {s.id}, SHA-256 {s.sha256[:16]})"


def _days(a: date, b: date) -> str:
    if a == b:
        return f"{a:%d %B %Y}".lstrip("0")
    if (a.year, a.month) == (b.year, b.month):
        return f"{a.day}-{b.day} {b:%B %Y}"
    return f"{a:%d %b %Y} - {b:%d %b %Y}"


def _blocks(cs: CaseStore, ids: set[int]) -> list[dict[str, Any]]:
    """`ids` grouped by thread and runs of days (a gap over BLOCK_GAP_DAYS starts a new
    block): thread, kinds, first and last day, count, senders (catalogue rows only)."""
    by_thread: dict[str, list[tuple[str, int, str, str]]] = {}
    for r in cs.rows("ORDER BY thread, coalesce(sent_at, ''), id"):
        if int(r["id"]) in ids:
            by_thread.setdefault(str(r["thread"]), []).append(
                (str(r["sent_at"] or ""), int(r["id"]), str(r["kind"]), str(r["sender"] or ""))
            )
    out: list[dict[str, Any]] = []
    for thread, rows in by_thread.items():
        cur: dict[str, Any] | None = None
        for at, iid, kind, sender in rows:
            day = datetime.fromisoformat(at).date() if at else None
            if (
                cur is None
                or day is None
                or cur["last"] is None
                or (day - cur["last"]).days > BLOCK_GAP_DAYS
            ):
                cur = {
                    "thread": thread,
                    "first": day,
                    "last": day,
                    "ids": [],
                    "kinds": set(),
                    "senders": set(),
                }
                out.append(cur)
            cur["last"] = day or cur["last"]
            cur["ids"].append(iid)
            cur["kinds"].add(kind)
            if sender:
                cur["senders"].add(sender)
    return out


def _block_location(ids: list[int]) -> str:
    """The block's items as runs of ids ("items 3-9, 12, 15-20"); long lists shortened."""
    runs: list[str] = []
    ordered = sorted(ids)
    start = prev = ordered[0]
    for i in [*ordered[1:], None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        runs.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    shown = ", ".join(runs[:8]) + (f" and {len(runs) - 8} more runs" if len(runs) > 8 else "")
    return f"{'item' if len(ordered) == 1 else 'items'} {shown} (block)"


def _block_text(b: dict[str, Any], redact: Callable[[str], str], verdict: str) -> str:
    n = len(b["ids"])
    kinds = {"chat": "message", "sms": "text message", "call": "call", "email": "e-mail"}
    what = " and ".join(
        sorted(kinds.get(k, "record") + ("s" if n != 1 else "") for k in b["kinds"])
    )
    senders = sorted(b["senders"])
    between = ""
    if senders:
        shown = ", ".join(senders[:3]) + (
            f" and {len(senders) - 3} others" if len(senders) > 3 else ""
        )
        between = f" from {shown}"
    thread = b["thread"].split(":", 1)[-1]
    when = _days(b["first"], b["last"]) if b["first"] else "undated"
    return redact(f"{n:,} {what}{between} in '{thread}', {when}, {verdict}")


def build(
    store: Store,
    policy: Policy,
    caller: Caller,
    *,
    data_dir: Path,
    reference: str,
    redacted: bool = True,
    clock: Callable[[], datetime] = now_utc,
) -> dict[str, Any]:
    """The schedules and the review record as data (see the module docstring)."""
    authorise(store, policy, caller, reference, "schedule")
    cs = open_case(store, data_dir, reference)
    n = cs.count()
    codes = _latest_codes(store, reference)
    redactor = Redactor(contact_names=[c[0] for c in cs.contacts()])
    red: Callable[[str], str] = redactor.redact if redacted else (lambda t: t)
    relevant = sorted(i for i, c in codes.items() if c["relevance"] == "relevant")
    sensitive = sorted(i for i, c in codes.items() if c["relevance"] == "sensitive")
    meets = sorted(i for i, c in codes.items() if c["meets_test"])
    not_relevant = {i for i, c in codes.items() if c["relevance"] == "not_relevant"}
    unreviewed = set(range(1, n + 1)) - set(codes)
    described = sorted(set(relevant) | set(sensitive) | set(meets))
    items = {s.id: s for s in cs.items(described)}  # hashes checked again at export
    st = status(store, reference, n)
    mg6c: list[dict[str, Any]] = []
    for i in relevant:
        s = items[i]
        mg6c.append(
            {
                "description": _describe(s, red),
                "location": _location(s),
                "items": 1,
                "reviewed": "relevant, non-sensitive",
                "cps_comment": "",
            }
        )
    for b in _blocks(cs, not_relevant):
        mg6c.append(
            {
                "description": _block_text(b, red, "reviewed, not relevant"),
                "location": _block_location(b["ids"]),
                "items": len(b["ids"]),
                "reviewed": "not relevant",
                "cps_comment": "",
            }
        )
    est = st["recall_estimate"]
    left_note = (
        f"not reviewed individually: the review stopped with an estimated recall of "
        f"{est:.0%} ({st['interval'][0]:.0%}-{st['interval'][1]:.0%})"
        if est is not None
        else "not reviewed individually: the review has not reached its stopping check"
    )
    for b in _blocks(cs, unreviewed):
        mg6c.append(
            {
                "description": _block_text(b, red, left_note),
                "location": _block_location(b["ids"]),
                "items": len(b["ids"]),
                "reviewed": "not reviewed",
                "cps_comment": "",
            }
        )
    for k, row in enumerate(mg6c, start=1):
        row["item_no"] = k
    mg6d = [
        {
            "item_no": k,
            "description": _describe(items[i], red),
            "location": _location(items[i]),
            "reason_for_sensitivity": red(codes[i]["reason"]),
            "cps_comment": "",
        }
        for k, i in enumerate(sensitive, start=1)
    ]
    mg6e = [
        {
            "item_no": k,
            "description": _describe(items[i], red),
            "location": _location(items[i]),
            "how_it_meets_the_test": red(codes[i]["reason"]),
        }
        for k, i in enumerate(meets, start=1)
    ]
    with store.read() as conn:
        searches = [
            {
                "by": r.username,
                "terms": red(r.terms),
                "filters": r.filters,
                "matched": r.matched,
                "shown": r.shown,
                "at": r.searched_at.isoformat(),
            }
            for r in conn.execute(
                select(evidence_searches)
                .where(evidence_searches.c.case_reference == reference)
                .order_by(evidence_searches.c.id)
            )
        ]
        batches = [
            {
                "batch": r.batch,
                "manifest_sha256": r.manifest_sha256,
                "items": r.items,
                "files": [{"name": f["name"], "sha256": f["sha256"]} for f in r.files],
                "by": r.ingested_by,
                "at": r.ingested_at.isoformat(),
            }
            for r in conn.execute(
                select(evidence_batches)
                .where(evidence_batches.c.case_reference == reference)
                .order_by(evidence_batches.c.batch)
            )
        ]
    attachments = sum(int(r["attachments"]) for r in cs.rows())
    reviewers = sorted({str(c["reviewer"]) for c in codes.values()})
    record = {
        "case": reference,
        "made_by": caller.username,
        "made_at": clock().isoformat(),
        "items": n,
        "batches": batches,
        "searches": searches,
        "reviewed": len(codes),
        "reviewers": reviewers,
        "decisions": st["decisions"],
        "seen_items": st["seen_items"],
        "share_seen": st["share_seen"],
        "recall_estimate": st["recall_estimate"],
        "interval": st["interval"],
        "target_reached": st["target_reached"],
        "checks": st["checks"],
        "second_reviews": st["second_reviews"],
        "overturned": st["overturned"],
        "overturn_rate": st["overturn_rate"],
        "attachments_not_text_reviewed": attachments,
        "not_reviewed": len(unreviewed),
        "redacted": redacted,
    }
    with operation(
        store,
        policy,
        caller,
        permission=PERMISSION,
        operation="disclosure",
        object_type="evidence_schedule",
        query={
            "case": reference,
            "mg6c": len(mg6c),
            "mg6d": len(mg6d),
            "mg6e": len(mg6e),
            "redacted": redacted,
        },
        clock=clock,
    ) as op:
        op.recipient = "disclosure schedules (MG6C, MG6D, MG6E)"
        record_views(op.conn, reference, caller.username, described, "export", clock())
        op.returned([f"{reference}#{i}" for i in described])
    return {"mg6c": mg6c, "mg6d": mg6d, "mg6e": mg6e, "record": record}


def write(doc: dict[str, Any], out: Path) -> list[Path]:
    """MG6C, MG6D, MG6E as CSV and PDF, and the review record as JSON and PDF, in `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, cols in (("MG6C", MG6C_COLUMNS), ("MG6D", MG6D_COLUMNS), ("MG6E", MG6E_COLUMNS)):
        path = out / f"{name}.csv"
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols)
            w.writeheader()
            w.writerows(doc[name.lower()])
        written.append(path)
    path = out / "review-record.json"
    path.write_text(json.dumps(doc["record"], indent=1, sort_keys=True, default=str), "utf-8")
    written.append(path)
    written += _pdfs(doc, out)
    return written


_TITLES = {
    "MG6C": "MG6C  Police schedule of relevant non-sensitive unused material",
    "MG6D": "MG6D  Police schedule of relevant sensitive unused material",
    "MG6E": "MG6E  Disclosure officer's report",
}


def _pdfs(doc: dict[str, Any], out: Path) -> list[Path]:
    from fpdf import FPDF
    from fpdf.fonts import FontFace

    font = next((f for f in FONTS if Path(f).is_file()), None)
    written: list[Path] = []
    rec = doc["record"]

    def new_pdf() -> tuple[Any, Callable[[str], str]]:
        pdf = FPDF(orientation="L", format="A4")
        pdf.set_auto_page_break(True, margin=12)
        if font:
            pdf.add_font("body", fname=font)
            pdf.set_font("body", size=8)
            return pdf, lambda t: t
        pdf.set_font("helvetica", size=8)
        return pdf, lambda t: t.encode("latin-1", "replace").decode("latin-1")

    for name, cols in (("MG6C", MG6C_COLUMNS), ("MG6D", MG6D_COLUMNS), ("MG6E", MG6E_COLUMNS)):
        pdf, safe = new_pdf()
        pdf.add_page()
        pdf.set_font_size(12)
        pdf.cell(0, 8, safe(_TITLES[name]), new_x="LMARGIN", new_y="NEXT")
        pdf.set_font_size(8)
        pdf.cell(
            0,
            5,
            safe(f"Case {rec['case']}. Made by {rec['made_by']} at {rec['made_at']}."),
            new_x="LMARGIN",
            new_y="NEXT",
        )
        rows = doc[name.lower()]
        with pdf.table(
            col_widths=_widths(cols),
            text_align="LEFT",
            headings_style=FontFace(emphasis=None, fill_color=(225, 225, 225)),
        ) as table:
            head = table.row()
            for c in cols:
                head.cell(safe(c.replace("_", " ")))
            for r in rows:
                row = table.row()
                for c in cols:
                    row.cell(safe(str(r.get(c, ""))))
        if not rows:
            pdf.cell(0, 6, "Nil.", new_x="LMARGIN", new_y="NEXT")
        path = out / f"{name}.pdf"
        pdf.output(str(path))
        written.append(path)
    pdf, safe = new_pdf()
    pdf.add_page()
    pdf.set_font_size(12)
    pdf.cell(0, 8, safe(f"Review record, case {rec['case']}"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font_size(9)
    interval = rec["interval"]
    lines = [
        f"Made by {rec['made_by']} at {rec['made_at']}.",
        f"Items: {rec['items']:,}; reviewed: {rec['reviewed']:,} by "
        f"{', '.join(rec['reviewers']) or 'no one'}; "
        f"not reviewed: {rec['not_reviewed']:,}.",
        f"Share of the material any person has seen: {rec['share_seen']:.1%} "
        f"({rec['seen_items']:,} items).",
        "Recall estimate at the last check: "
        + (
            f"{rec['recall_estimate']:.1%} (95% interval {interval[0]:.1%}-{interval[1]:.1%}); "
            f"target {'reached' if rec['target_reached'] else 'not reached'}."
            if rec["recall_estimate"] is not None
            else "no check completed yet."
        ),
        f"Second reviews: {rec['second_reviews']}; overturned: {rec['overturned']}"
        + (f" ({rec['overturn_rate']:.0%})." if rec["overturn_rate"] is not None else "."),
        f"Attachments listed but not text-reviewed: {rec['attachments_not_text_reviewed']:,}.",
        f"Descriptions redacted: {'yes' if rec['redacted'] else 'no'}.",
        "",
        "Batches ingested (manifest SHA-256 recorded in the audit chain):",
        *[
            f"  batch {b['batch']}: {b['items']:,} items, {b['manifest_sha256']}, "
            f"by {b['by']} at {b['at']}"
            for b in rec["batches"]
        ],
        "",
        "Searches:",
        *[
            f"  {s['at']} {s['by']}: {s['terms']!r} {json.dumps(s['filters'], sort_keys=True)} "
            f"matched {s['matched']:,}, shown {s['shown']:,}"
            for s in rec["searches"]
        ],
    ]
    for line in lines:
        pdf.multi_cell(0, 5, safe(line), new_x="LMARGIN", new_y="NEXT")
    path = out / "review-record.pdf"
    pdf.output(str(path))
    written.append(path)
    return written


def _widths(cols: list[str]) -> tuple[int, ...]:
    weights = {"item_no": 8, "description": 70, "location": 40, "items": 8, "reviewed": 20}
    return tuple(weights.get(c, 30) for c in cols)


__all__ = ["MG6C_COLUMNS", "MG6D_COLUMNS", "MG6E_COLUMNS", "build", "write"]
