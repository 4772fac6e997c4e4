"""Helpers every benchmark script shares: printing a progress line it also keeps, and the
machine a result was measured on. The scripts run as `python benchmarks/NAME.py`, so this
module is imported from the script's folder."""

from __future__ import annotations

import os
import platform
from typing import Any


def say(log: list[str], text: str) -> None:
    print(text, flush=True)
    log.append(text)


def machine() -> dict[str, Any]:
    import duckdb
    import numpy as np
    import pyarrow as pa

    mem = 0
    with open("/proc/meminfo") as fh:
        for line in fh:
            if line.startswith("MemTotal:"):
                mem = int(line.split()[1]) // 1024
    cpu = ""
    with open("/proc/cpuinfo") as fh:
        for line in fh:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory_mb": mem,
        "python": platform.python_version(),
        "duckdb": duckdb.__version__,
        "pyarrow": pa.__version__,
        "numpy": np.__version__,
        "kernel": platform.release(),
    }
