"""Measured scans from file to report: rebinning, thinning, elements, the tube, pigments, recolouring, models.

The scans are written in their formats by `test_readers`' writers.
"""

import base64
import os
import subprocess
import sys
import warnings
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from test_readers import COLS, ROWS, bad_files, emsa, pigment_scan, write_gse, write_scan, write_spx

from xrfnb.embedding import dve
from xrfnb.scans import explain, readers, realdata
from xrfnb import export
from xrfnb.palette import physics, pigments
from xrfnb.models import recolour, smalluvit
from xrfnb.pipeline.cli import main
from xrfnb.io import read_json

# ------------------------------------------------------------------------------------ onto the model's axis

def test_rebinning_conserves_counts_and_is_the_identity_on_the_same_axis():
    energy = 0.25 + 0.5 * np.arange(80)  # 0-40 keV in 0.5 keV channels
    counts = np.random.default_rng(1).integers(0, 50, (3, 2, 80)).astype(float)
    cube = realdata.Cube(counts, energy)
    np.testing.assert_allclose(realdata.rebin(cube, energy), counts, atol=1e-9)
    target = 2.5 + 1.0 * np.arange(30)  # 2-32 keV in 1 keV channels
    with pytest.warns(realdata.ScanWarning, match="left out"):
        rebinned = realdata.rebin(cube, target)
    np.testing.assert_allclose(rebinned.sum(-1), counts[..., 4:64].sum(-1))
    np.testing.assert_allclose(rebinned[..., 0], counts[..., 4] + counts[..., 5])


def test_a_scan_covering_part_of_the_axis_gets_zeros_and_a_warning_not_an_error():
    energy = 0.01 * np.arange(2440) + 0.005  # a detector stopping at 24.4 keV, like PyMca's Steel example
    counts = np.ones((2, 2, len(energy)))
    target = np.linspace(0.5, 38.5, 512)
    with pytest.warns(realdata.ScanWarning, match="channels outside the scan are zero"):
        rebinned = realdata.rebin(realdata.Cube(counts, energy), target)
    assert (rebinned[..., target > 24.5] == 0).all() and (rebinned[..., (target > 1) & (target < 24)] > 0).all()
    usable = realdata.covered(realdata.Cube(counts, energy), target)
    assert usable[(target > 1) & (target < 24)].all() and not usable[target > 24.5].any()


def test_counts_far_above_training_are_thinned_and_far_below_are_flagged():
    rng = np.random.default_rng(0)
    high = rng.poisson(40.0, (10, 10, 100)).astype(float)  # about 4000 per pixel
    with pytest.warns(realdata.ScanWarning, match="kept with probability"):
        thinned = realdata.thin_to(high, 400, tolerance=2)
    assert np.median(thinned.sum(-1)) == pytest.approx(400, rel=0.1) and (thinned <= high).all()
    low = high / 100
    with pytest.warns(realdata.ScanWarning, match="noisier than any the DVE saw"):
        assert realdata.thin_to(low, 400, tolerance=2) is low


# ------------------------------------------------------------------------------------ explaining a scan

def test_the_elements_of_a_synthetic_pigment_are_found(palette):
    counts = pigment_scan(palette, palette.energy).astype(float)
    usable = np.ones(len(palette.energy), bool)
    found = {line.symbol for line in explain.find_lines(counts.sum((0, 1)), palette.energy, usable)}
    assert {"Hg", "S", "Fe"} <= found  # cinnabar HgS, red ochre Fe2O3
    assert not found & {"Co", "Cu", "Zn", "Pb", "As"}  # in neither pigment nor the instrument
    maps = explain.element_maps(counts, explain.find_lines(counts.sum((0, 1)), palette.energy, usable))
    assert maps["Hg La"][:, :COLS // 2].mean() > 10 * maps["Hg La"][:, COLS // 2:].mean()
    assert maps["Fe Ka"][:, COLS // 2:].mean() > 10 * maps["Fe Ka"][:, :COLS // 2].mean()


IRON_PIGMENTS = ("Red Ochre", "Gold Ochre", "Dark Ochre", "Caput Mortuum")


def test_unmixing_finds_the_dominant_pigment_of_each_half(palette):
    counts = pigment_scan(palette, palette.energy).astype(float)
    best = explain.dominant(explain.unmix(counts, palette, np.ones(len(palette.energy), bool)))
    assert (best[:, :COLS // 2] == palette.names.index("Cinnabar")).all()
    # the iron pigments differ only in minor elements: which of them dominates a red ochre pixel is not
    # decided by 3000 counts, but an iron pigment always is
    iron = [palette.names.index(name) for name in IRON_PIGMENTS]
    assert np.isin(best[:, COLS // 2:], iron).all()


def standard(composition, n=3000, pixels=(4, 4), instrument=physics.Instrument(), seed=0):
    """Counts of a thick pure standard on the palette's 512-channel axis, measured by `instrument`."""
    axis = physics.EnergyAxis(0.5, 38.5, 512)
    p = pigments.pigment_spectrum(composition, axis, instrument, physics.ReferenceSample())
    return np.random.default_rng(seed).multinomial(n, p, size=pixels).astype(float)


def test_the_tubes_lines_and_scatter_peaks_are_the_tubes_not_the_samples(palette):
    usable = np.ones(len(palette.energy), bool)
    for anode, kv, absent in (("Mo", 40.0, {"Mo", "Nb"}), ("Rh", 50.0, {"Rh", "Ru", "Pd"})):
        instrument = physics.Instrument(anode=anode, tube_kv=kv)
        blank = standard({"C": 1.0}, instrument=instrument).sum((0, 1))  # a blank: carbon scatters the tube
        as_sample = {line.symbol for line in explain.find_lines(blank, palette.energy, usable)}
        assert anode in as_sample  # unlabelled, the anode's Rayleigh peak reads as the element
        peaks = explain.tube_peaks(anode, kv, instrument)
        found = explain.find_lines(blank, palette.energy, usable,
                                   reserved=explain.reserved_channels(peaks, palette.energy))
        assert not {line.symbol for line in found} & absent
        tube = explain.visible_tube_peaks(blank, palette.energy, usable, peaks)
        assert {f"{anode} KL3 (Rayleigh)", f"{anode} KL3 (Compton)"} <= set(tube)
    copper = standard({"Cu": 1.0}).sum((0, 1))  # the tube's peaks take nothing from the sample's
    peaks = explain.tube_peaks("Mo", 40.0, physics.Instrument())
    reserved = explain.reserved_channels(peaks, palette.energy)
    assert "Cu" in {line.symbol for line in explain.find_lines(copper, palette.energy, usable, reserved=reserved)}


def test_an_instrument_unlike_the_models_is_a_warning_naming_both():
    cube = readers.Cube(np.ones((1, 1, 100)), np.linspace(1, 20, 100),
                        instrument=readers.Recorded(anode="W", tube_kv=40.0, fwhm_ev=210.0))
    used, warnings = realdata.tube_in_use(cube, physics.Instrument())
    assert used["anode"] == "W" and used["from_scan"] == ["anode", "fwhm_ev", "tube_kv"]
    assert warnings[0].startswith("the scan was measured with a W tube at 40 kV, the model was trained for a Mo "
                                  "tube at 40 kV")
    assert warnings[1].startswith("the scan's detector resolves 210 eV at 5.9 keV, the model was trained for 1")
    same = readers.Cube(np.ones((1, 1, 100)), np.linspace(1, 20, 100), instrument=readers.Recorded(anode="Mo"))
    assert realdata.tube_in_use(same, physics.Instrument())[1] == []


def test_an_element_no_pigment_explains_is_listed_and_carbon_black_is_not_the_answer(palette):
    counts = standard({"Cu": 1.0})  # a pure copper standard: the paper's palette has no copper pigment
    usable = np.ones(len(palette.energy), bool)
    lines = explain.find_lines(counts.sum((0, 1)), palette.energy, usable)
    weights = explain.unmix(counts, palette, usable)
    carbon = palette.names.index("Carbon Black")
    assert (explain.dominant(weights) == carbon).all()  # the nearest fit is the pigment without lines
    assert explain.lineless(palette).tolist() == [name == "Carbon Black" for name in palette.names]
    honest = explain.dominant(weights, explain.lineless(palette),
                              explain.line_pixels(counts, explain.element_maps(counts, lines)))
    assert (honest == -1).all()
    mix = explain.mixture(counts.sum((0, 1)), palette, usable, lines)
    assert mix.unexplained["Cu"] > 0.95 and "Cu" in mix.significant and mix.reduced_chi2 > 100
    ochre = pigment_scan(palette, palette.energy).astype(float)  # the palette's own pigments: explained
    lines = explain.find_lines(ochre.sum((0, 1)), palette.energy, usable)
    mix = explain.mixture(ochre.sum((0, 1)), palette, usable, lines)
    assert max(mix.unexplained.values()) < 0.2 and mix.reduced_chi2 < 3
    assert "Carbon Black" not in mix.shares or mix.shares["Carbon Black"] < 0.1


# ------------------------------------------------------------------------------------ the whole path

def test_recolour_writes_the_images_and_the_report(tmp_path, palette, run_dir):
    path, written, energy = write_scan("ripple", tmp_path, palette)
    out = tmp_path / "out"
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == {"recoloured.png", "elements.png", "pigments.png", "report.json"}
    report = read_json(out / "report.json")
    assert report["format"] == "ripple" and report["shape"] == [ROWS, COLS, 2048]
    assert report["energy_keV"] == pytest.approx([energy[0], energy[-1]])
    assert report["counts_per_pixel"] == pytest.approx(np.median(written.sum(-1)))
    assert {"Hg", "Fe"} <= set(report["elements"])
    assert report["pigments"]["Cinnabar"] == 0.5
    iron, = [label for label in report["pigments"] if "Red Ochre" in label]
    assert report["pigments"][iron] == 0.5 and set(IRON_PIGMENTS) <= set(report["pigment_groups"][iron])
    assert any("kept with probability" in w for w in report["warnings"])  # 3000 counts against 400
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out")]


def test_recolour_is_deterministic_and_accepts_a_single_spectrum(tmp_path, palette, run_dir):
    path, _, _ = write_scan("mca", tmp_path, palette)
    first = realdata.recolour(path, run_dir, tmp_path / "a")
    second = realdata.recolour(path, run_dir, tmp_path / "b")
    assert first["shape"] == [1, 1, 2048] and "Hg" in first["elements"]
    assert any("outside the scan are zero" in w for w in first["warnings"])  # the .mca stops at 25.6 keV
    assert all(first[k] == second[k] for k in ("elements", "pigments", "warnings", "counts_per_pixel"))
    assert (tmp_path / "a" / "recoloured.png").read_bytes() == (tmp_path / "b" / "recoloured.png").read_bytes()


def test_recolour_labels_the_tube_and_warns_when_the_scan_had_another(tmp_path, palette, run_dir):
    width = float(palette.energy[1] - palette.energy[0])
    for anode, z, kv in (("Mo", 42, 40), ("Rh", 45, 50)):
        blank = standard({"C": 1.0}, instrument=physics.Instrument(anode=anode, tube_kv=kv)).sum((0, 1))
        path = write_spx(tmp_path / f"blank_{anode}.spx", blank, float(palette.energy[0]), width, str(z), kv)
        report = realdata.recolour(path, run_dir, tmp_path / anode)
        assert report["instrument"]["anode"] == anode and report["instrument"]["tube_kv"] == kv
        assert not {anode, "Nb", "Ru"} & set(report["elements"])
        assert f"{anode} KL3 (Rayleigh)" in report["tube_lines_keV"]
        mismatch = [w for w in report["warnings"] if "the model was trained for" in w]
        if anode == "Mo":
            assert not mismatch
        else:
            assert mismatch == [f"the scan was measured with a Rh tube at 50 kV, the model was trained for a Mo "
                                f"tube at 40 kV: its colours assume the other tube's excitation"]


def test_recolour_reports_copper_as_unexplained_not_as_carbon_black(tmp_path, palette, run_dir, capsys):
    spectrum = standard({"Cu": 1.0}, n=20000, pixels=(1, 1))[0, 0]
    spectrum[40] = -2  # a vendor's background correction left one channel below zero
    path = emsa(tmp_path / "copper.msa", np.interp(np.arange(3800) * 0.01, palette.energy, spectrum / 7.42))
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    report = read_json(tmp_path / "out" / "report.json")
    assert "Carbon Black" not in report["pigments"] and report["pixels_unexplained"] == 1.0
    assert report["unexplained_elements"]["Cu"] > 0.95 and report["mixture"]["reduced_chi2"] > 10
    assert any(w.startswith("Cu: ") and "explained by no pigment" in w for w in report["warnings"])
    assert report["negative_counts_clipped"]["values"] >= 1
    assert f"model {run_dir}" in capsys.readouterr().out


def test_recolour_reads_one_detector_of_a_multi_element_file(tmp_path, palette, run_dir):
    calibrations = [(-0.01, 0.0100), (0.02, 0.0098)]
    spectra = [pigment_scan(palette, readers.linear_axis(4096, *c), seed=k).sum((0, 1))
               for k, c in enumerate(calibrations)]
    path = write_gse(tmp_path / "med.mca", spectra, calibrations)
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(tmp_path / "one"), "--detector", "1"]) == 0
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(tmp_path / "all")]) == 0
    one, summed = (read_json(tmp_path / name / "report.json") for name in ("one", "all"))
    assert one["counts_per_pixel"] == spectra[1].sum() and any("detector 1 of 2" in w for w in one["warnings"])
    assert summed["counts_per_pixel"] == pytest.approx(sum(s.sum() for s in spectra), rel=1e-3)
    assert {"Hg", "Fe"} <= set(one["elements"]) and {"Hg", "Fe"} <= set(summed["elements"])


def test_recolouring_a_cube_of_any_size_tiles_it():
    torch.manual_seed(0)
    dve_model = dve.DVE(dve.DVEConfig(n_channels=32)).eval()
    module = recolour.Recolouring(recolour.RecolourConfig(
        model=smalluvit.SmallUViTConfig(image_size=16, patch_size=8, dim=16, heads=1, dim_head=8, depth_in=1,
                                        depth_mid=1, depth_out=1)))
    cube = realdata.Cube(np.random.default_rng(0).integers(0, 9, (21, 37, 40)), np.linspace(0.5, 22, 40))
    with pytest.warns(realdata.ScanWarning):
        rgb = realdata.recolour_cube(cube, dve_model, module, np.linspace(1, 20, 32))
    assert rgb.shape == (21, 37, 3) and rgb.min() >= 0 and rgb.max() <= 1


def test_the_cli_refuses_bad_scans_and_incomplete_runs_on_one_line_leaving_no_output(tmp_path, run_dir, capsys):
    (path, message), = [case for case in bad_files(tmp_path) if "nan" in case[0].name]
    out = tmp_path / "out"
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(path) in err and message in err
    for missing, what in [("dve/dve.ckpt", "no DVE checkpoint"), ("smalluvit/best.ckpt", "no model checkpoint")]:
        partial = tmp_path / f"run_without_{missing.split('/')[0]}"
        for f in ("palette.h5", "dataset.h5", "dve/dve.ckpt", "smalluvit/best.ckpt"):
            if f != missing:
                (partial / f).parent.mkdir(parents=True, exist_ok=True)
                (partial / f).write_bytes((run_dir / f).read_bytes())
        assert main(["recolour", str(path), "--run", str(partial), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(partial / missing) in err and what in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith((".out", "out"))]


# ------------------------------------------------------------------------------------ streaming, any folder

def test_a_scan_read_block_by_block_is_recoloured_and_explained_as_one_read_whole(tmp_path, palette, run_dir):
    path, written, _ = write_scan("hdf5", tmp_path, palette)
    streamed = readers.read(path)
    assert streamed.streamed and streamed.shape == written.shape
    whole = realdata.Cube(np.asarray(streamed.counts), streamed.energy, streamed.format)
    models = realdata.load_run(run_dir)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", realdata.ScanWarning)
        one = realdata.analyse(whole, models)
        rows = realdata.analyse(streamed, models, rows=1)
        pairs = realdata.analyse(streamed, models, rows=4)  # blocks that do not divide the rows
    for other in (rows, pairs):
        np.testing.assert_allclose(other.rgb, one.rgb, atol=1e-5)
        np.testing.assert_array_equal(other.best, one.best)
        assert other.explanation == one.explanation and other.counts_per_pixel == one.counts_per_pixel
        for label, values in one.maps.items():
            np.testing.assert_allclose(other.maps[label], values, rtol=1e-12)


def test_xrfnb_recolour_runs_from_a_folder_outside_the_checkout_with_the_published_model(tmp_path, palette):
    energy = readers.linear_axis(3800, 0.0, 0.01)
    emsa(tmp_path / "spot.msa", pigment_scan(palette, energy).sum((0, 1)))
    env = {k: v for k, v in os.environ.items() if k != "XRFNB_ROOT"}
    xrfnb = Path(sys.executable).parent / "xrfnb"
    done = subprocess.run([str(xrfnb), "recolour", "spot.msa", "--out", "res"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    report = read_json(tmp_path / "res" / "report.json")
    assert report["model"].startswith(str(export.published_folder())) and "Hg" in report["elements"]
    assert not str(export.published_folder()).startswith(str(tmp_path))


# ------------------------------------------------------------------------------------ pigments XRF cannot tell apart

def test_pigments_of_nearly_collinear_spectra_are_one_group_computed_from_the_palette(palette):
    named = [{palette.names[k] for k in members} for members in explain.groups(palette)]
    iron, = [group for group in named if "Red Ochre" in group]
    assert set(IRON_PIGMENTS) <= iron and {"Cinnabar"} in named and {"Titanium White"} in named
    assert {"Cobalt Blue"} in named and {"Carbon Black"} in named  # cobalt blue and smalt differ (Si, K, As)
    copper = pigments.PaletteParams(palette="copper").make_palette()
    assert {"Azurite", "Malachite"} in [{copper.names[k] for k in g} for g in explain.groups(copper)]
    assert sorted(k for g in explain.groups(copper) for k in g) == list(range(len(copper)))


def test_a_cinnabar_and_red_ochre_spot_is_reported_as_cinnabar_and_the_iron_group_not_one_iron_earth(
        tmp_path, palette, run_dir, capsys):
    spot = pigment_scan(palette, readers.linear_axis(3800, 0.0, 0.01), counts=20000).sum((0, 1))
    path = emsa(tmp_path / "spot.msa", spot)
    assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(tmp_path / "out")]) == 0
    report = read_json(tmp_path / "out" / "report.json")
    shares = report["mixture"]["shares"]
    iron, = [label for label in report["pigment_groups"] if "Red Ochre" in label]
    assert set(sorted(shares, key=shares.get)[-2:]) == {"Cinnabar", iron} and shares[iron] > 0.2
    assert not set(IRON_PIGMENTS) & set(shares) and not set(IRON_PIGMENTS) & set(report["pigments"])
    assert "XRF cannot tell apart Red Ochre" in capsys.readouterr().out


def test_bad_values_anywhere_in_a_streamed_cube_and_a_truncated_raw_are_refused_on_one_line(tmp_path, palette,
                                                                                          run_dir, capsys):
    counts = np.ones((9, 4, 64))
    counts[-1, -1, -1] = np.nan  # in the last block read
    with h5py.File(tmp_path / "late_nan.h5", "w") as h5:
        h5["img"], h5["energy"] = counts, np.linspace(1, 20, 64)
    ripple, _, _ = write_scan("ripple", tmp_path, palette)
    raw = ripple.with_suffix(".raw")
    raw.write_bytes(raw.read_bytes()[:1000])
    for path, message in ((tmp_path / "late_nan.h5", "NaN or infinite counts"), (ripple, "could not be read")):
        out = tmp_path / f"out_{path.stem}"
        assert main(["recolour", str(path), "--run", str(run_dir), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and str(path) in err and message in err, err
        assert not out.exists()
