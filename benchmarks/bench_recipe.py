"""SmallUViT's recipe study: how much of the paper's model's gap to the per-pixel decoders is its recipe.

The per-pixel decoders that beat every image model of the book train on many small optimiser steps; the
paper's SmallUViT takes 80 steps an epoch (batches of 16 images). Each variant here trains the paper's
architecture on a run's embedded data for the same number of epochs (the same images seen, about the same
compute), changing one thing of the recipe at a time (`xrfnb.models.recolour.RecolourConfig`):

- `paper`: batches of 16, AdamW at 1e-3, the paper's plateau schedule;
- `batch4`: batches of 4 (four times the optimiser steps), the rest the paper's;
- `batch4_cosine`: batches of 4 with a linear warm-up and cosine decay at 2e-3;
- `batch4_pixel`: `batch4` with the full-resolution per-pixel path beside the tokens (an architecture change).

Each is scored on the run's validation (best epoch) and test crops: mean MS-SSIM with its 95 % bootstrap
interval over test paintings, and the paper's sRGB loss.

    python benchmarks/bench_recipe.py --run runs/laptop --epochs 6 [--variants paper batch4 ...]
"""

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

import record
from xrfnb import metrics
from xrfnb.embedding.embedded import EmbeddedStore
from xrfnb.evaluation.evaluate import rgb_tensor
from xrfnb.models import recolour
from xrfnb.synthetic.dataset import Store

#: Each variant: (batch size, changes to the paper's `RecolourConfig`, changes to its `SmallUViTConfig`).
VARIANTS = {
    "paper": (16, {}, {}),
    "batch4": (4, {}, {}),
    "batch4_cosine": (4, {"schedule": "cosine", "lr": 2e-3}, {}),
    "batch4_pixel": (4, {}, {"pixel_path": "mlp"}),
}


def config(emb: EmbeddedStore, recipe: dict, model: dict) -> recolour.RecolourConfig:
    """The paper's configuration for this store's images, with the variant's changes."""
    x, _ = emb.arrays("val")
    paper = recolour.RecolourConfig(model=recolour.SmallUViTConfig(image_size=x.shape[-1], in_channels=x.shape[1]))
    return dataclasses.replace(paper, model=dataclasses.replace(paper.model, **model), **recipe)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    args = parser.parse_args()
    emb = EmbeddedStore(args.run / "embedded.h5")
    paintings = Store(args.run / "dataset.h5").painting[emb.indices("test")]
    x_test, rgb_test = emb.arrays("test")
    target = rgb_tensor(rgb_test)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.variants:
            batch, recipe, model = VARIANTS[name]
            start = time.perf_counter()
            module, csv = recolour.train(emb, config(emb, recipe, model), args.epochs, batch, Path(tmp) / name)
            seconds = time.perf_counter() - start
            per = metrics.per_image(torch.from_numpy(recolour.predict(module, x_test)), target)
            ms = per["ms_ssim"].numpy()
            low, high = metrics.bootstrap_interval(ms, paintings)
            val = pd.read_csv(csv)["val_ms_ssim"].dropna().tolist()
            results[name] = {"batch": batch, **recipe, **model, "epochs": args.epochs,
                             "steps": args.epochs * -(-len(emb.indices("train")) // batch),
                             "train_seconds": seconds, "val_ms_ssim_best": max(val),
                             "val_ms_ssim_curve": [round(v, 4) for v in val],
                             "test_ms_ssim": float(ms.mean()), "test_ms_ssim_low": low, "test_ms_ssim_high": high,
                             "test_srgb_loss": float(per["srgb_loss"].mean())}
            print(name, {k: v for k, v in results[name].items() if k != "val_ms_ssim_curve"}, flush=True)
    record.save("recipe", {"run": args.run.name, "epochs": args.epochs, "test_crops": int(len(ms)),
                           "test_paintings": int(len(np.unique(paintings))), "variants": results})


if __name__ == "__main__":
    main()
