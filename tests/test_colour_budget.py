"""The information budget (its rungs, ladder and sentence) and the like-for-like scoring with the paper."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from test_dataset import generate, seed_folder  # noqa: F401  (the fixture)
from xrfnb import metrics, plots, result_files
from xrfnb.embedding.embedded import EmbeddedStore
from xrfnb.evaluation import colour_budget, like_for_like, pixel_decoders
from xrfnb.synthetic import information
from xrfnb.synthetic.dataset import Store


def labelled_latent(labels: np.ndarray, spread: float, seed: int = 0) -> np.ndarray:
    """A 3-D latent (3, H, W) in which each cluster is a Gaussian cloud around its own centre."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(labels.max() + 1, 3)) * 10
    return (centres[labels] + spread * rng.normal(size=(*labels.shape, 3))).transpose(2, 0, 1)


def test_the_latent_oracle_recovers_separated_clusters_and_merges_alike_mixtures():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 4, (24, 24))
    mixtures = rng.dirichlet(np.ones(16), 4)
    found = colour_budget.latent_oracle_labels(labelled_latent(labels, 0.01), labels, mixtures)
    np.testing.assert_array_equal(found, labels)
    mixtures[3] = mixtures[1]  # clusters 1 and 3 draw from one mixture: nothing tells them apart
    found = colour_budget.latent_oracle_labels(labelled_latent(labels, 0.01), labels, mixtures)
    np.testing.assert_array_equal(found, np.where(labels == 3, 1, labels))


def test_a_pixel_decoder_learns_a_colour_its_input_determines():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 3)).astype(np.float32)
    y = 1 / (1 + np.exp(-x))  # every colour channel a function of one input
    recipe = pixel_decoders.PixelRecipe(hidden=32, epochs=30, batch=256, lr=1e-2)
    model = pixel_decoders.fit(x, y, recipe, seed=0)
    assert np.abs(pixel_decoders.predict(model, x) - y).mean() < 0.03
    again = pixel_decoders.fit(x, y, recipe, seed=0)
    np.testing.assert_array_equal(pixel_decoders.predict(again, x), pixel_decoders.predict(model, x))


@pytest.fixture
def budget_run(seed_folder, tmp_path, palette):  # noqa: F811
    """A small dataset and its embedded store, the latent a noisy function of each pixel's cluster."""
    generate(seed_folder, tmp_path, palette, samples=24, size=32)
    store = Store(tmp_path / "dataset.h5")
    latents = np.stack([labelled_latent(store.synthesis(i).labels, 1.0, i) for i in range(len(store))])
    with h5py.File(tmp_path / "embedded.h5", "w") as h5:
        h5["embedded"] = latents.astype(np.float16)
        h5["rgb"] = np.stack([store.rgb(i) for i in range(len(store))])
        h5["split"], h5["done"] = store.split, np.ones(len(store), bool)
        h5.attrs.update(complete=True, key="budget-test")
    return store, EmbeddedStore(tmp_path / "embedded.h5")


def test_the_ladder_is_ordered_where_its_definitions_order_it(budget_run):
    store, emb = budget_run
    sizes = colour_budget.BudgetSizes(2000, 500, pixel_decoders.PixelRecipe(hidden=16, epochs=1, batch=256))
    rows = colour_budget.measured_rungs(store, emb, sizes)
    table = colour_budget.ladder(rows)
    assert list(table.index) == list(colour_budget.RUNGS)
    ceiling = table.loc[colour_budget.CEILING]
    for name in (colour_budget.COUNTS_ORACLE, colour_budget.LATENT_ORACLE):  # they paint cluster colours
        assert table.loc[name, "ms_ssim"] <= ceiling["ms_ssim"] + 1e-6
        assert table.loc[name, "srgb_loss"] >= ceiling["srgb_loss"] - 1e-6
    test = emb.indices("test")  # the counts oracle is chapter 7's per-pixel floor, image by image
    s, rgb = store.synthesis(int(test[0])), store.rgb(int(test[0]))
    own = information.oracle_floor(s, rgb, s.cube(), (1,))[0]
    target = torch.as_tensor(rgb / 255.0, dtype=torch.float32).permute(2, 0, 1)[None]
    pred = s.cluster_rgb[information.oracle_labels(s.cube(), s.mixtures)].transpose(2, 0, 1)[None]
    assert colour_budget.scores(pred, target)["ms_ssim"][0] == pytest.approx(own["ms_ssim"], abs=1e-5)
    for _, row in table.iterrows():
        assert row["ms_ssim low"] <= row["ms_ssim"] <= row["ms_ssim high"]


def rows(values: dict[str, tuple[float, float, float]]) -> list[dict]:
    return [{"rung": name, "kind": "model", "ms_ssim": m, "ms_ssim low": lo, "ms_ssim high": hi,
             "srgb_loss": 1 - m, "srgb_loss low": 1 - hi, "srgb_loss high": 1 - lo, "pixels": 0, "seconds": 1.0}
            for name, (m, lo, hi) in values.items()]


def test_the_sentence_names_the_largest_loss_and_reads_its_numbers():
    table = colour_budget.ladder(rows({"top": (0.96, 0.95, 0.97), "middle": (0.94, 0.93, 0.95),
                                       "bottom": (0.88, 0.85, 0.91), "last": (0.87, 0.84, 0.90)}))
    big = colour_budget.largest_loss(table)
    assert (big["upper"], big["lower"], big["apart"]) == ("middle", "bottom", True)
    assert big["drop"] == pytest.approx(0.06)
    text = colour_budget.sentence(table)
    assert "from “middle” to “bottom”" in text and "0.8800" in text and "0.9400" in text
    assert "do not overlap" in text and "1 of the ladder's 3 steps separate" in text
    close = colour_budget.ladder(rows({"top": (0.96, 0.90, 0.99), "bottom": (0.95, 0.90, 0.99)}))
    assert "inside the 95 % interval" in colour_budget.sentence(close)
    assert "still overlap" in colour_budget.sentence(close)


def test_budget_files_are_written_whole_and_read_back(tmp_path):
    table = colour_budget.ladder(rows({"top": (0.96, 0.95, 0.97), "bottom": (0.88, 0.85, 0.91)}))
    result_files.write_colour_budget(tmp_path, table, "a sentence")
    back, text = result_files.read_colour_budget(tmp_path)
    assert text == "a sentence" and list(back.index) == ["top", "bottom"]
    assert back.loc["bottom", "ms_ssim drop"] == pytest.approx(0.08)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["colour_budget.csv", "colour_budget.json"]
    assert result_files.read_colour_budget(tmp_path / "none")[0].empty


def test_the_ladder_figure_is_legible(tmp_path):
    table = colour_budget.ladder(rows({"clustered image (the data's ceiling)": (0.96, 0.95, 0.97),
                                       "a per-pixel MLP with a long name": (0.88, 0.85, 0.91)}))
    fig = plots.budget_ladder(table)
    assert plots.rendered_min_points(fig) >= plots.MIN_POINTS - 1e-9


def test_five_scales_need_176_px_and_the_book_crops_have_four():
    assert metrics.ms_ssim_scales(256) == 5 and metrics.ms_ssim_scales(176) == 5
    assert metrics.ms_ssim_scales(175) == 4 and metrics.ms_ssim_scales(128) == 4
    assert metrics.ms_ssim_betas(256) == metrics.MS_SSIM_BETAS
    assert sum(metrics.ms_ssim_betas(256, 4)) == pytest.approx(1) and len(metrics.ms_ssim_betas(256, 4)) == 4
    with pytest.raises(ValueError, match="allows 1 to 4 scales"):
        metrics.ms_ssim_betas(128, 5)


def test_tiled_prediction_stitches_every_tile_in_its_place():
    torch.manual_seed(0)
    per_pixel = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.Sigmoid())  # no context: tiles = whole
    x = np.random.default_rng(0).normal(size=(2, 3, 64, 64)).astype(np.float32)
    whole = per_pixel(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(like_for_like.predict_tiled(per_pixel, x, 16), whole, atol=1e-6)
    with pytest.raises(ValueError, match="do not split into 24 px tiles"):
        like_for_like.predict_tiled(per_pixel, x, 24)


def test_large_crops_come_from_the_test_paintings_and_are_reproducible(seed_folder, tmp_path, palette):  # noqa: F811
    generate(seed_folder, tmp_path, palette)
    store = Store(tmp_path / "dataset.h5")
    a, rgb, painting = like_for_like.large_crops(store, seed_folder, palette, 64, 2)
    b, again, _ = like_for_like.large_crops(store, seed_folder, palette, 64, 2)
    assert set(painting) == set(store.painting[store.indices("test")]) and len(a) == 2 * len(set(painting))
    assert rgb.shape == (len(a), 64, 64, 3) and np.array_equal(rgb, again)
    assert np.array_equal(a[0].cube(), b[0].cube())
    with pytest.raises(ValueError, match="smaller than the 96 px crops"):
        like_for_like.large_crops(store, seed_folder, palette, 96, 1)


def test_the_split_gap_says_whether_it_lies_inside_the_test_interval():
    rng = np.random.default_rng(0)
    groups = np.repeat(np.arange(8), 5)
    test = 0.85 + np.repeat(rng.normal(0, 0.03, 8), 5)
    near = like_for_like.split_gap(test - 0.005, groups + 100, test, groups)
    far = like_for_like.split_gap(test - 0.2, groups + 100, test, groups)
    assert near["inside"] and not far["inside"]
    assert far["gap"] == pytest.approx(0.2)
    assert "spread between paintings" in like_for_like.gap_sentence(near)
    assert "larger than the spread" in like_for_like.gap_sentence(far)
    assert f"{near['test_painting_sd']:.4f}" in like_for_like.gap_sentence(near)


def test_the_like_for_like_table_scores_the_book_and_the_paper_ways():
    rng = np.random.default_rng(0)
    target = torch.from_numpy(rng.random((4, 3, 256, 256)).astype(np.float32))
    pred = (target + 0.05 * torch.randn(4, 3, 256, 256)).clamp(0, 1).numpy()
    book = {"ms_ssim": np.array([0.8, 0.9]), "srgb_loss": np.array([0.2, 0.1])}
    table = like_for_like.table(book, np.array([0, 1]), 128, pred, target, np.array([0, 0, 1, 1]))
    assert list(table["MS-SSIM scales"]) == [4, 5, 4]
    five = metrics.ms_ssim(torch.from_numpy(pred), target).item()
    assert table.iloc[1]["ms_ssim"] == pytest.approx(five, abs=1e-5)
    assert table.iloc[0]["ms_ssim"] == pytest.approx(0.85)


def test_the_budget_is_assembled_in_ladder_order_and_written(tmp_path, monkeypatch):
    """`run` as chapter 7 calls it: the measured rungs (fixed rows here), the pooled decoder and the book's
    models read from the comparison table, SmallUViT from its metrics per test image; the files hold it."""
    from xrfnb.evaluation import compared

    measured = rows({colour_budget.CEILING: (0.96, 0.95, 0.97), colour_budget.LATENT: (0.88, 0.85, 0.91)})
    monkeypatch.setattr(colour_budget, "measured_rungs", lambda store, emb, sizes: measured)
    book = colour_budget.book_models(3)
    comparison = pd.DataFrame(rows({compared.POOLED: (0.90, 0.88, 0.92), "not on the ladder": (0.5, 0.4, 0.6),
                                    **{row: (0.85, 0.83, 0.87) for row in book}})).set_index("rung")
    per_image = pd.DataFrame({"ms_ssim": [0.80, 0.84, 0.82, 0.78], "srgb_loss": [0.2, 0.18, 0.19, 0.21]})
    sizes = colour_budget.BudgetSizes(10, 10, pixel_decoders.PixelRecipe())
    budget = colour_budget.run(None, None, sizes, comparison, 3, per_image, np.array([0, 0, 1, 1]), tmp_path)
    assert list(budget.ladder.index) == [colour_budget.CEILING, colour_budget.LATENT, compared.POOLED,
                                         *book.values(), colour_budget.SMALLUVIT]
    assert budget.ladder.loc[colour_budget.SMALLUVIT, "ms_ssim"] == pytest.approx(0.81)
    assert budget.sentence == colour_budget.sentence(budget.ladder) and budget.seconds > 0
    back, text = result_files.read_colour_budget(tmp_path)
    assert text == budget.sentence and list(back.index) == list(budget.ladder.index)
