"""The pooled decoder: its total-variation pooling is scikit-image's, it keeps edges, and it trains
deterministically and is reused once trained."""

import numpy as np
import pytest
import torch
from skimage.restoration import denoise_tv_chambolle

from xrfnb.models import pooled


def test_tv_denoise_is_scikit_image_chambolle():
    x = np.random.default_rng(0).normal(size=(2, 3, 20, 24))
    ours = pooled.tv_denoise(torch.from_numpy(x), 0.3, iterations=40).numpy()
    theirs = np.stack([denoise_tv_chambolle(im, weight=0.3, eps=0, max_num_iter=40, channel_axis=0) for im in x])
    np.testing.assert_allclose(ours, theirs, atol=1e-10)


def test_pooling_removes_noise_and_keeps_an_edge():
    rng = np.random.default_rng(1)
    clean = np.zeros((1, 1, 32, 32))
    clean[..., 16:] = 4.0  # two regions, one vertical edge
    noisy = torch.from_numpy(clean + rng.normal(size=clean.shape))
    out = pooled.tv_denoise(noisy, 1.0, iterations=100).numpy()
    assert np.abs(out - clean).mean() < 0.5 * np.abs(noisy.numpy() - clean).mean()
    jump = out[..., 16].mean() - out[..., 15].mean()
    assert jump > 3.0  # a box blur of width 3 would leave under 2/3 of the 4.0 step at the edge


def _toy(n=6, size=16, seed=0):
    """Two-region images whose latent says the colour, with noise."""
    rng = np.random.default_rng(seed)
    mask = np.zeros((n, 1, size, size), bool)
    mask[..., size // 2:] = True
    latent = np.where(mask, 1.0, -1.0) * np.ones((n, 3, size, size)) + rng.normal(scale=0.8, size=(n, 3, size, size))
    rgb = np.where(mask.transpose(0, 2, 3, 1), np.array([220, 40, 40]), np.array([40, 40, 220])).astype(np.uint8)
    return latent.astype(np.float32), rgb


def test_train_is_deterministic_learns_and_is_reused(tmp_path):
    x, rgb = _toy()
    cfg = pooled.PooledConfig(weights=(0.5,), steps=150, batch_pixels=256, lr=1e-2)
    a = pooled.train(x, rgb, cfg, tmp_path / "a")
    b = pooled.train(x, rgb, cfg, tmp_path / "b")
    for p, q in zip(a.state_dict().values(), b.state_dict().values()):
        assert torch.equal(p, q)
    pred = a(torch.from_numpy(x)).detach()
    target = torch.from_numpy(rgb).permute(0, 3, 1, 2).float() / 255
    assert (pred - target).abs().mean() < 0.1
    (tmp_path / "a" / "pooled.pt").touch()  # reused: loading gives the same weights without training
    again = pooled.train(x, rgb, cfg, tmp_path / "a")
    assert torch.equal(again.model[0].weight, a.model[0].weight)
    other = pooled.train(x, rgb, pooled.PooledConfig(weights=(0.5,), steps=20, batch_pixels=256), tmp_path / "a")
    assert not torch.equal(other.model[0].weight, a.model[0].weight)  # another recipe retrains


def test_features_have_one_copy_per_strength():
    module = pooled.PooledRecolouring(pooled.PooledConfig(weights=(0.1, 0.3, 1.0)))
    assert module.features(torch.zeros(2, 3, 8, 8)).shape == (2, 12, 8, 8)
    assert module(torch.zeros(2, 3, 8, 8)).shape == (2, 3, 8, 8)


def test_paired_words_read_the_interval():
    from xrfnb import prose

    assert prose.paired(0.02, (0.01, 0.03)).endswith("a measurable gain")
    assert prose.paired(-0.02, (-0.03, -0.01)).endswith("a measurable loss")
    assert prose.paired(0.02, (-0.01, 0.05)).endswith("no measurable effect")
