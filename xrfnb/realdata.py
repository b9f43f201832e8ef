"""Measured MA-XRF scans, from file to report: onto the model's axis, recoloured, explained.

`xrfnb.readers` reads the scan (one module per format family); a single spectrum is a one-pixel scan.
`recolour` resamples a scan onto the trained models' energy axis, embeds it with the DVE, recolours it with
SmallUViT, and explains it independently of both models (`xrfnb.explain`): element maps at xraylib's line
energies, the tube's own peaks labelled as the tube's, and a non-negative least-squares unmixing against
the palette with its goodness of fit and what it leaves unexplained. The models are trained on synthetic
spectra only: on a real painting the recolouring needs the domain adaptation the paper lists as future
work, which is why the explanation maps come with it.
"""

from __future__ import annotations

import dataclasses
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import xraylib as xr

from . import dve, explain, export, palette_file, physics, pigments, plots
from .io import atomic_dir, write_json
from .pigments import Palette
from .readers import Cube, ScanError, ScanWarning, edges, rebin_matrix
from .readers import read as load_cube
from .recolour import Recolouring, predict
from .recolour import load as load_recolouring

__all__ = ["Cube", "ScanError", "ScanWarning", "load_cube", "rebin", "covered", "thin_to", "recolour_counts",
           "recolour_cube", "Run", "load_run", "recolour"]


# ------------------------------------------------------------------------------------ onto the model's axis

def rebin(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Counts (rows, cols, E_target) on the `target` channel centres, conserving counts.

    Where the scan covers only part of the target's range the missing channels are zero, and a
    `ScanWarning` says so; so does a scan whose counts reach beyond the target's range.
    """
    matrix = rebin_matrix(cube.energy, target)
    out = np.stack([row.astype(np.float64) @ matrix for row in cube.counts])
    s, t = edges(cube.energy), edges(target)
    if s[0] > t[0] + 1e-9 or s[-1] < t[-1] - 1e-9:
        warnings.warn(f"the scan covers {s[0]:.2f}-{s[-1]:.2f} keV, the model {t[0]:.2f}-{t[-1]:.2f} keV: the "
                      f"model's channels outside the scan are zero", ScanWarning, stacklevel=2)
    total = float(cube.counts.sum())
    dropped = 1 - out.sum() / total if total > 0 else 0.0
    if dropped > 0.01:
        warnings.warn(f"{100 * dropped:.1f} % of the counts lie outside the model's {t[0]:.2f}-{t[-1]:.2f} keV "
                      f"and are left out", ScanWarning, stacklevel=2)
    return out


def covered(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Which target channels lie wholly inside the scan's energy range."""
    s, t = edges(cube.energy), edges(target)
    return (t[:-1] >= s[0] - 1e-9) & (t[1:] <= s[-1] + 1e-9)


def thin_to(counts: np.ndarray, target: float, tolerance: float, seed: int = 0) -> np.ndarray:
    """Counts whose median per pixel is within `tolerance` x of `target`, by binomial thinning if above.

    The DVE's input is each spectrum divided by its total, so scaling counts changes nothing; what differs
    with the counts is the noise. Thinning (keeping each photon with probability p) gives a scan the
    training data's noise level. A scan below the training counts cannot be given photons it lacks: it is
    left as it is, with a warning.
    """
    median = float(np.median(counts.sum(-1)))
    if median > tolerance * target:
        p = target / median
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: each photon "
                      f"kept with probability {p:.3g} to match the training noise", ScanWarning, stacklevel=2)
        rng = np.random.default_rng(seed)
        return rng.binomial(np.rint(counts).astype(np.int64), p).astype(np.float64)
    if median < target / tolerance:
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: the spectra "
                      f"are noisier than any the DVE saw", ScanWarning, stacklevel=2)
    return counts


def recolour_counts(counts: np.ndarray, dve_model: dve.DVE, module: Recolouring,
                    device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for counts already on the model's axis: embed, then recolour by tiles.

    An empty pixel gets a flat spectrum (the DVE needs counts). The embedded image is reflect-padded to a
    multiple of the model's image size and cut into tiles that size.
    """
    empty = counts.sum(-1) <= 0
    if empty.any():
        warnings.warn(f"{int(empty.sum())} pixels have no counts on the model's axis: embedded as flat spectra",
                      ScanWarning, stacklevel=2)
        counts = counts + empty[..., None] / counts.shape[-1]
    h, w, e = counts.shape
    image = dve.encode(dve_model, counts.reshape(-1, e).astype(np.float32), device=device)
    image = image.reshape(h, w, -1).transpose(2, 0, 1)
    s = module.cfg.model.image_size
    ph, pw = -h % s, -w % s
    padded = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")
    positions = [(r, c) for r in range(0, h + ph, s) for c in range(0, w + pw, s)]
    pred = predict(module, np.stack([padded[:, r:r + s, c:c + s] for r, c in positions]), device=device)
    out = np.zeros((3, h + ph, w + pw), dtype=np.float32)
    for (r, c), tile in zip(positions, pred):
        out[:, r:r + s, c:c + s] = tile
    return out[:, :h, :w].transpose(1, 2, 0)


def recolour_cube(cube: Cube, dve_model: dve.DVE, module: Recolouring, energy: np.ndarray,
                  device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for a scan: rebin onto `energy` (the model's axis), embed, recolour."""
    return recolour_counts(rebin(cube, energy), dve_model, module, device)


# ------------------------------------------------------------------------------------ the whole path

@dataclass(frozen=True)
class Run:
    """What recolouring needs: the palette, both trained models, the training counts, the instrument the
    training data were simulated for, and a name for the report."""

    palette: Palette
    dve_model: dve.DVE
    module: Recolouring
    training_counts: float
    instrument: physics.Instrument
    name: str


def explaining_palette(palette: str, models: Run) -> Palette:
    """A palette file's pigments on the model's channels, computed for its instrument and sample model."""
    return pigments.palette_on(palette, physics.EnergyAxis.from_centres(models.palette.energy), models.instrument,
                               models.palette.sample_model())


def load_run(run: str | Path | None = None) -> Run:
    """Read a model folder written by `xrfnb publish` (`model.json` + safetensors) or a run directory
    (`palette.h5`, `dataset.h5`, `dve/dve.ckpt`, `smalluvit/best.ckpt`); None: the published model."""
    run = Path(run) if run is not None else export.published_folder()
    if (run / "model.json").exists():
        palette, dve_model, module, counts, instrument, meta = export.read(run)
        profile = meta.get("profile", {}).get("profile", "")
        return Run(palette, dve_model, module, counts, instrument,
                   f"{run} (exported from {meta['source']}{f', profile {profile}' if profile else ''})")
    if not run.is_dir():
        hint = " (publish one with `xrfnb publish`, or pass --run RUN)" if run == export.published_folder() else ""
        raise FileNotFoundError(f"{run}: no such model folder or run directory{hint}")
    palette = Palette.load(run / "palette.h5")
    dve_model = dve.load(run / "dve" / "dve.ckpt", n_channels=len(palette.energy))
    module = load_recolouring(run / "smalluvit" / "best.ckpt")
    return Run(palette, dve_model.eval(), module, export.training_counts(run), palette.measured_with(), str(run))


def tube_in_use(cube: Cube, model: physics.Instrument) -> tuple[dict, list[str]]:
    """The instrument to explain the scan with (what the scan records, else the model's), and warnings for
    each way it differs from the instrument the model was trained for, naming both."""
    recorded = cube.instrument
    anode = recorded.anode or model.anode
    kv = recorded.tube_kv or model.tube_kv
    used = {"anode": anode, "tube_kv": kv, "channel_keV": round(cube.channel_kev, 6),
            "from_scan": sorted(recorded.as_dict()),
            "model": {"anode": model.anode, "tube_kv": model.tube_kv, "fwhm_ev_5.9keV": round(model.fwhm_ev(5.9), 1)}}
    if recorded.fwhm_ev:
        used["fwhm_ev_5.9keV"] = recorded.fwhm_ev
    if recorded.detector:
        used["detector"] = recorded.detector
    warn = []
    other_anode = recorded.anode is not None and recorded.anode != model.anode
    other_kv = recorded.tube_kv is not None and abs(recorded.tube_kv - model.tube_kv) > 1
    if other_anode or other_kv:
        warn.append(f"the scan was measured with a {anode} tube at {kv:g} kV, the model was trained for a "
                    f"{model.anode} tube at {model.tube_kv:g} kV: its colours assume the other tube's excitation")
    if recorded.fwhm_ev and abs(recorded.fwhm_ev / model.fwhm_ev(5.9) - 1) > MAX_RESOLUTION_MISMATCH:
        warn.append(f"the scan's detector resolves {recorded.fwhm_ev:.0f} eV at 5.9 keV, the model was trained "
                    f"for {model.fwhm_ev(5.9):.0f} eV")
    return used, warn


#: A detector resolution this far (relative) from the model's is a warning [choice].
MAX_RESOLUTION_MISMATCH = 0.2


@contextmanager
def _recording() -> Iterator[list[str]]:
    """Collect the `ScanWarning`s raised inside the block (and show them as usual afterwards)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ScanWarning)
        messages: list[str] = []
        yield messages
    for w in caught:
        if issubclass(w.category, ScanWarning):
            messages.append(str(w.message))
        warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)


def _explain(cube: Cube, counts: np.ndarray, usable: np.ndarray, models: Run) -> tuple[dict, dict, np.ndarray]:
    """The report's explanation (tube, elements, pigments), the element maps and the pigment map."""
    energy, palette = models.palette.energy, models.palette
    instrument, mismatch = tube_in_use(cube, models.instrument)
    for message in mismatch:
        warnings.warn(message, ScanWarning)
    total = counts.sum((0, 1))
    peaks = explain.tube_peaks(instrument["anode"], instrument["tube_kv"], models.instrument)
    lines = explain.find_lines(total, energy, usable, models.instrument,
                               reserved=explain.reserved_channels(peaks, energy))
    maps = explain.element_maps(counts, lines)
    mix = explain.mixture(total, palette, usable, lines)
    best = explain.dominant(explain.unmix(counts, palette, usable), explain.lineless(palette),
                            explain.line_pixels(counts, maps))
    unexplained = {s: round(v, 4) for s, v in mix.unexplained.items()
                   if v > explain.UNEXPLAINED and s in mix.significant}
    for symbol, share in unexplained.items():
        warnings.warn(f"{symbol}: {100 * share:.0f} % of its line counts are explained by no pigment of the "
                      f"palette ({', '.join(palette.names)})", ScanWarning)
    if (best < 0).any():
        warnings.warn(f"{100 * (best < 0).mean():.0f} % of the pixels are explained by no pigment of the palette",
                      ScanWarning)
    report = {
        "instrument": instrument,
        "tube_lines_keV": explain.visible_tube_peaks(total, energy, usable, peaks),
        "elements": sorted({line.symbol for line in lines}, key=xr.SymbolToAtomicNumber),
        "lines_keV": {line.label: round(line.energy, 4) for line in lines},
        "unexplained_elements": unexplained,
        "line_counts_unexplained": {s: round(v, 4) for s, v in mix.unexplained.items()},
        "pigments": {name: float((best == k).mean()) for k, name in enumerate(palette.names) if (best == k).any()},
        "pixels_unexplained": float((best < 0).mean()),
        "mixture": {"shares": {k: round(v, 4) for k, v in sorted(mix.shares.items(), key=lambda kv: -kv[1])},
                    "reduced_chi2": round(mix.reduced_chi2, 3), "residual_share": round(mix.residual_share, 4)},
    }
    return report, {"all counts": counts.sum(-1), **maps}, best


def recolour(scan: str | Path, run: str | Path | None, out: str | Path, format: str | None = None,
             calibration: tuple[float, float] | None = None, device: str = "cpu", counts_tolerance: float = 2.0,
             seed: int = 0, detector: int | None = None, palette: str | None = None) -> dict:
    """Recolour a measured scan with a run's models (None: the published model) and explain it; returns
    the report.

    `palette` (a bundled palette's name or a palette file, `xrfnb.palette_file`) explains the scan with
    other pigments than the model's own; the recolouring is still the model's, trained on its palette.

    Writes into `out` (all or nothing): `recoloured.png`, `elements.png` (net counts at xraylib's line
    energies), `pigments.png` (the dominant pigment per pixel of a non-negative least-squares unmixing
    against the palette) and `report.json`.
    """
    scan, out = Path(scan), Path(out)
    models = load_run(run)
    if palette is not None:
        models = dataclasses.replace(models, palette=explaining_palette(palette, models))
    cube = load_cube(scan, format, calibration, detector)
    energy = models.palette.energy
    with _recording() as messages:
        for note in cube.notes:  # named by the scan's file name: a report should not carry a machine's paths
            warnings.warn(note.replace(str(scan.parent) + "/", ""), ScanWarning)
        counts = rebin(cube, energy)
        usable = covered(cube, energy)
        rgb = recolour_counts(thin_to(counts, models.training_counts, counts_tolerance, seed), models.dve_model,
                              models.module, device)
        explanation, maps, best = _explain(cube, counts, usable, models)
    names = models.palette.names
    report = {
        "scan": str(scan), "model": models.name, "palette": palette_file.label(models.palette.source),
        "format": cube.format,
        "shape": list(cube.counts.shape),
        "energy_keV": [float(cube.energy[0]), float(cube.energy[-1])],
        "counts_per_pixel": float(np.median(cube.counts.sum(-1))),
        "training_counts_per_pixel": models.training_counts,
        "negative_counts_clipped": cube.negative,
        **explanation,
        "warnings": messages,
    }
    with atomic_dir(out) as tmp:
        plots.save(plots.mosaic([rgb], [f"recoloured {scan.name}"], ncols=1, size=5), tmp / "recoloured.png",
                   show=False)
        plots.save(plots.image_grid(maps), tmp / "elements.png", show=False)
        plots.save(plots.pigment_map(best, names, models.palette.rgb), tmp / "pigments.png", show=False)
        write_json(tmp / "report.json", report)
    return report
