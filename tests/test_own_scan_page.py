"""The book page "Your own scan": each of its commands and cells runs, on scans written in each layout,
with a published model exported from a tiny trained run."""

import contextlib
import io
import re
import shlex
import shutil

import numpy as np

from conftest import ROOT
from test_domain_shift import shift_run  # noqa: F401 (a fixture: a tiny run with training spectra, for `xrfnb adapt`)
from test_readers import emsa, pigment_scan, write_columns, write_gse

from xrfnb import export
from xrfnb.palette import pigments
from xrfnb.scans import readers, sample_scan
from xrfnb.io import read_json
from xrfnb.pipeline import book
from xrfnb.pipeline.cli import main

PAGE = ROOT / "book" / "your_own_scan.md"


def blocks(language: str) -> list[str]:
    """The page's fenced code blocks in `language`."""
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_is_near_the_top_of_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    assert toc.index("book/your_own_scan") < toc.index("book/executed/01_pigments")


def test_every_command_and_cell_of_the_page_runs(tmp_path, run_dir, shift_run, palette, monkeypatch):
    root = tmp_path / "project"
    monkeypatch.setenv("XRFNB_ROOT", str(root))
    export.write(run_dir, export.published_folder())
    monkeypatch.chdir(tmp_path)
    energy = readers.linear_axis(3800, 0.0, 0.01)
    emsa(tmp_path / "spot.msa", pigment_scan(palette, energy).sum((0, 1)))
    write_columns(tmp_path / "counts.txt", pigment_scan(palette, readers.linear_axis(1900, 0.0, 0.02))[0, 0],
                  0, 0, energy_column=False)
    calibrations = [(-0.01, 0.01), (0.02, 0.0098)]
    write_gse(tmp_path / "detectors.mca", [pigment_scan(palette, readers.linear_axis(4096, *c), seed=k).sum((0, 1))
                                           for k, c in enumerate(calibrations)], calibrations)
    copper = pigments.PaletteParams(palette="copper").make_palette()
    green = pigment_scan(copper, energy, names=("Malachite", "Titanium White")).sum((0, 1))
    emsa(tmp_path / "green.msa", green)
    shutil.copytree(ROOT / "book" / "sample_scan", tmp_path / "book" / "sample_scan")
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "smoke").symlink_to(shift_run)  # section 5 adapts a run folder with training spectra
    commands = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("xrfnb ")]
    assert len(commands) == 7
    for command in commands:
        args = shlex.split(command)[1:]
        assert main(args) == 0, command
        out = {p.name for p in (tmp_path / args[args.index("--out") + 1]).iterdir()}
        if args[0] == "adapt":
            assert {"adaptation.json", "dve.safetensors", "smalluvit.safetensors"} <= out
        else:
            assert out == {"recoloured.png", "elements.png", "pigments.png", "report.json"}
    printed = []
    for cell in blocks("python"):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(cell, {})
        printed.append(out.getvalue())
    spot, own = printed
    assert f"model: {export.published_folder()}" in spot and "tube: Mo" in spot and "Hg" in spot
    report = read_json(tmp_path / "green" / "report.json")
    assert report["palette"] == "copper" and "palette: copper" in own
    assert max(report["pigments"], key=report["pigments"].get) == "Azurite / Malachite"
    assert "Cu" not in report["unexplained_elements"]


def test_the_install_line_and_the_caveats_come_before_any_command():
    text = PAGE.read_text()
    first_command = text.index("xrfnb recolour")
    assert text.index("pip install -e") < first_command
    for caveat in ("synthetic spectra only", "instrument", "cannot be told apart"):
        assert text.index(caveat) < first_command, caveat


def test_the_sample_scan_is_made_again_byte_for_byte_by_its_module():
    raw = np.fromfile(ROOT / "book" / "sample_scan" / "sample.raw", np.uint16)
    assert (raw == sample_scan.cube().astype(np.uint16).ravel()).all()
    assert raw.nbytes < 5 * 2 ** 20  # a few MB at most
    cube = readers.read(ROOT / "book" / "sample_scan" / "sample.rpl")
    assert cube.streamed and cube.instrument.tube_kv == sample_scan.INSTRUMENT.tube_kv


def test_the_book_build_runs_the_page_on_the_sample_scan_and_the_page_shows_what_it_wrote(tmp_path):
    shutil.copytree(ROOT / "book" / "sample_scan", tmp_path / "book" / "sample_scan")
    out = book.own_scan_outputs(tmp_path)
    shown = re.findall(r"(?:figure|literalinclude)\} (own_scan/\S+)", PAGE.read_text())
    assert len(shown) == 4 and all((tmp_path / "book" / path).is_file() for path in shown)
    printed = (out / "printed.txt").read_text()
    assert printed.startswith("recolour: model book/published/model") and str(tmp_path) not in printed
    assert "the model was trained for" in printed and "XRF cannot tell apart" in printed
    report = read_json(out / "sample" / "report.json")
    assert report["format"] == "ripple" and report["streamed"] and "Fe" in report["elements"]


def test_the_landing_page_shows_a_recolouring_and_links_the_page_in_its_body():
    intro = (ROOT / "book" / "intro.md").read_text()
    body = intro[:intro.index("## How to reproduce")]
    assert "](your_own_scan.md)" in body and "xrfnb recolour" in body
    assert "```{figure} own_scan/beside.png" in body
