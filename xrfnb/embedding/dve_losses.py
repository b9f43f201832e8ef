"""The DVE's loss terms: reconstruction, MMD, KL, and the clustering term chosen by `dve_clustering`.

Three clustering terms (SPEC §5):

* `dcn`: the Deep Clustering Network's (lambda/2)||z - m_assigned||^2 with online centroids, added to the
  loss [this project's first choice];
* `silhouette`: the authors' form as their public code for the companion paper (arXiv 2401.17695)
  computes it. Labels come from an iterative K-means on the batch's latent means, K chosen by the best
  silhouette over a range; the silhouette s is taken as a Python float, so s_loss = (1 - s)/2 carries no
  gradient and the loss is only rescaled: L * (1 + gamma * s_loss) / (1 + gamma);
* `silhouette-grad`: the same labels and the same combination, with the silhouette kept differentiable
  in the latent means (on a sampled subset of the batch), so the term pulls clusters apart.

When K-means finds a single cluster in a batch the silhouette is undefined; s_loss is then 1 (the worst
silhouette, as the authors' code falls back to s = -1), which makes the multiplicative factor exactly 1: the
batch trains on L alone. Such batches are counted and logged (`clust_undefined`).
"""

from __future__ import annotations

import torch
from torch.nn import functional as F

#: Values of `dve_clustering`.
CLUSTERINGS = ("dcn", "silhouette", "silhouette-grad")


def check_clustering(name: str) -> str:
    """`name` if it is a known clustering term, else a one-line error listing the known ones."""
    if name not in CLUSTERINGS:
        raise ValueError(f"dve_clustering: unknown value {name!r} (known: {', '.join(CLUSTERINGS)})")
    return name


def reconstruction_loss(log_p: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """Multinomial negative log-likelihood per photon: -sum_e c_e log p_e / N, averaged over spectra."""
    counts = counts.float()
    return -(counts * log_p).sum(-1).div(counts.sum(-1).clamp_min(1)).mean()


def mmd(z: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Squared MMD with InfoVAE's kernel k(x, y) = exp(-||x - y||^2 / D^2) (D the latent dimension)."""
    d2 = z.shape[-1] ** 2

    def k(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.exp(-torch.cdist(a, b).pow(2) / d2).mean()

    return k(z, z) + k(prior, prior) - 2 * k(z, prior)


def kl_divergence(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, var) || N(0, I)), averaged over the batch."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(-1).mean()


def update_centroids(centroids: torch.Tensor, counts: torch.Tensor, z: torch.Tensor,
                     assigned: torch.Tensor) -> None:
    """DCN's online update with step 1/count, in place, for a whole batch at once.

    Per point, m_k <- m_k - (1/count_k)(m_k - z) with count_k incremented first; over a batch this
    makes each centroid the running mean of the points ever assigned to it (its initial position
    counting once), which is what applying the per-point rule in sequence gives.
    """
    k = centroids.shape[0]
    n = torch.bincount(assigned, minlength=k).to(counts.dtype)
    sums = torch.zeros_like(centroids).index_add_(0, assigned, z)
    new_counts = counts + n
    moved = n > 0
    centroids[moved] += (sums[moved] - n[moved, None] * centroids[moved]) / new_counts[moved, None]
    counts.copy_(new_counts)


def distances(z: torch.Tensor) -> torch.Tensor:
    """Pairwise Euclidean distances (n, n) as sqrt(max(d^2, 1e-12)), zero on the diagonal: coincident points
    give a zero gradient, not a NaN."""
    d = (z[:, None] - z[None]).pow(2).sum(-1).clamp_min(1e-12).sqrt()
    return d * (1 - torch.eye(len(z), dtype=z.dtype, device=z.device))


def silhouettes(d: torch.Tensor, labels: torch.Tensor, k: int) -> torch.Tensor:
    """Mean silhouette of each labelling (m, n) of the points with distances `d` (n, n), labels in [0, k):
    shape (m,), NaN where fewer than two clusters are used (the silhouette is undefined).

    s_i = (b_i - a_i) / max(a_i, b_i), with a_i the mean distance to the other points of i's cluster and
    b_i the smallest mean distance to another (non-empty) cluster; s_i = 0 in a cluster of one (the
    convention of scikit-learn, whose `silhouette_score` this equals).
    """
    member = F.one_hot(labels, k).to(d.dtype)  # (m, n, k)
    size = member.sum(1)  # (m, k)
    to_cluster = torch.einsum("ij,mjk->mik", d, member)  # summed distances of each point to each cluster
    own = size.gather(1, labels)  # (m, n)
    a = to_cluster.gather(2, labels[..., None]).squeeze(-1) / (own - 1).clamp_min(1)
    other = (to_cluster / size[:, None].clamp_min(1)).masked_fill(member.bool() | (size[:, None] == 0),
                                                                    float("inf"))
    b = other.min(-1).values
    s = torch.where(own > 1, (b - a) / torch.maximum(a, b).clamp_min(1e-12), torch.zeros_like(a))
    used = (size > 0).sum(1)
    return torch.where(used > 1, s.mean(1), torch.full_like(s[:, 0], float("nan")))


def silhouette(z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor | None:
    """Mean silhouette of the points `z` (n, D) under `labels` (n,), differentiable in `z`; None when
    fewer than two clusters are present (the silhouette is undefined)."""
    _, labels = torch.unique(labels, return_inverse=True)
    s = silhouettes(distances(z), labels[None], int(labels.max()) + 1)[0]
    return None if torch.isnan(s) else s


@torch.no_grad()
def kmeans_pp(z: torch.Tensor, k: int) -> torch.Tensor:
    """k-means++ seeds (at most k; fewer when z has fewer distinct points), drawn from torch's global
    generator (seeded per epoch by the training). The first j seeds are k-means++ seeds for K = j."""
    centres = z[torch.randint(len(z), (1,), device=z.device)]
    for _ in range(1, k):
        d2 = torch.cdist(z, centres).pow(2).min(1).values
        if d2.sum() <= 0:
            break
        centres = torch.cat([centres, z[torch.multinomial(d2, 1)]])
    return centres


@torch.no_grad()
def kmeans(z: torch.Tensor, seeds: torch.Tensor, ks: list[int], iters: int) -> torch.Tensor:
    """Lloyd's K-means on `z` (n, D) for every K of `ks` at once, K = j starting from the first j `seeds`,
    `iters` steps: labels (len(ks), n). A cluster that empties keeps its centre."""
    k = len(seeds)
    valid = torch.arange(k, device=z.device)[None] < torch.as_tensor(ks, device=z.device)[:, None]
    centres = seeds.expand(len(ks), k, -1).clone()

    def assign(c: torch.Tensor) -> torch.Tensor:
        return torch.cdist(z.expand(len(ks), -1, -1), c).masked_fill(~valid[:, None], float("inf")).argmin(-1)

    for _ in range(iters):
        member = F.one_hot(assign(centres), k).to(z.dtype)  # (m, n, k)
        n = member.sum(1)[..., None]
        centres = torch.where(n > 0, member.transpose(1, 2) @ z / n.clamp_min(1), centres)
    return assign(centres)


@torch.no_grad()
def iterative_kmeans(z: torch.Tensor, k_min: int, k_max: int, iters: int) -> tuple[torch.Tensor | None, int, float]:
    """The authors' iterative K-means: K-means for every K in [k_min, k_max] (capped at the number of distinct
    points), keep the labels with the best silhouette. Returns (labels, K, silhouette), or (None, 1, nan)
    when K-means finds a single cluster (the silhouette is undefined)."""
    seeds = kmeans_pp(z, k_max)
    ks = sorted({min(k, len(seeds)) for k in range(k_min, k_max + 1)})
    if ks[-1] < 2:
        return None, 1, float("nan")
    labels = kmeans(z, seeds[:ks[-1]], ks, iters)
    s = silhouettes(distances(z), labels, ks[-1])
    if torch.isnan(s).all():
        return None, 1, float("nan")
    best = int(torch.nan_to_num(s, nan=-2.0).argmax())
    return labels[best], ks[best], float(s[best])


def silhouette_term(mu: torch.Tensor, k_min: int, k_max: int, iters: int, sample: int,
                    grad: bool) -> tuple[torch.Tensor, dict[str, float]]:
    """s_loss = (1 - s)/2 on a random subset of at most `sample` latent means, labelled by the iterative
    K-means; with `grad` the silhouette keeps its gradient in `mu`, else it is a constant (the authors' float).

    Returns s_loss and what to log: the K chosen and whether the silhouette was undefined (s_loss = 1).
    """
    if len(mu) > sample:
        mu = mu[torch.randperm(len(mu), device=mu.device)[:sample]]
    labels, k, s = iterative_kmeans(mu.detach(), k_min, k_max, iters)
    if labels is None:
        return mu.new_ones(()), {"clust_k": 1.0, "clust_undefined": 1.0}
    value = silhouette(mu, labels) if grad else mu.new_tensor(s)
    return (1 - value) / 2, {"clust_k": float(k), "clust_undefined": 0.0}


def rescale(loss: torch.Tensor, s_loss: torch.Tensor, gamma: float) -> torch.Tensor:
    """The authors' multiplicative combination L * (1 + gamma * s_loss) / (1 + gamma)."""
    return loss * (1 + gamma * s_loss) / (1 + gamma)
