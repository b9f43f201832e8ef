"""Chapter 8: the shift suite is data and each shift changes the spectra as named; the adaptation refuses
what it cannot adapt to, brings shifted latents closer to the training ones, and `xrfnb adapt` writes a
model folder that `xrfnb recolour --run` uses. Everything at tiny sizes."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from xrfnb.embedding import adapt, dve
from xrfnb.synthetic import shifts, synth


@pytest.fixture(scope="module")
def suite():
    return shifts.load()


@pytest.fixture(scope="module")
def base(palette):
    """A 16 px image of four flat quadrants (red, blue, ochre, white), synthesised with the default palette."""
    colours = np.array([[[180, 30, 20], [30, 40, 160]], [[200, 150, 60], [240, 240, 230]]], np.uint8)
    image = np.kron(colours, np.ones((8, 8, 1), np.uint8))
    return synth.synthesize(image, palette, seed=0, n_start=4, delta=1)


def window(spectrum, energy, centre, half=0.15):
    return spectrum[np.abs(energy - centre) <= half].sum() / spectrum.sum()


def test_the_suite_is_data_with_every_shift_the_issue_names(suite):
    assert {"unshifted", "tube", "detector", "counts_low", "counts_high", "physics", "fresco", "blur",
            "combined"} <= set(suite)
    assert suite["combined"].instrument and suite["combined"].counts_factor != 1 and suite["combined"].blur_sigma
    assert shifts.table(suite).loc["unshifted", "changes"] == "nothing"
    assert len(shifts.digest()) == 64


def test_a_bad_suite_is_refused_in_one_line(tmp_path):
    for text, match in (("a: {instrument: {anode_kv: 3}}", "unknown instrument field"),
                        ("a: {colour: red}", "unknown key"), ("a: {mixing: cubic}", "mixing must be"),
                        ("a: {counts_factor: 0}", "counts_factor must be positive"),
                        ("a: {sample_model: stone}", "unknown sample model")):
        (tmp_path / "s.yml").write_text(text)
        with pytest.raises(ValueError, match=match) as err:
            shifts.load(str(tmp_path / "s.yml"))
        assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such shift suite"):
        shifts.load(str(tmp_path / "none.yml"))


def test_instrument_and_sample_shifts_change_the_spectra_as_named(suite, palette, base):
    energy = palette.energy
    tube = suite["tube"].palette(palette)
    assert tube.measured_with().anode == "Rh" and tube.measured_with().tube_kv == 50
    rh_ka, mo_ka = 20.2, 17.48  # the anodes' K alpha lines, scattered by the sample
    assert window(tube.spectra.sum(0), energy, rh_ka) > 3 * window(palette.spectra.sum(0), energy, rh_ka)
    assert window(tube.spectra.sum(0), energy, mo_ka) < window(palette.spectra.sum(0), energy, mo_ka)
    wide = suite["detector"].palette(palette)
    assert wide.measured_with().fwhm_ev(5.9) > 1.5 * palette.measured_with().fwhm_ev(5.9)
    # a broader peak puts less of the strongest line's counts in its own channel
    k = int(palette.spectra.max(1).argmax())
    assert wide.spectra[k].max() < 0.8 * palette.spectra[k].max()
    fresco = suite["fresco"].palette(palette)
    assert fresco.sample == "fresco"
    assert window(fresco.spectra.mean(0), energy, 3.69) > window(palette.spectra.mean(0), energy, 3.69)  # Ca K alpha
    shifted = suite["tube"].synthesis(base, tube)
    np.testing.assert_array_equal(shifted.labels, base.labels)  # same painting, same clusters
    np.testing.assert_allclose(shifted.mixtures, synth.mixtures_of(base.weights, tube.spectra))


def test_drawing_shifts_change_counts_blur_mixing_and_calibration(suite, palette, base):
    cube = base.cube()
    totals = {name: suite[name].cube(suite[name].synthesis(base, palette), palette.energy).sum(-1)
              for name in ("counts_low", "counts_high")}
    assert (totals["counts_low"] == round(base.counts * 0.1)).all()
    assert (totals["counts_high"] == base.counts * 10).all()
    blurred = suite["blur"].synthesis(base, palette)
    assert blurred.blur_sigma == 1.5 and base.blur_sigma == 0
    assert len(base.cluster_rgb) > 1
    pure = (blurred._cluster_weights().max(1) > 0.999).mean()
    assert pure < 0.9  # pixels near an edge see more than one cluster
    physics = suite["physics"].synthesis(base, palette)
    assert not np.allclose(physics.mixtures, base.mixtures, atol=1e-4)
    np.testing.assert_allclose(physics.mixtures[:2], synth.physics_mixtures(base.weights[:2], palette), rtol=1e-10)
    moved = suite["calibration"].cube(base, palette.energy)
    mean_e = lambda c: (c.sum((0, 1)) * palette.energy).sum() / c.sum()  # noqa: E731
    assert mean_e(moved) - mean_e(cube) == pytest.approx(-0.05, abs=0.01)
    assert moved.sum() == pytest.approx(cube.sum(), rel=0.01)


def test_test_images_spread_over_the_paintings():
    class Store:
        painting = np.array([0, 0, 0, 1, 1, 2, 2, 2])

        def indices(self, split):
            return np.arange(8)

    picked = shifts.pick_test_images(Store(), 3)
    assert sorted(Store.painting[picked]) == [0, 1, 2]


@pytest.fixture(scope="module")
def trained(palette):
    """A tiny DVE trained on mixtures of the palette's spectra at 400 counts, and its training spectra."""
    rng = np.random.default_rng(0)
    mix = rng.dirichlet(np.ones(12), 1500) ** 3
    spectra = np.stack([rng.multinomial(400, m / m.sum()) for m in (mix / mix.sum(1, keepdims=True)) @ palette.spectra])
    config = dve.DVEConfig(n_channels=len(palette.energy), encoder_widths=(32, 16, 16, 8), decoder_widths=(8, 16, 32),
                           n_clusters=3, warmup_epochs=1, ramp_epochs=1)
    torch.manual_seed(0)
    model = dve.DVE(config)
    model.train()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x = torch.as_tensor(spectra, dtype=torch.float32)
    for step in range(150):
        batch = x[torch.randint(len(x), (128,))]
        loss = model.losses(batch, 0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), spectra.astype(np.int16), mix


def test_adaptation_refuses_bad_targets_in_one_line(trained):
    model, spectra, _ = trained
    cases = ((spectra[:10], "10 pixels with counts; adaptation needs at least 64"),
             (np.zeros((100, 512)), "no overlap in energy range"),
             (spectra[:, :256], "256 channels, but the DVE was trained on 512"))
    for target, match in cases:
        with pytest.raises(adapt.AdaptError, match=match) as err:
            adapt.adapt(model, spectra, target)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown adaptation method"):
        adapt.AdaptConfig(method="cycle")


def test_adaptation_brings_shifted_latents_to_the_training_ones(trained, palette):
    model, spectra, mix = trained
    rng = np.random.default_rng(5)
    shifted = np.stack([rng.multinomial(40, m / m.sum()) for m in (mix / mix.sum(1, keepdims=True)) @ palette.spectra])
    for method in adapt.METHODS:
        result = adapt.adapt(model, spectra, shifted, adapt.AdaptConfig(method=method, steps=150, batch=128, lr=1e-3))
        assert result.pixels == len(shifted) and result.seconds > 0
        if method == "mmd":
            assert result.mmd_after < 0.5 * result.mmd_before
        assert result.drift < 0.1 * float(torch.as_tensor(adapt._encode(model, torch.as_tensor(spectra[:500]).float())).var(0).sum())
    # the model given is left as it was
    same = adapt.adapt(model, spectra, shifted, adapt.AdaptConfig(steps=1))
    assert same.mmd_before == pytest.approx(result.mmd_before)


def test_kernel_mmd_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 3, generator=gen), torch.randn(400, 3, generator=gen)
    assert abs(float(adapt.kernel_mmd(a, b))) < 0.02
    assert float(adapt.kernel_mmd(a, b + 1.0)) > 0.2
