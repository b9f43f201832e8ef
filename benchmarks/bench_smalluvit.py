"""SmallUViT (or U-Net, `--arch unet`) training throughput: the model-only step against an epoch of the
pipeline's own training loop.

Side by side in one run, at the same batch and image size, on the GPU when one is present, else on the CPU:

- the model-only step (forward, redmean loss, backward, AdamW on random tensors), eager fp32 and
  bf16 autocast + torch.compile;
- `xrfnb.models.recolour.train` for two epochs on an embedded store written in the pipeline's layout (data read
  from HDF5, augmentation, logging, validation, checkpoints), with the precision and compilation the
  pipeline picks; the second epoch is timed (the first compiles). Its training images per second (what
  chapter 6 reports) over the model-only step's, at the same precision, is the `ratio`; the epoch with
  its validation is given too.

The variants are interleaved `--repeats` times (the machine may be shared) and the medians kept.

    python benchmarks/bench_smalluvit.py [--arch smalluvit|unet] [--size 128] [--batch 16] [--steps 6]
                                         [--train 96] [--label NAME]
"""

import argparse
import inspect
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import torch

import record
from xrfnb import device
from xrfnb.embedding import embedded
from xrfnb.models import recolour
from xrfnb.metrics import srgb_loss
from xrfnb.models.smalluvit import SmallUViTConfig


def images_per_second(size: int, batch: int, steps: int, dev: str, fast: bool, arch: str = "smalluvit") -> float:
    """The model-only training step on random tensors."""
    torch.manual_seed(0)
    model = recolour.build_model(recolour.RecolourConfig(SmallUViTConfig(image_size=size), arch=arch)).to(dev)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    x, y = torch.randn(batch, 3, size, size, device=dev), torch.rand(batch, 3, size, size, device=dev)
    forward = torch.compile(model) if fast else model

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=fast):
            pred = forward(x)
        srgb_loss(pred.float(), y).backward()
        opt.step()

    for _ in range(3):  # warm-up (and compilation)
        step()
    if dev == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if dev == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - start)


def write_store(path: Path, n_train: int, n_val: int, size: int) -> embedded.EmbeddedStore:
    """An embedded store in the layout the embedding stage writes (one chunk per sample), random content."""
    rng = np.random.default_rng(0)
    n = n_train + n_val
    with h5py.File(path, "w") as h5:
        h5.create_dataset("embedded", data=rng.normal(size=(n, 3, size, size)).astype(np.float16),
                          chunks=(1, 3, size, size))
        h5.create_dataset("rgb", data=rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8),
                          chunks=(1, size, size, 3), compression="lzf")
        h5["split"] = np.array([0] * n_train + [1] * n_val, dtype=np.uint8)
        h5["done"] = np.ones(n, bool)
        h5.attrs.update(complete=True, key=f"bench-{n}-{size}")
    return embedded.EmbeddedStore(path)


def pipeline_rates(store: embedded.EmbeddedStore, batch: int, folder: Path, fast: bool,
                   arch: str = "smalluvit") -> dict[str, float]:
    """Two epochs of `recolour.train` (the laptop profile's recipe); the second epoch's rates."""
    cfg = replace(recolour.TrainParams(uvit_lr=1e-3).model_config(store.shape[-1], store.shape[1]), arch=arch)
    options = {"precision": "bf16-mixed", "compile": True} if fast else {}
    start = time.perf_counter()
    recolour.train(store, cfg, 2, batch, folder, **options)
    total = time.perf_counter() - start
    last = pd.read_csv(folder / "metrics.csv").iloc[-1]
    n_train, n_val = len(store.indices("train")), len(store.indices("val"))
    out = {"train_images_per_s": float(last["items_per_s"]), "run_seconds": total}
    if "epoch_total_seconds" in last:  # the whole epoch: training, validation, logging, checkpoints
        out["epoch_images_per_s"] = n_train / float(last["epoch_total_seconds"])
    out["validation_images"] = n_val
    out["val_ms_ssim"], out["val_loss"] = float(last["val_ms_ssim"]), float(last["val_loss"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=6, help="timed model-only steps")
    ap.add_argument("--train", type=int, default=96, help="training images of the pipeline epoch")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--label", default="", help="suffix of the result's name (e.g. before, after)")
    ap.add_argument("--arch", choices=("smalluvit", "unet"), default="smalluvit",
                    help="the paper's SmallUViT or the U-Net baseline, in the same training loop")
    ap.add_argument("--variants", choices=("both", "eager", "fast"), default="both",
                    help="eager fp32, bf16 + compile, or both side by side")
    args = ap.parse_args()
    dev = device.torch_device("auto")
    if dev == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = False  # a true fp32 baseline
    fast_available = "compile" in inspect.signature(recolour.train).parameters  # the older pipeline had none
    samples: dict[str, list] = {}
    with tempfile.TemporaryDirectory() as tmp:
        store = write_store(Path(tmp) / "embedded.h5", args.train, max(args.batch, args.train // 4), args.size)
        for r in range(args.repeats):
            for fast in ((False, True) if fast_available and args.variants == "both" else
                         (args.variants == "fast",) if fast_available else (False,)):
                tag = "bf16_compile" if fast else "eager_fp32"
                samples.setdefault(f"model_{tag}", []).append(
                    images_per_second(args.size, args.batch, args.steps, dev, fast, args.arch))
                rates = pipeline_rates(store, args.batch, Path(tmp) / f"run-{tag}-{r}", fast, args.arch)
                for k, v in rates.items():
                    samples.setdefault(f"pipeline_{tag}.{k}", []).append(v)
            samples.setdefault("load_average_1min", []).append(__import__("os").getloadavg()[0])
        if not fast_available:  # the older pipeline had no fast path: its model-only bf16 step still measured
            samples["model_bf16_compile"] = [images_per_second(args.size, args.batch, args.steps, dev, True,
                                                                 args.arch)]
    checks = {}
    for tag in ("eager_fp32", "bf16_compile"):  # same seed, same data: the same metrics, run after run
        if f"pipeline_{tag}.val_ms_ssim" in samples:
            checks[f"{tag}_repeats_identical"] = len(set(samples[f"pipeline_{tag}.val_ms_ssim"])) == 1
    if "pipeline_bf16_compile.val_ms_ssim" in samples and "pipeline_eager_fp32.val_ms_ssim" in samples:  # bf16 + compile against fp32 after the same 2 epochs
        for metric in ("val_ms_ssim", "val_loss"):
            checks[f"{metric}_bf16_minus_fp32"] = (samples[f"pipeline_bf16_compile.{metric}"][0]
                                                   - samples[f"pipeline_eager_fp32.{metric}"][0])
    med = {k: statistics.median(v) for k, v in samples.items()}
    results = {"device": device.describe(), "arch": args.arch, "size": args.size, "batch": args.batch, "steps": args.steps,
               "train_images": args.train, "repeats": args.repeats,
               "load_averages_during": samples.pop("load_average_1min"),
               "eager_fp32_images_per_s": med.get("model_eager_fp32"),
               "bf16_compile_images_per_s": med.get("model_bf16_compile"),
               "speedup": (med["model_bf16_compile"] / med["model_eager_fp32"]
                           if {"model_bf16_compile", "model_eager_fp32"} <= set(med) else None),
               "checks": checks}
    for tag in ("eager_fp32", "bf16_compile"):
        if f"pipeline_{tag}.train_images_per_s" not in med:
            continue
        pipe = {k.split(".", 1)[1]: v for k, v in med.items() if k.startswith(f"pipeline_{tag}.")}
        pipe["ratio"] = pipe["train_images_per_s"] / med[f"model_{tag}"]
        if "epoch_images_per_s" in pipe:
            pipe["epoch_ratio"] = pipe["epoch_images_per_s"] / med[f"model_{tag}"]
        results[f"pipeline_{tag}"] = pipe
    print(json.dumps(results, indent=2))
    record.save(f"{args.arch}_{args.size}px" + (f"_{args.label}" if args.label else ""), results)


if __name__ == "__main__":
    main()
