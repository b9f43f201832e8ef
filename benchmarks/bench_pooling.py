"""The pooled decoder's recipe study: which pooling lifts a per-pixel MLP on the DVE's latent, and by how much.

Each variant (`xrfnb.models.pooled.PooledConfig`: total-variation strengths, per-image k-means cluster means,
optimiser steps) trains on a run's training images and is scored on its validation and test images
(mean MS-SSIM and the paper's sRGB loss). Variants are given as `W1,W2[kK]` (strengths, then optionally
`k` and the number of clusters; an empty string is the raw latent alone).

    python benchmarks/bench_pooling.py --run runs/laptop --steps 1500 --variants "" "0.3" "0.1,0.3" "0.1,0.3k16"
"""

import argparse
import tempfile
import time
from pathlib import Path

import torch

import record
from xrfnb import metrics
from xrfnb.embedding.embedded import EmbeddedStore
from xrfnb.evaluation.evaluate import rgb_tensor
from xrfnb.models import pooled, recolour


def parse(variant: str, steps: int) -> pooled.PooledConfig:
    strengths, _, k = variant.partition("k")
    return pooled.PooledConfig(weights=tuple(float(w) for w in strengths.split(",") if w), clusters=int(k or 0),
                               steps=steps)


def score(module: pooled.PooledRecolouring, emb: EmbeddedStore, split: str) -> dict[str, float]:
    x, rgb = emb.arrays(split)
    per = metrics.per_image(torch.from_numpy(recolour.predict(module, x)), rgb_tensor(rgb))
    return {"ms_ssim": float(per["ms_ssim"].mean()), "srgb_loss": float(per["srgb_loss"].mean())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True)
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--variants", nargs="+", default=["", "0.3", "0.1,0.3", "0.1,0.3k16"])
    args = parser.parse_args()
    emb = EmbeddedStore(args.run / "embedded.h5")
    x, rgb = emb.arrays("train")
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for i, variant in enumerate(args.variants):
            cfg = parse(variant, args.steps)
            start = time.perf_counter()
            module = pooled.train(x, rgb, cfg, Path(tmp) / str(i))
            results[variant or "raw latent"] = {"weights": list(cfg.weights), "clusters": cfg.clusters,
                                                "train_seconds": time.perf_counter() - start,
                                                "val": score(module, emb, "val"), "test": score(module, emb, "test")}
    record.save("pooling", {"run": args.run.name, "steps": args.steps, "variants": results})


if __name__ == "__main__":
    main()
