"""How every benchmark records its results: the machine, named alike, and JSON written atomically."""

import json
import platform
import statistics
from pathlib import Path

from mnist_sum.machinery import atomic_path
from mnist_sum.machinery.runtime import Precision


def cpu_name():
    """The CPU's model name where Linux tells it ("AMD EPYC ..."), else what Python knows ("x86_64")."""
    cpuinfo = Path("/proc/cpuinfo")
    names = [line.split(":", 1)[1].strip() for line in cpuinfo.read_text().splitlines()
             if line.startswith("model name")] if cpuinfo.exists() else []
    return names[0] if names else platform.processor() or platform.machine()


def precision_suffix(device):
    """"" where training runs in float32 on `device`, else "_bfloat16" or "_float16": the paths end differently,
    so each keeps its own results file."""
    precision = str(Precision.for_device(device))
    return "" if precision == "float32" else f"_{precision}"


def write_json(out, result):
    """`result` as JSON in `out`, whole or not at all: a crash mid-write leaves the previous file."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(out) as tmp:
        Path(tmp).write_text(json.dumps(result, indent=2) + "\n")


def summary(values):
    """Mean, sample standard deviation (0 for one value), minimum and maximum."""
    values = list(values)
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "min": min(values), "max": max(values)}
