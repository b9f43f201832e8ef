"""The physics the palette rests on: line positions, detector resolution, escape peaks, bad input."""

import numpy as np
import pytest

from xrfnb.palette import physics


def peak_channel(energy, spectrum, near, window=0.3):
    """Channel of the local maximum of `spectrum` within `window` keV of `near`."""
    idx = np.flatnonzero(np.abs(energy - near) < window)
    return idx[np.argmax(spectrum[idx])]


@pytest.mark.parametrize("pigment, line_kev", [
    ("Red Ochre", 6.404),       # Fe K alpha1
    ("Cobalt Blue", 6.930),     # Co K alpha1
    ("Titanium White", 4.511),  # Ti K alpha1
    ("Cinnabar", 9.989),        # Hg L alpha1
])
def test_line_at_peak_maximum_within_one_channel(palette, pigment, line_kev):
    axis = physics.EnergyAxis()
    s = palette.spectra[palette.names.index(pigment)]
    assert abs(peak_channel(palette.energy, s, line_kev) - axis.channel(line_kev)) <= 1


def test_spectra_are_normalised_and_non_negative(palette):
    assert palette.spectra.shape == (12, 512)
    assert (palette.spectra >= 0).all()
    np.testing.assert_allclose(palette.spectra.sum(axis=1), 1.0, rtol=1e-12)


def fine_response(line_kev, instrument=physics.Instrument()):
    axis = physics.EnergyAxis(0.5, 12.5, 6000)  # 2 eV channels
    return axis.centres, physics.detector_response(np.array([line_kev]), np.array([1.0]), axis, instrument)


def test_fwhm_at_mn_k_alpha_is_that_of_a_silicon_drift_detector():
    e, r = fine_response(5.9)
    above = e[r >= r.max() / 2]
    fwhm_ev = (above.max() - above.min()) * 1e3
    assert 125 <= fwhm_ev <= 145
    assert fwhm_ev == pytest.approx(physics.Instrument().fwhm_ev(5.9), abs=4)


def test_escape_peak_sits_1_74_kev_below_the_photopeak():
    e, r = fine_response(10.0)
    esc = peak_channel(e, r, 10.0 - 1.74, window=0.2)
    assert abs(e[esc] - (10.0 - 1.74)) < 0.005
    assert 1e-4 < r[esc] / r.max() < 0.05  # a small fraction of the photopeak, as in real SDDs


def test_no_escape_peak_below_the_si_k_edge():
    assert physics.escape_fraction(np.array([1.5]))[0] == 0


def test_energy_axis_that_cannot_hold_the_lines_is_refused():
    with pytest.raises(ValueError, match="e_max=0.9 keV"):
        physics.EnergyAxis(0.1, 0.9, 512)
    with pytest.raises(ValueError, match="e_min < e_max"):
        physics.EnergyAxis(10, 5, 512)


def test_composition_that_does_not_parse_names_the_formula():
    with pytest.raises(ValueError, match=r"Azurite.*'Cu3\(CO3\)2\(OH'"):
        physics.parse_composition({"Cu3(CO3)2(OH": 1.0}, "Azurite")


def test_composition_fractions_are_renormalised():
    els = physics.parse_composition({"Fe2O3": 2.0, "SiO2": 2.0})
    assert sum(els.values()) == pytest.approx(1.0)
    assert els["Fe"] == pytest.approx(0.5 * 2 * 55.845 / 159.69, rel=1e-3)


def emitted_ratio(pigment: str, symbol: str, upper: list[str], lower: list[str]) -> float:
    """Emitted intensity of `upper` lines over `lower` lines of a thick layer of the pure pigment."""
    from xrfnb.palette import pigments

    composition = physics.parse_composition(pigments.palette_table()["pigments"][pigment]["composition"])
    energy, intensity = physics.sample_emission(physics.ReferenceSample().layers(composition, {}),
                                                physics.Instrument())

    def total(lines: list[str]) -> float:
        wanted = {physics.line_energy(symbol, line) for line in lines}
        return float(sum(intensity[np.isclose(energy, e, atol=1e-6)].sum() for e in wanted))

    return total(upper) / total(lower)


@pytest.mark.parametrize("pigment, symbol, upper, lower, reference", [
    ("Red Ochre", "Fe", ["KM3", "KM2"], ["KL3", "KL2"], 0.145),  # Fe K beta / K alpha (a fundamental-parameter reference)
    ("Cinnabar", "Hg", ["L3N5"], ["L3M5"], 0.212),  # Hg L beta2 / L alpha1
])
def test_line_ratios_agree_with_a_fundamental_parameter_reference(pigment, symbol, upper, lower, reference):
    assert emitted_ratio(pigment, symbol, upper, lower) == pytest.approx(reference, rel=0.15)


def test_cobalt_blue_and_smalt_stay_apart_in_cielab(palette):
    from skimage import color

    lab = color.rgb2lab(palette.rgb[None].astype(float) / 255)[0]
    cobalt, smalt = palette.names.index("Cobalt Blue"), palette.names.index("Smaltino")
    assert color.deltaE_ciede2000(lab[cobalt], lab[smalt]) > 5  # twice a just-noticeable difference and more
    others = [i for i in range(len(palette)) if i != cobalt]
    nearest = min(others, key=lambda i: color.deltaE_ciede2000(lab[cobalt], lab[i]))
    assert nearest == smalt  # the two blues: apart, yet each other's nearest


def test_the_lines_of_several_elements_are_each_elements_own_as_xraylib_gives_them_together():
    """`fluorescence_lines` keeps each element's table once computed (every paint and ground shares them):
    the lines of Ca, Fe, Hg and S in any order are xraylib's, computed for all four at once."""
    import xraylib_np as xrn

    e0, _ = physics.tube_spectrum(physics.Instrument())
    codes, _ = physics.iupac_lines()
    for z in (np.array([20, 26, 80, 16]), np.array([16, 20]), np.array([26])):
        energies = xrn.LineEnergy(z, codes)
        sigma = xrn.CS_FluorLine_Kissel_Cascade(z, codes, e0) / (4 * np.pi)
        i, j = np.nonzero((energies > 0) & (energies < 40.0) & (sigma.max(axis=2) > 0))
        found = physics.fluorescence_lines(z, e0, 40.0)
        for got, want in zip(found, (i, energies[i, j], sigma[i, j])):
            np.testing.assert_array_equal(got, want)
