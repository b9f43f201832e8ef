"""Measured scans: every format read back as written, rebinning, thinning, elements, unmixing, recolouring, bad input.

Each format is written with the writing side of its own library where one exists: RosettaSciIO writes
.rpl + .raw and .msa, cronomaxrf's `gridify` writes its gridified HDF5, h5py and numpy write PyXRF's layout
and plain cubes. Three formats have no writer in any library, so the test writes them as text per their
specifications: Bruker .spx (the XML that Esprit saves), SPEC/PyMca .mca, and none at all for Bruker .bcf
(a proprietary compressed container): a .bcf is only tested to be refused, on one line, when corrupt.
"""

import base64
import zlib

import h5py
import numpy as np
import pytest
import torch

from xrfnb import dve, recolour, realdata, smalluvit
from xrfnb.pipeline.cli import main
from xrfnb.io import read_json

ROWS, COLS = 6, 8


def pigment_scan(palette, energy, counts=3000, seed=0):
    """Left half Cinnabar, right half Red Ochre: multinomial counts from the palette on any energy axis."""
    rng = np.random.default_rng(seed)
    density = {name: np.interp(energy, palette.energy, spec / np.diff(realdata.edges(palette.energy)), 0, 0)
               for name, spec in zip(palette.names, palette.spectra)}
    probs = {name: d * np.diff(realdata.edges(energy)) / (d * np.diff(realdata.edges(energy))).sum()
             for name, d in density.items()}
    cube = np.zeros((ROWS, COLS, len(energy)), np.int32)
    for c in range(COLS):
        p = probs["Cinnabar"] if c < COLS // 2 else probs["Red Ochre"]
        cube[:, c] = rng.multinomial(counts, p, size=ROWS)
    return cube


# ------------------------------------------------------------------------------------ writers, per format

def write_ripple(path, counts, offset, gain):
    from rsciio.ripple import file_writer

    axes = [{"name": "height", "size": counts.shape[0], "scale": 1.0, "offset": 0.0, "units": "mm", "navigate": True,
             "index_in_array": 0},
            {"name": "width", "size": counts.shape[1], "scale": 1.0, "offset": 0.0, "units": "mm", "navigate": True,
             "index_in_array": 1},
            {"name": "Energy", "size": counts.shape[2], "scale": gain, "offset": offset, "units": "keV",
             "navigate": False, "index_in_array": 2}]
    file_writer(str(path), {"data": counts.astype(np.uint16), "axes": axes, "original_metadata": {},
                            "metadata": {"General": {"title": "scan"}, "Signal": {"signal_type": "XRF"}}})
    return path


def write_msa(path, spectrum, offset_ev, gain_ev):
    from rsciio.msa import file_writer

    axes = [{"name": "Energy", "size": len(spectrum), "scale": gain_ev, "offset": offset_ev, "units": "eV",
             "navigate": False}]
    file_writer(str(path), {"data": spectrum.astype(float), "axes": axes, "original_metadata": {},
                            "metadata": {"General": {"title": "spot"}, "Signal": {"signal_type": "XRF"}}})
    return path


def write_mca(path, spectrum, offset, gain):
    """SPEC/PyMca .mca: a scan header, #@CHANN (n, first, last, step), #@CALIB a b c, then @A counts."""
    lines = ["#F spot.mca", "", "#S 1 spot", "#@MCA %16C", f"#@CHANN {len(spectrum)} 0 {len(spectrum) - 1} 1",
             f"#@CALIB {offset} {gain} 0", "@A " + " ".join(str(int(v)) for v in spectrum)]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_spx(path, spectrum, offset, gain):
    """Bruker Esprit's .spx XML (no library writes it), with the nodes RosettaSciIO's reader uses."""
    layers = base64.b64encode(zlib.compress(b'<DetLayers><Layer0 Atom="4" Thickness="12.5"/></DetLayers>'))
    path.write_text(f"""<?xml version="1.0" encoding="WINDOWS-1252" standalone="yes"?>
<TRTSpectrum>
<ClassInstance Type="TRTSpectrum" Name="spot">
<TRTHeaderedClass>
<ClassInstance Type="TRTSpectrumHardwareHeader"><RealTime>10000</RealTime><LifeTime>9000</LifeTime>
<Amplification>40000</Amplification></ClassInstance>
<ClassInstance Type="TRTDetectorHeader"><Type>XFlash 6|30</Type><DetLayers>{layers.decode()}</DetLayers>
</ClassInstance>
<ClassInstance Type="TRTXrfHeader"><Voltage>50</Voltage><ExcitationAngle>51</ExcitationAngle></ClassInstance>
</TRTHeaderedClass>
<ClassInstance Type="TRTSpectrumHeader"><Date>1.2.2024</Date><Time>10:00:00</Time>
<ChannelCount>{len(spectrum)}</ChannelCount><CalibAbs>{offset}</CalibAbs><CalibLin>{gain}</CalibLin></ClassInstance>
<Channels>{",".join(str(int(v)) for v in spectrum)}</Channels>
</ClassInstance>
</TRTSpectrum>
""", encoding="cp1252")
    return path


def write_pyxrf(path, counts, offset, gain):
    with h5py.File(path, "w") as h5:
        h5["xrfmap/detsum/counts"] = counts.astype(np.float32)
        h5["xrfmap/scan_metadata"] = h5py.Empty("f")
        h5["xrfmap/scan_metadata"].attrs.update(e_offset=offset, e_linear=gain, scan_instrument_id="TEST")
    return path


def write_crono(path, counts, offset, gain):
    """A raw Crono file (spectra in acquisition order, the grid's index map), gridified by cronomaxrf."""
    from cronomaxrf import gridify

    rows, cols, e = counts.shape
    order = np.random.default_rng(1).permutation(rows * cols)  # acquisition order differs from the grid's
    with h5py.File(path, "w") as h5:
        h5["XRF/Spectra"] = counts.reshape(-1, e)[order]
        h5["XRF/EnergyVector"] = realdata.linear_axis(e, offset, gain)
        h5["XRF/SpectraSelectedIndex"] = np.argsort(order).reshape(rows, cols, 1)
    return type(path)(gridify(str(path)))


def write_hdf5(path, counts, offset, gain):
    with h5py.File(path, "w") as h5:
        h5["img"] = counts
        h5["energy"] = realdata.linear_axis(counts.shape[2], offset, gain) * 1e3
        h5["energy"].attrs["units"] = "eV"
    return path


def write_npy(path, counts, offset, gain):
    np.save(path, counts)
    return path


# format, writer, file name, (offset keV, keV per channel, channels), one pixel?, calibration to pass
FORMATS = [
    ("ripple", write_ripple, "scan.rpl", (0.1, 0.02, 2048), False, None),
    ("msa", write_msa, "spot.msa", (-0.05, 0.01, 4096), True, None),
    ("mca", write_mca, "spot.mca", (0.02, 0.0125, 2048), True, None),
    ("bruker-spx", write_spx, "spot.spx", (-0.95, 0.01, 4096), True, None),
    ("pyxrf", write_pyxrf, "scan2D_1.h5", (0.0, 0.01, 4096), False, None),
    ("crono", write_crono, "crono.h5", (0.3, 0.04, 1000), False, None),
    ("hdf5", write_hdf5, "cube.h5", (0.5, 0.0742, 512), False, None),
    ("npy", write_npy, "cube.npy", (0.2, 0.025, 1600), False, (0.2, 0.025)),
]


def write_scan(fmt, tmp_path, palette, counts=3000):
    """Write the pigment scan in format `fmt`; returns (path, counts written, energy axis written)."""
    _, writer, name, (offset, gain, n), one_pixel, _ = next(f for f in FORMATS if f[0] == fmt)
    energy = realdata.linear_axis(n, offset, gain)
    cube = pigment_scan(palette, energy, counts)
    if one_pixel:
        cube = cube[:1, :1]
    data = cube[0, 0] if one_pixel else cube
    if fmt == "msa":
        return writer(tmp_path / name, data, offset * 1e3, gain * 1e3), cube, energy
    return writer(tmp_path / name, data, offset, gain), cube, energy


@pytest.mark.parametrize("fmt, calibration", [(f[0], f[5]) for f in FORMATS])
def test_each_format_reads_back_the_counts_and_calibration_it_was_written_with(tmp_path, palette, fmt, calibration):
    path, written, energy = write_scan(fmt, tmp_path, palette)
    assert realdata.detect_format(path) == fmt
    cube = realdata.load_cube(path, calibration=calibration)
    assert cube.format == fmt and cube.counts.shape == written.shape
    np.testing.assert_array_equal(cube.counts, written)
    np.testing.assert_allclose(cube.energy, energy, rtol=1e-6, atol=1e-9)


def test_a_ganx_cube_without_an_axis_gets_the_ganx_range_with_a_note(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5["img"] = np.ones((2, 3, 64))
    cube = realdata.load_cube(tmp_path / "a.h5")
    assert cube.energy[0] == pytest.approx(0.5 + 38 / 128) and "ganx" in cube.notes[0]


def test_a_wrong_format_is_refused(tmp_path, palette):
    path, _, _ = write_scan("pyxrf", tmp_path, palette)
    with pytest.raises(realdata.ScanError, match="scan2D_1.h5: the file is 'pyxrf', not 'crono'"):
        realdata.load_cube(path, format="crono")
    with pytest.raises(realdata.ScanError, match="unknown format 'tiff'"):
        realdata.load_cube(path, format="tiff")


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
    found = {line.symbol for line in realdata.find_lines(counts.sum((0, 1)), palette.energy, usable)}
    assert {"Hg", "S", "Fe"} <= found  # cinnabar HgS, red ochre Fe2O3
    assert not found & {"Co", "Cu", "Zn", "Pb", "As"}  # in neither pigment nor the instrument
    maps = realdata.element_maps(counts, realdata.find_lines(counts.sum((0, 1)), palette.energy, usable))
    assert maps["Hg La"][:, :COLS // 2].mean() > 10 * maps["Hg La"][:, COLS // 2:].mean()
    assert maps["Fe Ka"][:, COLS // 2:].mean() > 10 * maps["Fe Ka"][:, :COLS // 2].mean()


IRON_PIGMENTS = ("Red Ochre", "Gold Ochre", "Dark Ochre", "Caput Mortuum")


def test_unmixing_finds_the_dominant_pigment_of_each_half(palette):
    counts = pigment_scan(palette, palette.energy).astype(float)
    best = realdata.dominant(realdata.unmix(counts, palette, np.ones(len(palette.energy), bool)))
    assert (best[:, :COLS // 2] == palette.names.index("Cinnabar")).all()
    # the iron pigments differ only in minor elements: which of them dominates a red ochre pixel is not
    # decided by 3000 counts, but an iron pigment always is
    iron = [palette.names.index(name) for name in IRON_PIGMENTS]
    assert np.isin(best[:, COLS // 2:], iron).all()


# ------------------------------------------------------------------------------------ the whole path

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, palette):
    """A minimal trained run: the palette, a dataset's counts, a DVE and a SmallUViT each trained one epoch."""
    from test_smalluvit import make_store

    from xrfnb.embedded import EmbeddedStore

    run = tmp_path_factory.mktemp("run")
    palette.save(run / "palette.h5")
    with h5py.File(run / "dataset.h5", "w") as h5:
        h5["counts"] = np.full(4, 400, np.int32)
    rng = np.random.default_rng(0)
    spectra = rng.multinomial(400, palette.spectra[rng.integers(0, len(palette), 256)]).astype(np.int16)
    config = dve.DVEConfig(n_channels=len(palette.energy), encoder_widths=(32, 16, 16, 8), decoder_widths=(8, 16, 32),
                           n_clusters=3, warmup_epochs=1, ramp_epochs=1)
    dve.train(spectra[:192], spectra[192:], config, 1, 64, run / "dve")
    make_store(run / "embedded.h5", n=6, size=16)
    model = smalluvit.SmallUViTConfig(image_size=16, patch_size=8, dim=16, heads=1, dim_head=8, depth_in=1,
                                      depth_mid=1, depth_out=1)
    recolour.train(EmbeddedStore(run / "embedded.h5"), recolour.RecolourConfig(model=model), 1, 2, run / "smalluvit")
    return run


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
    assert sum(report["pigments"].get(name, 0) for name in IRON_PIGMENTS) == 0.5
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


# ------------------------------------------------------------------------------------ bad input

def bad_files(tmp_path):
    """(file, what the one-line error must say) for each kind of bad scan."""
    garbage = tmp_path / "notes.txt"
    garbage.write_text("shopping list\n")
    bcf = tmp_path / "map.bcf"
    bcf.write_bytes(b"AAMVHFSS" + bytes(200))
    truncated = tmp_path / "cut.h5"
    with h5py.File(truncated, "w") as h5:
        h5["img"] = np.ones((4, 4, 64))
    truncated.write_bytes(truncated.read_bytes()[:600])
    cases = [(garbage, "not a scan in any known format"), (bcf, "not a readable bruker-bcf file"),
             (truncated, "not a readable")]
    for name, counts, energy, message in [
            ("decreasing.h5", np.ones((2, 2, 8)), np.linspace(10, 1, 8), "calibration is not increasing"),
            ("nan.h5", np.full((2, 2, 8), np.nan), np.linspace(1, 10, 8), "NaN or infinite counts"),
            ("negative.h5", -np.ones((2, 2, 8)), np.linspace(1, 10, 8), "negative counts"),
            ("no_channels.h5", np.ones((2, 2, 0)), np.zeros(0), "none zero"),
            ("no_pixels.h5", np.ones((0, 2, 8)), np.linspace(1, 10, 8), "none zero")]:
        with h5py.File(tmp_path / name, "w") as h5:
            h5["img"], h5["energy"] = counts, energy
        cases.append((tmp_path / name, message))
    return cases


def test_each_bad_scan_gets_a_one_line_error_naming_the_file(tmp_path):
    for path, message in bad_files(tmp_path):
        with pytest.raises(realdata.ScanError) as err:
            realdata.load_cube(path)
        assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(realdata.ScanError, match="cube.npy: a .npy cube carries no energy axis"):
        np.save(tmp_path / "cube.npy", np.ones((2, 2, 8)))
        realdata.load_cube(tmp_path / "cube.npy")


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
