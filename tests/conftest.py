"""Shared fixtures: the project root, the default palette and the smoke book (each made once per session).

The smoke pipeline runs in a temporary copy of the project, never in the checkout: a user's own runs
(`runs/`) and book outputs (`book/executed`, `figures`, `results`) are left as they were, which
`test_integration.py` checks against a digest taken when the session starts.
"""

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
USER_WORK = ("runs", "book/executed", "book/figures", "book/results")
NOT_COPIED = {".git", ".venv", "_build", "runs", ".pytest_cache", ".cache", ".whl"}


def user_work_digest(root: Path = ROOT) -> str:
    """sha256 over the names and bytes of every file of a user's runs and book outputs."""
    digest = hashlib.sha256()
    for part in USER_WORK:
        for path in sorted((root / part).rglob("*")) if (root / part).exists() else ():
            if path.is_file():
                digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


def pytest_configure(config):
    config.user_work_before = user_work_digest()


#: Seconds given to building a book (smoke or published) beside its pipeline, as a hang catcher.
BOOK_BUILD_TIMEOUT_S = 1200
#: The session fixtures that run a pipeline or build a book: the first test that asks for one pays for it.
BUILDS = {"smoke_project", "smoke_book", "published_book", "site"}


def smoke_timeout_s() -> int:
    """The smoke pipeline's hang catcher: the sum of its stages' timeouts (each a multiple of its planned
    seconds, `runner.Profile.timeout_s`) and a book build, so that a slow or busy machine still finishes."""
    from xrfnb.pipeline import runner, stages

    profile = runner.load_profile("smoke")
    return sum(profile.timeout_s(cls.stage) for cls in stages.STAGES) + BOOK_BUILD_TIMEOUT_S


def pytest_collection_modifyitems(config, items):
    """A test that builds the smoke book gets the smoke pipeline's timeout instead of the suite's default
    (pytest-timeout counts a fixture's set-up in the test that first asks for it)."""
    timeout = None
    for item in items:
        if BUILDS & set(getattr(item, "fixturenames", ())) and not item.get_closest_marker("timeout"):
            timeout = timeout or smoke_timeout_s()
            item.add_marker(pytest.mark.timeout(timeout))


@pytest.fixture(scope="session")
def palette():
    from xrfnb.palette import pigments

    return pigments.paper_palette()


def copy_project(dest: Path) -> Path:
    """The checkout's sources (not its runs, build, outputs or environment) copied to `dest`."""
    def ignore(folder, names):
        rel = Path(folder).relative_to(ROOT)
        skip = {n for n in names if n in NOT_COPIED or n == "__pycache__"}
        if rel == Path("book"):
            skip |= {"executed", "figures", "results", "execution_record.md", "run_summary.md", "verdict.md",
                     "findings.md"}
        return skip

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


@pytest.fixture(scope="session")
def smoke_project(tmp_path_factory) -> Path:
    """A temporary copy of the project in which the `smoke` profile ran end to end and the book was
    built offline (warnings as errors)."""
    root = copy_project(tmp_path_factory.mktemp("project") / "xrfnb")
    xrfnb = [sys.executable, "-m", "xrfnb.pipeline.cli"]
    env = {**os.environ, "XRFNB_ROOT": str(root), "PYTHONPATH": f"{root}:{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run(xrfnb + ["run", "--profile", "smoke"], check=True, cwd=root, env=env)
    subprocess.run(xrfnb + ["book"], check=True, cwd=root, env=env)
    assert json.loads((root / "book" / "executed" / "run.json").read_text())["profile"] == "smoke"
    return root


@pytest.fixture(scope="session")
def smoke_book(smoke_project) -> Path:
    """The smoke book's HTML folder (`_build/html` of the temporary project)."""
    return smoke_project / "_build" / "html"


@pytest.fixture(scope="session")
def published_book(tmp_path_factory) -> Path:
    """The published book (the committed run in `book/published/`), built in a temporary copy of the
    project without running anything: its HTML folder."""
    root = copy_project(tmp_path_factory.mktemp("published") / "xrfnb")
    env = {**os.environ, "XRFNB_ROOT": str(root), "PYTHONPATH": f"{root}:{os.environ.get('PYTHONPATH', '')}"}
    subprocess.run([sys.executable, "-m", "xrfnb.pipeline.cli", "book", "--published"], check=True, cwd=root, env=env)
    return root / "_build" / "html"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, palette):
    """A minimal trained run: the palette, a dataset's counts, a DVE and a SmallUViT each trained one epoch."""
    import h5py
    import numpy as np
    from test_smalluvit import make_store

    from xrfnb.embedding import dve
    from xrfnb.models import recolour, smalluvit
    from xrfnb.embedding.embedded import EmbeddedStore

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
