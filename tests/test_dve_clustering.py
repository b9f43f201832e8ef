"""The DVE's clustering terms (`dve_clustering`): DCN, the authors' silhouette loss, its differentiable form."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import silhouette_score

from xrfnb.embedding import dve, dve_losses

from test_dve import config, spectra


def fit(tmp_path, clustering, counts=None, epochs=3, **kw):
    counts = spectra()[0] if counts is None else counts
    model, csv = dve.train(counts[:480], counts[480:], config(clustering=clustering, silhouette_k_min=2, **kw),
                           epochs, 64, tmp_path / "run", accelerator="cpu")
    return model, pd.read_csv(csv).groupby("epoch").mean(numeric_only=True)


def test_silhouette_equals_scikit_learns_and_is_undefined_for_one_cluster():
    g = torch.Generator().manual_seed(0)
    z, labels = torch.randn(300, 3, generator=g), torch.randint(0, 4, (300,), generator=g)
    labels[0] = 9  # a cluster of one
    assert dve_losses.silhouette(z, labels).item() == pytest.approx(silhouette_score(z.numpy(), labels.numpy()),
                                                                    abs=1e-5)
    assert dve_losses.silhouette(z, torch.zeros(300, dtype=torch.long)) is None


def test_iterative_kmeans_chooses_k_by_silhouette():
    g = torch.Generator().manual_seed(1)
    z = torch.cat([0.1 * torch.randn(100, 3, generator=g) + c for c in (0.0, 3.0, 6.0)])
    torch.manual_seed(0)
    labels, k, s = dve_losses.iterative_kmeans(z, 2, 6, 10)
    assert k == 3 and s > 0.9
    assert s == pytest.approx(silhouette_score(z.numpy(), labels.numpy()), abs=1e-5)


@pytest.mark.parametrize("clustering", dve_losses.CLUSTERINGS)
def test_every_variant_trains_and_leaves_centroids_for_the_lookup(tmp_path, clustering):
    model, per_epoch = fit(tmp_path, clustering)
    for term in ("loss", "rec", "mmd", "kl", "clust"):
        assert np.isfinite(per_epoch[f"train_{term}"]).all() and np.isfinite(per_epoch[f"val_{term}"]).all()
    assert per_epoch["train_clust"].iloc[-1] > 0  # the clustering term is on after the warm-up
    assert bool(model.centroids_ready) and len(np.unique(model.assign(model.centroids).numpy())) == 3
    if clustering != "dcn":
        assert per_epoch["train_clust_k"].dropna().between(2, 3).all()  # K searched in [2, n_clusters]


def _grads(loss, params):
    return torch.cat([g.flatten() for g in torch.autograd.grad(loss, params, retain_graph=True)])


@pytest.mark.parametrize("clustering, has_gradient", [("silhouette", False), ("silhouette-grad", True)])
def test_only_the_differentiable_silhouette_carries_a_gradient(clustering, has_gradient):
    model = dve.DVE(config(clustering=clustering, silhouette_k_min=2, dropout=0.0))
    counts = torch.as_tensor(spectra(256)[0])
    torch.manual_seed(0)
    terms = model.losses(counts, epoch=5)  # after warm-up and ramp: gamma at its maximum
    params = list(model.encoder.parameters())
    gamma = model.cfg.weights(5)[1]
    base = terms["rec"] + model.cfg.weights(5)[0] * terms["mmd"] + model.cfg.kl * terms["kl"]
    assert terms["clust_undefined"].item() == 0 and 0 < terms["clust"].item() < 1
    assert terms["clust"].requires_grad == has_gradient
    factor = (1 + gamma * terms["clust"].item()) / (1 + gamma)
    total, scaled_base = _grads(terms["loss"], params), factor * _grads(base, params)
    if has_gradient:
        clust = _grads(terms["clust"], params)
        assert clust.abs().max() > 0 and torch.isfinite(clust).all()
        assert not torch.allclose(total, scaled_base)
    else:  # the authors' float: the clustering term only rescales the loss's gradient
        torch.testing.assert_close(total, scaled_base)


@pytest.mark.parametrize("clustering", ["silhouette", "silhouette-grad"])
def test_a_single_cluster_batch_gives_a_finite_loss_and_is_counted(tmp_path, clustering):
    same = np.repeat(spectra(1)[0], 600, axis=0)  # every latent identical: K-means finds one cluster
    model = dve.DVE(config(clustering=clustering, silhouette_k_min=2, dropout=0.0))
    terms = model.losses(torch.as_tensor(same[:64]), epoch=5)
    base = terms["rec"] + model.cfg.weights(5)[0] * terms["mmd"] + model.cfg.kl * terms["kl"]
    assert torch.isfinite(terms["loss"]) and terms["clust_undefined"].item() == 1
    torch.testing.assert_close(terms["loss"], base)  # the undefined term leaves the loss as it is
    _, per_epoch = fit(tmp_path, clustering, counts=same, epochs=3, dropout=0.0)
    assert np.isfinite(per_epoch["train_loss"]).all()
    batches = 480 // 64  # per training epoch (drop_last)
    assert list(per_epoch["train_clust_undefined"]) == [0, batches, batches]  # off in the warm-up, then every batch


def test_an_unknown_clustering_is_one_line_listing_the_known_ones():
    with pytest.raises(ValueError) as err:
        dve.DVEConfig(clustering="kmeans")
    assert str(err.value) == "dve_clustering: unknown value 'kmeans' (known: dcn, silhouette, silhouette-grad)"
    with pytest.raises(ValueError) as err:  # the stage's parameters: refused before any data is read
        dve.DVEParams(dve_clustering="vade")
    assert str(err.value) == ("04_train_dve: dve_clustering: unknown value 'vade' "
                              "(known: dcn, silhouette, silhouette-grad)")
