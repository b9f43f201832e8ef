"""Shared fixtures: the project root, the default palette and the smoke book (each made once per session)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def palette():
    from xrfnb import pigments

    return pigments.paper_palette()


@pytest.fixture(scope="session")
def smoke_book() -> Path:
    """The `smoke` profile run end to end and the book built offline (warnings as errors): `_build/html`."""
    xrfnb = [sys.executable, "-m", "xrfnb.cli"]
    env = {**__import__("os").environ, "XRFNB_ROOT": str(ROOT)}
    subprocess.run(xrfnb + ["run", "--profile", "smoke"], check=True, cwd=ROOT, env=env)
    subprocess.run(xrfnb + ["book"], check=True, cwd=ROOT, env=env)
    assert json.loads((ROOT / "book" / "executed" / "run.json").read_text())["profile"] == "smoke"
    return ROOT / "_build" / "html"


@pytest.fixture(scope="session")
def run_dir(tmp_path_factory, palette):
    """A minimal trained run: the palette, a dataset's counts, a DVE and a SmallUViT each trained one epoch."""
    import h5py
    import numpy as np
    from test_smalluvit import make_store

    from xrfnb import dve, recolour, smalluvit
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
