"""Test-set evaluation against the paper, baselines and ablations, robustness, out-of-distribution inputs."""

from __future__ import annotations

import dataclasses
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from ..embedding import dve
from ..synthetic import information, synth
from .. import metrics
from ..models import pooled, recolour
from ..models.baselines import ClusterColour
from .compared import COMPARED, LOOKUP, PIXEL_RECIPE, POOLED
from .embedding_sizes import check_latents, paired
from ..config import ParameterError, StageParams, positive
from ..synthetic.dataset import Store
from ..embedding.embedded import EmbeddedStore
from ..palette.pigments import Palette

MIN_TEST = 2


def test_split(emb: EmbeddedStore) -> tuple[np.ndarray, torch.Tensor, np.ndarray]:
    """Embedded test images (n, d, H, W), their RGB targets as N x 3 x H x W in [0, 1], and their indices."""
    idx = emb.indices("test")
    if len(idx) < MIN_TEST:
        raise ValueError(f"{emb.path}: the test split has {len(idx)} samples; the statistics need at least "
                         f"{MIN_TEST} (generate more samples or paintings)")
    x, rgb = emb.arrays("test")
    return x.astype(np.float32), rgb_tensor(rgb), idx


def rgb_tensor(rgb: np.ndarray) -> torch.Tensor:
    """uint8 images (n, H, W, 3) as a float N x 3 x H x W tensor in [0, 1]."""
    return torch.from_numpy(np.asarray(rgb)).permute(0, 3, 1, 2).float() / 255.0


def clustered_targets(store: Store, indices: np.ndarray) -> torch.Tensor:
    """The clustered RGB images (each pixel its cluster's mean colour) the cubes were generated from."""
    clustered = np.stack([store.synthesis(int(i)).clustered_rgb() for i in indices])
    return torch.from_numpy(clustered).permute(0, 3, 1, 2).float()


def paper_results() -> dict:
    """The paper's reported test metrics (versioned in `xrfnb/data/paper_results.yml`)."""
    return yaml.safe_load(resources.files("xrfnb").joinpath("data/paper_results.yml").read_text())


def paper_vs_reproduced(per_image: pd.DataFrame, paintings: np.ndarray, profile: str) -> pd.DataFrame:
    """One row per metric: the paper's value, this run's mean with its 95 % bootstrap interval over test
    paintings, the number of test paintings, the profile and the difference.

    `per_image` holds one row per test image (as `per_image_table`), `paintings` each image's painting.
    The paper does not say whether its sRGB loss was divided by its maximum (3), so both readings are listed.
    """
    paper = paper_results()["metrics"]
    columns = {name: per_image[name].to_numpy() for name in per_image.columns}
    columns = {"srgb_loss": columns["srgb_loss"], "srgb_loss / 3 (if the paper normalised)": columns["srgb_loss"] / 3,
               **{k: v for k, v in columns.items() if k != "srgb_loss"}}
    rows = []
    for name, values in columns.items():
        p = paper.get(name.split(" ")[0], {}).get("value")
        lo, hi = metrics.bootstrap_interval(values, paintings)
        rows.append({"metric": name, "paper": p, "reproduced": float(values.mean()), "95 % interval low": lo,
                     "95 % interval high": hi, "test paintings": len(set(paintings)), "profile": profile,
                     "difference": None if p is None else float(values.mean()) - p})
    return pd.DataFrame(rows)


def floors(store: Store, indices: np.ndarray, palette: Palette, pools: tuple[int, ...] = (1, 3),
           workers: int = 1) -> pd.DataFrame:
    """What the data allow on the given test images, as rows that sit beside `compare`'s.

    The first row is the clustered image itself (every pixel its cluster's mean colour), which no model of
    these cubes can beat; the others are the maximum-likelihood cluster decoder given the true mixtures,
    per pixel or on counts pooled over p x p neighbourhoods. Columns: `information.FLOOR_METRICS`. The
    images are measured over `workers` processes.
    """
    found = information.diagnostics(information.store_samples(store, indices), palette, store.config.threshold,
                                    pools, workers)
    return information.floor_table(found, pools)


def per_image_table(pred: np.ndarray, target: torch.Tensor, indices: np.ndarray) -> pd.DataFrame:
    """Every metric for every test image, indexed by sample."""
    values = metrics.per_image(torch.as_tensor(pred), target)
    return pd.DataFrame({k: v.numpy() for k, v in values.items()}, index=pd.Index(indices, name="sample"))


def pick_examples(table: pd.DataFrame, by: str = "ms_ssim") -> dict[str, int]:
    """Samples for the triplet figures: best, typical (closest to the median) and worst by `by`."""
    s = table[by]
    return {"best": int(s.idxmax()), "typical": int((s - s.median()).abs().idxmin()), "worst": int(s.idxmin())}


def ablation_runs(paper: recolour.RecolourConfig, run: Path) -> dict[str, tuple[recolour.RecolourConfig, Path]]:
    """Every model of `compared.COMPARED` (the paper's SmallUViT, its ablations, the changes beyond the paper
    and the learned baselines) with the folder it trains in: chapter 6's configuration `paper` with the
    variant's changes. All train in this stage's own folder, `runs/<profile>/ablations/`."""
    return {name: (dataclasses.replace(paper, model=dataclasses.replace(paper.model, **v.model), **v.recipe),
                   Path(run) / "ablations" / v.folder) for name, v in COMPARED.items()}


def compare(emb: EmbeddedStore, runs: dict[str, tuple[recolour.RecolourConfig, Path]], centroids: np.ndarray,
            painting: np.ndarray, epochs: int, batch_size: int, accelerator: str = "cpu",
            precision: str | None = None, given: dict[str, recolour.Recolouring] | None = None,
            compile: bool = False) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Train every model of `runs` ({name: (config, folder)}) and the non-learned baseline on the same data
    with the same budget; their test metrics in one table (finished runs are reused), and each one's test
    predictions by row (n, 3, H, W; the test-set explorer shows them). Models in `given` (already trained,
    e.g. chapter 6's at the same budget) are evaluated as they are.

    `painting` gives every sample's painting (the dataset store's), for the 95 % bootstrap intervals of
    MS-SSIM and the sRGB loss over test paintings (columns `... low` and `... high`).
    """
    x_test, y_test, test_idx = test_split(emb)
    paintings = painting[test_idx]
    predicted = {LOOKUP: ClusterColour(centroids).fit(emb.blocks("train")).predict(x_test)}
    rows = {LOOKUP: {"parameters": 0, **_with_intervals(metrics.per_image(torch.from_numpy(predicted[LOOKUP]), y_test),
                                                        paintings)}}
    for name, (cfg, folder) in runs.items():
        module = (given or {}).get(name) or recolour.train(emb, cfg, epochs, batch_size, folder, accelerator,
                                                           precision, compile=compile)[0]
        predicted[name] = recolour.predict(module, x_test)
        rows[name] = score(module, predicted[name], y_test, paintings)
    return table_of(rows), predicted


def score(module: torch.nn.Module, pred: np.ndarray, y_test: torch.Tensor, paintings: np.ndarray) -> dict:
    """A trained model's row of the comparison from its test predictions `pred`: its trainable parameters
    and test metrics with intervals."""
    n_params = sum(p.numel() for p in module.model.parameters() if p.requires_grad)
    return {"parameters": n_params, **_with_intervals(metrics.per_image(torch.from_numpy(pred), y_test), paintings)}


def table_of(rows: dict[str, dict]) -> pd.DataFrame:
    """The comparison table from its rows ({model: row})."""
    table = pd.DataFrame(rows).T.rename_axis("model")
    table["parameters"] = table["parameters"].astype(int)
    return table


def paired_gain(model: torch.nn.Module, reference: torch.nn.Module, x_test: np.ndarray, y_test: torch.Tensor,
                paintings: np.ndarray, metric: str = "ms_ssim") -> dict[str, float]:
    """`model`'s test `metric` minus `reference`'s, image by image: the mean and its 95 % bootstrap
    interval over test paintings (the pairing removes what the two share, the images' difficulty)."""
    scored = [metrics.per_image(torch.from_numpy(recolour.predict(m, x_test)), y_test)[metric].numpy()
              for m in (model, reference)]
    return {"model": float(scored[0].mean()), "reference": float(scored[1].mean()),
            **paired(scored[0], scored[1], paintings)}


def train_pooled(emb: EmbeddedStore, run: Path, params: "EvaluateParams") -> dict[str, pooled.PooledRecolouring]:
    """The per-pixel decoders trained with the pixel recipe (`xrfnb.models.pooled`): on the raw latent
    alone (the best per-pixel decoder) and with the latent's edge-preserving pooled copies beside it, on the
    same training images, steps and seed, so that their difference is the pooling's."""
    from ..config import read_record

    x, rgb = emb.arrays("train")
    data = read_record(run, "05_embedded_dataset")["key"]  # the embedded data these decoders learn from
    models = {}
    for name, weights, folder in ((PIXEL_RECIPE, (), "pixel_recipe"), (POOLED, tuple(params.pooled_weights), "pooled")):
        cfg = pooled.PooledConfig(in_channels=x.shape[1], weights=weights, steps=params.pooled_steps,
                                  seed=params.seed)
        models[name] = pooled.train(x, rgb, cfg, Path(run) / "ablations" / folder, data)
    return models


def _with_intervals(per_image: dict[str, torch.Tensor], paintings: np.ndarray,
                    keys: tuple[str, ...] = ("ms_ssim", "srgb_loss")) -> dict[str, float]:
    """Mean of every metric, plus the 95 % bootstrap interval over paintings of the `keys` metrics."""
    out = {name: float(values.mean()) for name, values in per_image.items()}
    for name in keys:
        out[f"{name} low"], out[f"{name} high"] = metrics.bootstrap_interval(per_image[name].numpy(), paintings)
    return out


def validation_curves(runs: dict[str, tuple[recolour.RecolourConfig, Path]], names: list[str]
                      ) -> dict[str, list[float]]:
    """Validation MS-SSIM per epoch of the named trained runs (from each run's `metrics.csv`)."""
    return {name: pd.read_csv(Path(runs[name][1]) / "metrics.csv")["val_ms_ssim"].tolist() for name in names}


@dataclasses.dataclass(frozen=True)
class EvaluateParams(StageParams):
    """Chapter 7: the comparison's training budget and the robustness sweep. The recolouring model and
    its recipe are chapter 6's, read from its checkpoint and its stage record, never re-declared here."""

    stage = "07_evaluate"
    after = ("01_pigments", "02_seed_images", "03_synthetic_maxrf", "04_train_dve", "05_embedded_dataset",
             "06_train_smalluvit")
    reads = ("palette.h5", "seeds/seeds.json", "dataset.h5", "embedded.h5", "dve/dve.ckpt", "smalluvit/best.ckpt",
             "dense_test_sample.h5")
    code = ("xrfnb.evaluation.evaluate", "xrfnb.evaluation.compared", "xrfnb.evaluation.diagnosis", "xrfnb.models.recolour", "xrfnb.models.smalluvit",
            "xrfnb.models.baselines", "xrfnb.models.pooled", "xrfnb.metrics", "xrfnb.training",
            "xrfnb.evaluation.colour_budget", "xrfnb.evaluation.pixel_decoders", "xrfnb.models.pixel_training",
            "xrfnb.evaluation.like_for_like", "xrfnb.evaluation.embedding_sizes")
    unkeyed = frozenset({"robust_counts", "explore_images", "workers", "budget_pixels", "budget_spectrum_pixels",
                         "budget_epochs", "budget_batch", "like_size", "like_crops"})

    seed: int = 0  # seeds the robustness and out-of-distribution cubes
    compare_epochs: int = 2  # the training budget of every model in the baseline and ablation table
    robust_counts: list[int] = dataclasses.field(default_factory=lambda: [100, 400, 1600])
    explore_images: int = 12  # test images the static page of the test-set explorer holds (every model each)
    pooled_steps: int = 100  # optimiser steps of the per-pixel decoders' pixel recipe (4,096 pixels a step)
    pooled_weights: list[float] = dataclasses.field(default_factory=lambda: [0.1, 0.3])  # TV pooling strengths
    workers: int = 1  # processes measuring the data's floors (the same rows for any number)
    budget_pixels: int = 20_000  # training pixels of the information budget's weights and latent decoders
    budget_spectrum_pixels: int = 20_000  # training pixels of its full-spectrum decoder (every channel each)
    budget_epochs: int = 6  # passes of the budget's per-pixel decoders over their training pixels
    budget_batch: int = 512  # training pixels per optimiser step of the budget's decoders
    like_size: int = 256  # side of the larger test crops scored as the paper scores (five-scale MS-SSIM)
    like_crops: int = 1  # larger crops per test painting
    budget_pca_latents: list[int] = dataclasses.field(default_factory=lambda: [3, 8])  # PCA sizes beside the latent
    budget_embed_images: int = 16  # first training images the decoders of every embedding size learn from

    def validate(self) -> None:
        positive(self.stage, compare_epochs=self.compare_epochs, explore_images=self.explore_images,
                 workers=self.workers, pooled_steps=self.pooled_steps, budget_pixels=self.budget_pixels,
                 budget_spectrum_pixels=self.budget_spectrum_pixels, budget_epochs=self.budget_epochs,
                 budget_batch=self.budget_batch, like_size=self.like_size, like_crops=self.like_crops,
                 budget_embed_images=self.budget_embed_images)
        positive(self.stage, **{f"pooled_weights[{i}]": w for i, w in enumerate(self.pooled_weights)})
        positive(self.stage, **{f"robust_counts[{i}]": c for i, c in enumerate(self.robust_counts)})
        try:  # the channels are checked where the spectra are known (`embedding_sizes.fit_pca`)
            check_latents(self.budget_pca_latents)
        except ValueError as err:
            raise ParameterError(f"{self.stage}: {err}") from None


@dataclasses.dataclass(frozen=True)
class Evaluation:
    """What chapter 7 evaluates: the run's stores, palette and models (chapter 6's with the configuration
    and settings it was trained with), and the comparison of every model of `COMPARED`."""

    store: Store
    emb: EmbeddedStore
    palette: Palette
    dve_model: dve.Embedding
    module: recolour.Recolouring
    config: recolour.RecolourConfig
    trained: dict  # chapter 6's parameters, from its stage record
    runs: dict[str, tuple[recolour.RecolourConfig, Path]]
    comparison: pd.DataFrame
    device: str
    decoders: dict[str, pooled.PooledRecolouring]  # the pixel recipe's per-pixel decoders, by table name
    predicted: dict[str, np.ndarray]  # every row of the comparison's test predictions (n, 3, H, W), by row


def run_stage(run: Path, params: EvaluateParams) -> Evaluation:
    """The evaluation stage: chapter 6's model and configuration read from its checkpoint, every compared
    model trained (or reused) in this stage's folder, and the stage record."""
    from ..config import read_record
    from ..device import torch_device

    run = Path(run)
    key = params.current_key(run)
    trained = read_record(run, "06_train_smalluvit")["parameters"]
    store, emb = Store(run / "dataset.h5"), EmbeddedStore(run / "embedded.h5")
    module = recolour.load(run / "smalluvit" / "best.ckpt")
    device = torch_device("auto")
    runs = ablation_runs(module.cfg, run)
    given = {"SmallUViT (paper)": module} if params.compare_epochs == trained["uvit_epochs"] else {}
    if given:
        runs["SmallUViT (paper)"] = (module.cfg, run / "smalluvit")
    dve_model = dve.load(run / "dve" / "dve.ckpt", n_channels=len(store.energy))
    gpu = device == "cuda"
    fast = bool(trained.get("uvit_fast", False))  # chapter 6's precision and compilation, for every model
    comparison, predicted = compare(emb, runs, dve_model.centroids.numpy(), store.painting, params.compare_epochs,
                                    trained["uvit_batch_size"], "gpu" if gpu else "cpu",
                                    recolour.precision(gpu, fast), given, compile=fast)
    x_test, y_test, test_idx = test_split(emb)
    decoders = train_pooled(emb, run, params)
    predicted.update({name: recolour.predict(m, x_test) for name, m in decoders.items()})
    comparison = pd.concat([comparison, table_of({name: score(m, predicted[name], y_test, store.painting[test_idx])
                                                  for name, m in decoders.items()})])
    params.record(run, key)
    return Evaluation(store, emb, Palette.load(run / "palette.h5"), dve_model, module, module.cfg, trained, runs,
                      comparison, device, decoders, predicted)


def recolour_syntheses(syntheses: list[synth.Synthesis], dve_model: dve.Embedding, module: recolour.Recolouring,
                       device: str = "cpu") -> np.ndarray:
    """The whole pipeline from compact syntheses: draw cubes, embed them, predict RGB (n, 3, H, W)."""
    embedded = np.stack([dve.embed_cube(dve_model, s.cube(device), device) for s in syntheses])
    return recolour.predict(module, embedded.astype(np.float32), device=device)


def robustness(store: Store, palette: Palette, dve_model: dve.Embedding, module: recolour.Recolouring,
               indices: np.ndarray, counts: list[int], device: str = "cpu") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Test metrics when the cubes are drawn with other counts per pixel, and with each realism option.

    The model and the DVE stay those trained at the dataset's own settings: this measures how far the
    recolouring trusts its input statistics. Returns (metrics by counts, metrics by realism option).
    """
    base = [store.synthesis(int(i)) for i in indices]
    target = rgb_tensor(np.stack([store.rgb(int(i)) for i in indices])).to(device)

    def score(syntheses: list[synth.Synthesis]) -> dict[str, float]:  # the metrics on the models' device
        pred = torch.from_numpy(recolour_syntheses(syntheses, dve_model, module, device)).to(device)
        return metrics.evaluate(pred, target)

    by_counts = pd.DataFrame({c: score([dataclasses.replace(s, counts=c) for s in base]) for c in counts}).T
    by_counts.index.name = "counts per pixel"
    drawn_as = dict(threshold=store.config.threshold, n_start=store.config.n_start, delta=store.config.delta)
    physics = [synth.synthesize(store.rgb(int(i)), palette, seed=s.seed, image_index=s.image_index,
                                counts=s.counts, mixing="physics", **drawn_as) for i, s in zip(indices, base)]
    options = {
        "as trained (linear mixing, fixed counts)": base,
        "Poisson counts per pixel": [dataclasses.replace(s, poisson=True) for s in base],
        "beam blur, sigma 1 px": [dataclasses.replace(s, blur_sigma=1.0) for s in base],
        "physics mixing of compositions": physics,
    }
    scored = {}
    trained_counts = {s.counts for s in base}
    if len(trained_counts) == 1 and (c := trained_counts.pop()) in by_counts.index:  # the sweep drew these cubes
        scored["as trained (linear mixing, fixed counts)"] = by_counts.loc[c].to_dict()
    by_option = pd.DataFrame({name: scored[name] if name in scored else score(sy) for name, sy in options.items()}).T
    by_option.index.name = "generator setting"
    return by_counts, by_option


def out_of_distribution(images: dict[str, np.ndarray], palette: Palette, dve_model: dve.Embedding,
                        module: recolour.Recolouring, size: int, seed: int,
                        device: str = "cpu") -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Non-painting RGB images through the whole pipeline: metrics, predictions and targets."""
    from ..paintings.seeds import centre_crop

    crops = np.stack([centre_crop(rgb, size) for rgb in images.values()])
    syntheses = [synth.synthesize(c, palette, seed=seed, image_index=10_000 + i) for i, c in enumerate(crops)]
    pred = recolour_syntheses(syntheses, dve_model, module, device)
    target = rgb_tensor(crops)
    table = per_image_table(pred, target, np.arange(len(crops)))
    table.index = pd.Index(list(images), name="image")
    return table, pred, target.numpy()
