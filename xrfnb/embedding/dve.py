"""Deep Variational Embedding (DVE): each XRF spectrum to a point in R^d that K-means can cluster.

The paper's embedding (its section on the DVE; the book's choices page lists what it leaves open), inspired by the Deep Clustering Network and VaDE:

* encoder of 4 + 1 self-normalising layers (SELU, LeCun-normal init, alpha dropout) to a mean and a
  log-variance in R^d (d = `dve_latent`, the paper's 3); decoder of 4 layers back to E channels;
* reconstruction: the spectra are photon counts, so the decoder gives a distribution over channels and
  the loss is the multinomial negative log-likelihood per photon (the cross-entropy between the
  observed spectrum and the reconstruction) [choice];
* InfoVAE's Maximum Mean Discrepancy between the latent codes and N(0, I) [paper], with a small KL term
  so the log-variance stays meaningful [choice];
* a clustering loss in latent space, one of `dve_losses.CLUSTERINGS` (`dve_clustering`): the DCN loss
  (lambda/2)||z - m_assigned||^2 with online centroids initialised by K-means on the latents once an
  autoencoder warm-up ends [paper, DCN], or the authors' silhouette loss from their companion paper's code,
  as they compute it (no gradient) or differentiable (see `dve_losses`);
* loss weights that change with the epoch: the clustering weight is 0 during the warm-up, then both
  MMD and clustering weights ramp linearly to their maxima [paper: "weights that change with the epoch"].

Input normalisation [choice]: a spectrum of N counts enters the encoder as sqrt(counts / N) (the
Hellinger map, which makes Poisson noise roughly uniform across channels and totals irrelevant).

Chapter 4's stage (`DVEParams`) trains this DVE, or with `embedding: pca` fits a PCA of the same input
instead (`xrfnb.embedding.pca`, no training); either is written to `dve/dve.ckpt`, and `load` reads both
(`Embedding`): what chapters 5 to 8 and `xrfnb recolour` embed with.
"""

from __future__ import annotations

import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Union

import lightning as L
import numpy as np
import torch
from einops import rearrange
from torch import nn
from torch.nn import functional as F

from . import dve_losses
from .. import training
from ..config import ParameterError, StageParams, one_of, positive
from .dve_losses import (check_clustering, kl_divergence, mmd, reconstruction_loss, rescale, silhouette_term,
                         update_centroids)

if TYPE_CHECKING:
    from .pca import PCAEncoder

EMBEDDINGS = ("dve", "pca")  # chapter 4's encoders (`DVEParams.embedding`): the paper's DVE, or a PCA of its input
#: What `load` returns and chapter 4's encoder's users take: `model(counts)` the latent (n, d), `cfg.n_channels`
#: and `cfg.latent_dim` its sizes, `centroids` and `assign` its latent clusters.
Embedding = Union["DVE", "PCAEncoder"]


@dataclass(frozen=True)
class DVEConfig:
    """Architecture and loss schedule of the embedding (the widths, K and schedule are [choice]s)."""

    n_channels: int = 512
    latent_dim: int = 3
    encoder_widths: tuple[int, ...] = (256, 128, 64, 32)
    decoder_widths: tuple[int, ...] = (32, 128, 256)
    dropout: float = 0.0
    n_clusters: int = 12
    beta: float = 1.0  # MMD weight at the end of its ramp
    kl: float = 1e-3  # KL weight (constant)
    gamma: float = 0.02  # clustering weight at the end of its ramp
    warmup_epochs: int = 5  # reconstruction + MMD only; then centroids are initialised
    ramp_epochs: int = 3
    lr: float = 2e-3
    seed: int = 0
    clustering: str = "dcn"  # one of dve_losses.CLUSTERINGS
    silhouette_k_min: int = 4  # silhouette variants: K-means for K in [min(silhouette_k_min, n_clusters), n_clusters]
    silhouette_sample: int = 512  # silhouette variants: latent means of a batch the silhouette sees, at most
    kmeans_iters: int = 10  # silhouette variants: Lloyd steps of each batch K-means

    def __post_init__(self) -> None:
        check_clustering(self.clustering)
        if self.silhouette_k_min < 2:
            raise ValueError(f"silhouette_k_min must be at least 2 (a silhouette needs two clusters), "
                             f"got {self.silhouette_k_min}")

    def weights(self, epoch: int) -> tuple[float, float]:
        """(beta, gamma) at an epoch: MMD ramps from the start, clustering after the warm-up."""
        ramp = max(self.ramp_epochs, 1)
        beta = self.beta * min(1.0, (epoch + 1) / ramp)
        gamma = 0.0 if epoch < self.warmup_epochs else self.gamma * min(1.0, (epoch - self.warmup_epochs + 1) / ramp)
        return beta, gamma


def selu_mlp(widths: list[int], dropout: float) -> nn.Sequential:
    """Self-normalising MLP: Linear -> SELU -> AlphaDropout per layer, LeCun-normal weights."""
    layers: list[nn.Module] = []
    for fan_in, fan_out in zip(widths[:-1], widths[1:]):
        linear = nn.Linear(fan_in, fan_out)
        nn.init.normal_(linear.weight, std=fan_in ** -0.5)
        nn.init.zeros_(linear.bias)
        layers += [linear, nn.SELU(), nn.AlphaDropout(dropout)]
    return nn.Sequential(*layers)


class Encoder(nn.Module):
    """4 self-normalising layers, then 1 linear layer to (mean, log-variance)."""

    def __init__(self, cfg: DVEConfig):
        super().__init__()
        self.body = selu_mlp([cfg.n_channels, *cfg.encoder_widths], cfg.dropout)
        self.head = nn.Linear(cfg.encoder_widths[-1], 2 * cfg.latent_dim)
        nn.init.normal_(self.head.weight, std=cfg.encoder_widths[-1] ** -0.5)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(x)).chunk(2, dim=-1)
        return mu, logvar.clamp(-12, 6)


class Decoder(nn.Module):
    """4 layers from the latent back to log-probabilities over the E channels."""

    def __init__(self, cfg: DVEConfig):
        super().__init__()
        self.body = selu_mlp([cfg.latent_dim, *cfg.decoder_widths], cfg.dropout)
        self.out = nn.Linear(cfg.decoder_widths[-1], cfg.n_channels)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.log_softmax(self.out(self.body(z)), dim=-1)


def normalise(counts: torch.Tensor) -> torch.Tensor:
    """Encoder input: sqrt(counts / total) per spectrum (the Hellinger map)."""
    counts = counts.float()
    return torch.sqrt(counts / counts.sum(-1, keepdim=True).clamp_min(1))


def check_spectra(counts: torch.Tensor, n_channels: int, where: str = "spectra") -> None:
    """Refuse what the model cannot embed: wrong channel count, NaN/inf, negative or empty spectra."""
    if counts.shape[-1] != n_channels:
        raise ValueError(f"{where}: {counts.shape[-1]} channels, but the DVE was trained on {n_channels}")
    if counts.is_floating_point() and not torch.isfinite(counts).all():
        raise ValueError(f"{where}: NaN or infinite values")
    if (counts < 0).any():
        raise ValueError(f"{where}: negative counts")
    if (counts.sum(-1) <= 0).any():
        raise ValueError(f"{where}: a spectrum with no counts")


class DVE(L.LightningModule):
    """The embedding model and its training step (Lightning runs the loop)."""

    kind = "dve"

    def __init__(self, config: DVEConfig | dict):
        super().__init__()
        cfg = config if isinstance(config, DVEConfig) else DVEConfig(**config)
        self.cfg = cfg
        self.save_hyperparameters({"config": asdict(cfg)})
        self.encoder, self.decoder = Encoder(cfg), Decoder(cfg)
        self.register_buffer("centroids", torch.zeros(cfg.n_clusters, cfg.latent_dim))
        self.register_buffer("centroid_counts", torch.zeros(cfg.n_clusters))
        self.register_buffer("centroids_ready", torch.tensor(False))

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """Latent means (n, d) of count spectra (n, E): the embedding."""
        return self.encoder(normalise(counts))[0]

    def spectrum(self, z: torch.Tensor) -> torch.Tensor:
        """The decoder's spectrum (probabilities over channels) at latent points z (n, d)."""
        return self.decoder(z).exp()

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest centroid of each latent code."""
        return torch.cdist(z, self.centroids).argmin(-1)

    def losses(self, counts: torch.Tensor, epoch: int) -> dict[str, torch.Tensor]:
        """Every loss term of a batch, the total `loss`, and `clust_undefined` (1 when the batch's K-means
        found a single cluster, so its silhouette is undefined and the clustering term sits out)."""
        mu, logvar = self.encoder(normalise(counts))
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        terms = {
            "rec": reconstruction_loss(self.decoder(z), counts),
            "mmd": mmd(z, torch.randn_like(z)),
            "kl": kl_divergence(mu, logvar),
            "clust": mu.new_zeros(()),
            "clust_undefined": mu.new_zeros(()),
        }
        beta, gamma = self.cfg.weights(epoch)
        base = terms["rec"] + beta * terms["mmd"] + self.cfg.kl * terms["kl"]
        if self.cfg.clustering == "dcn":
            if self.centroids_ready:
                assigned = self.assign(mu.detach())
                terms["clust"] = 0.5 * (mu - self.centroids[assigned]).pow(2).sum(-1).mean()
                if self.training:
                    update_centroids(self.centroids, self.centroid_counts, mu.detach(), assigned)
            terms["loss"] = base + gamma * terms["clust"]
            return terms
        if gamma > 0:  # the factor is 1 at gamma = 0: no K-means during the warm-up
            cfg = self.cfg
            k_min = min(cfg.silhouette_k_min, cfg.n_clusters)
            terms["clust"], info = silhouette_term(mu, k_min, cfg.n_clusters, cfg.kmeans_iters,
                                                   cfg.silhouette_sample, grad=cfg.clustering == "silhouette-grad")
            terms.update({name: mu.new_tensor(value) for name, value in info.items()})
        terms["loss"] = rescale(base, terms["clust"], gamma)
        return terms

    def _log_terms(self, split: str, terms: dict[str, torch.Tensor], n: int) -> None:
        for name, value in terms.items():
            # undefined-silhouette batches are counted over the epoch, every other term is averaged
            self.log(f"{split}_{name}", value, on_step=False, on_epoch=True, batch_size=n, sync_dist=True,
                     reduce_fx="sum" if name == "clust_undefined" else "mean")

    def training_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> torch.Tensor:
        terms = self.losses(batch[0], self.current_epoch)
        self._log_terms("train", terms, len(batch[0]))
        return terms["loss"]

    def validation_step(self, batch: tuple[torch.Tensor, ...], batch_idx: int) -> None:
        self._log_terms("val", self.losses(batch[0], self.current_epoch), len(batch[0]))

    def on_train_epoch_start(self) -> None:
        # every epoch's randomness (shuffling, dropout, sampling) derives from (seed, epoch): a run resumed
        # from an epoch's checkpoint continues exactly as an uninterrupted one would
        torch.manual_seed(self.cfg.seed * 100_003 + self.current_epoch + 7_919 * self.global_rank)
        training.set_sampler_epoch(self.trainer, self.current_epoch)
        beta, gamma = self.cfg.weights(self.current_epoch)
        self.log_dict({"beta": beta, "gamma": gamma}, on_step=False, on_epoch=True)
        if self.cfg.clustering == "dcn" and self.current_epoch >= self.cfg.warmup_epochs and not self.centroids_ready:
            self.init_centroids(self.trainer.datamodule.train_counts)

    def on_train_end(self) -> None:
        # the silhouette variants keep no centroids while training; those of the final latent space serve
        # `assign` and chapter 7's cluster lookup, as the DCN's own centroids do
        if self.cfg.clustering != "dcn":
            self.init_centroids(self.trainer.datamodule.train_counts)

    @torch.no_grad()
    def init_centroids(self, train_counts: torch.Tensor, n: int = 20_000) -> None:
        """K-means (k-means++, Lloyd) on the latents of a seeded random subset of up to n training spectra.

        A random subset, not the first n: the spectra are stored crop by crop, so the first n would come
        from the lowest-index crops and miss the colours of the others.
        """
        def latents(counts: torch.Tensor) -> np.ndarray:
            return torch.cat([self(c.to(self.device)) for c in counts.split(4096)]).cpu().numpy()

        was_training = self.training
        self.eval()
        centres = centroids_of(latents, train_counts, self.cfg.n_clusters, self.cfg.seed, n)
        self.train(was_training)
        self.centroids.copy_(torch.as_tensor(centres, dtype=self.centroids.dtype))
        self.centroid_counts.fill_(1.0)
        self.centroids_ready.fill_(True)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.cfg.lr)


def centroids_of(latents: Callable[[torch.Tensor], np.ndarray], train_counts: torch.Tensor, k: int, seed: int,
                 n: int = 20_000) -> np.ndarray:
    """K-means centres (k, d) of the latents (`latents(counts)`) of a seeded random subset of up to n
    training spectra: the latent clusters of the DVE and of the PCA (`DVE.init_centroids`)."""
    from ..synthetic.synth import _kmeans

    rng = np.random.default_rng(np.random.SeedSequence([seed, 21]))
    pick = np.sort(rng.choice(len(train_counts), size=min(n, len(train_counts)), replace=False))
    z = np.asarray(latents(torch.as_tensor(train_counts)[torch.from_numpy(pick)]), dtype=np.float64)
    return _kmeans(z, k, rng)


class SpectraData(L.LightningDataModule):
    """Train and validation count spectra held in memory (int16), batched in a seeded order."""

    def __init__(self, train_counts: torch.Tensor, val_counts: torch.Tensor, batch_size: int, seed: int):
        super().__init__()
        self.train_counts, self.val_counts = train_counts, val_counts
        self.batch_size, self.seed = batch_size, seed

    def train_dataloader(self) -> torch.utils.data.DataLoader:
        ds = torch.utils.data.TensorDataset(self.train_counts)
        # its own generator: creating the iterator must not draw from the global RNG that dropout uses
        return torch.utils.data.DataLoader(ds, batch_size=self.batch_size, drop_last=True,
                                           sampler=training.EpochShuffle(len(ds), self.seed),
                                           generator=torch.Generator().manual_seed(self.seed))

    def val_dataloader(self) -> torch.utils.data.DataLoader:
        return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(self.val_counts),
                                           batch_size=self.batch_size,
                                           generator=torch.Generator().manual_seed(self.seed))


#: What acts only once the warm-up is over: trainings that differ in these alone share their warm-up epochs.
AFTER_WARMUP = ("clustering", "gamma", "silhouette_k_min", "silhouette_sample", "kmeans_iters")
WARMUP = "warmup.ckpt"  # a training's state at the end of its warm-up, in its folder


def train(train_counts: np.ndarray, val_counts: np.ndarray, config: DVEConfig, epochs: int, batch_size: int,
          out_dir: str | Path, accelerator: str = "cpu", scale: training.Scale | None = None,
          data_key: str | None = None, warmup_from: str | Path | None = None) -> tuple[DVE, Path]:
    """Train a DVE; returns the model and its per-epoch metrics CSV.

    Writes `out_dir/last.ckpt` after every epoch and `out_dir/dve.ckpt` (atomically) at the end. A run
    with the same data and settings resumes from `last.ckpt`, and one that already finished is reused.
    `data_key` names the data (the stage gives the dataset's content hash and how the spectra were
    drawn); without one the spectra's bytes are hashed. Each run keeps its state at the end of the warm-up
    (`WARMUP`); one that differs from the run in folder `warmup_from` only in `AFTER_WARMUP` starts from that
    state, the one its own warm-up would reach: the warm-up's loss has no clustering term, and every epoch's
    randomness derives from (seed, epoch) (chapter 4's comparison of the clustering losses).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    code, data_key = (sys.modules[__name__], dve_losses, training), data_key or training.array_digest(train_counts,
                                                                                                      val_counts)
    key = training.run_key([asdict(config), batch_size], code, data_key)
    if training.finished(out_dir, f"{key}:{epochs}", "dve.ckpt"):
        return load(out_dir / "dve.ckpt"), out_dir / "metrics.csv"
    shared = {k: v for k, v in asdict(config).items() if k not in AFTER_WARMUP}
    warm_key = training.run_key([shared, batch_size, "warm-up"], code, data_key)
    warms = 0 < config.warmup_epochs < epochs
    resume = training.resume_path(out_dir, key, epochs)
    if resume is None and warms and warmup_from is not None:
        resume = training.branch(out_dir, key, Path(warmup_from) / WARMUP, warm_key)
    L.seed_everything(config.seed, workers=True, verbose=False)
    data = SpectraData(torch.as_tensor(train_counts), torch.as_tensor(val_counts), batch_size, config.seed)
    model = DVE(config)
    keep = [training.EpochCheckpoint(out_dir / WARMUP, config.warmup_epochs - 1, warm_key)] if warms else []
    trainer, metrics = training.trainer(out_dir, epochs, scale or training.Scale(accelerator), keep)
    training.fit(trainer, model, data, resume, "DVE training", batch_size, "dve_batch_size")
    training.save_final(trainer, out_dir / "dve.ckpt")
    training.mark_finished(trainer, out_dir, f"{key}:{epochs}")
    return model, metrics


def build(kind: str, config: dict) -> Embedding:
    """An encoder of `kind` (`EMBEDDINGS`) with its configuration as a checkpoint or `model.json` stores it,
    its weights not yet loaded."""
    if kind == "pca":
        from .pca import PCAEncoder

        return PCAEncoder(config)
    if kind != "dve":
        raise ValueError(f"unknown embedding {kind!r} (known: {', '.join(EMBEDDINGS)})")
    return DVE(DVEConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}))


def load(path: str | Path, n_channels: int | None = None) -> Embedding:
    """Load chapter 4's encoder, a trained DVE or a fitted PCA (the checkpoint says which); a missing or
    incompatible checkpoint names what was expected and found."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path}: no DVE checkpoint (run the DVE stage first)")
    ckpt = training.load_checkpoint(path)
    try:
        model = build(ckpt.get("embedding", "dve"), ckpt["hyper_parameters"]["config"])
    except (KeyError, TypeError, RuntimeError, AttributeError, ValueError) as err:
        raise ValueError(f"{path}: not a DVE checkpoint ({type(err).__name__}: {err})") from None
    config = model.cfg
    if n_channels is not None and config.n_channels != n_channels:
        raise ValueError(f"{path}: DVE expects {config.n_channels} channels, the data has {n_channels}")
    missing = model.load_state_dict(ckpt["state_dict"], strict=False)
    if missing.missing_keys or missing.unexpected_keys:
        raise ValueError(f"{path}: checkpoint does not match the DVE architecture "
                         f"(missing {missing.missing_keys[:3]}, unexpected {missing.unexpected_keys[:3]})")
    return model.eval()


@torch.no_grad()
def encode(model: Embedding, counts: np.ndarray | torch.Tensor, batch: int = 65536, device: str = "cpu") -> np.ndarray:
    """Latent means (n, d) of count spectra (n, E), in batches, after checking the input."""
    counts = torch.as_tensor(counts)
    check_spectra(counts, model.cfg.n_channels)
    model = model.to(device).eval()
    return torch.cat([model(c.to(device)).float().cpu() for c in counts.split(batch)]).numpy()


def embed_cube(model: Embedding, cube: np.ndarray, device: str = "cpu") -> np.ndarray:
    """A datacube (H, W, E) to its embedded image (d, H, W), float16."""
    h, w, _ = cube.shape
    z = encode(model, rearrange(cube, "h w e -> (h w) e"), device=device)
    return rearrange(z, "(h w) c -> c h w", h=h, w=w).astype(np.float16)


def training_speed(metrics_csv: Path | None, n_train: int) -> dict[str, float]:
    """Seconds per epoch and spectra per second of a DVE training, from its `metrics.csv` (the mean over
    epochs); empty for an embedding that did not train (a PCA has no metrics file)."""
    if metrics_csv is None:
        return {}
    import pandas as pd

    seconds = float(pd.read_csv(metrics_csv).groupby("epoch")["epoch_seconds"].mean().mean())
    return {"seconds_per_epoch": seconds, "spectra_per_second": n_train / seconds}


def evaluate_latent(model: Embedding, train, heldout, test, k: int = 15, n_silhouette: int = 4000,
                    baseline: bool = True) -> dict:
    """How K-means-friendly and how informative the latent space is, against a PCA-3 baseline (`pca3_...`,
    left out without `baseline`: it depends on the spectra alone).

    Parameters
    ----------
    model : the trained DVE (or the fitted PCA).
    train, heldout, test : `dataset.Spectra` from training paintings, other pixels of training paintings,
        and test paintings.
    k : neighbours for the k-NN classifier of the dominant pigment (fitted on `train`'s latents).
    n_silhouette : held-out points used for the silhouette of the latent clustering.
    """
    from sklearn.decomposition import PCA
    from sklearn.metrics import silhouette_score
    from sklearn.neighbors import KNeighborsClassifier

    z_train, z_held, z_test = (encode(model, s.counts) for s in (train, heldout, test))
    assigned = model.assign(torch.as_tensor(z_held[:n_silhouette])).numpy()
    used = len(np.unique(assigned))
    knn = KNeighborsClassifier(k).fit(z_train, train.dominant)
    out = {
        "latent_silhouette": float(silhouette_score(z_held[:n_silhouette], assigned)) if used > 1 else float("nan"),
        "clusters_used": int(used),
        "knn_accuracy_heldout_pixels": float(knn.score(z_held, heldout.dominant)),
        "knn_accuracy_test_paintings": float(knn.score(z_test, test.dominant)),
    }
    if baseline:
        x_train, x_held, x_test = (normalise(torch.as_tensor(s.counts)).numpy() for s in (train, heldout, test))
        pca = PCA(3, random_state=0).fit(x_train)
        pca_knn = KNeighborsClassifier(k).fit(pca.transform(x_train), train.dominant)
        out["pca3_knn_accuracy_heldout_pixels"] = float(pca_knn.score(pca.transform(x_held), heldout.dominant))
        out["pca3_knn_accuracy_test_paintings"] = float(pca_knn.score(pca.transform(x_test), test.dominant))
    return {**out, "majority_accuracy_test_paintings": float(np.bincount(test.dominant).max() / len(test.dominant))}


@torch.no_grad()
def reconstruct(model: Embedding, counts: np.ndarray) -> np.ndarray:
    """The spectrum (probabilities over channels) each spectrum's latent point stands for: the DVE's
    decoder, or the PCA's back-projection."""
    model = model.eval()
    return model.spectrum(model(torch.as_tensor(counts))).numpy()


@dataclass(frozen=True)
class Stage:
    """What the DVE stage produces: the encoder (the DVE, or the PCA with `embedding: pca`), the DVE's per-epoch
    metrics (None for a PCA: no training), the DVE's settings (chapter 4's comparison trains DVEs with them
    whichever the encoder) and the spectra it used."""

    model: Embedding
    metrics_csv: Path | None
    config: DVEConfig
    spectra: dict
    data_key: str  # names the spectra in training keys: other trainings on them (chapter 4's comparison) share it


def training_spectra(store, total: int, seed: int) -> dict:
    """The DVE subset: `total` spectra split 70/20/10 by painting, plus held-out pixels of the training
    paintings (pixels that no training spectrum came from)."""
    from ..synthetic.dataset import sample_spectra

    n_train, n_val, n_test = (int(total * f) for f in (0.7, 0.2, 0.1))
    train = sample_spectra(store, "train", n_train, seed)
    others = sample_spectra(store, "train", 2 * n_test, seed + 1)
    pixels = store.config.size ** 2
    unseen = ~np.isin(others.sample * pixels + others.pixel, train.sample * pixels + train.pixel)
    return {"train": train,
            "val": sample_spectra(store, "val", n_val, seed),
            "test": sample_spectra(store, "test", n_test, seed),
            "heldout": others.take(np.flatnonzero(unseen)[:n_test])}


@dataclass(frozen=True)
class DVEParams(StageParams):
    """Chapter 4: the spectra the DVE learns from, its loss schedule and its training."""

    stage = "04_train_dve"
    after = ("03_synthetic_maxrf",)
    reads = ("dataset.h5",)
    writes = ("dve/dve.ckpt",)
    code = ("xrfnb.embedding.dve", "xrfnb.embedding.dve_losses", "xrfnb.embedding.pca", "xrfnb.training")
    unkeyed = frozenset({"strategy", "dve_compare_seeds", "dve_compare_samples"})  # the comparison keys its own

    seed: int = 0  # seeds the spectra drawn and the training
    dve_spectra: int = 30000  # spectra in the DVE subset (the paper: 5 million), split 70/20/10 by painting
    dve_epochs: int = 12  # training epochs
    dve_batch_size: int = 256  # spectra per batch
    dve_clusters: int = 12  # K of the latent clustering
    dve_latent: int = 3  # size of the latent space, the channels of every embedded image (the paper: 3)
    embedding: str = "dve"  # the encoder chapters 5 to 8 embed with: dve (the paper's) or pca (a PCA of the DVE's input, no training)
    dve_warmup_epochs: int = 5  # epochs of reconstruction + MMD only, before the clustering loss starts
    dve_ramp_epochs: int = 3  # epochs over which the MMD and clustering weights ramp up
    dve_beta: float = 1.0  # MMD weight at the end of its ramp
    dve_gamma: float = 0.02  # clustering weight at the end of its ramp
    dve_lr: float = 0.002  # Adam learning rate
    dve_dropout: float = 0.0  # alpha-dropout rate
    dve_clustering: str = "silhouette-grad"  # clustering loss: dcn, silhouette (the authors' code, no gradient) or silhouette-grad
    dve_compare_seeds: list[int] = field(default_factory=lambda: [0])  # training seeds of the comparison of the clustering losses ([]: not run)
    dve_compare_samples: int = 24  # samples per split (train, test) embedded for the comparison's cluster lookup
    devices: int = 1  # GPUs (or processes) for training
    num_nodes: int = 1  # nodes for training
    strategy: str = "auto"  # Lightning strategy

    def validate(self) -> None:
        positive(self.stage, dve_spectra=self.dve_spectra, dve_epochs=self.dve_epochs,
                 dve_batch_size=self.dve_batch_size, dve_clusters=self.dve_clusters, dve_lr=self.dve_lr,
                 devices=self.devices, num_nodes=self.num_nodes, dve_compare_samples=self.dve_compare_samples,
                 dve_latent=self.dve_latent)
        one_of(self.stage, "embedding", self.embedding, EMBEDDINGS)
        try:
            check_clustering(self.dve_clustering)
        except ValueError as err:
            raise ParameterError(f"{self.stage}: {err}") from None

    def model_config(self, n_channels: int) -> DVEConfig:
        return DVEConfig(n_channels=n_channels, n_clusters=self.dve_clusters, beta=self.dve_beta,
                         gamma=self.dve_gamma, warmup_epochs=self.dve_warmup_epochs,
                         ramp_epochs=self.dve_ramp_epochs, lr=self.dve_lr, dropout=self.dve_dropout, seed=self.seed,
                         clustering=self.dve_clustering, latent_dim=self.dve_latent)


def run_stage(run: Path, params: DVEParams) -> Stage:
    """The DVE stage on a run directory (`dataset.h5` in, `dve/` out), as the notebook and `xrfnb train`
    run it; a finished training is reused. Its data are keyed by the dataset's content hash and the
    sampling parameters, never by the spectra's bytes. With `embedding: pca` the PCA is fitted on the same
    training spectra instead of training the DVE, and written where the DVE would be (`dve/dve.ckpt`)."""
    from ..synthetic.dataset import Store
    from ..device import torch_device
    from ..io import read_json

    run = Path(run)
    key = params.current_key(run)
    store = Store(run / "dataset.h5")
    spectra = training_spectra(store, params.dve_spectra, params.seed)
    config = params.model_config(len(store.energy))
    content = read_json(run / "dataset.card.json")["content_hash"]
    scale = training.Scale("gpu" if torch_device("auto") == "cuda" else "cpu", params.devices, params.num_nodes,
                           params.strategy)
    data_key = f"{content}:{params.dve_spectra}:{params.seed}"
    if params.embedding == "pca":  # `dve_latent` components, K latent clusters, seeded by `seed`
        from . import pca

        found = pca.PCAConfig(len(store.energy), params.dve_latent, params.dve_clusters, params.seed)
        model, metrics_csv = pca.fit_stage(spectra["train"].counts, found, run / "dve", data_key), None
    else:
        model, metrics_csv = train(spectra["train"].counts, spectra["val"].counts, config, params.dve_epochs,
                                   params.dve_batch_size, run / "dve", scale=scale, data_key=data_key)
    params.record(run, key)
    return Stage(model, metrics_csv, config, spectra, data_key)
