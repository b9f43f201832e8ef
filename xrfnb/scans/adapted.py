"""`xrfnb adapt SCAN... --out RUN`: a run's DVE adapted to measured scans, without their colours.

The scans are read as `xrfnb recolour` reads them (`realdata`): onto the model's energy axis, and thinned to
the training counts per pixel when they hold more, so the adaptation sees the spectra the recolouring will
embed. A random sample of their pixels is the unlabelled target of `xrfnb.embedding.adapt`; the training
spectra come from the run's dataset. The result is a model folder (the layout of `xrfnb publish`) holding
the adapted DVE beside the run's unchanged recolouring models, and `adaptation.json` with how far the
scans' latents lay from the training latents before and after; `xrfnb recolour --run RUN` uses it.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from .. import export, locations
from ..embedding import adapt
from ..io import read_json, write_json
from ..synthetic.dataset import Store, sample_spectra
from . import realdata
from .readers import ScanWarning


def source_run(run: str | Path | None) -> Path:
    """The run directory whose training spectra the adaptation matches: `run`, or the one the published model
    was exported from. A model folder alone is refused: it holds no training spectra."""
    if run is None:
        published = export.published_folder()
        if not (published / "model.json").exists():
            raise FileNotFoundError(f"{published}: no published model; pass --run a run directory (runs/<profile>)")
        source = read_json(published / "model.json")["source"]
        run = Path(source) if Path(source).is_absolute() else locations.project_root() / source
    run = Path(run)
    if (run / "model.json").exists() and not (run / "dataset.h5").exists():
        raise ValueError(f"{run}: a model folder holds no training spectra; adapt needs the run directory "
                         f"(runs/<profile>) it was exported from")
    if not (run / "dataset.h5").exists():
        raise FileNotFoundError(f"{run / 'dataset.h5'}: no dataset store (the training spectra to match); "
                                f"run the pipeline first or pass --run a run directory")
    return run


def scan_pixels(scan: Path, models: realdata.Run, n: int, seed: int, format: str | None = None,
                calibration: tuple[float, float] | None = None, detector: int | None = None,
                counts_tolerance: float = 2.0) -> np.ndarray:
    """Up to `n` random pixel spectra of a scan on the model's axis, thinned as `recolour` thins them; a scan
    with no channel inside the model's energy range is refused in one line."""
    cube = realdata.load_cube(scan, format, calibration, detector)
    energy = models.palette.energy
    if not realdata.covered(cube, energy).any():
        raise adapt.AdaptError(f"{scan.name}: covers {cube.energy[0]:.2f}-{cube.energy[-1]:.2f} keV, the model "
                               f"{energy[0]:.2f}-{energy[-1]:.2f} keV: no overlap in energy range to adapt to")
    operator = realdata.rebin_operator(cube.energy, energy)
    with warnings.catch_warnings():  # the recolouring reports these; here only the spectra matter
        warnings.simplefilter("ignore", ScanWarning)
        total = realdata.sums(cube, operator)
        p = realdata.thinning(float(np.median(total.on_axis)), models.training_counts, counts_tolerance)
    h, w, _ = cube.shape
    rng = np.random.default_rng(np.random.SeedSequence([seed, 82]))
    keep = np.zeros(h * w, bool)
    keep[rng.choice(h * w, min(n, h * w), replace=False)] = True
    keep = keep.reshape(h, w)
    picked = []
    for where, block in cube.blocks():
        counts = realdata.thin(realdata.rebin_block(block, operator), p, seed, where.start)
        picked.append(counts[keep[where]])
    return np.concatenate(picked)


def adapt_scans(scans: list[str | Path], out: str | Path, run: str | Path | None = None, method: str = "mmd",
                steps: int = 200, pixels: int = 20_000, source: int = 20_000, seed: int = 0,
                format: str | None = None, calibration: tuple[float, float] | None = None,
                detector: int | None = None) -> dict:
    """Adapt a run's DVE to the scans (`pixels` sampled across them), write the model folder `out`, and
    return the adaptation's report."""
    run = source_run(run)
    models = realdata.load_run(run)
    scans = [Path(s) for s in scans]
    share = max(1, pixels // len(scans))
    target = np.concatenate([scan_pixels(s, models, share, seed + k, format, calibration, detector)
                             for k, s in enumerate(scans)])
    training = sample_spectra(Store(run / "dataset.h5"), "train", source, seed).counts
    result = adapt.adapt(models.dve_model, training, target, adapt.AdaptConfig(method=method, steps=steps, seed=seed))
    decoder = export.read_pooled(run) if (run / export.POOLED).exists() else None
    report = {"scans": [s.name for s in scans], "run": export.source_name(run), **result.report()}
    export.write_models(out, models.palette, result.model, models.module, models.instrument, models.training_counts,
                        f"{export.source_name(run)}, DVE adapted to {', '.join(report['scans'])}",
                        decoder=decoder, extra={"adaptation": report})
    write_json(Path(out) / "adaptation.json", report)
    return report
