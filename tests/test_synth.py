"""The synthetic MA-XRF generator: the paper's semantics, exact counts, determinism, realism options."""

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from xrfnb.synthetic import synth


# --- an independent CIEDE2000 (Sharma, Wu & Dalal 2005) and sRGB -> CIELAB (D65), for checking ---------

def srgb_to_lab(rgb):
    c = np.asarray(rgb, dtype=float)
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array([[0.4124564, 0.3575761, 0.1804375], [0.2126729, 0.7151522, 0.0721750],
                  [0.0193339, 0.1191920, 0.9503041]])
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > (6 / 29) ** 3, np.cbrt(xyz), xyz / (3 * (6 / 29) ** 2) + 4 / 29)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def ciede2000(lab1, lab2):
    L1, a1, b1 = lab1
    L2, a2, b2 = lab2
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cm = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cm**7 / (Cm**7 + 25**7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp, dCp = L2 - L1, C2p - C1p
    dh = h2p - h1p
    if C1p * C2p == 0:
        dh = 0.0
    elif dh > 180:
        dh -= 360
    elif dh < -180:
        dh += 360
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lpm, Cpm = (L1 + L2) / 2, (C1p + C2p) / 2
    if C1p * C2p == 0:
        hpm = h1p + h2p
    elif abs(h1p - h2p) <= 180:
        hpm = (h1p + h2p) / 2
    else:
        hpm = (h1p + h2p + 360) / 2 if h1p + h2p < 360 else (h1p + h2p - 360) / 2
    T = (1 - 0.17 * np.cos(np.radians(hpm - 30)) + 0.24 * np.cos(np.radians(2 * hpm))
         + 0.32 * np.cos(np.radians(3 * hpm + 6)) - 0.20 * np.cos(np.radians(4 * hpm - 63)))
    dtheta = 30 * np.exp(-(((hpm - 275) / 25) ** 2))
    Rc = 2 * np.sqrt(Cpm**7 / (Cpm**7 + 25**7))
    Sl = 1 + 0.015 * (Lpm - 50) ** 2 / np.sqrt(20 + (Lpm - 50) ** 2)
    Sc, Sh = 1 + 0.045 * Cpm, 1 + 0.015 * Cpm * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


def test_independent_ciede2000_matches_sharmas_published_pairs():
    assert ciede2000((50, 2.6772, -79.7751), (50, 0, -82.7485)) == pytest.approx(2.0425, abs=1e-4)
    assert ciede2000((50, -1.3802, -84.2814), (50, 0, -82.7485)) == pytest.approx(1.0000, abs=1e-4)
    assert ciede2000((60.2574, -34.0099, 36.2677), (60.4626, -34.1751, 39.4387)) == pytest.approx(1.2644, abs=1e-4)


def test_alpha_weights_equal_the_ciede2000_formula(palette):
    colours = np.random.default_rng(3).random((6, 3))
    alpha = synth.ciede2000_similarity(colours, palette.rgb)
    for k, c in enumerate(colours):
        for p, rgb in enumerate(palette.rgb):
            expected = (101 - ciede2000(srgb_to_lab(c), srgb_to_lab(rgb / 255))) / 101
            assert alpha[k, p] == pytest.approx(expected, abs=2e-3)


def test_threshold_keeps_similar_pigments_and_falls_back_to_the_best():
    alpha = np.array([[0.9, 0.1, 0.5], [0.15, 0.05, 0.1]])
    w = synth.pigment_weights(alpha, threshold=0.2)
    np.testing.assert_array_equal(w, [[0.9, 0, 0.5], [0.15, 0, 0]])


def test_mixtures_are_convex_combinations_of_palette_spectra(palette):
    crop = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=1)
    assert (s.weights >= 0).all() and ((s.weights > 0).sum(1) >= 1).all()
    coeff = s.weights / s.weights.sum(1, keepdims=True)
    np.testing.assert_allclose(s.mixtures, coeff @ palette.spectra, rtol=1e-12)
    np.testing.assert_allclose(s.mixtures.sum(1), 1.0)


def test_every_pixel_holds_exactly_counts_photons(palette):
    crop = np.random.default_rng(0).integers(0, 256, (24, 20, 3), dtype=np.uint8)
    cube = synth.synthesize(crop, palette, seed=1, counts=137).cube()
    assert cube.shape == (24, 20, 512) and cube.dtype == np.int16
    assert (cube.sum(-1) == 137).all() and (cube >= 0).all()


def test_mean_spectrum_of_a_cluster_converges_to_its_mixture(palette):
    flat = np.full((64, 64, 3), (160, 64, 48), dtype=np.uint8)  # one colour: one cluster
    s = synth.synthesize(flat, palette, seed=2)
    assert len(s.cluster_rgb) == 1
    n = 64 * 64 * 400
    mean = s.cube().reshape(-1, 512).sum(0) / n
    p = s.mixtures[0]
    assert (np.abs(mean - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-6).all()


def test_same_seed_same_cube_and_different_seed_different_cube(palette):
    crop = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    a = synth.synthesize(crop, palette, seed=5, image_index=3)
    assert np.array_equal(a.cube(), synth.synthesize(crop, palette, seed=5, image_index=3).cube())
    assert not np.array_equal(a.cube(), synth.synthesize(crop, palette, seed=6, image_index=3).cube())
    assert not np.array_equal(a.cube(), synth.synthesize(crop, palette, seed=5, image_index=4).cube())


@pytest.mark.parametrize("options", [{}, {"blur_sigma": 1.5, "poisson": True}])
def test_torch_sampler_draws_the_same_cube_as_the_compiled_kernel(palette, options):
    crop = np.random.default_rng(1).integers(0, 256, (16, 12, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=9, **options)
    np.testing.assert_array_equal(s.cube(device="cpu"), _torch_cube(s))


def _torch_cube(s):
    """Force the torch code path on the CPU (the one a GPU runs)."""
    key = int(synth.seed_sequence(s.seed, s.image_index, 1).generate_state(1, np.uint64)[0])
    prob, alias = synth.alias_tables(s.mixtures)
    if s.blur_sigma > 0:
        cdf = np.cumsum(s._cluster_weights(), 1)
        cdf[:, -1] = 1.0
        counts = synth._draw_torch(None, cdf, s.pixel_totals(), prob, alias, key, "cpu")
    else:
        counts = synth._draw_torch(s.labels.ravel(), None, s.pixel_totals(), prob, alias, key, "cpu")
    return counts.reshape(s.shape)


def test_k_is_chosen_from_the_sweep_by_silhouette(palette):
    crop = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=0, n_start=10, delta=1)
    assert set(s.silhouette) == {9, 10}
    assert len(s.cluster_rgb) == max(s.silhouette, key=s.silhouette.get)


def test_silhouette_agrees_with_scikit_learn():
    rng = np.random.default_rng(4)
    x = rng.random((300, 3))
    labels = rng.integers(0, 5, 300)
    assert synth.silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-7)


def test_cluster_colour_is_the_mean_of_its_pixels(palette):
    crop = np.random.default_rng(2).integers(0, 256, (20, 20, 3), dtype=np.uint8)
    s = synth.synthesize(crop, palette, seed=0)
    unit = crop / 255.0
    for k in range(len(s.cluster_rgb)):
        np.testing.assert_allclose(s.cluster_rgb[k], unit[s.labels == k].mean(0))


@pytest.mark.parametrize("image", [
    np.zeros((10, 10, 3), np.uint8),                                    # one colour
    np.repeat(np.array([[0], [255]], np.uint8), 5, 0).repeat(10, 1),    # two tones, greyscale 2-D
    np.full((8, 8, 4), 200, np.uint8),                                  # RGBA
    (np.random.default_rng(0).random((8, 8, 3)) * 65535).astype(np.uint16),  # 16-bit
])
def test_odd_images_do_not_break_the_k_sweep(palette, image):
    s = synth.synthesize(image, palette, seed=0)
    assert 1 <= len(s.cluster_rgb) <= 10
    assert (s.cube().sum(-1) == 400).all()


def test_bad_images_are_refused_with_a_reason(palette):
    with pytest.raises(ValueError, match="NaN"):
        synth.synthesize(np.full((4, 4, 3), np.nan), palette, seed=0)
    with pytest.raises(ValueError, match="shape"):
        synth.synthesize(np.zeros((4, 4, 5)), palette, seed=0)


def test_realism_options(palette):
    crop = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    totals = synth.synthesize(crop, palette, seed=0, poisson=True, counts=400).cube().sum(-1)
    assert totals.std() > 5 and abs(totals.mean() - 400) < 5
    ranged = synth.synthesize(crop, palette, seed=0, counts_range=(50, 2000))
    assert 50 <= ranged.counts <= 2000 and (ranged.cube().sum(-1) == ranged.counts).all()
    blurred = synth.synthesize(crop, palette, seed=0, blur_sigma=2.0)
    mix = blurred.pixel_mixtures()
    assert (blurred.cube().sum(-1) == 400).all()
    assert len(np.unique(mix.reshape(-1, 512).round(12), axis=0)) > len(blurred.cluster_rgb)
    physics = synth.synthesize(crop[:8, :8], palette, seed=0, mixing="physics")
    np.testing.assert_allclose(physics.mixtures.sum(1), 1.0)
    assert not np.allclose(physics.mixtures, synth.mixtures_of(physics.weights, palette.spectra))


def test_counts_beyond_int16_are_refused_not_wrapped(palette):
    crop = np.zeros((4, 4, 3), np.uint8)
    with pytest.raises(ValueError, match="int16"):
        synth.synthesize(crop, palette, seed=0, counts=40_000)
    with pytest.raises(ValueError, match="int16"):
        synth.draw_counts(palette.spectra[:1], np.array([40_000]), key=1, labels=np.array([0]))


def test_silhouette_ignores_gaps_in_the_label_numbers():
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(0, 0.1, (50, 3)), rng.normal(3, 0.1, (50, 3))])
    labels = np.repeat([0, 2], 50)  # label 1 unused
    assert synth.silhouette(x, labels) == pytest.approx(silhouette_score(x, labels), abs=1e-7)


@pytest.mark.parametrize("threshold", [synth.GANX_THRESHOLD, synth.THRESHOLD])
def test_weights_and_mixtures_equal_ganx_at_the_same_threshold(palette, threshold):
    generator = pytest.importorskip("ganx.XRF_generator_classes")
    ganx = generator.XRFGenerator.__new__(generator.XRFGenerator)
    ganx._distances = generator.Distances()
    pigments_dict = {name: {"rgb": rgb / 255.0, "RGB": rgb, "xrf": {"y": y.copy()}}
                     for name, rgb, y in zip(palette.names, palette.rgb.astype(float), palette.spectra)}
    colours = np.random.default_rng(7).random((8, 3))
    ours = synth.mixtures_of(synth.pigment_weights(synth.ciede2000_similarity(colours, palette.rgb), threshold),
                             palette.spectra)
    theirs = np.stack([ganx.get_distribution_from_rgb(c, pigments_dict, threshold=threshold) for c in colours])
    np.testing.assert_allclose(ours, theirs, rtol=1e-9, atol=1e-15)


@pytest.mark.parametrize("threshold", [0.0, -0.5, 1.5])
def test_a_threshold_outside_0_1_takes_the_most_similar_pigment_and_is_counted(threshold):
    alpha = np.array([[0.9, 0.1, 0.5], [0.15, 0.05, 0.1]])
    w = synth.pigment_weights(alpha, threshold)
    np.testing.assert_array_equal(w, [[0.9, 0, 0], [0.15, 0, 0]])
    assert synth.fallbacks(alpha, threshold) == 2


def test_fallbacks_count_the_clusters_no_pigment_passes():
    alpha = np.array([[0.9, 0.1, 0.5], [0.15, 0.05, 0.1]])
    assert synth.fallbacks(alpha, 0.2) == 1 and synth.fallbacks(alpha, 0.05) == 0
