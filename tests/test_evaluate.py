"""Evaluation helpers, the non-learned baseline and the real-data path."""

import h5py
import numpy as np
import pandas as pd
import pytest
import torch

from xrfnb import baselines, dve, evaluate, realdata, recolour, smalluvit


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


def test_paper_table_reads_the_versioned_values():
    table = evaluate.paper_vs_reproduced({"srgb_loss": 0.3, "ms_ssim": 0.9, "uiqi": 0.5}, "smoke")
    rows = table.set_index("metric")
    assert rows.loc["ms_ssim", "paper"] == 0.9196 and rows.loc["srgb_loss", "paper"] == 0.1148
    assert rows.loc["ms_ssim", "difference"] == pytest.approx(0.9 - 0.9196)
    assert rows.loc["srgb_loss / 3 (if the paper normalised)", "reproduced"] == pytest.approx(0.1)
    assert pd.isna(rows.loc["uiqi", "paper"]) and set(table["profile"]) == {"smoke"}


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
    from xrfnb.embedded import EmbeddedStore

    with pytest.raises(ValueError, match="the test split has 0 samples"):
        evaluate.test_split(EmbeddedStore(tmp_path / "e.h5"))


def write_cube(path, counts, energy=None, dataset="img", as_attr=False):
    with h5py.File(path, "w") as h5:
        h5[dataset] = counts
        if energy is not None and as_attr:
            h5[dataset].attrs["energy"] = energy
        elif energy is not None:
            h5["energy"] = energy
    return path


def test_real_cubes_load_in_the_ganx_layout_and_as_plain_datasets(tmp_path):
    counts = np.random.default_rng(0).integers(0, 5, (4, 5, 64))
    energy = np.linspace(0.2, 40, 64)
    a = realdata.load_cube(write_cube(tmp_path / "a.h5", counts))  # ganx: default 0.5-38.5 keV axis
    assert a.energy[0] == pytest.approx(0.5 + 38 / 128)
    b = realdata.load_cube(write_cube(tmp_path / "b.h5", counts, energy, dataset="cube", as_attr=True), dataset="cube")
    np.testing.assert_array_equal(b.energy, energy)
    with pytest.raises(ValueError, match="no dataset 'img'"):
        realdata.load_cube(tmp_path / "b.h5")
    with pytest.raises(FileNotFoundError):
        realdata.load_cube(tmp_path / "missing.h5")


def test_rebinning_conserves_counts_and_is_the_identity_on_the_same_axis():
    energy = 0.25 + 0.5 * np.arange(80)  # 0-40 keV in 0.5 keV channels
    counts = np.random.default_rng(1).integers(0, 50, (3, 2, 80)).astype(float)
    cube = realdata.Cube(counts, energy)
    np.testing.assert_allclose(realdata.rebin(cube, energy), counts, atol=1e-9)
    target = 2.5 + 1.0 * np.arange(30)  # 2-32 keV in 1 keV channels
    rebinned = realdata.rebin(cube, target)
    np.testing.assert_allclose(rebinned.sum(-1), counts[..., 4:64].sum(-1))
    np.testing.assert_allclose(rebinned[..., 0], counts[..., 4] + counts[..., 5])


def test_an_axis_that_does_not_cover_the_model_is_refused():
    cube = realdata.Cube(np.ones((1, 1, 10)), np.linspace(1, 20, 10))
    with pytest.raises(ValueError, match="does not cover the model's"):
        realdata.rebin(cube, np.linspace(0.5, 38.5, 512))


def test_recolouring_a_cube_of_any_size_tiles_it():
    torch.manual_seed(0)
    dve_model = dve.DVE(dve.DVEConfig(n_channels=32)).eval()
    module = recolour.Recolouring(recolour.RecolourConfig(
        model=smalluvit.SmallUViTConfig(image_size=16, patch_size=8, dim=16, heads=1, dim_head=8, depth_in=1,
                                        depth_mid=1, depth_out=1)))
    energy = np.linspace(1, 20, 32)
    cube = realdata.Cube(np.random.default_rng(0).integers(0, 9, (21, 37, 40)), np.linspace(0.5, 22, 40))
    rgb = realdata.recolour_cube(cube, dve_model, module, energy)
    assert rgb.shape == (21, 37, 3) and rgb.min() >= 0 and rgb.max() <= 1
