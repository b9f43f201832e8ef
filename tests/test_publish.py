"""Publishing a finished run for the book, and refusing a failed or partial one."""

import json

import nbformat
import pytest

from xrfnb.pipeline import book
from xrfnb.pipeline.runner import RunError

from test_runner import write_notebook

SCALING = {"profile": "smoke", "train_images": 67, "image_size": 64,
           "models": {"SmallUViT": {"epochs": 15, "ms_ssim": 0.46, "srgb_loss": 0.40, "val_ms_ssim": [0.2, 0.4]},
                      "U-Net": {"epochs": 15, "ms_ssim": 0.72, "srgb_loss": 0.36, "val_ms_ssim": [0.5, 0.7]}}}


def finished_run(root, stages=("01_a", "02_b"), failed=None):
    """A project whose run has executed the given stages (the stage `failed` recording an exception)."""
    (root / "notebooks").mkdir()
    executed, figures, results = (root / "book" / part for part in ("executed", "figures", "results"))
    for folder in (executed, figures, results):
        folder.mkdir(parents=True)
    record = {"profile": "smoke", "device": "CPU", "date": "2026-11-22T00:00:00+00:00", "stages": {}}
    for name in ("01_a", "02_b"):
        write_notebook(root / "notebooks" / f"{name}.ipynb", 'profile = "smoke"', ["x = 1"])
        if name in stages:
            nb = nbformat.read(root / "notebooks" / f"{name}.ipynb", 4)
            nb.metadata["papermill"] = {"exception": name == failed}
            nbformat.write(nb, executed / f"{name}.ipynb")
            record["stages"][name] = {"seconds": 1.0, "parameters": {"profile": "smoke"}}
    (executed / "run.json").write_text(json.dumps(record))
    (executed / ".02_b.tmp-x1y2z3.ipynb").write_text("{}")  # what a stage killed mid-write leaves behind
    (figures / "f.png").write_bytes(b"png")
    (results / "scaling.json").write_text(json.dumps(SCALING))


def test_a_finished_run_is_published_with_its_scaling_record(tmp_path):
    finished_run(tmp_path)
    assert book.publish(tmp_path) == tmp_path / "book" / "published"
    published = tmp_path / "book" / "published"
    assert (published / "executed" / "01_a.ipynb").exists() and (published / "figures" / "f.png").exists()
    assert not any(p.name.startswith(".") for p in published.rglob("*"))  # no leftover of a killed write
    filed = json.loads((tmp_path / "book" / "scaling" / "smoke.json").read_text())
    assert filed == {**SCALING, "device": "CPU", "date": "2026-11-22T00:00:00+00:00"}
    assert sorted(p.name for p in (tmp_path / "book" / "scaling").iterdir()) == ["smoke.json"]  # no figure


@pytest.mark.parametrize("stages, failed, reason", [
    (("01_a",), None, "stage 02_b has not run"),
    (("01_a", "02_b"), "02_b", "records a failed execution"),
])
def test_a_partial_or_failed_run_is_refused_with_the_reason(tmp_path, stages, failed, reason):
    finished_run(tmp_path, stages, failed)
    with pytest.raises(RunError, match=reason):
        book.publish(tmp_path)
    assert not (tmp_path / "book" / "published").exists()


def test_the_published_book_needs_a_published_run(tmp_path):
    finished_run(tmp_path)
    (tmp_path / "_toc.yml").write_text("root: intro\n")
    (tmp_path / "_config.yml").write_text("title: t\n")
    with pytest.raises(RunError, match="no published run"):
        book.build(tmp_path, published=True)
