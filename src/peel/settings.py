"""Typed settings, read once from `PEEL_*` environment variables through a cached getter.

Nothing is read at import time: call `get_settings()`; tests call `get_settings.cache_clear()`
after changing the environment.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

PLACEHOLDER_SECRET = "placeholder-change-me"  # noqa: S105 (the value the server refuses)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PEEL_", extra="ignore")

    env: str = Field(
        default="production",
        description="production (default: placeholder secrets refused), development or test",
    )
    data_dir: Path = Field(default=Path("peel-data"), description="where Peel writes everything")
    database_url: str | None = Field(default=None, description="serving store URL")
    reference_time: str | None = Field(
        default=None, description="ISO time the data clock reads (default: wall clock)"
    )
    crs: str = Field(default="EPSG:27700", description="projected CRS for positions")
    timezone: str = Field(default="Europe/London", description="zone of local source times")

    # Limits that keep hostile input from exhausting the machine.
    max_record_bytes: int = Field(default=1 << 20, description="longest CSV/JSON record kept")
    max_columns: int = Field(default=2000, description="widest header accepted")
    max_string_chars: int = Field(
        default=256,
        description="longest value of a short text field (names, references, places); "
        "free-text fields are bounded only by max_record_bytes",
    )
    area_bounds: tuple[float, float, float, float] = Field(
        default=(-8.75, 49.75, 2.0, 61.0),
        description="WGS84 west, south, east, north: positions outside are quarantined "
        "(default: Great Britain and Northern Ireland)",
    )
    max_gzip_ratio: int = Field(default=200, description="refuse gzip expanding more than this")
    max_gzip_min_bytes: int = Field(
        default=256 << 20, description="the ratio check applies once output passes this size"
    )
    # 24 MB: under glibc's 32 MiB mmap threshold, so a block's buffers reuse freed memory
    # instead of faulting in fresh pages, and three blocks in flight stay small.
    block_bytes: int = Field(default=24 << 20, description="bytes of input framed per block")
    duckdb_memory_limit: str = Field(default="1GB", description="DuckDB memory limit for ingest")
    duckdb_threads: int = Field(default=2, description="DuckDB worker threads")
    resolve_memory_limit: str = Field(
        default="4GB", description="DuckDB memory limit for person resolution (Splink)"
    )
    resolve_max_temp: str = Field(
        default="20GB",
        description="most disk person resolution may spill to (under DATA_DIR/tmp/resolve)",
    )
    fsync: bool = Field(default=True, description="fsync data files and the catalog on commit")

    # Governance and the serving store (issue 4).
    database_admin_url: str | None = Field(
        default=None,
        description="URL that owns the schema and runs migrations (default: database_url); "
        "on PostgreSQL the app then connects as a role that may only INSERT and SELECT the audit",
    )
    database_app_role: str | None = Field(
        default=None, description="PostgreSQL role the app connects as (granted by migrations)"
    )
    policy_file: Path | None = Field(
        default=None, description="the policy (code of ethics) to run; default: the shipped one"
    )
    secret_key: str = Field(
        default=PLACEHOLDER_SECRET,
        description="signs login-form CSRF tokens; the placeholder is refused outside development",
    )
    audit_checkpoint_dir: Path | None = Field(
        default=None, description="signed audit checkpoints (default: DATA_DIR/audit-checkpoints)"
    )
    audit_key_file: Path | None = Field(
        default=None,
        description="Ed25519 key that signs audit checkpoints, kept outside the database "
        "(default: DATA_DIR/keys/audit-signing.pem, created on first use in development)",
    )
    audit_checkpoint_every: int = Field(
        default=500, description="the app writes a signed checkpoint after this many entries"
    )
    cookie_secure: bool | None = Field(
        default=None, description="Secure flag on cookies (default: on outside development)"
    )
    max_body_bytes: int = Field(default=1 << 20, description="largest API request body")
    server_threads: int = Field(
        default=2, ge=1, le=256, description="threads per server process for blocking work"
    )

    @property
    def lake_dir(self) -> Path:
        return self.data_dir / "lake"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def serving_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'serving.db'}"

    @property
    def serving_admin_url(self) -> str:
        return self.database_admin_url or self.serving_url

    @property
    def checkpoint_dir(self) -> Path:
        return self.audit_checkpoint_dir or self.data_dir / "audit-checkpoints"

    @property
    def signing_key_file(self) -> Path:
        return self.audit_key_file or self.data_dir / "keys" / "audit-signing.pem"

    @property
    def development(self) -> bool:
        return self.env in ("development", "test")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


__all__ = ["PLACEHOLDER_SECRET", "Settings", "get_settings"]
