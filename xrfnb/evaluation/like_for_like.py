"""The paper's scoring, like for like: larger test crops scored with five-scale MS-SSIM, and why the
validation and test numbers of a run differ.

The paper scores 256 px images with MS-SSIM at torchmetrics' five scales; the book's crops (128 px at
`laptop`) allow four (`metrics.ms_ssim_scales`). Here crops of `size` px are cut from the same test
paintings with the run's generator settings and seed (on random streams of their own), drawn as cubes,
embedded with the run's DVE and recoloured by a model trained on smaller crops: SmallUViT's positional
embedding is fixed to its training size, so each large crop is predicted in tiles of that size, side by
side, and stitched (no overlap: a tile sees nothing of its neighbours). `run` does it all for chapter 7
and writes the table and the validation-test gap.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from .. import metrics, prose, result_files
from ..embedding import dve
from ..embedding.embedded import EmbeddedStore
from ..models import recolour
from ..paintings import seeds
from ..palette.pigments import Palette
from ..synthetic import dataset, synth
from ..synthetic.dataset import Store
from .evaluate import rgb_tensor

#: The large crops' random streams start here (the dataset's samples use 0, 1, 2, ...).
FIRST_INDEX = 1_000_000
#: The two numbers the paper reports, and the book's names for them.
SCORES = ("ms_ssim", "srgb_loss")


def large_crops(store: Store, seeds_dir: Path, palette: Palette, size: int, per_painting: int,
                split: str = "test") -> tuple[list[synth.Synthesis], np.ndarray, np.ndarray]:
    """`per_painting` random crops of `size` px from every painting of a split, synthesised as the run's
    dataset was (its configuration and seed). Returns the syntheses, the RGB crops (n, size, size, 3)
    and each crop's painting; paintings shorter than `size` are refused by name."""
    config = store.config
    found = np.unique(store.painting[store.indices(split)])
    syntheses, crops, painting = [], [], []
    for p in found:
        record = store.paintings[int(p)]
        rgb = seeds.load_rgb(Path(seeds_dir) / record["file"])
        if min(rgb.shape[:2]) < size:
            raise ValueError(f"{record['file']}: {rgb.shape[1]} x {rgb.shape[0]} px, smaller than the {size} px "
                             f"crops asked for (ask for smaller crops)")
        for k in range(per_painting):
            index = FIRST_INDEX + int(p) * per_painting + k
            rng = np.random.default_rng(np.random.SeedSequence([config.seed, index, 3]))
            crop, _ = dataset.random_crop(rgb, size, config.min_crop, rng)
            syntheses.append(synth.synthesize(crop, palette, seed=config.seed, image_index=index,
                                              **config.synth_options()))
            crops.append(crop)
            painting.append(int(p))
    return syntheses, np.stack(crops), np.array(painting)


def embed(syntheses: list[synth.Synthesis], model: dve.Embedding, device: str = "cpu") -> np.ndarray:
    """The crops' cubes drawn and embedded with the run's DVE: (n, latent, size, size) float16."""
    return np.stack([dve.embed_cube(model, s.cube(device), device) for s in syntheses])


def predict_tiled(module: recolour.Recolouring, embedded: np.ndarray, tile: int, device: str = "cpu") -> np.ndarray:
    """RGB (n, 3, S, S) of embedded images (n, c, S, S) predicted in non-overlapping `tile` px tiles."""
    n, c, h, w = embedded.shape
    if h % tile or w % tile:
        raise ValueError(f"{h} x {w} px images do not split into {tile} px tiles (the model's training size)")
    tiles = embedded.reshape(n, c, h // tile, tile, w // tile, tile).transpose(0, 2, 4, 1, 3, 5)
    pred = recolour.predict(module, tiles.reshape(-1, c, tile, tile), device=device)
    return pred.reshape(n, h // tile, w // tile, 3, tile, tile).transpose(0, 3, 1, 4, 2, 5).reshape(n, 3, h, w)


def scored(pred: np.ndarray, target: torch.Tensor, scales: int | None = None) -> dict[str, np.ndarray]:
    """Per image: MS-SSIM at `scales` scales (all the size allows when None) and the redmean loss."""
    p = torch.as_tensor(pred).float().clamp(0, 1)
    return {"ms_ssim": metrics.ms_ssim(p, target, reduction="none", scales=scales).numpy(),
            "srgb_loss": metrics.srgb_distance(p, target).mean((1, 2)).numpy()}


def row(setting: str, size: int, scales: int, values: dict[str, np.ndarray], paintings: np.ndarray) -> dict:
    """One line of the like-for-like table: a scoring setting, its means and 95 % intervals over paintings."""
    out = {"setting": setting, "crop px": size, "MS-SSIM scales": scales, "crops": len(paintings),
           "paintings": len(set(paintings))}
    for name, v in values.items():
        out[name] = float(np.mean(v))
        out[f"{name} low"], out[f"{name} high"] = metrics.bootstrap_interval(v, paintings)
    return out


def table(book: dict[str, np.ndarray] | pd.DataFrame, book_paintings: np.ndarray, book_size: int, large_pred: np.ndarray,
          large_target: torch.Tensor, large_paintings: np.ndarray) -> pd.DataFrame:
    """The book's scoring (its own crops, as many scales as they allow) beside the paper's (large crops,
    five scales) and, to tell the scales from the crops, the large crops at the book's number of scales."""
    size = large_target.shape[-1]
    book_scales, large_scales = metrics.ms_ssim_scales(book_size), metrics.ms_ssim_scales(size)
    rows = [row("the book's: its test crops", book_size, book_scales, {k: np.asarray(book[k]) for k in SCORES},
                book_paintings),
            row("the paper's: larger crops, all scales", size, large_scales, scored(large_pred, large_target),
                large_paintings),
            row("larger crops at the book's scales", size, book_scales,
                scored(large_pred, large_target, book_scales), large_paintings)]
    return pd.DataFrame(rows).set_index("setting")


def per_painting(values: np.ndarray, paintings: np.ndarray) -> pd.Series:
    """The mean of `values` over each painting's crops."""
    return pd.Series(np.asarray(values, float)).groupby(np.asarray(paintings)).mean()


def split_gap(val: np.ndarray, val_paintings: np.ndarray, test: np.ndarray, test_paintings: np.ndarray) -> dict:
    """Validation against test MS-SSIM of one model: each split's mean and 95 % interval over its
    paintings, the spread of its paintings' means, and whether the gap lies inside the test interval."""
    out = {}
    for split, values, groups in (("val", val, val_paintings), ("test", test, test_paintings)):
        means = per_painting(values, groups)
        out[split] = float(np.mean(values))
        out[f"{split}_low"], out[f"{split}_high"] = metrics.bootstrap_interval(values, groups)
        out[f"{split}_paintings"] = len(means)
        out[f"{split}_crops"] = len(values)
        out[f"{split}_painting_sd"] = float(means.std(ddof=1)) if len(means) > 1 else float("nan")
        out[f"{split}_painting_range"] = (float(means.min()), float(means.max()))
    out["gap"] = out["test"] - out["val"]
    out["inside"] = prose.inside(out["val"], (out["test_low"], out["test_high"]))
    return out


def gap_sentence(gap: dict) -> str:
    """Why validation and test differ, in words computed from `split_gap`."""
    verdict = prose.versus(gap["val"], gap["test"], (gap["test_low"], gap["test_high"]), of="the test set's ")
    cause = ("the gap is the spread between paintings: a different draw of paintings gives a different mean"
             if gap["inside"] else
             "the gap is larger than the spread between test paintings explains")
    return (f"Validation and test hold different paintings ({gap['val_paintings']} and {gap['test_paintings']}, "
            f"{gap['val_crops']} and {gap['test_crops']} crops), and one painting's crops share its colours: "
            f"the paintings' mean MS-SSIM spreads with a standard deviation of {gap['val_painting_sd']:.4f} in "
            f"validation and {gap['test_painting_sd']:.4f} in test (from {gap['test_painting_range'][0]:.4f} to "
            f"{gap['test_painting_range'][1]:.4f}). Validation MS-SSIM {verdict}; {cause}.")


class LikeForLike(NamedTuple):
    """What chapter 7 shows of the paper's scoring: the table (`table`), the validation-test gap in words
    (`gap_sentence`), how many large crops were scored and the seconds it all took."""

    table: pd.DataFrame
    gap_sentence: str
    crops: int
    seconds: float


def run(store: Store, emb: EmbeddedStore, seeds_dir: Path, palette: Palette, dve_model: dve.DVE,
        module: recolour.Recolouring, per_image: pd.DataFrame, paintings: np.ndarray, size: int, crops: int,
        results: Path, device: str = "cpu") -> LikeForLike:
    """Chapter 7's like-for-like scoring, written to `results` (`result_files.write_like_for_like`): `crops`
    crops of `size` px per test painting predicted in tiles of the run's size, beside the book's scoring
    (SmallUViT's metrics per test image, `per_image`, with their `paintings`), and the gap between its
    validation and test MS-SSIM."""
    start = time.perf_counter()
    tile = emb.shape[-1]
    syntheses, large_rgb, large_paintings = large_crops(store, seeds_dir, palette, size, crops)
    large_pred = predict_tiled(module, embed(syntheses, dve_model, device), tile, device)
    like = table(per_image, paintings, tile, large_pred, rgb_tensor(large_rgb), large_paintings)
    x_val, rgb_val = emb.arrays("val")
    val = scored(recolour.predict(module, x_val.astype(np.float32), device=device), rgb_tensor(rgb_val))
    gap = split_gap(val["ms_ssim"], store.painting[emb.indices("val")], per_image["ms_ssim"].to_numpy(), paintings)
    sentence = gap_sentence(gap)
    result_files.write_like_for_like(results, like, gap, sentence)
    return LikeForLike(like, sentence, len(large_paintings), time.perf_counter() - start)
