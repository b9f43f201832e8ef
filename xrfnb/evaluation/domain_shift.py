"""Chapter 8: what each named distribution shift costs the paper's pipeline and the best model, and what an
unsupervised adaptation of the DVE's encoder gives back.

For every shift of the suite (`xrfnb.synthetic.shifts`) the same test images are drawn shifted, embedded
with the run's DVE and recoloured by chapter 6's SmallUViT (the paper's pipeline) and chapter 7's pooled
decoder (the best model); then the DVE's encoder is adapted to the shifted scans without their labels
(`xrfnb.embedding.adapt`, both losses) and the images are embedded and recoloured again, the recolouring
models unchanged. The adaptation sees the pixels of the very scans it is scored on, as a user adapting to
their own scans would, never their colours. Every score is per image, so before and after pair image by
image, and every interval is a 95 % bootstrap interval over the test paintings.
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .. import metrics
from ..config import ParameterError, StageParams, positive
from ..embedding import adapt, dve
from ..models import recolour
from ..palette.pigments import Palette
from ..synthetic import shifts
from ..synthetic.dataset import Store, sample_spectra
from .evaluate import rgb_tensor
from .like_for_like import scored

#: The two recolouring models, as the table names them.
PAPER, BEST = "DVE + SmallUViT (the paper's)", "pooled decoder (the best)"
#: `method` of the scores before any adaptation.
NONE = "none"
#: The adaptations as the prose names them.
WORDS = {"mmd": "MMD", "adversarial": "domain-adversarial"}
SCORES = ("ms_ssim", "srgb_loss")
#: Where the stage keeps its per-image scores and its adaptations, in the run directory.
PER_IMAGE, ADAPTATIONS = Path("domain_shift") / "per_image.csv", Path("domain_shift") / "adaptations.csv"
SPECTRA = Path("domain_shift") / "spectra.csv"  # each shift's summed test spectrum, by channel energy
#: Chapter 7's pooled decoder in the run directory.
POOLED = Path("ablations") / "pooled" / "pooled.pt"


@dataclasses.dataclass(frozen=True)
class DomainShiftParams(StageParams):
    """Chapter 8: the shift suite, the test images each shift draws, and the adaptation's recipe."""

    stage = "08_domain_shift"
    after = ("01_pigments", "03_synthetic_maxrf", "04_train_dve", "05_embedded_dataset", "06_train_smalluvit",
             "07_evaluate")
    reads = ("palette.h5", "dataset.h5", "dve/dve.ckpt", "smalluvit/best.ckpt", "dense_test_sample.h5")
    writes = (str(PER_IMAGE), str(ADAPTATIONS), str(SPECTRA))
    code = ("xrfnb.synthetic.shifts", "xrfnb.embedding.adapt", "xrfnb.evaluation.domain_shift", "xrfnb.metrics",
            "xrfnb.synthetic.synth", "xrfnb.palette.physics", "xrfnb.palette.pigments", "xrfnb.embedding.dve",
            "xrfnb.models.recolour", "xrfnb.models.pooled", "xrfnb.models.pixel_training",
            "xrfnb.evaluation.like_for_like")

    shift_suite: str = "default"  # the shifts: the bundled suite (xrfnb/data/shifts.yml) or a YAML file of that layout
    shift_images: int = 2  # test images every shift draws, spread over the test paintings
    adapt_steps: int = 20  # optimiser steps of each adaptation
    adapt_batch: int = 128  # target and training spectra per step (each)
    adapt_lr: float = 0.0003  # Adam learning rate of the encoder's fine-tuning
    adapt_anchor: float = 1.0  # weight of keeping the training spectra's latents where they were
    adapt_pixels: int = 2048  # target pixels each adaptation learns from (drawn from the shifted scans)
    adapt_source: int = 2048  # training spectra the target latents are matched to
    seed: int = 0  # seeds the pixels and the adaptation

    def validate(self) -> None:
        positive(self.stage, shift_images=self.shift_images, adapt_steps=self.adapt_steps,
                 adapt_batch=self.adapt_batch, adapt_lr=self.adapt_lr, adapt_pixels=self.adapt_pixels,
                 adapt_source=self.adapt_source)
        try:
            shifts.load(self.shift_suite)
        except (OSError, ValueError) as err:
            raise ParameterError(f"{self.stage}: shift_suite: {err}") from None

    def content(self) -> dict[str, str]:
        """The suite file is part of the key: another suite, another result."""
        return {"shift_suite": shifts.digest(self.shift_suite)}

    def config(self, method: str) -> adapt.AdaptConfig:
        return adapt.AdaptConfig(method=method, steps=self.adapt_steps, batch=self.adapt_batch, lr=self.adapt_lr,
                                 anchor=self.adapt_anchor, seed=self.seed)


@dataclasses.dataclass(frozen=True)
class Models:
    """What the chapter scores: the run's palette, DVE and the two recolouring models."""

    palette: Palette
    dve_model: dve.Embedding
    recolourers: dict[str, torch.nn.Module]


def load_models(run: Path) -> Models:
    """The run's palette, DVE, chapter 6's SmallUViT and chapter 7's pooled decoder."""
    from ..models import pooled

    run = Path(run)
    if not (run / POOLED).exists():
        raise FileNotFoundError(f"{run / POOLED}: no pooled decoder (chapter 7 trains it)")
    palette = Palette.load(run / "palette.h5")
    return Models(palette, dve.load(run / "dve" / "dve.ckpt", n_channels=len(palette.energy)),
                  {PAPER: recolour.load(run / "smalluvit" / "best.ckpt"), BEST: pooled.load(run / POOLED)})


def embed(model: dve.Embedding, cubes: list[np.ndarray]) -> np.ndarray:
    """Embedded images (n, latent, H, W) float32 of count cubes (H, W, E)."""
    return np.stack([dve.embed_cube(model, c) for c in cubes]).astype(np.float32)


def pixels(cubes: list[np.ndarray], n: int, seed: int) -> np.ndarray:
    """`n` random pixel spectra (n, E) from the cubes, seeded: the unlabelled target of an adaptation."""
    flat = np.concatenate([c.reshape(-1, c.shape[-1]) for c in cubes])
    rng = np.random.default_rng(np.random.SeedSequence([seed, 81]))
    return flat[rng.choice(len(flat), min(n, len(flat)), replace=False)]


def score_rows(shift: str, method: str, latents: np.ndarray, models: Models, target: torch.Tensor,
               samples: np.ndarray, paintings: np.ndarray) -> list[dict]:
    """Per image and recolouring model: MS-SSIM and the sRGB loss of the embedded images against their RGB."""
    rows = []
    for name, module in models.recolourers.items():
        values = scored(recolour.predict(module, latents), target)
        rows += [{"shift": shift, "model": name, "method": method, "sample": int(s), "painting": int(p),
                  **{k: float(values[k][i]) for k in SCORES}} for i, (s, p) in enumerate(zip(samples, paintings))]
    return rows


def measure(store: Store, models: Models, suite: dict[str, shifts.Shift], params: DomainShiftParams,
            progress: bool = False) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every shift before and after each adaptation: (per-image scores, one row per adaptation, each shift's
    summed test spectrum as a column by channel energy)."""
    samples = shifts.pick_test_images(store, params.shift_images)
    paintings = store.painting[samples]
    target = rgb_tensor(np.stack([store.rgb(int(i)) for i in samples]))
    base = [store.synthesis(int(i)) for i in samples]
    source = sample_spectra(store, "train", params.adapt_source, params.seed).counts
    rows, adaptations, spectra = [], [], {}
    for name, shift in suite.items():
        start = time.perf_counter()
        palette = shift.palette(models.palette)
        cubes = [shift.cube(shift.synthesis(b, palette), store.energy) for b in base]
        drawn = time.perf_counter() - start
        spectra[name] = np.sum([c.sum((0, 1), dtype=np.float64) for c in cubes], axis=0)
        rows += score_rows(name, NONE, embed(models.dve_model, cubes), models, target, samples, paintings)
        target_pixels = pixels(cubes, params.adapt_pixels, params.seed)
        for method in adapt.METHODS:
            adapted = adapt.adapt(models.dve_model, source, target_pixels, params.config(method))
            rows += score_rows(name, method, embed(adapted.model, cubes), models, target, samples, paintings)
            adaptations.append({"shift": name, "method": method, "latent_mmd_before": adapted.mmd_before,
                                "latent_mmd_after": adapted.mmd_after, "training_drift": adapted.drift,
                                "target_pixels": adapted.pixels, "adapt_seconds": adapted.seconds,
                                "draw_seconds": drawn})
        if progress:
            print(f"{name}: {time.perf_counter() - start:.1f} s")
    spectra = pd.DataFrame(spectra, index=pd.Index(store.energy, name="energy_keV"))
    return pd.DataFrame(rows), pd.DataFrame(adaptations), spectra


def run_stage(run: Path, params: DomainShiftParams) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The stage on a run directory: scores, adaptations and spectra computed (or read back when done) and
    recorded."""
    from ..io import atomic_path

    run = Path(run)
    key = params.current_key(run)
    if params.holds(run, key):
        return (pd.read_csv(run / PER_IMAGE), pd.read_csv(run / ADAPTATIONS),
                pd.read_csv(run / SPECTRA, index_col="energy_keV"))
    found = measure(Store(run / "dataset.h5"), load_models(run), shifts.load(params.shift_suite), params)
    (run / PER_IMAGE).parent.mkdir(parents=True, exist_ok=True)
    for frame, path, index in zip(found, (run / PER_IMAGE, run / ADAPTATIONS, run / SPECTRA), (False, False, True)):
        with atomic_path(path) as tmp:
            frame.to_csv(tmp, index=index)
    params.record(run, key)
    return found


def chosen_method(adaptations: pd.DataFrame) -> str:
    """The adaptation that brings the target latents closer to the training latents, on average over the
    shifts (the lower latent MMD after it): a choice made without a single colour of the targets."""
    return str(adaptations.groupby("method")["latent_mmd_after"].mean().idxmin())


def _interval(values: np.ndarray, groups: np.ndarray) -> tuple[float, float]:
    return metrics.bootstrap_interval(np.asarray(values, float), np.asarray(groups))


def summary(per_image: pd.DataFrame, method: str) -> pd.DataFrame:
    """`domain_shift.csv`: per shift and model, MS-SSIM and the sRGB loss before and after the `method`
    adaptation, each with its 95 % interval over test paintings, and the paired change (after minus before,
    image by image) with its interval."""
    rows = []
    for (shift, model), group in per_image.groupby(["shift", "model"], sort=False):
        before = group[group["method"] == NONE].sort_values("sample")
        after = group[group["method"] == method].sort_values("sample")
        row = {"shift": shift, "model": model, "method": method, "images": len(before),
               "paintings": before["painting"].nunique()}
        for metric, short in (("ms_ssim", "ms_ssim"), ("srgb_loss", "srgb")):
            b, a, p = before[metric].to_numpy(), after[metric].to_numpy(), before["painting"].to_numpy()
            for when, v in (("before", b), ("after", a)):
                row[f"{when}_{short}"] = float(v.mean())
                row[f"{when}_{short}_low"], row[f"{when}_{short}_high"] = _interval(v, p)
            row[f"change_{short}"] = float((a - b).mean())
            row[f"change_{short}_low"], row[f"change_{short}_high"] = _interval(a - b, p)
        rows.append(row)
    return pd.DataFrame(rows)


def cost(table: pd.DataFrame, reference: str = shifts.REFERENCE) -> pd.DataFrame:
    """What each shift costs each model before adaptation: its MS-SSIM and sRGB loss minus the unshifted
    test set's (the same images, so the difference is the shift's)."""
    base = table[table["shift"] == reference].set_index("model")
    out = table[["shift", "model", "before_ms_ssim", "before_srgb"]].copy()
    out["ms_ssim_cost"] = out["before_ms_ssim"] - out["model"].map(base["before_ms_ssim"])
    out["srgb_cost"] = out["before_srgb"] - out["model"].map(base["before_srgb"])
    return out


def methods_table(per_image: pd.DataFrame, adaptations: pd.DataFrame) -> pd.DataFrame:
    """Both adaptations side by side per shift: latent MMD before and after, and the paper's pipeline's
    paired MS-SSIM change with its interval."""
    rows = []
    for method in adapt.METHODS:
        changes = summary(per_image, method)
        changes = changes[changes["model"] == PAPER].set_index("shift")
        for _, a in adaptations[adaptations["method"] == method].iterrows():
            c = changes.loc[a["shift"]]
            rows.append({"shift": a["shift"], "method": method, "latent_mmd_before": a["latent_mmd_before"],
                         "latent_mmd_after": a["latent_mmd_after"], "training_drift": a["training_drift"],
                         "ms_ssim_change": c["change_ms_ssim"], "ms_ssim_change_low": c["change_ms_ssim_low"],
                         "ms_ssim_change_high": c["change_ms_ssim_high"], "seconds": a["adapt_seconds"]})
    return pd.DataFrame(rows)


def verdicts(table: pd.DataFrame, model: str = PAPER) -> dict[str, list[str]]:
    """The shifts that hurt `model` (the unshifted MS-SSIM outside their interval), those the adaptation
    repairs (a paired gain whose interval excludes 0), those it makes worse, and those it leaves as they were;
    the unshifted test set itself is none of them (`sentences` reports it apart)."""
    rows = table[table["model"] == model].set_index("shift")
    ref = rows.loc[shifts.REFERENCE, "before_ms_ssim"]
    out = {"hurt": [], "repaired": [], "worsened": [], "unchanged": []}
    for shift, r in rows.drop(index=shifts.REFERENCE, errors="ignore").iterrows():
        if not r["before_ms_ssim_low"] <= ref <= r["before_ms_ssim_high"]:
            out["hurt"].append(shift)
        if r["change_ms_ssim_low"] > 0:
            out["repaired"].append(shift)
        elif r["change_ms_ssim_high"] < 0:
            out["worsened"].append(shift)
        else:
            out["unchanged"].append(shift)
    return out


def _names(shifts_: list[str], labels: dict[str, str]) -> str:
    """'a, b and c' of the shifts' labels; 'none' for an empty list."""
    words = [labels.get(s, s) for s in shifts_]
    return "none" if not words else words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def sentences(table: pd.DataFrame, methods: pd.DataFrame, method: str, labels: dict[str, str]) -> dict[str, str]:
    """The chapter's findings in words, computed from its tables: which shifts hurt the paper's pipeline and
    the best model, which the adaptation repairs or worsens, what it does to the unshifted test set, and
    which adaptation brought the latents closer."""
    out = {}
    for key, model in (("paper", PAPER), ("best", BEST)):
        v = verdicts(table, model)
        out[f"{key}_hurt"] = _names(v["hurt"], labels)
        out[f"{key}_repaired"] = _names(v["repaired"], labels)
        out[f"{key}_worsened"] = _names(v["worsened"], labels)
    by = methods.groupby("method")[["latent_mmd_before", "latent_mmd_after", "ms_ssim_change"]].mean()
    other = next(m for m in by.index if m != method)
    out["method"] = (f"the {WORDS[method]} adaptation brought the target latents closer to the training latents "
                     f"than the {WORDS[other]} one: a latent MMD of {by.loc[method, 'latent_mmd_after']:.4f} "
                     f"after it against "
                     f"{by.loc[other, 'latent_mmd_after']:.4f}, from {by.loc[method, 'latent_mmd_before']:.4f} before "
                     f"(means over the shifts); the paper's pipeline's MS-SSIM changed by "
                     f"{by.loc[method, 'ms_ssim_change']:+.4f} on average with it and "
                     f"{by.loc[other, 'ms_ssim_change']:+.4f} with the {WORDS[other]} one")
    for key, model in (("paper", PAPER), ("best", BEST)):
        rows = table[(table["model"] == model) & (table["shift"] == shifts.REFERENCE)]
        if len(rows):
            r = rows.iloc[0]
            from ..prose import paired

            out[f"{key}_unshifted"] = paired(r["change_ms_ssim"], (r["change_ms_ssim_low"], r["change_ms_ssim_high"]))
    return out
