"""Auditing collection: each ingest batch writes one audit entry (DPA 2018 s.62
"collection") just before the lake commits it, as the named user or service identity that ran
the command. If the entry cannot be written, the batch is not committed.

The entry names the batch, not each row: a batch's rows all carry its id in `_batch`, so
"which records did this collection bring in" is one lake query (docs/lake.md).
"""

from __future__ import annotations

from collections.abc import Callable

from peel.governance import audit
from peel.governance.access import Caller, check, event_for
from peel.governance.policy import Policy
from peel.lake.catalog import Manifest
from peel.serving import Store


def collection_hook(
    store: Store, policy: Policy, caller: Caller, *, operation: str = "collection"
) -> Callable[[Manifest], None]:
    """A `before_commit` callback for ingest; checks the caller may ingest before any work."""
    check(policy, caller, "ingest.run")

    def hook(manifest: Manifest) -> None:
        with store.begin() as conn:
            audit.append(
                conn,
                event_for(
                    caller,
                    operation=operation,
                    object_type="batch",
                    object_ids=[f"batch:{manifest.batch}"],
                    query={
                        "kind": manifest.kind,
                        "source": manifest.source,
                        "dataset": manifest.dataset,
                        "synthetic": manifest.synthetic,
                        "file": manifest.input_file,
                        "sha256": manifest.input_sha256,
                        "counts": manifest.counts,
                    },
                ),
            )

    return hook


__all__ = ["collection_hook"]
