"""Hard kills: what periodic commits cost generation, and what they save when a run is killed at about 60 %.

1. Throughput: the same dataset generated with the stages' periodic commits (`commits.periodic()`:
   data, flush, flags, flush every 30 s or 256 samples) and with one commit at the end (no periodic
   flush), repeats interleaved (the order alternates) so that the machine's changing load hits both alike.
2. Kill and resume: a real `xrfnb generate` killed with SIGKILL once its progress bar passes `--kill-at`
   of the samples, then rerun; the samples made again are those made before the kill that the rerun
   made anyway. Once with periodic commits, once with none (what the store did before them).

The added flushes' own seconds are timed too: on a loaded machine they are a steadier measure of the
cost than the run times, whose spread the load sets.

    python benchmarks/bench_commits.py [--repeat 5] [--samples 120] [--size 64] [--kill-samples 600]
"""

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import h5py

import record
from xrfnb import commits
from xrfnb.synthetic import dataset
from xrfnb.palette import pigments
from xrfnb.paintings import seeds

ROOT = Path(__file__).resolve().parents[1]
NO_PERIODIC = "1e12:1000000000000"  # XRFNB_COMMIT_EVERY for one commit at the end


def inputs(folder: Path, channels: int) -> tuple[Path, Path]:
    """Four bundled paintings and the palette, as files the CLI reads."""
    manifest = seeds.museum(folder / "seeds", limit=4)
    assert manifest["seeds"], "no bundled paintings"
    palette = pigments.paper_palette(n_channels=channels)
    palette.save(folder / "palette.h5")
    return folder / "seeds", folder / "palette.h5"


def throughput(seeds_dir: Path, palette_path: Path, folder: Path, samples: int, size: int, repeat: int) -> dict:
    """Seconds per run of each mode over interleaved repeats; the median paired slowdown."""
    palette = pigments.Palette.load(palette_path)
    config = dataset.GenerateConfig(samples=samples, size=size)
    modes = {"periodic": None, "at_end": commits.AT_END}
    seconds = {mode: [] for mode in modes}
    flushing = {mode: [] for mode in modes}  # seconds inside the flushes and fsyncs of each run
    real_fsync, spent = commits._fsync, []

    def timed_fsync(h5):
        start = time.perf_counter()
        real_fsync(h5)
        spent.append(time.perf_counter() - start)

    commits._fsync = timed_fsync
    dataset.generate(seeds_dir, folder / "warm" / "dataset.h5", palette, config, progress=False)  # compile
    for r in range(repeat):
        order = list(modes) if r % 2 == 0 else list(modes)[::-1]
        for mode in order:
            out = folder / f"{mode}-{r}" / "dataset.h5"
            spent.clear()
            start = time.perf_counter()
            dataset.generate(seeds_dir, out, palette, config, progress=False, every=modes[mode])
            seconds[mode].append(time.perf_counter() - start)
            flushing[mode].append(sum(spent))
    commits._fsync = real_fsync
    ratios = [p / e for p, e in zip(seconds["periodic"], seconds["at_end"])]
    extra = [(fp - fe) / e for fp, fe, e in zip(flushing["periodic"], flushing["at_end"], seconds["at_end"])]
    return {"samples": samples, "size": size, "repeats": repeat,
            "periodic_samples_per_s": samples / statistics.median(seconds["periodic"]),
            "at_end_samples_per_s": samples / statistics.median(seconds["at_end"]),
            "periodic_seconds": seconds["periodic"], "at_end_seconds": seconds["at_end"],
            "periodic_flush_seconds": flushing["periodic"], "at_end_flush_seconds": flushing["at_end"],
            "flush_time_added_pct": 100 * statistics.median(extra),
            "slowdown_median_paired_pct": 100 * (statistics.median(ratios) - 1),
            "slowdown_of_medians_pct": 100 * (statistics.median(seconds["periodic"])
                                              / statistics.median(seconds["at_end"]) - 1)}


def cli(args: list[str], every: str | None) -> tuple[list[str], dict]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XRFNB_ROOT": str(ROOT)}
    if every:
        env[commits.VARIABLE] = every
    return [sys.executable, "-m", "xrfnb.pipeline.cli", *args], env


def kill_and_resume(seeds_dir: Path, palette_path: Path, out: Path, samples: int, size: int, kill_at: float,
                    every: str | None) -> dict:
    """Kill `xrfnb generate` once its bar passes `kill_at` of the samples; rerun; what was made again."""
    args = ["generate", "--seeds", str(seeds_dir), "--samples", str(samples), "--size", str(size),
            "--out", str(out), "--palette", str(palette_path)]
    command, env = cli(args, every)
    proc = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, bufsize=0)
    made, text = 0, b""
    while made < kill_at * samples:
        byte = proc.stderr.read(1)
        if not byte:
            raise RuntimeError(f"generate ended before the kill: {text[-500:].decode(errors='replace')}")
        text = text[-200:] + byte
        found = re.findall(rb"(\d+)/%d \[" % samples, text)
        made = int(found[-1]) if found else made
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with h5py.File(out / "dataset.h5.partial", "r") as h5:
        committed = int(h5["done"][()].sum())
    start = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(done.stderr[-2000:])
    card = json.loads((out / "dataset.card.json").read_text())
    return {"killed_after_samples": made, "killed_at_pct": 100 * made / samples, "committed_at_kill": committed,
            "made_by_rerun": card["made_now"], "redone": made - (samples - card["made_now"]),
            "rerun_seconds": round(time.perf_counter() - start, 1), "content_hash": card["content_hash"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--samples", type=int, default=120, help="samples per throughput run")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--kill-samples", type=int, default=600, help="samples of the killed run")
    ap.add_argument("--kill-size", type=int, default=32, help="image size of the killed run")
    ap.add_argument("--kill-at", type=float, default=0.6)
    args = ap.parse_args()
    results = {"load_before": os.getloadavg()[0], "interval": str(commits.periodic())}
    (ROOT / "runs").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "runs", prefix="bench-commits-") as tmp:
        folder = Path(tmp)
        seeds_dir, palette_path = inputs(folder, args.channels)
        results["throughput"] = throughput(seeds_dir, palette_path, folder / "speed", args.samples, args.size,
                                           args.repeat)
        results["kill_periodic"] = kill_and_resume(seeds_dir, palette_path, folder / "kill-periodic",
                                                   args.kill_samples, args.kill_size, args.kill_at, None)
        results["kill_no_periodic"] = kill_and_resume(seeds_dir, palette_path, folder / "kill-none",
                                                      args.kill_samples, args.kill_size, args.kill_at, NO_PERIODIC)
    same = results["kill_periodic"].pop("content_hash") == results["kill_no_periodic"].pop("content_hash")
    results["resumed_stores_identical"] = same
    results["load_after"] = os.getloadavg()[0]
    print(json.dumps(results, indent=2))
    record.save("commits", results)
    t, k = results["throughput"], results["kill_periodic"]
    print(f"periodic commits: {t['slowdown_median_paired_pct']:+.2f} % time per run (median of paired runs), "
          f"{t['flush_time_added_pct']:+.3f} % of it in the added flushes; "
          f"killed at {k['killed_at_pct']:.0f} %, {k['redone']} samples made again "
          f"(without periodic commits: {results['kill_no_periodic']['redone']})")


if __name__ == "__main__":
    main()
