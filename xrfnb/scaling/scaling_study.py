"""The controlled scaling study: SmallUViT, the U-Net and the per-pixel MLP on nested subsets of the training paintings.

Its design, stated on the results page:

* one run's embedded store (so one image size, 128 px at `laptop`); its validation and test splits as they are;
* training sets: nested subsets of the training *paintings* (every crop of a chosen painting comes along),
  the paintings in one seeded order, the first round(f * n) of them for each fraction f;
* an epoch of the study is as many images as the whole training split holds, drawn from the subset in
  consecutive seeded shuffled passes: validation, the plateau schedule and the stopping rule then act after
  the same number of training images at every size;
* one compute budget per point, in training FLOPs (torch's FlopCounterMode on a forward and backward pass),
  the same for every model and size, spent in whole epochs (at least one); a point stops earlier once it
  has converged, i.e. its validation MS-SSIM has not improved for `patience` epochs. Each point records which
  of the two ended it;
* resumable point by point: a finished point is written atomically to `points/<model>-<paintings>.json`
  with its key (data, subset, settings, code) and skipped by a rerun; a killed training resumes from its
  last checkpoint under the run directory;
* a point whose training loss turns NaN or infinite is recorded as failed with its reason, and not fitted.
"""

from __future__ import annotations

import dataclasses
import hashlib
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import lightning as L
import numpy as np
import pandas as pd
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.flop_counter import FlopCounterMode

from ..models import baselines, recolour, smalluvit
from ..evaluation import compared
from .. import metrics, training
from ..embedding.embedded import EmbeddedStore, channel_stats
from ..evaluation.evaluate import test_split
from ..io import atomic_path, read_json, write_json

@dataclass(frozen=True)
class StudyConfig:
    """The study's settings; `recipe` is the paper's SmallUViT recipe, which every model trains with."""

    recipe: recolour.RecolourConfig
    models: tuple[str, ...] = ("smalluvit", "unet", "pixel_mlp")
    fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)
    budget_tflop: float = 60.0
    batch_size: int = 16
    patience: int = 6

    def __post_init__(self) -> None:
        unknown = [m for m in self.models if m not in compared.SCALED]
        if unknown:
            raise ValueError(f"scaling_models: unknown model(s) {unknown} (known: {', '.join(compared.SCALED)})")
        if not self.fractions or any(not 0 < f <= 1 for f in self.fractions):
            raise ValueError(f"scaling_fractions must lie in (0, 1], got {list(self.fractions)}")
        if self.budget_tflop <= 0 or self.patience < 1 or self.batch_size < 1:
            raise ValueError(f"need scaling_budget_tflop > 0, scaling_patience >= 1 and a batch size >= 1, got "
                             f"{self.budget_tflop}, {self.patience} and {self.batch_size}")

    def for_model(self, arch: str) -> recolour.RecolourConfig:
        return dataclasses.replace(self.recipe, arch=arch)


def nested_subsets(train_paintings: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """The training paintings of each size, smallest first: the first round(f * n) of one seeded order,
    so each subset holds every smaller one; sizes that round to the same count appear once."""
    names = np.unique(train_paintings)
    order = np.random.default_rng(np.random.SeedSequence([seed, 13])).permutation(names)
    counts = sorted({max(1, int(round(f * len(names)))) for f in fractions})
    return [np.sort(order[:k]) for k in counts]


class TrainingSubset(EmbeddedStore):
    """An embedded store whose training split holds only the crops of the given training paintings."""

    def __init__(self, path: str | Path, paintings: np.ndarray):
        super().__init__(path)
        train = super().indices("train")
        self.train = train[np.isin(self.painting[train], paintings)]
        self.paintings = len(np.unique(paintings))
        self.key = hashlib.sha256(f"{self.key}:{self.train.tolist()}".encode()).hexdigest()

    @property
    def painting(self) -> np.ndarray:
        return self.h5["painting"][()]

    def indices(self, split: str) -> np.ndarray:
        return self.train if split == "train" else super().indices(split)


class SubsetData(recolour.EmbeddedData):
    """Training batches of a `TrainingSubset`, `epoch_images` per epoch drawn in consecutive shuffled passes
    over the subset (`training.EpochShuffle`); validation unchanged."""

    def __init__(self, store: TrainingSubset, batch_size: int, seed: int, epoch_images: int, workers: int = 0):
        super().__init__(store, batch_size, seed, workers)
        self.epoch_images = epoch_images

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        return self._loader(self.train_set, training.EpochShuffle(len(self.train_set), self.seed, self.epoch_images))


class Diverged(RuntimeError):
    """The training loss became NaN or infinite."""


class StopOnDivergence(Callback):
    """Stop a training the moment its loss is not finite, saying where."""

    def on_train_batch_end(self, trainer: L.Trainer, module: L.LightningModule, outputs, batch, batch_idx) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is not None and not torch.isfinite(loss).all():
            raise Diverged(f"training loss {float(loss)} at epoch {trainer.current_epoch + 1}, "
                           f"step {trainer.global_step}")


def train_flops_per_image(cfg: recolour.RecolourConfig, size: int) -> float:
    """FLOPs of one training image (forward and backward through model and loss), as torch counts them."""
    module = recolour.Recolouring(cfg).train()
    x, y = torch.randn(2, cfg.model.in_channels, size, size), torch.rand(2, 3, size, size)
    with FlopCounterMode(display=False) as counter:
        metrics.srgb_loss(module(x).float(), y).backward()
    return counter.get_total_flops() / 2


def planned_epochs(budget_tflop: float, flops_per_image: float, epoch_images: int) -> int:
    """Whole epochs nearest to the budget, at least one."""
    return max(1, int(round(budget_tflop * 1e12 / (flops_per_image * epoch_images))))


def point_key(store: TrainingSubset, cfg: recolour.RecolourConfig, study: StudyConfig, epoch_images: int,
              epochs: int) -> str:
    """What a point depends on: its data and subset, the model's settings, the schedule and the code."""
    code = (sys.modules[__name__], recolour, smalluvit, baselines, metrics, training)
    settings = [dataclasses.asdict(cfg), study.batch_size, study.patience, epoch_images, store.key]
    return f"{training.run_key(settings, code)}:{epochs}"


def train_point(store: TrainingSubset, cfg: recolour.RecolourConfig, study: StudyConfig, epoch_images: int,
                epochs: int, out_dir: Path, accelerator: str = "cpu",
                callbacks: list[Callback] = ()) -> tuple[recolour.Recolouring, pd.DataFrame]:
    """Train one point (or resume it, or reuse it); its best-validation model and its per-epoch metrics."""
    recolour.check_store(store, cfg.model)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    key = point_key(store, cfg, study, epoch_images, epochs)
    if not training.finished(out_dir, key, "best.ckpt"):
        L.seed_everything(cfg.seed, workers=True, verbose=False)
        data = SubsetData(store, study.batch_size, cfg.seed, epoch_images)
        mean, std = channel_stats(store, "train")
        module = recolour.Recolouring(cfg, torch.from_numpy(mean), torch.from_numpy(std))
        best = ModelCheckpoint(dirpath=out_dir, filename="best-tmp", monitor="val_ms_ssim", mode="max",
                               save_top_k=1, save_weights_only=True, enable_version_counter=False)
        stop = training.plateau_stop(study.patience, check_finite=False)
        trainer, _ = training.trainer(out_dir, epochs, training.Scale(accelerator),
                                      [best, stop, StopOnDivergence(), *callbacks])
        training.fit(trainer, module, data, training.resume_path(out_dir, key, epochs), f"{cfg.arch} scaling point",
                     study.batch_size, "uvit_batch_size")
        with atomic_path(out_dir / "best.ckpt") as tmp:
            tmp.write_bytes(Path(best.best_model_path).read_bytes())
        training.mark_finished(trainer, out_dir, key)
    return recolour.load(out_dir / "best.ckpt", cfg.model, cfg.arch), pd.read_csv(out_dir / "metrics.csv")


def score(module: recolour.Recolouring, x_test: np.ndarray, y_test: torch.Tensor, paintings: np.ndarray) -> dict:
    """Test MS-SSIM and sRGB loss: means, 95 % bootstrap intervals over paintings, and per-image values."""
    pred = torch.from_numpy(recolour.predict(module, x_test))
    values = {"ms_ssim": metrics.ms_ssim(pred, y_test, reduction="none").numpy(),
              "srgb_loss": np.array([float(metrics.srgb_loss(p[None], t[None])) for p, t in zip(pred, y_test)])}
    return {"test": {name: {"mean": float(v.mean()), "interval": list(metrics.bootstrap_interval(v, paintings))}
                     for name, v in values.items()},
            "per_image": {name: v.tolist() for name, v in values.items()}}


def curve(table: pd.DataFrame, flops_per_image: float, epoch_images: int) -> dict:
    """Validation MS-SSIM and loss per epoch, against epochs and against training TFLOP spent."""
    epochs = table["epoch"].to_numpy() + 1
    return {"epoch": epochs.tolist(), "train_tflop": (epochs * epoch_images * flops_per_image / 1e12).tolist(),
            "val_ms_ssim": table["val_ms_ssim"].tolist(), "val_loss": table["val_loss"].tolist()}


@dataclass
class Study:
    """One study on one embedded store: its fixed test set, the subsets, and where points are written."""

    store_path: Path
    work_dir: Path
    points_dir: Path
    config: StudyConfig
    accelerator: str = "cpu"

    def __post_init__(self) -> None:
        self.store = EmbeddedStore(self.store_path)
        self.size = self.store.shape[-1]
        self.x_test, self.y_test, test_idx = test_split(self.store)
        painting = self.store.h5["painting"][()]
        self.test_paintings = painting[test_idx]
        train = self.store.indices("train")
        self.epoch_images = len(train)
        self.all_paintings = len(np.unique(painting))
        self.subsets = nested_subsets(painting[train], self.config.fractions, self.recipe_seed)
        self._flops: dict[str, float] = {}

    @property
    def recipe_seed(self) -> int:
        return self.config.recipe.seed

    def flops_per_image(self, arch: str) -> float:
        if arch not in self._flops:
            self._flops[arch] = train_flops_per_image(self.config.for_model(arch), self.size)
        return self._flops[arch]

    def point(self, arch: str, paintings: np.ndarray, callbacks: list[Callback] = ()) -> dict:
        """Run one point, or read it back if it is finished with the same key; its record."""
        store = TrainingSubset(self.store_path, paintings)
        cfg, fpi = self.config.for_model(arch), self.flops_per_image(arch)
        epochs = planned_epochs(self.config.budget_tflop, fpi, self.epoch_images)
        key = point_key(store, cfg, self.config, self.epoch_images, epochs)
        path = self.points_dir / f"{arch}-{store.paintings}.json"
        if path.exists() and read_json(path).get("key") == key:
            return {**read_json(path), "reused": True}
        record = {"key": key, "model": compared.SCALED[arch], "arch": arch, "train_paintings": store.paintings,
                  "train_images": len(store.train), "epoch_images": self.epoch_images, "epochs_planned": epochs,
                  "flops_per_image": fpi, "budget_tflop": self.config.budget_tflop}
        start = time.perf_counter()
        try:
            module, table = train_point(store, cfg, self.config, self.epoch_images, epochs,
                                        self.work_dir / f"{arch}-{store.paintings}", self.accelerator, callbacks)
        except Diverged as err:
            record.update(status="failed", reason=f"training diverged: {err}")
        else:
            run = len(table)
            record.update(status="ok", epochs_run=run, stopped_by="convergence" if run < epochs else "budget",
                          train_tflop=run * self.epoch_images * fpi / 1e12,
                          train_seconds=float(table.get("epoch_seconds", pd.Series(dtype=float)).sum()),
                          curve=curve(table, fpi, self.epoch_images), test_paintings=self.test_paintings.tolist(),
                          **score(module, self.x_test, self.y_test, self.test_paintings))
        record["seconds"] = time.perf_counter() - start
        write_json(path, record)
        return {**record, "reused": False}

    def run(self, progress: Callable[[str], None] = print) -> list[dict]:
        """Every point of the study, model by model, smallest training set first."""
        records = []
        for arch in self.config.models:
            for paintings in self.subsets:
                r = self.point(arch, paintings)
                state = "reused" if r["reused"] else f"{r['seconds']:.0f} s"
                result = (f"test MS-SSIM {r['test']['ms_ssim']['mean']:.4f}, {r['epochs_run']} epochs "
                          f"(stopped by {r['stopped_by']})" if r["status"] == "ok" else r["reason"])
                progress(f"scaling: {r['model']} on {r['train_images']} images ({r['train_paintings']} paintings): "
                         f"{result} [{state}]")
                records.append(r)
        return records

    def plan(self, steps: int = 2) -> dict:
        """The planned cost: per model, FLOPs and measured seconds per training and validation image on this
        machine, epochs within the budget, and the most seconds the study can take (no point stopping early)."""
        n_val, rows = len(self.store.indices("val")), {}
        for arch in self.config.models:
            fpi = self.flops_per_image(arch)
            epochs = planned_epochs(self.config.budget_tflop, fpi, self.epoch_images)
            train_s, val_s = seconds_per_image(self.config.for_model(arch), self.size, self.config.batch_size, steps)
            point_s = epochs * (self.epoch_images * train_s + n_val * val_s)
            rows[compared.SCALED[arch]] = {"flops_per_image": fpi, "epochs": epochs, "train_s_per_image": train_s,
                                  "val_s_per_image": val_s, "point_s": point_s}
        total = sum(r["point_s"] for r in rows.values()) * len(self.subsets)
        return {"budget_tflop": self.config.budget_tflop, "epoch_images": self.epoch_images, "val_images": n_val,
                "sizes": [int(len(s)) for s in self.subsets], "models": rows, "worst_case_s": total}


def seconds_per_image(cfg: recolour.RecolourConfig, size: int, batch: int, steps: int) -> tuple[float, float]:
    """Measured seconds of a training image (optimiser step included) and of a validation image, after a warm-up."""
    module = recolour.Recolouring(cfg)
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.lr)
    x, y = torch.randn(batch, cfg.model.in_channels, size, size), torch.rand(batch, 3, size, size)

    def step() -> None:
        opt.zero_grad()
        metrics.srgb_loss(module(x).float(), y).backward()
        opt.step()

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    train_s = (time.perf_counter() - start) / (steps * batch)
    module.eval()
    with torch.no_grad():
        start = time.perf_counter()
        for _ in range(steps):
            metrics.ms_ssim(module(x).float(), y)
    return train_s, (time.perf_counter() - start) / (steps * batch)


def profile_train_images(n_samples: int, paintings: int, seed: int,
                         fractions: tuple[float, float, float] = (0.7, 0.2, 0.1)) -> int:
    """Training crops a profile's dataset would hold: its samples spread over `paintings` paintings and
    split by painting exactly as `dataset.generate` does."""
    from ..synthetic.dataset import GenerateConfig, _assignment

    _, split = _assignment(GenerateConfig(samples=n_samples, seed=seed, fractions=fractions), [None] * paintings)
    return int((split == 0).sum())


def paper_scale() -> dict:
    """The paper's test MS-SSIM, its image count, training fraction and epochs (`data/paper_results.yml`)."""
    from ..evaluation.evaluate import paper_results

    found = paper_results()
    scale = found["training"]
    return {"ms_ssim": found["metrics"]["ms_ssim"]["value"], "images": scale["images"],
            "train_images": int(round(scale["images"] * scale["train_fraction"])), "epochs": scale["epochs"]}


def run_study(run: Path, out: Path, config: StudyConfig, profile: str, targets: dict[str, int],
              time_limit_s: float, plan_only: bool = False, force: bool = False, accelerator: str = "cpu",
              progress: Callable[[str], None] = print) -> dict:
    """Plan the study on `run/embedded.h5`, refuse it if its worst case exceeds `time_limit_s` (unless
    `force`), run every point (finished ones reused) and write `out/{study.json, fit.json, study.png,
    study.md}`, point records in `out/points/<profile>/` and checkpoints in `run/scaling/`. The fit is checked
    against the run's own results beside `out` (`book/results/`, when they are of this profile)."""
    from . import scaling_report

    run, out = Path(run), Path(out)
    study = Study(run / "embedded.h5", run / "scaling", out / "points" / profile, config, accelerator)
    plan = study.plan()
    progress(f"scaling: {len(config.models)} models x {len(study.subsets)} sizes {plan['sizes']} paintings, "
             f"{config.budget_tflop:g} TFLOP per point; at most {plan['worst_case_s']:.0f} s measured on this "
             f"machine now (limit {time_limit_s:.0f} s)")
    if plan_only:
        return plan
    if plan["worst_case_s"] > time_limit_s and not force:
        raise RuntimeError(f"scaling study: the planned worst case {plan['worst_case_s']:.0f} s exceeds "
                           f"scaling_time_limit_s={time_limit_s:.0f}; lower scaling_budget_tflop, or pass --force")
    start = time.perf_counter()
    records = study.run(progress)
    paper = paper_scale()
    document = scaling_report.fit_document(records, [compared.SCALED[m] for m in config.models], targets, paper, profile,
                                           study.size, config.recipe.seed,
                                           scaling_report.measured_by_the_run(out.parent / "results", profile))
    notes = scaling_report.caveats(records, targets, study.all_paintings, paper)
    plan.update(points_seconds=sum(r["seconds"] for r in records), this_call_seconds=time.perf_counter() - start)
    scaling_report.write(out, records, document, notes, plan)
    return document


@dataclass(frozen=True)
class ScalingParams:
    """`xrfnb scaling`'s own settings; the defaults are the smoke sizes, and a profile's `scaling:` block
    changes them (the model recipe is chapter 6's parameters)."""

    scaling_models: tuple[str, ...] = ("smalluvit", "unet", "pixel_mlp")  # the models compared
    scaling_fractions: tuple[float, ...] = (0.125, 0.25, 0.5, 1.0)  # nested fractions of the training paintings
    scaling_budget_tflop: float = 0.25  # training TFLOP each point may spend, the same for every model
    scaling_patience: int = 4  # epochs without a better validation MS-SSIM that count as converged
    scaling_time_limit_s: float = 1800.0  # refuse to start if the planned worst case is longer

    @classmethod
    def at_profile(cls, profile: str, overrides: list[str] = ()) -> "ScalingParams":
        """The profile's `scaling:` block over the defaults, then `key=value` overrides; unknown keys refused."""
        from importlib import resources

        import yaml

        text = resources.files("xrfnb").joinpath(f"profiles/{profile}.yml").read_text()
        values = dict(yaml.safe_load(text).get("scaling") or {})
        for item in overrides:
            key, _, value = item.partition("=")
            values[key] = yaml.safe_load(value)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"scaling parameters {unknown} unknown (known: {', '.join(sorted(known))})")
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})


def run_stage(run: Path, out: Path, profile: str, train: recolour.TrainParams, scaling: ScalingParams,
              lite: dict, plan_only: bool = False, force: bool = False) -> dict:
    """The study at a profile (`xrfnb scaling`): chapter 6's recipe `train`, the study's `scaling` settings,
    extrapolated to the paper's training set and to the `lite` profile's (its parameters `lite`)."""
    shape = EmbeddedStore(Path(run) / "embedded.h5").shape
    config = StudyConfig(train.model_config(shape[-1], shape[1]), scaling.scaling_models, scaling.scaling_fractions,
                         scaling.scaling_budget_tflop, train.uvit_batch_size, scaling.scaling_patience)
    targets = {"lite": profile_train_images(lite["n_samples"], lite["seed_limit"], lite["seed"]),
               "paper": paper_scale()["train_images"]}
    return run_study(Path(run), Path(out), config, profile, targets, scaling.scaling_time_limit_s, plan_only, force)
