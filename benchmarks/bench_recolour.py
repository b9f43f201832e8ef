"""Recolouring a scan, before and after streaming: pixels per second and peak memory at 128² and 512²
(x 4,096 channels, a generic HDF5 cube of uint16 counts), against the floor of one read of the cube and
one pass over it.

"Before" is the package as it was at a base commit (default: the commit before streaming), exported with
`git archive` into this run's temporary folder and imported from there; nothing of it enters the package.
Each measurement runs in a child process (this script with `--child`), which reports its own seconds and
its peak resident memory (`ru_maxrss`); the parent records them with `record.save("recolour", ...)`.

    nice -n 10 .venv/bin/python benchmarks/bench_recolour.py [--base COMMIT] [--sizes 128 512]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
from io import BytesIO
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHANNELS = 4096
BASE = "49465d0"  # main before streaming (issue 35)
KINDS = 16  # distinct pixel spectra the cube is tiled from


def write_cube(path: Path, size: int, seed: int = 0) -> None:
    """A (size, size, 4096) uint16 cube, 0-40.96 keV: each pixel one of `KINDS` multinomial draws of 3,000
    counts from two palette pigments' spectra, in patches, written a row at a time."""
    import h5py

    from xrfnb.palette import pigments
    from xrfnb.scans import readers

    palette = pigments.paper_palette(512)
    energy = readers.linear_axis(CHANNELS, 0.005, 0.01)
    rng = np.random.default_rng(seed)
    density = palette.spectra / np.diff(readers.edges(palette.energy))
    on_axis = np.stack([np.interp(energy, palette.energy, d, 0, 0) for d in density])
    pairs = rng.integers(0, len(palette), (KINDS, 2))
    mixes = on_axis[pairs[:, 0]] + on_axis[pairs[:, 1]]
    kinds = np.stack([rng.multinomial(3000, m / m.sum()) for m in mixes]).astype(np.uint16)
    patch = np.arange(size) * 8 // size
    label = (patch[:, None] * 8 + patch[None, :]) % KINDS
    with h5py.File(path, "w") as h5:
        h5["energy"] = energy
        h5["energy"].attrs["units"] = "keV"
        data = h5.create_dataset("img", (size, size, CHANNELS), np.uint16)
        for r in range(size):
            data[r] = kinds[label[r]]


def child(mode: str, scan: str, out: str) -> dict:
    """One measurement in this process: `floor` (read, then one pass), or `recolour` with whichever
    `xrfnb` is first on the path."""
    if mode == "floor":
        import h5py

        start = time.perf_counter()
        with h5py.File(scan, "r") as h5:
            counts = h5["img"][()]
        read = time.perf_counter() - start
        start = time.perf_counter()
        counts.sum(-1, dtype=np.float64)
        result = {"read_s": read, "pass_s": time.perf_counter() - start}
    else:
        import warnings

        from xrfnb.scans import realdata

        warnings.simplefilter("ignore")
        start = time.perf_counter()
        realdata.recolour(scan, None, out)
        result = {"seconds": time.perf_counter() - start, "xrfnb": str(Path(realdata.__file__).parent)}
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return result


def run_child(mode: str, scan: Path, out: Path, package: Path) -> dict:
    """Run `child` in a fresh interpreter importing `xrfnb` from `package`'s parent folder."""
    env = {**os.environ, "PYTHONPATH": str(package), "XRFNB_ROOT": str(ROOT)}
    done = subprocess.run([sys.executable, __file__, "--child", mode, str(scan), str(out)], env=env,
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def export_base(commit: str, into: Path) -> Path:
    """The package as it was at `commit`, unpacked into `into` (a temporary folder)."""
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "xrfnb"], capture_output=True,
                             check=True).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def measure(sizes: list[int], base: str) -> dict:
    results: dict = {"base_commit": base, "channels": CHANNELS, "load_before": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="bench_recolour_") as tmp:
        tmp = Path(tmp)
        before = export_base(base, tmp / "before")
        for size in sizes:
            scan = tmp / f"cube_{size}.h5"
            write_cube(scan, size)
            row = {"cube_mib": scan.stat().st_size / 2 ** 20, **run_child("floor", scan, tmp / "x", ROOT)}
            for label, package in (("before", before), ("after", ROOT)):
                got = run_child("recolour", scan, tmp / f"out_{label}_{size}", package)
                assert got["xrfnb"].startswith(str(package)), got["xrfnb"]
                row[label] = {"seconds": got["seconds"], "pixels_per_s": size * size / got["seconds"],
                              "peak_rss_mb": got["peak_rss_mb"],
                              "times_one_read": got["seconds"] / row["read_s"]}
                print(f"{size}^2 {label}: {got['seconds']:.1f} s, {got['peak_rss_mb']:.0f} MB", flush=True)
            results[f"{size}px"] = row
            scan.unlink()
    if len(sizes) == 2:
        small, large = (results[f"{s}px"] for s in sizes)
        results["after_peak_ratio_large_to_small"] = large["after"]["peak_rss_mb"] / small["after"]["peak_rss_mb"]
        results["before_peak_ratio_large_to_small"] = large["before"]["peak_rss_mb"] / small["before"]["peak_rss_mb"]
    results["load_after"] = os.getloadavg()[0]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", nargs=3, metavar=("MODE", "SCAN", "OUT"), help=argparse.SUPPRESS)
    parser.add_argument("--base", default=BASE, help="the commit whose package is 'before'")
    parser.add_argument("--sizes", nargs="+", type=int, default=[128, 512])
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(ROOT))
    import record

    print(record.save("recolour", measure(args.sizes, args.base)))


if __name__ == "__main__":
    main()
