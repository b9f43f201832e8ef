"""The palette's public API and its export in the layout of the paper's `ganx` library."""

import json

import numpy as np
import pytest

from xrfnb.palette import physics, pigments


def test_paper_palette_api(palette):
    assert len(palette) == 12
    assert palette.names[0] == "Red Ochre" and "Titanium White" in palette.names
    assert palette.rgb.dtype == np.uint8 and palette.rgb.shape == (12, 3)
    assert palette.energy.shape == (512,)
    assert palette.energy[0] == pytest.approx(0.5 + 38 / 1024)
    assert all(isinstance(c, dict) and c for c in palette.compositions)


def test_channel_count_is_configurable():
    p = pigments.paper_palette(n_channels=1024)
    assert p.spectra.shape == (12, 1024)


def test_ganx_export_reads_back(palette, tmp_path):
    index = palette.export_ganx(tmp_path)
    layout = json.loads(index.read_text())
    assert layout["Cinnabar"]["RGB"] == [228, 77, 46]
    back = pigments.load_ganx(index)
    assert back.names == palette.names
    np.testing.assert_allclose(back.spectra, palette.spectra)
    np.testing.assert_allclose(back.energy, palette.energy)


def test_ganx_itself_reads_the_export(palette, tmp_path, monkeypatch):
    ganx = pytest.importorskip("ganx.XRF_generator_classes")
    monkeypatch.chdir(tmp_path)  # ganx opens the "xrf" paths relative to the working directory
    palette.export_ganx(tmp_path)
    db = ganx.PigmentDataBaseUtils(str(tmp_path / "palette.json"), E_int=[0.5, 38.5], rebin_size=512)
    assert set(db.pigments_dict_data) == set(palette.names)
    y = db.pigments_dict_data["Cobalt Blue"]["xrf"]["y"]
    assert y.sum() == pytest.approx(1.0)


def test_palette_file_round_trip(palette, tmp_path):
    back = pigments.Palette.load(palette.save(tmp_path / "palette.h5"))
    assert back.names == palette.names and back.compositions == palette.compositions
    np.testing.assert_array_equal(back.spectra, palette.spectra)


def test_missing_palette_file_is_named(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.h5"):
        pigments.Palette.load(tmp_path / "nope.h5")


def test_visible_lines_find_the_pigments_own_elements(palette):
    plaster = palette.spectra[palette.names.index("Carbon Black")]
    s = palette.spectra[palette.names.index("Cinnabar")]
    labels = [l for l, _ in pigments.visible_lines(palette.compositions[1], s, plaster, palette.energy)]
    assert "Hg La" in labels and "Hg Lb" in labels


def test_the_default_palette_is_the_reference_sample_model(palette):
    assert palette.sample == "reference"


def test_fresco_puts_calcium_in_every_pigment_and_reference_does_not(palette):
    fresco = pigments.paper_palette(sample=physics.FrescoSample())
    ca = physics.line_energy("Ca", "KL3")
    cinnabar = palette.names.index("Cinnabar")
    assert pigments.window_share(fresco.spectra[cinnabar], fresco.energy, ca) > 0.05
    assert pigments.window_share(palette.spectra[cinnabar], palette.energy, ca) < 0.01


def test_an_unknown_sample_model_lists_the_known_ones():
    with pytest.raises(ValueError, match="unknown sample model 'gesso'.*reference, fresco"):
        physics.sample_model("gesso")


def test_the_sample_model_survives_save_and_load(palette, tmp_path):
    assert pigments.Palette.load(palette.save(tmp_path / "p.h5")).sample == "reference"
