"""Measured scans: every format read back as written, the instrument it records, negative channels, bad input.

Each format is written with the writing side of its own library where one exists: RosettaSciIO writes
.rpl + .raw and .msa, cronomaxrf's `gridify` writes its gridified HDF5, h5py and numpy write PyXRF's layout
and plain cubes. The others have no writer in any library, so the test writes them as text per their
layouts: Bruker .spx (the XML that Esprit saves), SPEC/PyMca .mca, ORTEC .spe, Amptek .mca, multi-element
EPICS/GSECARS .mca and one- or two-column text; none at all for Bruker .bcf (a proprietary compressed
container): a .bcf is only tested to be refused, on one line, when corrupt.
"""

import base64
import zlib

import h5py
import numpy as np
import pytest

from xrfnb.scans import readers

ROWS, COLS = 6, 8


def pigment_scan(palette, energy, counts=3000, seed=0, names=("Cinnabar", "Red Ochre")):
    """Left half one pigment, right half another (Cinnabar, Red Ochre): multinomial counts from the palette
    on any energy axis."""
    rng = np.random.default_rng(seed)
    density = {name: np.interp(energy, palette.energy, spec / np.diff(readers.edges(palette.energy)), 0, 0)
               for name, spec in zip(palette.names, palette.spectra)}
    probs = {name: d * np.diff(readers.edges(energy)) / (d * np.diff(readers.edges(energy))).sum()
             for name, d in density.items()}
    cube = np.zeros((ROWS, COLS, len(energy)), np.int32)
    for c in range(COLS):
        p = probs[names[0]] if c < COLS // 2 else probs[names[1]]
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


def write_spx(path, spectrum, offset, gain, anode="42", kv=50):
    """Bruker Esprit's .spx XML (no library writes it), with the nodes RosettaSciIO's reader uses; the XRF
    header names the anode (Bruker stores its atomic number: 42 is Mo)."""
    layers = base64.b64encode(zlib.compress(b'<DetLayers><Layer0 Atom="4" Thickness="12.5"/></DetLayers>'))
    path.write_text(f"""<?xml version="1.0" encoding="WINDOWS-1252" standalone="yes"?>
<TRTSpectrum>
<ClassInstance Type="TRTSpectrum" Name="spot">
<TRTHeaderedClass>
<ClassInstance Type="TRTSpectrumHardwareHeader"><RealTime>10000</RealTime><LifeTime>9000</LifeTime>
<Amplification>40000</Amplification></ClassInstance>
<ClassInstance Type="TRTDetectorHeader"><Type>XFlash 6|30</Type><DetLayers>{layers.decode()}</DetLayers>
</ClassInstance>
<ClassInstance Type="TRTXrfHeader"><Voltage>{kv}</Voltage><Anode>{anode}</Anode><ExcitationAngle>51</ExcitationAngle>
</ClassInstance>
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
        h5["XRF/EnergyVector"] = readers.linear_axis(e, offset, gain)
        h5["XRF/SpectraSelectedIndex"] = np.argsort(order).reshape(rows, cols, 1)
    return type(path)(gridify(str(path)))


def write_hdf5(path, counts, offset, gain):
    with h5py.File(path, "w") as h5:
        h5["img"] = counts
        h5["energy"] = readers.linear_axis(counts.shape[2], offset, gain) * 1e3
        h5["energy"].attrs["units"] = "eV"
    return path


def write_npy(path, counts, offset, gain):
    np.save(path, counts)
    return path


def write_spe(path, spectrum, offset, gain, calibrated=True):
    """ORTEC/Maestro ASCII .spe, as PyMca's example files: $SPEC_ID ... $DATA: first last, one count a line,
    then $ENER_FIT: (offset, keV per channel) and $MCA_CAL: (count, then coefficients and unit)."""
    lines = ["$SPEC_ID:", "spot", "$SPEC_REM:", "DET# 1", "$DATE_MEA:", "01/02/2024 10:00:00", "$MEAS_TIM:",
             "100 100", "$DATA:", f"0 {len(spectrum) - 1}", *(f"{int(v):8d}" for v in spectrum), "$ROI:", "0"]
    if calibrated:
        lines += ["$ENER_FIT:", f"{offset} {gain}", "$MCA_CAL:", "3", f"{offset} {gain} 0.000000E+00 keV"]
    path.write_text("\n".join(lines) + "\n")
    return path


def write_amptek(path, spectrum, offset, gain, calibrated=True):
    """Amptek DppMCA .mca: <<PMCA SPECTRUM>> tags, <<CALIBRATION>> (channel, keV) points, <<DATA>> ... <<END>>,
    then the <<DP5 CONFIGURATION>> and <<DPP STATUS>> sections."""
    lines = ["<<PMCA SPECTRUM>>", "TAG - live_data_rev0", "DESCRIPTION - spot", "GAIN - 20.000000",
             "LIVE_MODE - 0", "PRESET_TIME - 60", "LIVE_TIME - 59.2", "REAL_TIME - 60.0",
             "START_TIME - 01/02/2024 10:00:00", "SERIAL_NUMBER - 12345"]
    if calibrated:
        lines += ["<<CALIBRATION>>", "LABEL - keV", *(f"{c} {offset + gain * c:.6f}" for c in (110, 640, 1500))]
    lines += ["<<DATA>>", *(str(int(v)) for v in spectrum), "<<END>>", "<<DP5 CONFIGURATION>>",
              f"MCAC={len(spectrum)};    MCA/MCS Channels", "<<DP5 CONFIGURATION END>>", "<<DPP STATUS>>",
              "Device Type: X-123SDD", "Serial Number: 12345", "<<DPP STATUS END>>"]
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def write_columns(path, spectrum, offset, gain, energy_column=True):
    """A text spectrum as PyMca reads it: a header line, then 'energy counts' rows, or counts alone."""
    if energy_column:
        rows = [f"{offset + gain * i:.6f}\t{int(v)}" for i, v in enumerate(spectrum)]
        path.write_text("# spot, exported\nEnergy(keV)\tCounts\n" + "\n".join(rows) + "\n")
    else:
        path.write_text("\n".join(str(int(v)) for v in spectrum) + "\n")
    return path


def write_gse(path, spectra, calibrations):
    """A multi-element EPICS/GSECARS .mca: a header of per-detector values, then one column per detector."""
    n = len(spectra)
    offsets = " ".join(f"{o:.6f}" for o, _ in calibrations)
    slopes = " ".join(f"{g:.6f}" for _, g in calibrations)
    lines = ["VERSION:    3.1", f"ELEMENTS:   {n}", "DATE:       Feb 01, 2024 10:00:00.00",
             f"CHANNELS:   {len(spectra[0])}", "ROIS:       " + " ".join(["0"] * n),
             "REAL_TIME:  " + " ".join(["10.0"] * n), "LIVE_TIME:  " + " ".join(["9.5"] * n),
             f"CAL_OFFSET: {offsets}", f"CAL_SLOPE: {slopes}", "CAL_QUAD: " + " ".join(["0.0"] * n),
             "TWO_THETA:  " + " ".join(["90.0"] * n), "DATA: "]
    lines += [" ".join(str(int(s[i])) for s in spectra) for i in range(len(spectra[0]))]
    path.write_text("\n".join(lines) + "\n")
    return path


# kind, format detected, writer, file name, (offset keV, keV per channel, channels), one pixel?, calibration to pass
FORMATS = [
    ("ripple", "ripple", write_ripple, "scan.rpl", (0.1, 0.02, 2048), False, None),
    ("msa", "msa", write_msa, "spot.msa", (-0.05, 0.01, 4096), True, None),
    ("mca", "mca", write_mca, "spot.mca", (0.02, 0.0125, 2048), True, None),
    ("bruker-spx", "bruker-spx", write_spx, "spot.spx", (-0.95, 0.01, 4096), True, None),
    ("ortec-spe", "ortec-spe", write_spe, "spot.spe", (0.013, 0.0203, 2048), True, None),
    ("amptek-mca", "amptek-mca", write_amptek, "spot.mca", (-0.021, 0.0195, 2048), True, None),
    ("text-2col", "text", write_columns, "spot.txt", (0.1, 0.01, 3000), True, None),
    ("text-1col", "text", lambda *a: write_columns(*a, energy_column=False), "spot.dat", (0.0, 0.02, 2000), True,
     (0.0, 0.02)),
    ("mca-1col", "text", lambda *a: write_columns(*a, energy_column=False), "XRFSpectrum.mca", (0.05, 0.015, 2048),
     True, (0.05, 0.015)),
    ("gse-mca", "gse-mca", lambda p, s, o, g: write_gse(p, [s], [(o, g)]), "med.mca", (-0.01, 0.01, 4096), True,
     None),
    ("pyxrf", "pyxrf", write_pyxrf, "scan2D_1.h5", (0.0, 0.01, 4096), False, None),
    ("crono", "crono", write_crono, "crono.h5", (0.3, 0.04, 1000), False, None),
    ("hdf5", "hdf5", write_hdf5, "cube.h5", (0.5, 0.0742, 512), False, None),
    ("npy", "npy", write_npy, "cube.npy", (0.2, 0.025, 1600), False, (0.2, 0.025)),
]


def write_scan(kind, tmp_path, palette, counts=3000):
    """Write the pigment scan as `kind`; returns (path, counts written, energy axis written)."""
    _, _, writer, name, (offset, gain, n), one_pixel, _ = next(f for f in FORMATS if f[0] == kind)
    energy = readers.linear_axis(n, offset, gain)
    cube = pigment_scan(palette, energy, counts)
    if one_pixel:
        cube = cube[:1, :1]
    data = cube[0, 0] if one_pixel else cube
    if kind == "msa":
        return writer(tmp_path / name, data, offset * 1e3, gain * 1e3), cube, energy
    return writer(tmp_path / name, data, offset, gain), cube, energy


@pytest.mark.parametrize("kind, fmt, calibration", [(f[0], f[1], f[6]) for f in FORMATS])
def test_each_format_reads_back_the_counts_and_calibration_it_was_written_with(tmp_path, palette, kind, fmt,
                                                                               calibration):
    path, written, energy = write_scan(kind, tmp_path, palette)
    assert readers.detect_format(path) == fmt
    cube = readers.read(path, calibration=calibration)
    assert cube.format == fmt and cube.counts.shape == written.shape
    np.testing.assert_array_equal(cube.counts, written)
    np.testing.assert_allclose(cube.energy, energy, rtol=1e-6, atol=1e-6)


def test_a_ganx_cube_without_an_axis_gets_the_ganx_range_with_a_note(tmp_path):
    with h5py.File(tmp_path / "a.h5", "w") as h5:
        h5["img"] = np.ones((2, 3, 64))
    cube = readers.read(tmp_path / "a.h5")
    assert cube.energy[0] == pytest.approx(0.5 + 38 / 128) and "ganx" in cube.notes[0]


def test_a_wrong_format_is_refused(tmp_path, palette):
    path, _, _ = write_scan("pyxrf", tmp_path, palette)
    with pytest.raises(readers.ScanError, match="scan2D_1.h5: the file is 'pyxrf', not 'crono'"):
        readers.read(path, format="crono")
    with pytest.raises(readers.ScanError, match="unknown format 'tiff'"):
        readers.read(path, format="tiff")


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
        with pytest.raises(readers.ScanError) as err:
            readers.read(path)
        assert str(err.value).startswith(f"{path}: ") and message in str(err.value)
        assert "\n" not in str(err.value)
    with pytest.raises(readers.ScanError, match="cube.npy: a .npy cube carries no energy axis"):
        np.save(tmp_path / "cube.npy", np.ones((2, 2, 8)))
        readers.read(tmp_path / "cube.npy")




# ------------------------------------------------------------------------------------ as labs export them

def emsa(path, spectrum, header=""):
    """A vendor's EMSA/MAS export, with the instrument keywords some write (BEAMKV, FWHMMNKA)."""
    path.write_text("#FORMAT      : EMSA/MAS Spectral Data File\n#VERSION     : 1.0\n#TITLE       : spot\n"
                    f"#NPOINTS     : {len(spectrum)}.\n#NCOLUMNS    : 1.\n#XUNITS      : eV\n#YUNITS      : counts\n"
                    "#DATATYPE    : Y\n#XPERCHAN    : 10.\n#OFFSET      : 0.\n#SIGNALTYPE  : XRF\n" + header +
                    "#SPECTRUM    : Spectral Data Starts Here\n" + ", ".join(f"{v:g}" for v in spectrum) +
                    "\n#ENDOFDATA   :\n")
    return path


def test_a_few_negative_channels_are_clipped_and_counted_and_many_are_refused_with_their_share(tmp_path):
    spectrum = np.full(2000, 50.0)
    spectrum[700] = -2  # a background-corrected channel
    cube = readers.read(emsa(tmp_path / "vendor.msa", spectrum))
    assert cube.counts.min() == 0 and cube.counts.sum() == spectrum.sum() + 2
    assert cube.negative == {"values": 1, "counts": 2.0, "share": pytest.approx(2 / (50 * 1999))}
    assert any("1 negative values (2 counts" in note and "clipped to 0" in note for note in cube.notes)
    spectrum[:100] = -40  # 4000 against 94,950 counts: not a spectrum of counts
    with pytest.raises(readers.ScanError) as err:
        readers.read(emsa(tmp_path / "bad.msa", spectrum))
    message = str(err.value)
    assert message.startswith(f"{tmp_path / 'bad.msa'}: negative counts, 4.21 % of the positive counts")


def test_every_file_without_calibration_gets_the_same_one_line_request(tmp_path, palette):
    spectrum = pigment_scan(palette, readers.linear_axis(1024, 0, 0.02))[0, 0]
    files = [write_columns(tmp_path / "one.txt", spectrum, 0, 0, energy_column=False),
             write_columns(tmp_path / "XRFSpectrum.mca", spectrum, 0, 0, energy_column=False),
             write_spe(tmp_path / "raw.spe", spectrum, 0, 0, calibrated=False),
             write_amptek(tmp_path / "raw.mca", spectrum, 0, 0, calibrated=False),
             write_npy(tmp_path / "cube.npy", spectrum[None, None], 0, 0)]
    channels = tmp_path / "channels.txt"
    channels.write_text("\n".join(f"{i} {int(v)}" for i, v in enumerate(spectrum)) + "\n")
    for path in [*files, channels]:
        with pytest.raises(readers.ScanError) as err:
            readers.read(path)
        message = str(err.value)
        assert message.startswith(f"{path}: ") and "\n" not in message
        assert message.endswith("carries no energy axis; pass the calibration "
                                "(--calibration OFFSET GAIN: keV of channel 0, keV per channel)")
        assert readers.read(path, calibration=(0.0, 0.02)).energy[1] == pytest.approx(0.02)


def test_the_instrument_is_read_where_the_file_records_it(tmp_path, palette):
    spectrum = pigment_scan(palette, readers.linear_axis(4096, -0.95, 0.01))[0, 0]
    spx = write_spx(tmp_path / "rh.spx", spectrum, -0.95, 0.01, anode="45")
    assert readers.read(spx).instrument == readers.Recorded(anode="Rh", tube_kv=50.0, detector="XFlash 6|30")
    assert readers.read(write_spx(tmp_path / "w.spx", spectrum, -0.95, 0.01, anode="W")).instrument.anode == "W"
    msa = readers.read(emsa(tmp_path / "kv.msa", spectrum, "#BEAMKV   -kV: 45.\n#FWHMMNKA -eV: 152.\n"))
    assert (msa.instrument.tube_kv, msa.instrument.fwhm_ev) == (45.0, 152.0)
    assert msa.channel_kev == pytest.approx(0.01)
    amptek = readers.read(write_amptek(tmp_path / "a.mca", spectrum, 0.0, 0.0195))
    assert amptek.instrument.detector == "X-123SDD"


def test_a_multi_element_mca_is_summed_on_one_axis_or_read_one_detector_at_a_time(tmp_path, palette):
    calibrations = [(-0.012, 0.0100), (0.020, 0.0098), (-0.030, 0.0103)]
    spectra = [pigment_scan(palette, readers.linear_axis(4096, o, g), seed=k).sum((0, 1))  # cinnabar + ochre
               for k, (o, g) in enumerate(calibrations)]
    path = write_gse(tmp_path / "med.mca", spectra, calibrations)
    one = readers.read(path, detector=1)
    np.testing.assert_array_equal(one.counts[0, 0], spectra[1])
    np.testing.assert_allclose(one.energy, readers.linear_axis(4096, *calibrations[1]))
    summed = readers.read(path)
    np.testing.assert_allclose(summed.energy, readers.linear_axis(4096, *calibrations[0]))
    # every detector's counts land on detector 0's axis, conserved
    assert summed.counts.sum() == pytest.approx(sum(s.sum() for s in spectra), rel=1e-3)
    hg = np.abs(summed.energy - 9.989) < 0.1  # Hg L alpha1 stays where it is on the summed axis
    fe = np.abs(summed.energy - 6.404) < 0.1
    for line in (hg, fe):
        peak = summed.energy[line][np.argmax(summed.counts[0, 0, line])]
        assert abs(peak - summed.energy[line].mean()) < 0.03  # each line's peak within 3 channels of its energy
    assert any("3 detectors summed" in note for note in summed.notes)
    with pytest.raises(readers.ScanError, match="med.mca: --detector 3 is not one of the file's 3 detectors"):
        readers.read(path, detector=3)
    single, _, _ = write_scan("msa", tmp_path, palette)
    with pytest.raises(readers.ScanError, match="spot.msa: a msa file holds one detector; --detector is for"):
        readers.read(single, detector=0)
