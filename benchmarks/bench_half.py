"""Half-precision export: the test metrics of a run's models in float32 against their float16 export.

Each test sample's cube is drawn from the dataset store, embedded by the DVE and recoloured by SmallUViT,
once with the run's float32 checkpoints and once with the float16 safetensors `xrfnb.export` writes;
the metrics are the test set's (`xrfnb.metrics.evaluate`: the paper's redmean sRGB loss and MS-SSIM, UIQI,
PSNR in dB, mean CIEDE2000) against the RGB targets.

    python benchmarks/bench_half.py --run runs/smoke
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch

import record
from xrfnb.embedding import dve
from xrfnb import export, metrics
from xrfnb.scans import realdata
from xrfnb.models import recolour
from xrfnb.synthetic.dataset import Store
from xrfnb.evaluation.evaluate import rgb_tensor


def test_metrics(models, store: Store, indices: np.ndarray) -> dict[str, float]:
    embedded = np.stack([dve.embed_cube(models.dve_model, store.cube(int(i))) for i in indices]).astype(np.float32)
    pred = torch.from_numpy(recolour.predict(models.module, embedded))
    return metrics.evaluate(pred, rgb_tensor(np.stack([store.rgb(int(i)) for i in indices])))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", type=Path, required=True)
    args = parser.parse_args()
    store = Store(args.run / "dataset.h5")
    indices = store.indices("test")
    with tempfile.TemporaryDirectory() as tmp:
        sizes = {}
        for half in (False, True):
            folder = export.write(args.run, Path(tmp) / str(half), half=half)
            sizes["float16" if half else "float32"] = sum(p.stat().st_size for p in folder.glob("*.safetensors"))
        full = test_metrics(realdata.load_run(args.run), store, indices)
        half = test_metrics(realdata.load_run(Path(tmp) / "True"), store, indices)
    diff = {k: abs(full[k] - half[k]) for k in full}
    print(f"float32 {full}, float16 {half}, |difference| {diff}, weights bytes {sizes}")
    record.save("half_precision", {"run": str(args.run), "test_samples": len(indices), "float32": full,
                                   "float16": half, "abs_difference": diff, "weights_bytes": sizes,
                                   "max_abs_difference": max(diff.values())})


if __name__ == "__main__":
    main()
