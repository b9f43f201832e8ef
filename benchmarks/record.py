"""Where the benchmarks write what they measured, and the page that the README points to.

Each benchmark saves its results as `benchmarks/results/<name>.json` (with the machine and the date);
`python benchmarks/record.py` renders every saved result into `benchmarks/RESULTS.md`. No benchmark
number is typed anywhere else.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def save(name: str, results: dict) -> Path:
    """Write one benchmark's results, stamped with the machine and the date, then refresh RESULTS.md."""
    sys.path.insert(0, str(HERE.parent))
    from xrfnb import device
    from xrfnb.io import write_json

    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    write_json(path, {"benchmark": name, "machine": device.describe(),
                      "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
                      "load_average_1min": os.getloadavg()[0], **results})
    render()
    return path


def _rows(data: dict, prefix: str = "") -> list[tuple[str, str]]:
    rows = []
    for key, value in data.items():
        if isinstance(value, dict):
            rows += _rows(value, f"{prefix}{key}.")
        elif key not in ("benchmark", "machine", "date", "load_average_1min"):
            rows.append((f"{prefix}{key}", f"{value:.4g}" if isinstance(value, float) else str(value)))
    return rows


def render() -> Path:
    """`benchmarks/RESULTS.md`: one table per saved benchmark, with its machine and date."""
    parts = ["# Benchmark results\n\nWritten by `benchmarks/record.py` from `benchmarks/results/*.json`, which the "
             "benchmarks write when they run. Rerun a benchmark to refresh its table.\n"]
    for path in sorted(RESULTS.glob("*.json")):
        data = json.loads(path.read_text())
        table = "\n".join(f"| {k} | {v} |" for k, v in _rows(data))
        parts.append(f"## {data['benchmark']}\n\n{data['machine']}, {data['date']}, load average "
                     f"{data.get('load_average_1min', float('nan')):.1f} over the minute before\n\n| quantity | value |\n"
                     f"|---|---|\n{table}\n")
    out = HERE / "RESULTS.md"
    out.write_text("\n".join(parts))
    return out


if __name__ == "__main__":
    print(render())
