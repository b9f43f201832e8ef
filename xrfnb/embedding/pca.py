"""A PCA of the spectra as the pipeline's embedding (`embedding: pca`): the untrained alternative to the DVE.

Chapter 4's comparison scores a PCA of the DVE's own input (the Hellinger map, `dve.normalise`) beside the
trained variants, and issue 34 measured it as good as the DVE downstream. Here it is an encoder the
pipeline can embed with: fitted on the DVE stage's training spectra (scikit-learn's PCA, seeded), with
`dve_latent` components and no training. Its users call it as they call the DVE: `model(counts)` gives the
latent, `centroids` and `assign` its K latent clusters (K-means on the training latents, as the DVE's
silhouette variants get theirs), `cfg.n_channels` and `cfg.latent_dim` its sizes, `spectrum(z)` the spectrum
a latent point stands for. The projection is a linear layer (`encoder`, the components) applied after the
mean is subtracted, so `xrfnb adapt` fine-tunes it as it fine-tunes the DVE's encoder.

Its checkpoint is `dve/dve.ckpt`, where chapter 4 writes its encoder whichever it is; `dve.load` reads both.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .. import training
from ..io import atomic_path
from .dve import centroids_of, check_spectra, encode, normalise

KIND = "pca"


@dataclass(frozen=True)
class PCAConfig:
    """The PCA's sizes: channels in, components out (`dve_latent`), K latent clusters, and the seed of its
    solver and of the K-means."""

    n_channels: int = 512
    latent_dim: int = 3
    n_clusters: int = 12
    seed: int = 0


class Projection(nn.Module):
    """The PCA's components (latent_dim, n_channels) as a linear map without bias, zero until fitted."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(n_out, n_in), requires_grad=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T


class PCAEncoder(nn.Module):
    """Spectra (n, E) to their principal components (n, d) of the Hellinger map, with latent clusters."""

    kind = KIND

    def __init__(self, config: PCAConfig | dict):
        super().__init__()
        cfg = config if isinstance(config, PCAConfig) else PCAConfig(**config)
        self.cfg = cfg
        self.register_buffer("mean", torch.zeros(cfg.n_channels))
        self.encoder = Projection(cfg.n_channels, cfg.latent_dim)
        self.register_buffer("centroids", torch.zeros(cfg.n_clusters, cfg.latent_dim))
        self.register_buffer("explained", torch.zeros(cfg.latent_dim))  # variance ratio of each component, as fitted

    def forward(self, counts: torch.Tensor) -> torch.Tensor:
        """Latent codes (n, d) of count spectra (n, E)."""
        return self.encoder(normalise(counts) - self.mean)

    def assign(self, z: torch.Tensor) -> torch.Tensor:
        """Nearest centroid of each latent code."""
        return torch.cdist(z, self.centroids).argmin(-1)

    def spectrum(self, z: torch.Tensor) -> torch.Tensor:
        """The spectrum (probabilities over channels) a latent point stands for: the components' back-projection,
        an estimate of sqrt(counts / total), squared (negatives clipped) and normalised."""
        root = (z @ self.encoder.weight + self.mean).clamp_min(0)
        p = root.pow(2)
        return p / p.sum(-1, keepdim=True).clamp_min(1e-12)


def fit(train_counts: np.ndarray, config: PCAConfig) -> PCAEncoder:
    """The PCA of the normalised training spectra (n, E), and K-means centroids of their latents (a seeded
    subset, as the DVE's). More components than spectra or channels are refused in one line."""
    from sklearn.decomposition import PCA

    counts = torch.as_tensor(train_counts)
    check_spectra(counts, config.n_channels, "training spectra")
    limit = min(counts.shape)
    if config.latent_dim > limit:
        raise ValueError(f"a PCA of {counts.shape[0]} spectra of {counts.shape[1]} channels has at most {limit} "
                         f"components, {config.latent_dim} asked (dve_latent)")
    found = PCA(config.latent_dim, random_state=config.seed).fit(normalise(counts).numpy())
    model = PCAEncoder(config)
    with torch.no_grad():
        model.mean.copy_(torch.from_numpy(found.mean_))
        model.encoder.weight.copy_(torch.from_numpy(found.components_))
        model.explained.copy_(torch.from_numpy(found.explained_variance_ratio_))
        centres = centroids_of(lambda c: encode(model, c), counts, config.n_clusters, config.seed)
        model.centroids.copy_(torch.as_tensor(centres, dtype=model.centroids.dtype))
    return model.eval()


def checkpoint(model: PCAEncoder, key: str = "", seconds: float = 0.0) -> dict:
    """A PCA as `dve.load` reads it: its kind, configuration and tensors (weights-only loadable)."""
    return {"embedding": KIND, "hyper_parameters": {"config": asdict(model.cfg)}, "key": key, "seconds": seconds,
            "state_dict": {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}}


def fit_stage(train_counts: np.ndarray, config: PCAConfig, out_dir: str | Path, data_key: str) -> PCAEncoder:
    """Chapter 4's encoder as a PCA: fitted on the stage's training spectra and written to `out_dir/dve.ckpt`
    (atomically), or read back when a fit of the same configuration, code and data is there.

    The DVE training's mark of a finished run in `out_dir` is removed: its checkpoint has been replaced, so
    a later `embedding: dve` trains again rather than reuse the PCA's file."""
    import sys

    from .dve import load

    out_dir = Path(out_dir)
    path = out_dir / "dve.ckpt"
    key = training.run_key([asdict(config)], (sys.modules[__name__],), data_key)
    if path.exists():
        found = training.load_checkpoint(path)
        if isinstance(found, dict) and found.get("embedding") == KIND and found.get("key") == key:
            return load(path, config.n_channels)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "finished.key").unlink(missing_ok=True)
    start = time.perf_counter()
    model = fit(train_counts, config)
    with atomic_path(path) as tmp:
        torch.save(checkpoint(model, key, time.perf_counter() - start), tmp)
    return model
