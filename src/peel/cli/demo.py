"""`peel demo`: everything Peel can do so far, on the synthetic demo city, step by step.

The demo runs in development mode (it refuses production: it prints passwords). It builds
the synthetic city (issue 3) at the `demo` scale with seed 2024, or reuses it when one with the
same generator version and parameters exists; sets the data clock to the end of the city's
year; ingests it as the synthetic dataset `demo` as the service identity `peel-ingest`
(skipped on a rerun when the lake already holds that city); prints what is in the lake;
creates or reuses the demo accounts and the demo case; uses the API as each account so the
audit log shows real use; signs an audit checkpoint; prints the logins and pages; and serves
the app on http://127.0.0.1:8000 unless `--no-serve`.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import typer
from rich.table import Table

from peel.cli.common import acting, err, handled, setup_logging
from peel.cli.demo_app import CASE, governance_step, print_logins
from peel.cli.demo_evidence import evidence_step
from peel.cli.demo_leads import leads_step
from peel.errors import PeelError
from peel.governance.collection import collection_hook
from peel.lake import Lake
from peel.lake.info import lake_info
from peel.settings import get_settings

DATASET = "demo"
SEED = 2024


def resolve_step(lake: Lake) -> None:
    """4. person resolution (skipped when the run already covers the lake); 5. publish."""
    from peel.resolve.evaluate import evaluate
    from peel.resolve.output import require_run
    from peel.resolve.publish import publish_profiles
    from peel.resolve.run import is_current, resolve_people

    t0 = time.perf_counter()
    if is_current(lake):
        err.print("4. person resolution already covers the lake; not run again")
    else:
        with acting("peel-resolve", "combination") as who:
            out = resolve_people(lake, who.store, who.policy, who.caller, datasets=[DATASET])
        figures = evaluate(require_run(lake.settings), _truth(lake))
        err.print(
            f"4. resolved {out['records']:,} person records into {out['profiles']:,} profiles "
            f"(F1 {figures['f1']:.4f}, false-merge share {figures['false_merge_share']:.2%}, "
            f"misattributed warnings {figures['misattributed_warnings']} against the city's "
            f"truth) ({time.perf_counter() - t0:.1f}s)"
        )
    t0 = time.perf_counter()
    with acting("peel-resolve", "combination") as who:
        pub = publish_profiles(lake, who.store, who.policy, who.caller)
    err.print(
        f"5. published profiles: {pub['written']:,} written, {pub['unchanged']:,} unchanged, "
        f"{pub['deleted']:,} deleted ({time.perf_counter() - t0:.1f}s)"
    )


def _truth(lake: Lake) -> Path:
    recorded = json.loads(
        (lake.lake_dir / "_cities" / f"{DATASET}.json").read_text(encoding="utf-8")
    )
    return Path(recorded["city"]) / "truth"


def demo(
    no_serve: bool = typer.Option(False, "--no-serve", help="Do all the work and exit."),
    scale: str = typer.Option("demo", "--scale", help="City scale (tiny for a quick look)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to serve on."),
    port: int = typer.Option(8000, "--port", help="Port to serve on."),
) -> None:
    """Build (or reuse) the demo city, ingest it, create the demo users, use the API as them,
    and serve the app."""
    from peel.ingest.city import ingest_city
    from peel.synth import GENERATOR_VERSION, build_params, generate

    setup_logging(quiet=True)
    started = time.perf_counter()
    os.environ.setdefault("PEEL_ENV", "development")
    get_settings.cache_clear()
    with handled():
        if not get_settings().development:
            raise PeelError(
                "peel demo creates accounts with printed passwords, so it runs only in "
                "development mode (PEEL_ENV=development)"
            )
        lake = Lake()
        params = build_params(scale)
        city = lake.settings.data_dir / "synth" / f"{scale}-{SEED}"
        t0 = time.perf_counter()
        manifest_path = city / "manifest.json"
        current = None
        if manifest_path.exists():
            current = json.loads(manifest_path.read_text(encoding="utf-8"))
        if (
            current
            and current.get("generator_version") == GENERATOR_VERSION
            and current.get("params_sha256") == params.digest()
        ):
            err.print(f"1. reusing the {scale} city in {city}")
        else:
            done = generate(params, SEED, city, log=lambda step: err.print(f"   {step}"))
            current = done["manifest"]
            err.print(
                f"1. built the {scale} city in {city}: {sum(current['rows'].values()):,} rows, "
                f"{current['bad_rows']} planted bad rows ({time.perf_counter() - t0:.1f}s)"
            )
        if not os.environ.get("PEEL_REFERENCE_TIME"):
            os.environ["PEEL_REFERENCE_TIME"] = f"{current['end']}-01T00:00:00+00:00"
            get_settings.cache_clear()
        err.print(
            f"   data clock set to {os.environ['PEEL_REFERENCE_TIME']} (end of the city's year)"
        )
        t0 = time.perf_counter()
        recorded = lake.lake_dir / "_cities" / f"{DATASET}.json"
        if (
            recorded.exists()
            and json.loads(recorded.read_text(encoding="utf-8"))["manifest"].get("params_sha256")
            == current["params_sha256"]
        ):
            err.print("2. the lake already holds this city (dataset 'demo'); not ingested again")
        else:
            with acting("peel-ingest", "collection") as who:
                hook = collection_hook(who.store, who.policy, who.caller)
                result = ingest_city(lake, city, DATASET, before_commit=hook)
            t = Table(title="2. ingest (dataset 'demo', marked SYNTHETIC)")
            for col in ("file", "source", "read", "stored", "quarantined", "duplicate"):
                t.add_column(col)
            for b in result["batches"]:
                t.add_row(
                    b["file"],
                    b["source"],
                    f"{b['rows_read']:,}",
                    f"{b['rows_stored']:,}",
                    f"{b['rows_quarantined']:,}",
                    f"{b['rows_duplicate']:,}" if not b["refused"] else "refused",
                )
            err.print(t)
            err.print(f"   ingest took {time.perf_counter() - t0:.1f}s")
        info = lake_info(lake)
        t = Table(title="3. what is in the lake")
        for col in ("table", "rows", "files", "key conflicts"):
            t.add_column(col)
        for name, st in info["tables"].items():
            t.add_row(name, f"{st['rows']:,}", str(st["files"]), str(st["key_conflicts"]))
        err.print(t)
        err.print(
            f"   quarantine: {info['quarantine']['open']} open rows (the planted bad rows; "
            "see `peel quarantine list`, `peel quarantine show BATCH`)"
        )
        resolve_step(lake)
        t0 = time.perf_counter()
        app, logins, calls = governance_step(city)
        err.print(
            f"6. demo accounts and case {CASE} ready; used the API {calls} times as them; "
            f"audit checkpoint signed ({time.perf_counter() - t0:.1f}s)"
        )
        base = f"http://{host}:{port}"
        leads_page = leads_step(app, logins, _truth(lake), base)
        evidence_pages = evidence_step(app, city, base)
    print_logins(logins)
    err.print("Pages to visit (sign in with a login above):")
    err.print(f"   {base}/login          sign in; then set the purpose of your task")
    err.print(f"   {base}/audit          the audit log (oversight, dpo): verify, sample, review")
    err.print(f"   {base}/policy         the code of ethics and its history (everyone)")
    err.print(f"   {base}/patrol         the roadside check on a phone (patrol): plate or name")
    err.print(f"   {base}/profiles/ID    a person's profile and why its records are one person")
    err.print(f"   {base}/products       products and their explanations")
    err.print(f"   {base}/leads          ANPR leads workbench (investigator): crimes -> vehicles")
    if leads_page:
        err.print(f"   {leads_page}", soft_wrap=True, highlight=False, markup=False)
        err.print("      the demo's series chosen: press Find vehicles (as the investigator)")
    for line in evidence_pages:
        err.print(f"   {line}", soft_wrap=True, highlight=False, markup=False)
    err.print(f"   {base}/docs           the JSON API (OpenAPI)")
    err.print(
        f"demo done in {time.perf_counter() - started:.1f}s. Data in {lake.settings.data_dir}."
    )
    err.print(
        "Try: peel lake info; peel audit verify; peel audit report --user investigator "
        "--as dpo; peel policy history."
    )
    if not no_serve:
        import uvicorn

        from peel.app.main import create_app

        err.print(f"serving on {base} (Ctrl-C to stop)")
        uvicorn.run(create_app(), host=host, port=port, log_level="warning")


__all__ = ["demo"]
