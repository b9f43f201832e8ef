"""Evaluation helpers and the non-learned baseline (the real-data path: test_realdata.py)."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from test_dataset import seed_folder  # noqa: F401  (the fixture)
from xrfnb import metrics
from xrfnb.models import baselines
from xrfnb.evaluation import evaluate


def test_cluster_colour_baseline_predicts_each_clusters_mean_training_colour():
    centroids = np.array([[0.0, 0, 0], [5.0, 5, 5]])
    emb = np.zeros((2, 3, 2, 2), np.float32)
    emb[:, :, 1, :] = 5.0  # bottom row in cluster 1
    rgb = np.zeros((2, 2, 2, 3), np.uint8)
    rgb[0, 0], rgb[1, 0] = (100, 0, 0), (200, 0, 0)  # cluster 0: mean red 150
    rgb[:, 1] = (0, 0, 255)
    pred = baselines.ClusterColour(centroids).fit([(emb[:1], rgb[:1]), (emb[1:], rgb[1:])]).predict(emb)
    assert pred.shape == (2, 3, 2, 2)
    np.testing.assert_allclose(pred[0, :, 0, 0], [150 / 255, 0, 0], atol=1e-6)
    np.testing.assert_allclose(pred[1, :, 1, 1], [0, 0, 1], atol=1e-6)


def test_unet_baseline_is_about_smalluvits_size():
    n = sum(p.numel() for p in baselines.SmallUNet().parameters())
    assert abs(n - 3_485_076) / 3_485_076 < 0.05


def test_paper_table_reads_the_versioned_values_and_bootstraps_over_paintings():
    per_image = pd.DataFrame({"srgb_loss": [0.2, 0.4, 0.3, 0.3], "ms_ssim": [0.8, 0.8, 0.9, 1.2],
                              "uiqi": [0.5, 0.5, 0.5, 0.5]})
    table = evaluate.paper_vs_reproduced(per_image, np.array([0, 0, 1, 2]), "smoke")
    rows = table.set_index("metric")
    assert rows.loc["ms_ssim", "paper"] == 0.9196 and rows.loc["srgb_loss", "paper"] == 0.1148
    assert rows.loc["ms_ssim", "difference"] == pytest.approx(0.925 - 0.9196)
    assert rows.loc["srgb_loss / 3 (if the paper normalised)", "reproduced"] == pytest.approx(0.1)
    assert pd.isna(rows.loc["uiqi", "paper"]) and set(table["profile"]) == {"smoke"}
    assert (rows["test paintings"] == 3).all()
    assert rows.loc["ms_ssim", "95 % interval low"] < 0.925 < rows.loc["ms_ssim", "95 % interval high"]
    assert rows.loc["uiqi", "95 % interval low"] == pytest.approx(0.5)


def test_examples_are_best_typical_and_worst():
    table = pd.DataFrame({"ms_ssim": [0.5, 0.9, 0.1, 0.6, 0.4]}, index=[10, 11, 12, 13, 14])
    assert evaluate.pick_examples(table) == {"best": 11, "typical": 10, "worst": 12}


def test_a_test_split_too_small_is_refused(tmp_path):
    from test_smalluvit import make_store

    make_store(tmp_path / "e.h5", n=6)
    with h5py.File(tmp_path / "e.h5", "r+") as h5:
        split = h5["split"][()]
        split[split == 2] = 1
        h5["split"][...] = split
    from xrfnb.embedding.embedded import EmbeddedStore

    with pytest.raises(ValueError, match="the test split has 0 samples"):
        evaluate.test_split(EmbeddedStore(tmp_path / "e.h5"))


def test_the_robustness_of_the_cubes_as_trained_is_the_sweeps_row_at_their_counts(seed_folder, tmp_path, palette,
                                                                                 monkeypatch):  # noqa: F811
    """The cubes as trained are the counts sweep's at the dataset's counts, drawn the same: scored once."""
    from test_dataset import generate
    from test_smalluvit import tiny_config

    from xrfnb.embedding import dve
    from xrfnb.models import recolour
    from xrfnb.synthetic.dataset import Store

    generate(seed_folder, tmp_path, palette, samples=12, size=32, threshold=0.6, n_start=8, delta=2)
    store = Store(tmp_path / "dataset.h5")
    torch.manual_seed(0)
    encoder, module = dve.DVE(dve.DVEConfig()), recolour.Recolouring(tiny_config(32))
    drawn = []
    recolour_syntheses = evaluate.recolour_syntheses
    monkeypatch.setattr(evaluate, "recolour_syntheses", lambda sy, *a, **k: drawn.append(sy) or recolour_syntheses(
        sy, *a, **k))
    asked = []  # the physics-mixing cubes are drawn with the dataset's own clustering settings
    synthesize = evaluate.synth.synthesize
    monkeypatch.setattr(evaluate.synth, "synthesize", lambda *a, **k: asked.append(k) or synthesize(*a, **k))
    by_counts, by_option = evaluate.robustness(store, palette, encoder, module, store.indices("test")[:2],
                                               [100, store.config.counts])
    assert asked and all((k["threshold"], k["n_start"], k["delta"]) == (0.6, 8, 2) for k in asked)
    assert len(drawn) == 2 + 3  # the sweep, then the options but the cubes as trained
    pd.testing.assert_series_equal(by_option.iloc[0], by_counts.loc[store.config.counts], check_names=False)
    again = recolour_syntheses([store.synthesis(int(i)) for i in store.indices("test")[:2]], encoder, module)
    assert by_option.iloc[0]["ms_ssim"] == metrics.evaluate(
        torch.from_numpy(again), evaluate.rgb_tensor(np.stack([store.rgb(int(i)) for i in store.indices("test")[:2]])))[
        "ms_ssim"]
