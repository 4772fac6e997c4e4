"""Settings for test lakes."""

from __future__ import annotations

from pathlib import Path

from peel.settings import Settings


def small_settings(data_dir: Path) -> Settings:
    """Limits small enough to test hostile input quickly: 64 KiB blocks, 4 KiB records."""
    return Settings(
        data_dir=data_dir,
        fsync=False,
        block_bytes=1 << 16,
        max_record_bytes=4096,
        max_columns=64,
        max_gzip_min_bytes=1 << 16,
    )
