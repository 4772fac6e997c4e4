"""Ingest: read source exports, validate and map them, quarantine bad rows, write the lake."""

from peel.ingest.pipeline import BatchReport, ingest_file, ingest_files, summarise
from peel.ingest.quarantine import entries, quarantine_rows, retry, summary

__all__ = [
    "BatchReport",
    "entries",
    "ingest_file",
    "ingest_files",
    "quarantine_rows",
    "retry",
    "summarise",
    "summary",
]
