"""Your own palette: the `palette` parameter, measured spectra in lab formats, the copper worked example, and
one line for each kind of bad palette file, with nothing written."""

import numpy as np
import pytest
import yaml

from test_readers import write_columns, write_msa, write_spe
from xrfnb.palette import attribution, palette_file, physics, pigments
from xrfnb.config import ParameterError
from xrfnb.pipeline import cli

OWN = {"rgb": [10, 20, 30], "composition": {"CuO": 1.0}}


def write_palette(path, pigments_, **top):
    path.write_text(yaml.safe_dump({**top, "pigments": pigments_}, sort_keys=False))
    return path


def measured(palette, name, energy):
    """A pigment's computed spectrum as a lab would export it: counts on the instrument's own channels."""
    i = palette.names.index(name)
    density = np.interp(energy, palette.energy, palette.spectra[i], 0, 0)
    return np.round(2e5 * density / density.sum()).astype(int)


def test_the_default_is_the_papers_palette_with_its_spectra_unchanged():
    assert pigments.PaletteParams().palette == "paper"
    built = pigments.PaletteParams().make_palette()
    assert built.names == pigments.paper_palette().names
    np.testing.assert_array_equal(built.spectra, pigments.paper_palette().spectra)


def test_the_copper_example_adds_azurite_and_malachite_to_the_papers_twelve():
    copper = pigments.PaletteParams(palette="copper").make_palette()
    assert copper.names[:12] == pigments.paper_palette().names
    assert copper.names[12:] == ("Azurite", "Malachite")
    assert attribution.copper_pigments(copper).tolist() == [False] * 12 + [True, True]
    cu = np.abs(copper.energy - physics.line_energy("Cu", "KL3")) <= 0.15
    assert copper.spectra[12, cu].sum() > 0.5  # Cu K alpha dominates a copper pigment's spectrum


def test_the_palette_is_part_of_the_pigment_stages_key(tmp_path):
    own = write_palette(tmp_path / "mine.yml", {"Mine": OWN}, extends="paper")
    keys = {name: pigments.PaletteParams(palette=name).key({}) for name in ("paper", "copper", str(own))}
    assert len(set(keys.values())) == 3
    write_palette(own, {"Mine": {**OWN, "rgb": [10, 20, 31]}}, extends="paper")  # the same path, edited
    assert pigments.PaletteParams(palette=str(own)).key({}) != keys[str(own)]
    edited = pigments.PaletteParams(palette=str(own)).key({})
    own.write_text("# a comment changes nothing\n" + own.read_text())
    assert pigments.PaletteParams(palette=str(own)).key({}) == edited


def test_a_copper_region_is_attributed_to_copper_pigments_and_the_paper_palette_leaves_its_copper_unexplained():
    copper = pigments.PaletteParams(palette="copper").make_palette()
    _, _, table, true_share = attribution.worked_example(copper, pigments.paper_palette(), size=32)
    with_cu, without = table.to_dict("records")
    assert abs(with_cu["copper share of the fit"] - true_share) < 0.02
    assert with_cu["Cu K alpha counts unexplained"] < 0.01 and without["Cu K alpha counts unexplained"] > 0.9
    assert without["copper share of the fit"] == 0 and without["relative residual"] > 10 * with_cu["relative residual"]


@pytest.mark.parametrize("kind", ["msa", "spe", "two-column text"])
def test_a_measured_spectrum_in_a_lab_format_is_rebinned_onto_the_models_channels(tmp_path, kind):
    paper = pigments.paper_palette()
    gain = 0.0125  # keV per channel: another detector than the model's 74 eV channels
    energy = 0.2 + gain * np.arange(3200)
    counts = measured(paper, "Cinnabar", energy)
    files = {"msa": lambda p: write_msa(p, counts, 200.0, gain * 1e3),
             "spe": lambda p: write_spe(p, counts, 0.2, gain),
             "two-column text": lambda p: write_columns(p, counts, 0.2, gain)}
    file = files[kind](tmp_path / {"msa": "hg.msa", "spe": "hg.spe", "two-column text": "hg.txt"}[kind])
    own = write_palette(tmp_path / "mine.yml", {"Measured Cinnabar": {"rgb": [200, 60, 40], "spectrum": file.name},
                                                 "Copper Oxide": OWN})
    built = pigments.PaletteParams(palette=str(own)).make_palette()
    spectrum = built.spectra[0]
    assert built.compositions[0] == {} and spectrum.sum() == pytest.approx(1)
    hg = np.abs(built.energy - physics.line_energy("Hg", "L3M5")) <= 0.15
    computed = paper.spectra[paper.names.index("Cinnabar")]
    assert spectrum[hg].sum() == pytest.approx(computed[hg].sum(), rel=0.05)  # counts conserved by rebinning


def test_a_measured_spectrum_without_calibration_asks_for_one(tmp_path):
    (tmp_path / "raw.txt").write_text("\n".join(str(v) for v in range(1, 200)) + "\n")  # one column: counts only
    bad = write_palette(tmp_path / "mine.yml", {"Raw": {"rgb": [1, 2, 3], "spectrum": "raw.txt"}, "Mine": OWN})
    with pytest.raises(palette_file.PaletteError, match=r"pigment 'Raw': spectrum: .*calibration"):
        palette_file.read(str(bad))
    good = write_palette(tmp_path / "ok.yml", {"Raw": {"rgb": [1, 2, 3], "spectrum": "raw.txt",
                                                        "calibration": [0.5, 0.02]}, "Mine": OWN})
    assert palette_file.read(str(good)).pigments[0].energy[1] == pytest.approx(0.52)


BAD = {
    "unknown formula": ({"A": {"rgb": [1, 2, 3], "composition": {"Xq2O3": 1.0}}, "Mine": OWN},
                        r"pigment 'A': composition: unknown compound formula 'Xq2O3'"),
    "fractions": ({"A": {"rgb": [1, 2, 3], "composition": {"Fe2O3": 0.5, "SiO2": 0.3}}, "Mine": OWN},
                  r"pigment 'A': composition: mass fractions sum to 0\.8, not 1 within 2 %"),
    "rgb": ({"A": {"rgb": [1, 2, 300], "composition": {"Fe2O3": 1.0}}, "Mine": OWN},
            r"pigment 'A': rgb: \[1, 2, 300\] is not three integers from 0 to 255"),
    "one pigment": ({"Mine": OWN}, r"1 pigment\(s\); a palette needs at least 2"),
    "unreadable spectrum": ({"A": {"rgb": [1, 2, 3], "spectrum": "broken.msa"}, "Mine": OWN},
                            r"pigment 'A': spectrum: .*broken\.msa"),
    "missing spectrum": ({"A": {"rgb": [1, 2, 3], "spectrum": "nowhere.msa"}, "Mine": OWN},
                         r"pigment 'A': spectrum: no such file"),
    "both": ({"A": {"rgb": [1, 2, 3], "spectrum": "x.msa", "composition": {"CuO": 1}}, "Mine": OWN},
             r"pigment 'A': give either a composition or a measured spectrum, not both"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_palette_gets_one_line_naming_file_pigment_and_field_and_nothing_is_written(tmp_path, case, capsys,
                                                                                          monkeypatch):
    table, message = BAD[case]
    (tmp_path / "broken.msa").write_text("#FORMAT : EMSA/MAS Spectral Data File\n#NPOINTS : x\n#SPECTRUM :\n1,")
    path = write_palette(tmp_path / "bad.yml", table)
    with pytest.raises(ParameterError, match=message):
        pigments.PaletteParams(palette=str(path))
    out = tmp_path / "export"
    assert cli.main(["palette", "export", str(out), "--palette", str(path)]) != 0
    printed = capsys.readouterr()
    err = printed.err.strip()
    assert len(err.splitlines()) == 1 and str(path) in err and "Traceback" not in err
    assert "Traceback" not in printed.out  # RosettaSciIO's own log of a bad EMSA file stays quiet
    assert not out.exists()


def test_a_name_given_twice_is_refused_in_the_file_and_against_the_palette_it_extends(tmp_path):
    twice = tmp_path / "twice.yml"
    twice.write_text("pigments:\n  A: {rgb: [1, 2, 3], composition: {CuO: 1}}\n"
                     "  A: {rgb: [4, 5, 6], composition: {CuO: 1}}\n")
    with pytest.raises(palette_file.PaletteError, match=r"twice\.yml: line 3: duplicate name 'A'"):
        palette_file.read(str(twice))
    again = write_palette(tmp_path / "again.yml", {"Cinnabar": OWN}, extends="paper")
    with pytest.raises(palette_file.PaletteError, match=r"pigment 'Cinnabar': duplicate name"):
        palette_file.read(str(again))


def test_earth_pigments_state_their_loss_on_ignition_and_the_bundled_palettes_pass_every_check():
    for name in palette_file.BUNDLED:
        palette_file.read(name)
    table = yaml.safe_load(palette_file.locate("paper").read_text())["pigments"]
    for name in ("Gold Ochre", "Dark Ochre", "Green Earth"):
        assert sum(table[name]["composition"].values()) + table[name]["loi"] == pytest.approx(1, abs=0.005)


def test_palette_export_writes_the_chosen_palette_for_ganx(tmp_path):
    assert cli.main(["palette", "export", str(tmp_path / "ganx"), "--palette", "copper", "--channels", "256"]) == 0
    back = pigments.load_ganx(tmp_path / "ganx" / "palette.json")
    assert back.names[-2:] == ("Azurite", "Malachite") and back.spectra.shape == (14, 256)


def test_a_run_with_a_bad_palette_stops_before_any_stage_writes(tmp_path, monkeypatch, capsys):
    from conftest import copy_project

    project = copy_project(tmp_path / "project")
    monkeypatch.setenv("XRFNB_ROOT", str(project))
    bad = write_palette(tmp_path / "bad.yml", BAD["rgb"][0])
    assert cli.main(["run", "--profile", "smoke", "--set", f"palette={bad}"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "pigment 'A': rgb" in err
    assert not (project / "runs").exists() and not (project / "book" / "executed").exists()


def test_a_relative_palette_path_is_found_from_the_project_root_where_notebooks_run_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setenv("XRFNB_ROOT", str(tmp_path))
    write_palette(tmp_path / "mine.yml", {"Mine": OWN}, extends="paper")
    (tmp_path / "notebooks").mkdir()
    monkeypatch.chdir(tmp_path / "notebooks")  # where papermill runs a stage
    assert palette_file.read("mine.yml").pigments[-1].name == "Mine"
