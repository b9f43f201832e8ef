"""The book page "Your own scan": each of its commands and cells runs, on scans written in each layout,
with a published model exported from a tiny trained run."""

import contextlib
import io
import re
import shlex

from conftest import ROOT
from test_readers import emsa, pigment_scan, write_columns, write_gse

from xrfnb import export, pigments, readers
from xrfnb.io import read_json
from xrfnb.pipeline.cli import main

PAGE = ROOT / "book" / "your_own_scan.md"


def blocks(language: str) -> list[str]:
    """The page's fenced code blocks in `language`."""
    return re.findall(rf"```{language}\n(.*?)```", PAGE.read_text(), re.S)


def test_the_page_is_near_the_top_of_the_book():
    toc = (ROOT / "_toc.yml").read_text()
    assert toc.index("book/your_own_scan") < toc.index("book/executed/01_pigments")


def test_every_command_and_cell_of_the_page_runs(tmp_path, run_dir, palette, monkeypatch):
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
    commands = [line for block in blocks("bash") for line in block.splitlines() if line.startswith("xrfnb ")]
    assert len(commands) == 4
    for command in commands:
        args = shlex.split(command)[1:]
        assert main(args) == 0, command
        out = tmp_path / args[args.index("--out") + 1]
        assert {p.name for p in out.iterdir()} == {"recoloured.png", "elements.png", "pigments.png", "report.json"}
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
