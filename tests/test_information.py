"""What the cubes carry: pigments kept, nats of colour per pixel and the oracle colour floor."""

import numpy as np
import pytest

from xrfnb.synthetic import information, synth
from xrfnb.palette import physics, pigments


def two_cluster_sample(mixtures: np.ndarray, counts: int = 400) -> synth.Synthesis:
    labels = np.zeros((16, 16), dtype=np.uint8)
    labels[:, 8:] = 1
    return synth.Synthesis(labels=labels, cluster_rgb=np.array([[1.0, 0, 0], [0, 0, 1.0]]),
                           weights=np.eye(2), mixtures=mixtures, seed=0, image_index=0, counts=counts)


def test_nats_are_zero_for_identical_mixtures_and_grow_with_counts():
    same = np.full((2, 4), 0.25)
    assert information.colour_nats(same, [0.5, 0.5], 400) == pytest.approx(0.0, abs=1e-9)
    apart = np.array([[0.7, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.7]])
    one = information.colour_nats(apart, [0.5, 0.5], 100)
    assert one > 0 and information.colour_nats(apart, [0.5, 0.5], 400) == pytest.approx(4 * one)


def test_nats_match_the_kl_formula():
    p = np.array([[0.5, 0.5], [0.9, 0.1]])
    shares = np.array([0.25, 0.75])
    mean = shares @ p
    kl = (p * np.log(p / mean)).sum(1)
    assert information.colour_nats(p, shares, 10) == pytest.approx(10 * shares @ kl)


def test_the_oracle_is_perfect_when_mixtures_differ_and_blind_when_they_do_not():
    apart = two_cluster_sample(np.array([[0.97, 0.01, 0.01, 0.01], [0.01, 0.01, 0.01, 0.97]]))
    rgb = (apart.clustered_rgb() * 255).astype(np.uint8)
    floor = information.oracle_floor(apart, rgb, apart.cube(), pools=(1,))[0]
    assert floor["accuracy"] == 1.0 and floor["srgb_loss"] < 1e-3
    same = two_cluster_sample(np.full((2, 4), 0.25))
    blind = information.oracle_floor(same, rgb, same.cube(), pools=(1,))[0]
    assert blind["accuracy"] == 0.5 and blind["srgb_loss"] > 0.5


def test_the_clustered_image_is_the_ceiling_in_every_metric():
    """The data's ceiling: a perfect decoder still paints cluster means, so it scores what the clustered
    image scores, and the per-pixel oracle can only do worse in MS-SSIM, UIQI, sRGB and CIEDE2000."""
    close = two_cluster_sample(np.array([[0.3, 0.2, 0.25, 0.25], [0.2, 0.3, 0.25, 0.25]]), counts=30)
    rng = np.random.default_rng(0)
    rgb = np.clip(close.clustered_rgb() * 255 + rng.normal(0, 20, (16, 16, 3)), 0, 255).astype(np.uint8)
    ceiling = information.clustered_ceiling(close, rgb)
    oracle = information.oracle_floor(close, rgb, close.cube(), pools=(1,))[0]
    assert set(information.FLOOR_METRICS) <= set(ceiling) and set(information.FLOOR_METRICS) <= set(oracle)
    assert ceiling["ms_ssim"] > oracle["ms_ssim"] and ceiling["uiqi"] > oracle["uiqi"]
    assert ceiling["srgb_loss"] < oracle["srgb_loss"] and ceiling["delta_e2000"] < oracle["delta_e2000"]
    exact = information.clustered_ceiling(close, (close.clustered_rgb() * 255).astype(np.uint8))
    assert exact["ms_ssim"] == pytest.approx(1.0, abs=1e-4) and exact["srgb_loss"] < 1e-3


def test_pooling_rescues_pixels_with_few_counts():
    close = two_cluster_sample(np.array([[0.3, 0.2, 0.25, 0.25], [0.2, 0.3, 0.25, 0.25]]), counts=30)
    cube = close.cube()
    single = (information.oracle_labels(cube, close.mixtures, 1) == close.labels).mean()
    pooled = (information.oracle_labels(cube, close.mixtures, 5) == close.labels).mean()
    assert pooled > single + 0.15


def test_sensitivity_lists_every_model_threshold_and_count(palette):
    crop = np.random.default_rng(0).integers(0, 256, (24, 24, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=0)
    table = information.sensitivity([(s, crop)], {"reference": palette}, [0.2, 0.8], [100, 400], pools=(1,))
    assert len(table) == 4 and set(table["threshold"]) == {0.2, 0.8}
    low, high = table[table["threshold"] == 0.2], table[table["threshold"] == 0.8]
    assert low["pigments_kept"].iloc[0] > high["pigments_kept"].iloc[0]
    assert information.best_threshold(table, "reference", 400) in (0.2, 0.8)


def test_sensitivity_scores_each_samples_clustered_image_once_and_as_each_measurement_would(palette, monkeypatch):
    """Re-matching a sample's clusters to other thresholds, models or counts keeps the clusters, so the
    clustered image's scores (`..._clustered`) are computed once per sample and equal each row's own."""
    crops = np.random.default_rng(2).integers(0, 256, (2, 24, 24, 3), dtype=np.uint8)
    samples = [(synth.synthesize(crop, palette, seed=i), crop) for i, crop in enumerate(crops)]
    ceiling = information.clustered_ceiling
    calls = []
    monkeypatch.setattr(information, "clustered_ceiling", lambda s, rgb: calls.append(s) or ceiling(s, rgb))
    table = information.sensitivity(samples, {"reference": palette}, [0.2, 0.8], [100, 400], pools=(1,))
    assert len(calls) == 2
    one = information.measure(information.resynthesise(samples[1][0], palette, 0.8, 100), samples[1][1], palette,
                              0.8, (1,))
    assert one["ms_ssim_clustered"] == ceiling(samples[1][0], samples[1][1])["ms_ssim"]
    means = table.set_index(["threshold", "counts"])["ms_ssim_clustered"]
    assert means.nunique() == 1 and means.iloc[0] == pytest.approx(np.mean([ceiling(s, rgb)["ms_ssim"]
                                                                            for s, rgb in samples]))


def test_the_reference_model_has_more_colour_than_the_fresco_model(palette):
    fresco = pigments.paper_palette(sample=physics.FrescoSample())
    crop = np.random.default_rng(1).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=0)
    table = information.sensitivity([(s, crop)], {"reference": palette, "fresco": fresco}, [0.75], [400],
                                    pools=(1,))
    nats = table.set_index("sample model")["nats_per_pixel"]
    assert nats["reference"] > 1.5 * nats["fresco"]


def test_line_contrasts_find_the_element_that_separates_two_pigments(palette):
    cinnabar, titanium = palette.names.index("Cinnabar"), palette.names.index("Titanium White")
    s = two_cluster_sample(palette.spectra[[cinnabar, titanium]])
    found = information.separating_elements(information.line_contrasts(s, palette.energy))
    by_element = {row["element"]: row for row in found}
    assert by_element["Hg L3M5"]["high"] == 0 and by_element["Ti KL3"]["high"] == 1


def test_pooled_decisions_are_those_of_the_pooled_counts():
    """Pooling the log-likelihoods is the cheap form of pooling the counts: every decision is the same."""
    from scipy import ndimage

    close = two_cluster_sample(np.array([[0.3, 0.2, 0.25, 0.25], [0.2, 0.3, 0.25, 0.25]]), counts=30)
    cube = close.cube()
    log_p = np.log(close.mixtures)
    for pool in (3, 5):
        summed = ndimage.uniform_filter(cube.astype(np.float64), size=(pool, pool, 1), mode="nearest")
        assert (information.oracle_labels(cube, close.mixtures, pool) == (summed @ log_p.T).argmax(-1)).all()


def test_measurements_do_not_depend_on_the_number_of_workers(palette):
    crops = np.random.default_rng(1).integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    samples = [(synth.synthesize(crop, palette, seed=i), crop) for i, crop in enumerate(crops)]
    alone = information.diagnostics(samples, palette, 0.75, pools=(1, 3))
    shared = information.diagnostics(samples, palette, 0.75, pools=(1, 3), workers=2)
    assert list(alone.columns) == list(shared.columns) and len(shared) == 3
    np.testing.assert_allclose(shared.values, alone.values, rtol=1e-5, atol=1e-6)


def test_clusters_of_one_mixture_go_to_the_first_of_them_whatever_the_rounding():
    """Three clusters, two of which draw from the same mixture up to rounding: the oracle cannot tell those
    two apart, so all their pixels go to the first, and the third keeps its own."""
    mixtures = np.array([[0.4, 0.3, 0.2, 0.1], [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    mixtures[2, 0] += 4e-18  # what the threshold's pigment weights leave behind
    labels = np.repeat(np.arange(3, dtype=np.uint8), 64).reshape(12, 16)
    s = synth.Synthesis(labels=labels, cluster_rgb=np.eye(3), weights=np.eye(3), mixtures=mixtures, seed=0,
                        image_index=0, counts=400)
    assert list(information.first_alike(mixtures)) == [0, 1, 0]
    for pool in (1, 3):
        decided = information.oracle_labels(s.cube(), mixtures, pool)
        assert set(np.unique(decided[labels != 1])) == {0}
        assert (decided[labels == 1] == 1).mean() > 0.9
