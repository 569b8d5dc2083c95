"""What every run of a benchmark carries, and where it goes: benchmarks/results/<benchmark>_<machine>.json, a list."""

import datetime
import json
import os
import re
import sys
from pathlib import Path

import torch

from mnist_sum import training


def cpu_name():
    lines = Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []
    return next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")


def machine():
    return torch.cuda.get_device_name() if training.pick_device().type == "cuda" else cpu_name()


def stamp(**fields):
    """The date, command, machine (with the CPU's bfloat16 units), threads and training precision, then `fields`."""
    units = [name for name, has in (("AMX", torch.cpu._is_amx_tile_supported()),
                                    ("AVX512-BF16", torch.cpu._is_avx512_bf16_supported())) if has]
    precision = training.autocast_dtype(training.pick_device()) or torch.float32
    return {"date": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(["python", *sys.argv]),
            "machine": machine(), "bfloat16_units": ", ".join(units) or "none", "threads": torch.get_num_threads(),
            "precision": str(precision).removeprefix("torch."), "torch": torch.__version__, **fields}


def results_file(benchmark):
    """benchmarks/results/seeds_amd-epyc.json: the machine's maker and family ("Intel(R) Xeon(R) ..." -> intel-xeon)."""
    name = "-".join(re.sub(r"\(.*?\)", "", machine()).lower().split()[:2])
    return Path(__file__).parent / "results" / f"{benchmark}_{name}.json"


def append(path, runs):
    """Add `runs` to the list in `path`, written whole or not at all."""
    path = Path(path)
    recorded = json.loads(path.read_text()) if path.exists() else []
    path.parent.mkdir(parents=True, exist_ok=True)
    part = path.with_name(path.name + ".part")
    part.write_text(json.dumps(recorded + list(runs), indent=1) + "\n")
    os.replace(part, path)
