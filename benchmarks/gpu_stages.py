"""Seconds per stage of a run and per phase of the GPU check, with the share of that time the GPU was busy.

`sample` records the GPU's utilisation (nvidia-smi's `utilization.gpu`: the share of the last sampling
period in which a kernel ran) every half second, each line stamped with this machine's clock, until it is
stopped; on a machine without nvidia-smi it records nothing. `report` reads those samples, the run record
(each stage's end `date` and `seconds`) and the check's phase log (`phase start end exit`), and saves
`benchmarks/results/gpu_stages_<label>.json`.

    python benchmarks/gpu_stages.py sample SAMPLES.csv
    python benchmarks/gpu_stages.py report --samples SAMPLES.csv --phases PHASES.tsv --label lite
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import record

QUERY = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits", "-lms", "500"]


def sample(path: Path) -> None:
    """Append 'unix_seconds,utilisation_pct,memory_MiB' lines to `path` until stopped."""
    if shutil.which("nvidia-smi") is None:
        print("gpu_stages: no nvidia-smi on this machine, no GPU samples", file=sys.stderr)
        return
    with subprocess.Popen(QUERY, stdout=subprocess.PIPE, text=True) as smi, path.open("a") as out:
        for line in smi.stdout:
            util, memory = (field.strip() for field in line.split(",")[:2])
            out.write(f"{time.time():.2f},{util},{memory}\n")
            out.flush()


def read_samples(path: Path) -> list[tuple[float, float, float]]:
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(tuple(float(x) for x in line.split(",")))
        except ValueError:  # a line cut off when the sampler was stopped
            continue
    return rows


def busy(samples: list[tuple[float, float, float]], start: float, end: float) -> dict:
    """Mean utilisation and peak memory of the samples inside [start, end]; None where there are none."""
    inside = [s for s in samples if start <= s[0] <= end]
    if not inside:
        return {"gpu_busy_share": None, "gpu_memory_peak_MiB": None, "gpu_samples": 0}
    return {"gpu_busy_share": round(sum(s[1] for s in inside) / len(inside) / 100, 4),
            "gpu_memory_peak_MiB": max(s[2] for s in inside), "gpu_samples": len(inside)}


def stage_windows(run: dict) -> dict[str, tuple[float, float]]:
    """Each stage that computed in this run: (start, end) in unix seconds, from its end date and seconds."""
    out = {}
    for name, stage in run["stages"].items():
        if stage.get("reused"):
            continue
        end = dt.datetime.fromisoformat(stage["date"]).timestamp()
        out[name] = (end - stage["seconds"], end)
    return out


def phase_windows(path: Path) -> dict[str, dict]:
    """The check's phases: {name: {"start", "end", "exit"}} (a rerun phase keeps its latest try)."""
    out = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, start, end, code = line.split("\t")
            out[name] = {"start": float(start), "end": float(end), "exit": int(code)}
    return out


def report(run_path: Path, samples_path: Path, phases_path: Path, label: str) -> dict:
    samples = read_samples(samples_path)
    results: dict = {"sampled": bool(samples), "stages": {}, "phases": {}}
    if run_path.exists():
        run = json.loads(run_path.read_text())
        results.update(profile=run["profile"], run_device=run["device"], run_total_seconds=run["total_seconds"])
        for name, (start, end) in stage_windows(run).items():
            results["stages"][name] = {"seconds": round(end - start, 2), **busy(samples, start, end)}
    for name, phase in phase_windows(phases_path).items():
        results["phases"][name] = {"seconds": round(phase["end"] - phase["start"], 2), "exit": phase["exit"],
                                   **busy(samples, phase["start"], phase["end"])}
    record.save(f"gpu_stages_{label}", results)
    return results


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    p = sub.add_parser("sample")
    p.add_argument("samples", type=Path)
    p = sub.add_parser("report")
    p.add_argument("--run", type=Path, default=Path("book/executed/run.json"))
    p.add_argument("--samples", type=Path, required=True)
    p.add_argument("--phases", type=Path, required=True)
    p.add_argument("--label", required=True)
    args = ap.parse_args()
    if args.command == "sample":
        sample(args.samples)
    else:
        print(json.dumps(report(args.run, args.samples, args.phases, args.label), indent=2))


if __name__ == "__main__":
    main()
