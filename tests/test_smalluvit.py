"""SmallUViT and its training: shapes, the paper's parameter count, SPT, LSA, loss, overfitting, bad input."""

import h5py
import numpy as np
import pytest
import torch

from xrfnb.embedding import embedded
from xrfnb import metrics
from xrfnb.models import recolour, smalluvit

TINY = dict(dim=32, heads=2, dim_head=16, depth_in=1, depth_mid=1, depth_out=1, drop_path=0.0)


@pytest.mark.parametrize("size, patch", [(32, 16), (48, 16), (64, 16), (24, 8)])
def test_output_has_the_input_image_shape(size, patch):
    model = smalluvit.SmallUViT(smalluvit.SmallUViTConfig(image_size=size, patch_size=patch, **TINY))
    assert model(torch.randn(2, 3, size, size)).shape == (2, 3, size, size)


@pytest.mark.parametrize("size", [64, 256])
def test_paper_configuration_has_the_papers_parameter_count(size):
    counts = smalluvit.parameter_counts(smalluvit.SmallUViT(smalluvit.SmallUViTConfig(image_size=size)))
    assert counts["paper count (no temperatures, no positional embedding)"] == 3_485_076
    assert counts["full"] == 3_485_076 + 7 + 192 * (size // 16) ** 2
    assert counts["shifted patch tokenization"] == 745_152 and counts["final convolution"] == 84


def test_concatenating_skips_are_an_option_with_more_parameters():
    counts = smalluvit.parameter_counts(smalluvit.SmallUViT(smalluvit.SmallUViTConfig(image_size=64, skip="concat")))
    assert counts["paper count (no temperatures, no positional embedding)"] == 3_485_076 + 3 * (2 * 192 * 192 + 192)


def test_shifted_patch_tokenization_shifts_by_half_a_patch_diagonally():
    spt = smalluvit.ShiftedPatchTokenization(1, 8, patch=16)
    image = torch.zeros(1, 1, 32, 32)
    image[0, 0, 8, 8] = 1.0
    stacked = spt.shifted(image)[0]
    assert stacked.shape == (5, 32, 32)
    found = {tuple(int(v) for v in torch.nonzero(ch)[0]) for ch in stacked}
    assert found == {(8, 8), (16, 16), (16, 0), (0, 16), (0, 0)}
    corner = torch.zeros(1, 1, 32, 32)
    corner[0, 0, 2, 2] = 1.0
    assert spt.shifted(corner)[0, 1:].sum() == 1.0  # shifted off the image: zero fill, nothing wraps


def test_lsa_never_attends_a_token_to_itself():
    lsa = smalluvit.LocalitySelfAttention(dim=8, heads=1, dim_head=8, dropout=0.0)
    x = torch.randn(3, 2, 8)
    v = lsa.to_qkv(x).chunk(3, dim=-1)[2]
    out = lsa(x)
    # with two tokens and the diagonal masked, each token can only take the other's value
    torch.testing.assert_close(out[:, 0], lsa.to_out(v[:, 1]))
    torch.testing.assert_close(out[:, 1], lsa.to_out(v[:, 0]))


def test_lsa_temperature_is_learnable():
    lsa = smalluvit.LocalitySelfAttention(dim=8, heads=2, dim_head=4, dropout=0.0)
    assert lsa.log_temperature.requires_grad
    assert lsa.log_temperature.exp().item() == pytest.approx(4 ** -0.5)
    lsa(torch.randn(2, 5, 8)).sum().backward()
    assert lsa.log_temperature.grad is not None and lsa.log_temperature.grad.abs() > 0


@pytest.mark.parametrize("arch", ["smalluvit", "unet", "pixel_mlp"])
def test_weight_decay_spares_biases_norms_temperatures_and_the_positional_embedding(arch):
    cfg = recolour.RecolourConfig(model=smalluvit.SmallUViTConfig(image_size=32, **TINY), arch=arch)
    module = recolour.Recolouring(cfg)
    decayed, kept = recolour.decay_groups(module.model, 0.05)
    assert decayed["weight_decay"] == 0.05 and kept["weight_decay"] == 0.0
    names = {id(p): n for n, p in module.model.named_parameters()}
    decayed_ids, kept_ids = {id(p) for p in decayed["params"]}, {id(p) for p in kept["params"]}
    assert decayed_ids | kept_ids == set(names) and not decayed_ids & kept_ids  # every parameter, once
    spared = {names[i] for i in kept_ids}
    assert all(module.model.get_parameter(n).ndim < 2 or n.endswith("pos_embedding") for n in spared)
    assert all(p.ndim >= 2 for p in decayed["params"])
    if arch == "smalluvit":
        assert {"pos_embedding"} <= spared and any(n.endswith("log_temperature") for n in spared)
    optimizer = module.configure_optimizers()["optimizer"]
    assert [g["weight_decay"] for g in optimizer.param_groups] == [0.05, 0.0]


def redmean_reference(a, b):
    """The formula pixel by pixel, in plain Python."""
    total = 0.0
    for (r1, g1, b1), (r2, g2, b2) in zip(a.reshape(3, -1).T.tolist(), b.reshape(3, -1).T.tolist()):
        r = (r1 + r2) / 2
        total += ((2 + r) * (r1 - r2) ** 2 + 4 * (g1 - g2) ** 2 + (3 - r) * (b1 - b2) ** 2) ** 0.5
    return total / (a.shape[-1] * a.shape[-2])


def test_srgb_loss_is_zero_for_identical_images_and_matches_the_formula():
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(1, 3, 5, 4, generator=g), torch.rand(1, 3, 5, 4, generator=g)
    assert metrics.srgb_loss(a, a).item() == pytest.approx(0.0, abs=1e-3)
    assert metrics.srgb_loss(a, b).item() == pytest.approx(redmean_reference(a[0], b[0]), rel=1e-5)
    black, white = torch.zeros(1, 3, 2, 2), torch.ones(1, 3, 2, 2)
    assert metrics.srgb_loss(black, white).item() == pytest.approx(3.0, rel=1e-6)


@pytest.mark.parametrize("size, scales", [(44, 3), (64, 3), (128, 4), (175, 4), (176, 5), (256, 5)])
def test_ms_ssim_uses_as_many_scales_as_the_size_allows(size, scales):
    assert metrics.ms_ssim_scales(size) == scales
    assert sum(metrics.ms_ssim_betas(size)) == pytest.approx(1.0, abs=2e-4)  # five: torchmetrics' own, summing to 1.0001
    x = torch.rand(1, 3, size, size)
    assert metrics.ms_ssim(x, x).item() == pytest.approx(1.0, abs=1e-4)


def test_a_tiny_batch_is_overfit_on_cpu():
    torch.manual_seed(0)
    module = recolour.Recolouring(recolour.RecolourConfig(
        model=smalluvit.SmallUViTConfig(image_size=32, **TINY), lr=3e-3, augment=False))
    x, y = torch.randn(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    opt = torch.optim.Adam(module.parameters(), lr=3e-3)
    first = metrics.srgb_loss(module(x), y).item()
    for _ in range(300):
        opt.zero_grad()
        loss = metrics.srgb_loss(module(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.35 * first


def test_augmentation_moves_input_and_target_together_through_all_eight_symmetries():
    x = torch.arange(3 * 4 * 4, dtype=torch.float32).reshape(1, 3, 4, 4).repeat(64, 1, 1, 1)
    xa, ya = recolour.augment(x, x.clone(), torch.Generator().manual_seed(1))
    torch.testing.assert_close(xa, ya)
    changed = (xa != x).flatten(1).any(1)
    assert 0 < int(changed.sum()) < len(x)  # an identity augmentation changes nothing and fails here
    seen = {tuple(a[0, 0].tolist()) for a in xa}
    assert len(seen) == 8  # the 4 rotations of the image and of its mirror


def make_store(path, n=12, size=32, channels=3, nan_at=None):
    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as h5:
        emb = rng.normal(size=(n, channels, size, size)).astype(np.float16)
        if nan_at is not None:
            emb[nan_at, 0, 0, 0] = np.nan
        h5["embedded"] = emb
        h5["rgb"] = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
        h5["split"] = np.array([0] * (n - 4) + [1, 1, 2, 2], dtype=np.uint8)
        h5["done"] = np.ones(n, bool)
        h5.attrs.update(complete=True, key=f"test-{n}-{size}-{channels}-{nan_at}")
    return embedded.EmbeddedStore(path)


def tiny_config(size=32):
    return recolour.RecolourConfig(model=smalluvit.SmallUViTConfig(image_size=size, **TINY), lr=1e-3)


def test_training_writes_checkpoints_that_load_back(tmp_path):
    store = make_store(tmp_path / "emb.h5")
    module, csv = recolour.train(store, tiny_config(), 2, 4, tmp_path / "run")
    for name in ("best.ckpt", "last.ckpt", "metrics.csv"):
        assert (tmp_path / "run" / name).exists()
    loaded = recolour.load(tmp_path / "run" / "best.ckpt", tiny_config().model)
    x = store.arrays("test")[0]
    np.testing.assert_array_equal(recolour.predict(module, x), recolour.predict(loaded, x))
    assert (recolour.predict(loaded, x) >= 0).all() and (recolour.predict(loaded, x) <= 1).all()


def test_store_that_does_not_fit_the_model_is_refused(tmp_path):
    with pytest.raises(ValueError, match="embedded images are 4 x 32 x 32, the model expects 3 x 32 x 32"):
        recolour.train(make_store(tmp_path / "e4.h5", channels=4), tiny_config(), 1, 4, tmp_path / "r")
    with pytest.raises(ValueError, match="the model expects 3 x 48 x 48"):
        recolour.train(make_store(tmp_path / "e.h5"), tiny_config(48), 1, 4, tmp_path / "r")


def test_checkpoint_of_another_configuration_is_refused(tmp_path):
    recolour.train(make_store(tmp_path / "emb.h5"), tiny_config(), 1, 4, tmp_path / "run")
    with pytest.raises(ValueError, match="another configuration"):
        recolour.load(tmp_path / "run" / "best.ckpt", smalluvit.SmallUViTConfig(image_size=32))
    with pytest.raises(FileNotFoundError, match="no model checkpoint"):
        recolour.load(tmp_path / "missing.ckpt")


def test_nan_in_a_batch_stops_training_naming_step_and_sample(tmp_path):
    store = make_store(tmp_path / "emb.h5", nan_at=3)
    with pytest.raises(ValueError, match=r"training step \d+: NaN or infinite values in sample\(s\) \[3\]"):
        recolour.train(store, tiny_config(), 1, 4, tmp_path / "run")


def test_image_size_not_divisible_by_the_patch_is_refused():
    with pytest.raises(ValueError, match="image size 50 is not divisible by the patch size 16"):
        smalluvit.SmallUViTConfig(image_size=50)


@pytest.mark.parametrize("kind, kernel", [("mlp", 1), ("conv", 3)])
def test_a_pixel_path_beside_the_tokens_adds_full_resolution_detail_and_its_parameters(kind, kernel):
    plain = smalluvit.SmallUViTConfig(image_size=32, **TINY)
    cfg = smalluvit.SmallUViTConfig(image_size=32, pixel_path=kind, pixel_width=8, **TINY)
    counts = smalluvit.parameter_counts(smalluvit.SmallUViT(cfg))
    assert counts["pixel path"] == (3 * 8 + 8 * 8) * kernel ** 2 + 8 + 8 + 8 * 3 + 3
    assert counts["full"] == smalluvit.parameter_counts(smalluvit.SmallUViT(plain))["full"] + counts["pixel path"]
    torch.manual_seed(0)
    model = smalluvit.SmallUViT(cfg).eval()
    x = torch.randn(1, 3, 32, 32)
    y = x.clone()
    y[..., 5, 5] += 1.0  # one pixel changed inside a patch: through the path, the output there changes
    delta = (model(y) - model(x)).abs()[0].sum(0)
    assert delta[4:7, 4:7].sum() > 0
    with pytest.raises(ValueError, match="pixel_path must be one of none, mlp, conv"):
        smalluvit.SmallUViTConfig(image_size=32, pixel_path="stem")


def test_warmup_then_cosine_rises_linearly_and_decays_to_zero():
    f = recolour.warmup_cosine(100, 0.1)
    values = [f(s) for s in range(101)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert all(a > b for a, b in zip(values[10:100], values[11:101]))
    assert values[100] == pytest.approx(0.0, abs=1e-12) and values[55] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="unknown schedule 'step'"):
        recolour.RecolourConfig(schedule="step")


def test_a_split_held_in_memory_gives_the_samples_the_store_gives(tmp_path):
    store = make_store(tmp_path / "emb.h5")
    cached, streamed = recolour.EmbeddedSamples(store, "train"), recolour.EmbeddedSamples(store, "train", 0)
    assert cached.cached is not None and streamed.cached is None
    for j in range(len(cached)):
        for a, b in zip(cached[j], streamed[j]):
            torch.testing.assert_close(torch.as_tensor(a), torch.as_tensor(b), rtol=0, atol=0)


def curve(tmp_path, name, **changes):
    import dataclasses

    import pandas as pd

    cfg = dataclasses.replace(tiny_config(), **changes)
    recolour.train(make_store(tmp_path / f"{name}.h5", n=40), cfg, 3, 4, tmp_path / name)
    return pd.read_csv(tmp_path / name / "metrics.csv")


def test_training_on_cpu_is_deterministic_and_samples_the_training_ms_ssim(tmp_path):
    a, b = curve(tmp_path, "a"), curve(tmp_path, "b")
    timing = ["epoch_seconds", "items_per_s", "epoch_total_seconds"]
    pd_testing = __import__("pandas").testing
    pd_testing.assert_frame_equal(a.drop(columns=timing), b.drop(columns=timing))
    assert a["train_ms_ssim"].notna().all() and (a["epoch_total_seconds"] >= a["epoch_seconds"]).all()


def test_training_keeps_deterministic_algorithms_but_does_not_fill_new_memory(tmp_path):
    """Filling every new tensor with NaN (a debugging aid of deterministic mode) slowed the U-Net's CPU step
    on shared cores; turning it off must leave the trained weights bit for bit the same."""
    from xrfnb import training

    def weights(fill: bool) -> list[torch.Tensor]:
        torch.utils.deterministic.fill_uninitialized_memory = fill
        torch.manual_seed(0)
        model = recolour.build_model(recolour.RecolourConfig(tiny_config().model, arch="unet"))
        opt, g = torch.optim.AdamW(model.parameters(), 1e-3), torch.Generator().manual_seed(1)
        for _ in range(2):
            x, y = torch.randn(4, 3, 32, 32, generator=g), torch.rand(4, 3, 32, 32, generator=g)
            opt.zero_grad()
            metrics.srgb_loss(model(x), y).backward()
            opt.step()
        return [p.detach().clone() for p in model.parameters()]

    training.trainer(tmp_path, 1, training.Scale())
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.utils.deterministic.fill_uninitialized_memory
    assert all(torch.equal(a, b) for a, b in zip(weights(True), weights(False)))


def test_the_cosine_recipe_lowers_the_rate_every_epoch(tmp_path):
    lr = curve(tmp_path, "cos", schedule="cosine", warmup=0.0)["lr"].to_numpy()
    assert lr[0] == pytest.approx(1e-3) and (np.diff(lr) < 0).all()
