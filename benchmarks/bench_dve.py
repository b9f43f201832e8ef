"""DVE throughput: spectra per second for training and for embedding, on CPU and on a GPU if present.

Spectra are drawn from the paper palette's spectra (400 counts, 512 channels). Training is timed over
whole Lightning epochs after a warm-up epoch; embedding covers encoding alone and drawing + encoding
whole 128 x 128 cubes, the way the embedding stage works.

    python benchmarks/bench_dve.py [--spectra 100000] [--batch 4096] [--label NAME]
"""

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

import record
from xrfnb.embedding import dve
from xrfnb.palette import pigments
from xrfnb.synthetic import synth


def spectra(n: int, palette) -> np.ndarray:
    labels = np.random.default_rng(0).integers(0, len(palette), n)
    return synth.draw_counts(palette.spectra, np.full(n, 400), key=1, labels=labels)


def train_rate(counts: np.ndarray, batch: int, accelerator: str) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        cfg = dve.DVEConfig(warmup_epochs=1, ramp_epochs=1)
        start = time.perf_counter()
        dve.train(counts, counts[:batch], cfg, 1, batch, Path(tmp) / "a", accelerator)
        one = time.perf_counter() - start
        start = time.perf_counter()
        dve.train(counts, counts[:batch], cfg, 3, batch, Path(tmp) / "b", accelerator)
        three = time.perf_counter() - start
    return 2 * len(counts) / (three - one)  # two epochs, fixed costs cancelled


def embed_rate(model, counts: np.ndarray, device: str) -> float:
    dve.encode(model, counts[:4096], device=device)
    start = time.perf_counter()
    dve.encode(model, counts, device=device)
    if device == "cuda":
        torch.cuda.synchronize()
    return len(counts) / (time.perf_counter() - start)


def cube_embed_rate(model, palette, device: str, n: int = 4) -> float:
    crop = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=0)
    dve.embed_cube(model, s.cube(device), device)
    start = time.perf_counter()
    for _ in range(n):
        dve.embed_cube(model, s.cube(device), device)
    return n * 128 * 128 / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spectra", type=int, default=100_000)
    ap.add_argument("--batch", type=int, default=4096)
    ap.add_argument("--label", default="", help="suffix of the result's name (e.g. gpu)")
    args = ap.parse_args()
    palette = pigments.paper_palette()
    counts = spectra(args.spectra, palette)
    model = dve.DVE(dve.DVEConfig())
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    results = {"spectra": args.spectra, "batch": args.batch, "cpu_threads": torch.get_num_threads()}
    for device in devices:
        results[device] = {
            "train_spectra_per_s": train_rate(counts, args.batch, "gpu" if device == "cuda" else "cpu"),
            "encode_spectra_per_s": embed_rate(model, counts, device),
            "draw_and_encode_spectra_per_s": cube_embed_rate(model, palette, device),
        }
    print(json.dumps(results, indent=2))
    record.save("dve" + (f"_{args.label}" if args.label else ""), results)


if __name__ == "__main__":
    main()
