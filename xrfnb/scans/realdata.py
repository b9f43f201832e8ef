"""Measured MA-XRF scans, from file to report: onto the model's axis, recoloured, explained.

`xrfnb.scans.readers` reads the scan (one module per format family); a single spectrum is a one-pixel scan.
`recolour` resamples a scan onto the trained models' energy axis, embeds it with the DVE, recolours it with
SmallUViT (or, by `model`, chapter 7's pooled decoder, or its best model: a PCA and its pooled decoder), and
explains it independently of both models (`xrfnb.scans.explain`): element maps at xraylib's line
energies, the tube's own peaks labelled as the tube's, and a non-negative least-squares unmixing against
the palette with its goodness of fit and what it leaves unexplained. The models are trained on synthetic
spectra only: on a real painting the recolouring needs the domain adaptation the paper lists as future
work, which is why the explanation maps come with it.

A scan is never held whole (`analyse`): a first pass over its blocks of rows sums it (its sum spectrum
finds the lines, its counts per pixel decide the thinning), a second rebins, thins, embeds, maps and
unmixes each block; what is kept grows with the outputs (d latent numbers per pixel, the maps), not the channels.
"""

from __future__ import annotations

import dataclasses
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numba
import numpy as np
import torch
import xraylib as xr
from scipy import sparse
from tqdm.auto import tqdm

from ..embedding import dve
from . import explain
from .. import export, plots
from ..palette import palette_file, physics, pigments
from ..io import atomic_dir, write_json
from ..palette.pigments import Palette
from .readers import Cube, ScanError, ScanWarning, edges, rebin_matrix
from .readers import read as load_cube
from ..models.recolour import Recolouring, predict
from ..models.recolour import load as load_recolouring

__all__ = ["Cube", "ScanError", "ScanWarning", "load_cube", "rebin", "rebin_operator", "rebin_block", "covered",
           "thinning", "thin", "thin_to", "embed_counts", "recolour_embedded", "recolour_counts", "recolour_cube",
           "Run", "load_run", "Analysis", "analyse", "recolour"]


# ------------------------------------------------------------------------------------ onto the model's axis

#: A scan of at least this many pixels shows a progress bar while it is read [choice].
PROGRESS_PIXELS = 65_536


def passing(cube: Cube, what: str, rows: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """The scan's blocks of rows, with a progress bar (`what`) on a large scan."""
    h, w, _ = cube.shape
    with tqdm(total=h, desc=what, unit="row", disable=h * w < PROGRESS_PIXELS, leave=False) as bar:
        for where, block in cube.blocks(rows):
            yield where, block
            bar.update(where.stop - where.start)


def rebin_operator(source: np.ndarray, target: np.ndarray) -> sparse.csr_matrix:
    """The rebinning matrix (`rebin_matrix`) as a sparse (E_source, E_target) operator: each source channel
    falls in one or a few target channels, so applying it costs one pass over the counts, not a product."""
    return sparse.csr_matrix(rebin_matrix(source, target))


def rebin_block(block: np.ndarray, operator: sparse.csr_matrix) -> np.ndarray:
    """Counts (rows, cols, E_source) of a block on the operator's target channels, float64."""
    rows, cols, e = block.shape
    flat = np.ascontiguousarray(block.reshape(-1, e))
    out = _rebin_rows(flat, operator.indptr, operator.indices, operator.data, operator.shape[1])
    return out.reshape(rows, cols, -1)


@numba.njit(cache=True)
def _rebin_rows(flat, indptr, indices, weights, n_target):  # pragma: no cover - compiled
    """Each spectrum's counts spread onto the target channels by a CSR operator, one pass per spectrum
    (serial: on a shared 2-core machine threads measured slower)."""
    out = np.zeros((flat.shape[0], n_target))
    for p in range(flat.shape[0]):
        for i in range(flat.shape[1]):
            v = flat[p, i]
            for k in range(indptr[i], indptr[i + 1]):
                out[p, indices[k]] += v * weights[k]
    return out


def coverage_warnings(source: np.ndarray, target: np.ndarray, measured: float, kept: float) -> None:
    """Warn where the scan covers part of the target's range, or has counts beyond it (`measured` counts in
    all, `kept` on the target's channels)."""
    s, t = edges(source), edges(target)
    if s[0] > t[0] + 1e-9 or s[-1] < t[-1] - 1e-9:
        warnings.warn(f"the scan covers {s[0]:.2f}-{s[-1]:.2f} keV, the model {t[0]:.2f}-{t[-1]:.2f} keV: the "
                      f"model's channels outside the scan are zero", ScanWarning, stacklevel=3)
    dropped = 1 - kept / measured if measured > 0 else 0.0
    if dropped > 0.01:
        warnings.warn(f"{100 * dropped:.1f} % of the counts lie outside the model's {t[0]:.2f}-{t[-1]:.2f} keV "
                      f"and are left out", ScanWarning, stacklevel=3)


def rebin(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Counts (rows, cols, E_target) on the `target` channel centres, conserving counts.

    Where the scan covers only part of the target's range the missing channels are zero, and a
    `ScanWarning` says so; so does a scan whose counts reach beyond the target's range.
    """
    operator = rebin_operator(cube.energy, target)
    measured, blocks = 0.0, []
    for _, block in cube.blocks():
        measured += float(block.sum(dtype=np.float64))
        blocks.append(rebin_block(block, operator))
    out = np.concatenate(blocks)
    coverage_warnings(cube.energy, target, measured, float(out.sum()))
    return out


def covered(cube: Cube, target: np.ndarray) -> np.ndarray:
    """Which target channels lie wholly inside the scan's energy range."""
    s, t = edges(cube.energy), edges(target)
    return (t[:-1] >= s[0] - 1e-9) & (t[1:] <= s[-1] + 1e-9)


def thinning(median: float, target: float, tolerance: float, encoder: str = "the DVE") -> float | None:
    """The probability to keep each photon with, for counts per pixel of `median` to be within `tolerance`
    x of `target`; None to keep them all.

    The DVE's input is each spectrum divided by its total, so scaling counts changes nothing; what differs
    with the counts is the noise. Thinning (keeping each photon with probability p) gives a scan the
    training data's noise level. A scan below the training counts cannot be given photons it lacks: it is
    left as it is, with a warning that names the `encoder` whose training spectra it is noisier than.
    """
    if median > tolerance * target:
        p = target / median
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: each photon "
                      f"kept with probability {p:.3g} to match the training noise", ScanWarning, stacklevel=2)
        return p
    if median < target / tolerance:
        warnings.warn(f"{median:.0f} counts per pixel (median) against the training {target:.0f}: the spectra "
                      f"are noisier than any {encoder} saw", ScanWarning, stacklevel=2)
    return None


def thin(counts: np.ndarray, p: float | None, seed: int = 0, first_row: int = 0) -> np.ndarray:
    """Binomial thinning of counts (rows, cols, E) with probability `p` (None: unchanged); each row's draws
    are seeded by (`seed`, its row in the scan), so a scan thinned block by block is thinned the same."""
    if p is None:
        return counts
    rounded = np.rint(counts).astype(np.int64)
    return np.stack([np.random.default_rng([seed, first_row + k]).binomial(row, p)
                     for k, row in enumerate(rounded)]).astype(np.float64)


def thin_to(counts: np.ndarray, target: float, tolerance: float, seed: int = 0) -> np.ndarray:
    """Counts whose median per pixel is within `tolerance` x of `target`, by binomial thinning if above."""
    return thin(counts, thinning(float(np.median(counts.sum(-1))), target, tolerance), seed)


def embed_counts(counts: np.ndarray, dve_model: dve.Embedding, device: str = "cpu") -> tuple[np.ndarray, int]:
    """The DVE's latent image (rows, cols, d) of counts on the model's axis (the DVE's, or the PCA's of a
    model embedding with one), and how many pixels were empty (an empty pixel is embedded as a flat
    spectrum: the DVE needs counts)."""
    empty = counts.sum(-1) <= 0
    if empty.any():
        counts = counts + empty[..., None] / counts.shape[-1]
    h, w, e = counts.shape
    if e != dve_model.cfg.n_channels:
        raise ValueError(f"{e} channels, but the {encoder_name(dve_model)} was trained on {dve_model.cfg.n_channels}")
    flat = torch.from_numpy(counts.reshape(-1, e).astype(np.float32))  # checked by the reader: finite, >= 0
    with torch.inference_mode():
        latent = dve_model.to(device).eval()(flat.to(device)).float().cpu().numpy()
    return latent.reshape(h, w, -1), int(empty.sum())


def encoder_name(encoder: dve.Embedding) -> str:
    """How a message names the encoder: DVE, or PCA where the model embeds with one."""
    return encoder.kind.upper()


def warn_empty(n: int) -> None:
    if n:
        warnings.warn(f"{n} pixels have no counts on the model's axis: embedded as flat spectra", ScanWarning,
                      stacklevel=3)


def recolour_embedded(latent: np.ndarray, module: Recolouring, device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] of a latent image (rows, cols, d), recoloured by tiles: the image is
    reflect-padded to a multiple of the model's image size and cut into tiles that size. A model of no
    fixed size (the pooled decoder) recolours the image whole."""
    image = latent.transpose(2, 0, 1)
    _, h, w = image.shape
    if not isinstance(module, Recolouring):
        return predict(module, image[None], device=device)[0].transpose(1, 2, 0)
    s = module.cfg.model.image_size
    ph, pw = -h % s, -w % s
    padded = np.pad(image, ((0, 0), (0, ph), (0, pw)), mode="reflect" if min(h, w) > 1 else "edge")
    positions = [(r, c) for r in range(0, h + ph, s) for c in range(0, w + pw, s)]
    pred = predict(module, np.stack([padded[:, r:r + s, c:c + s] for r, c in positions]), device=device)
    out = np.zeros((3, h + ph, w + pw), dtype=np.float32)
    for (r, c), tile in zip(positions, pred):
        out[:, r:r + s, c:c + s] = tile
    return out[:, :h, :w].transpose(1, 2, 0)


def recolour_counts(counts: np.ndarray, dve_model: dve.Embedding, module: Recolouring,
                    device: str = "cpu") -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for counts already on the model's axis: embed, then recolour by tiles."""
    latent, empty = embed_counts(counts, dve_model, device)
    warn_empty(empty)
    return recolour_embedded(latent, module, device)


def recolour_cube(cube: Cube, dve_model: dve.Embedding, module: Recolouring, energy: np.ndarray,
                  device: str = "cpu", rows: int | None = None) -> np.ndarray:
    """RGB (rows, cols, 3) in [0, 1] for a scan: rebinned onto `energy` (the model's axis) and embedded a
    block of `rows` rows at a time, then recoloured."""
    operator = rebin_operator(cube.energy, energy)
    latent = np.zeros((*cube.shape[:2], dve_model.cfg.latent_dim), np.float32)
    empty, measured, kept = 0, 0.0, 0.0
    for where, block in passing(cube, "embedding", rows):
        counts = rebin_block(block, operator)
        measured, kept = measured + float(block.sum(dtype=np.float64)), kept + float(counts.sum())
        latent[where], n = embed_counts(counts, dve_model, device)
        empty += n
    coverage_warnings(cube.energy, energy, measured, kept)
    warn_empty(empty)
    return recolour_embedded(latent, module, device)


# ------------------------------------------------------------------------------------ the whole path

@dataclass(frozen=True)
class Run:
    """What recolouring needs: the palette, both trained models, the training counts, the instrument the
    training data were simulated for, and a name for the report."""

    palette: Palette
    dve_model: dve.Embedding
    module: Recolouring
    training_counts: float
    instrument: physics.Instrument
    name: str


def explaining_palette(palette: str, models: Run) -> Palette:
    """A palette file's pigments on the model's channels, computed for its instrument and sample model."""
    return pigments.palette_on(palette, physics.EnergyAxis.from_centres(models.palette.energy), models.instrument,
                               models.palette.sample_model())


#: The recolouring models a run can offer: the paper's, chapter 7's pooled decoder on the DVE latent, and chapter
#: 7's best model (the pooled decoder on a PCA of the spectra, with that PCA as its encoder).
MODELS = ("smalluvit", "pooled", "best")


def load_run(run: str | Path | None = None, model: str = "smalluvit") -> Run:
    """Read a model folder written by `xrfnb publish` (`model.json` + safetensors) or a run directory
    (`palette.h5`, `dataset.h5`, `dve/dve.ckpt`, `smalluvit/best.ckpt`); None: the published model.
    `model` 'pooled' recolours with chapter 7's pooled decoder instead of SmallUViT; 'best' embeds with chapter
    7's best encoder and decodes with its pooled decoder (`export.read_best`), instead of the DVE and SmallUViT."""
    if model not in MODELS:
        raise ValueError(f"unknown recolouring model {model!r} (known: {', '.join(MODELS)})")
    loaded = _load_run(run)
    if model == "smalluvit":
        return loaded
    folder = Path(run) if run is not None else export.published_model()
    if model == "pooled":
        return dataclasses.replace(loaded, module=export.read_pooled(folder), name=f"{loaded.name}, pooled decoder")
    encoder, decoder = export.read_best(folder)
    channels = len(loaded.palette.energy)
    if encoder.cfg.n_channels != channels:
        raise ValueError(f"{folder}: the best model's encoder takes {encoder.cfg.n_channels} channels, the model's "
                         f"palette has {channels}")
    return dataclasses.replace(loaded, dve_model=encoder, module=decoder,
                               name=f"{loaded.name}, best model ({export.best_description(encoder)})")


def _load_run(run: str | Path | None) -> Run:
    run = Path(run) if run is not None else export.published_model()
    if (run / "model.json").exists():
        palette, dve_model, module, counts, instrument, meta = export.read(run)
        profile = meta.get("profile", {}).get("profile", "")
        return Run(palette, dve_model, module, counts, instrument,
                   f"{run} (exported from {meta['source']}{f', profile {profile}' if profile else ''})")
    if not run.is_dir():
        hint = (" (publish one with `xrfnb publish`; it comes with the repository, so install xrfnb from a clone "
                "with `pip install -e .`; or pass --run RUN)" if run == export.published_folder() else "")
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


@dataclass(frozen=True)
class Sums:
    """One pass over a scan: its sum spectrum on the model's axis, and each pixel's counts there and as measured."""

    spectrum: np.ndarray
    on_axis: np.ndarray
    measured: np.ndarray


def sums(cube: Cube, operator: sparse.csr_matrix, rows: int | None = None) -> Sums:
    """The first pass over a scan: what its lines, thinning and report need, block by block."""
    h, w, _ = cube.shape
    spectrum, on_axis, measured = np.zeros(operator.shape[1]), np.zeros((h, w)), np.zeros((h, w))
    for where, block in passing(cube, "summing", rows):
        counts = rebin_block(block, operator)
        spectrum += counts.sum((0, 1))
        on_axis[where], measured[where] = counts.sum(-1), block.sum(-1, dtype=np.float64)
    return Sums(spectrum, on_axis, measured)


@dataclass(frozen=True)
class Analysis:
    """A scan recoloured and explained: the RGB image, the report's explanation, the element maps, the
    dominant pigment group per pixel (an index into `groups`; -1: none), the palette's groups of pigments
    XRF cannot tell apart (`explain.groups`) and the median counts per pixel as measured."""

    rgb: np.ndarray
    explanation: dict
    maps: dict[str, np.ndarray]
    best: np.ndarray
    counts_per_pixel: float
    groups: list[tuple[int, ...]]


def _lines(cube: Cube, spectrum: np.ndarray, usable: np.ndarray, models: Run) -> tuple[dict, list, list]:
    """The instrument the scan is explained with, the tube's peaks and the sample's lines in its sum spectrum."""
    energy = models.palette.energy
    instrument, mismatch = tube_in_use(cube, models.instrument)
    for message in mismatch:
        warnings.warn(message, ScanWarning)
    peaks = explain.tube_peaks(instrument["anode"], instrument["tube_kv"], models.instrument)
    lines = explain.find_lines(spectrum, energy, usable, models.instrument,
                               reserved=explain.reserved_channels(peaks, energy))
    return instrument, peaks, lines


def analyse(cube: Cube, models: Run, counts_tolerance: float = 2.0, seed: int = 0, device: str = "cpu",
            rows: int | None = None) -> Analysis:
    """Recolour and explain a scan in two passes of `rows` rows at a time (None: about 64 MB a block): the
    first sums it, the second embeds, maps and unmixes each block; memory grows with the outputs only."""
    energy, palette = models.palette.energy, models.palette
    operator, usable = rebin_operator(cube.energy, energy), covered(cube, energy)
    total = sums(cube, operator, rows)
    coverage_warnings(cube.energy, energy, float(total.measured.sum()), float(total.spectrum.sum()))
    p = thinning(float(np.median(total.on_axis)), models.training_counts, counts_tolerance,
                 f"the {encoder_name(models.dve_model)}")
    instrument, peaks, lines = _lines(cube, total.spectrum, usable, models)
    h, w, _ = cube.shape
    latent = np.zeros((h, w, models.dve_model.cfg.latent_dim), np.float32)
    maps = {line.label: np.zeros((h, w)) for line in lines}
    grouping = explain.groups(palette, usable)
    lineless = explain.lineless(palette)
    no_lines = np.array([lineless[list(members)].all() for members in grouping])
    best, empty = np.zeros((h, w), int), 0
    for where, block in passing(cube, "recolouring", rows):
        counts = rebin_block(block, operator)
        latent[where], n = embed_counts(thin(counts, p, seed, where.start), models.dve_model, device)
        empty += n
        block_maps = explain.element_maps(counts, lines)
        for label, values in block_maps.items():
            maps[label][where] = values
        weights = explain.group_weights(explain.unmix(counts, palette, usable), grouping)
        best[where] = explain.dominant(weights, no_lines, explain.line_pixels(counts, block_maps))
    warn_empty(empty)
    rgb = recolour_embedded(latent, models.module, device)
    explanation = _explanation(total.spectrum, usable, lines, peaks, instrument, best, palette, grouping)
    return Analysis(rgb, explanation, {"all counts": total.on_axis, **maps}, best, float(np.median(total.measured)),
                    grouping)


def _explanation(spectrum: np.ndarray, usable: np.ndarray, lines: list, peaks: list, instrument: dict,
                 best: np.ndarray, palette: Palette, grouping: list[tuple[int, ...]]) -> dict:
    """The report's explanation: tube, elements, the palette's mixture and the pigments' shares of pixels,
    pigments XRF cannot tell apart named together as one group."""
    mix = explain.mixture(spectrum, palette, usable, lines)
    labels = [explain.group_label(palette, members) for members in grouping]
    shares = {label: sum(mix.shares.get(palette.names[k], 0.0) for k in members)
              for label, members in zip(labels, grouping)}
    unexplained = {s: round(v, 4) for s, v in mix.unexplained.items()
                   if v > explain.UNEXPLAINED and s in mix.significant}
    for symbol, share in unexplained.items():
        warnings.warn(f"{symbol}: {100 * share:.0f} % of its line counts are explained by no pigment of the "
                      f"palette ({', '.join(palette.names)})", ScanWarning)
    if (best < 0).any():
        warnings.warn(f"{100 * (best < 0).mean():.0f} % of the pixels are explained by no pigment of the palette",
                      ScanWarning)
    return {
        "instrument": instrument,
        "tube_lines_keV": explain.visible_tube_peaks(spectrum, palette.energy, usable, peaks),
        "elements": sorted({line.symbol for line in lines}, key=xr.SymbolToAtomicNumber),
        "lines_keV": {line.label: round(line.energy, 4) for line in lines},
        "unexplained_elements": unexplained,
        "line_counts_unexplained": {s: round(v, 4) for s, v in mix.unexplained.items()},
        "pigments": {label: float((best == k).mean()) for k, label in enumerate(labels) if (best == k).any()},
        "pigment_groups": {label: [palette.names[k] for k in members] for label, members in zip(labels, grouping)
                           if len(members) > 1},
        "pixels_unexplained": float((best < 0).mean()),
        "mixture": {"shares": {k: round(v, 4) for k, v in sorted(shares.items(), key=lambda kv: -kv[1]) if v > 0},
                    "reduced_chi2": round(mix.reduced_chi2, 3), "residual_share": round(mix.residual_share, 4)},
    }


def recolour(scan: str | Path, run: str | Path | None, out: str | Path, format: str | None = None,
             calibration: tuple[float, float] | None = None, device: str = "cpu", counts_tolerance: float = 2.0,
             seed: int = 0, detector: int | None = None, palette: str | None = None,
             rows: int | None = None, model: str = "smalluvit") -> dict:
    """Recolour a measured scan with a run's models (None: the published model) and explain it; returns
    the report.

    `palette` (a bundled palette's name or a palette file, `xrfnb.palette.palette_file`) explains the scan with
    other pigments than the model's own; the recolouring is still the model's, trained on its palette.
    The scan is read `rows` rows at a time (`analyse`), so its size is bounded by the disk, not the memory.

    Writes into `out` (all or nothing): `recoloured.png`, `elements.png` (net counts at xraylib's line
    energies), `pigments.png` (the dominant pigment per pixel of a non-negative least-squares unmixing
    against the palette) and `report.json`.
    """
    scan, out = Path(scan), Path(out)
    models = load_run(run, model)
    if palette is not None:
        models = dataclasses.replace(models, palette=explaining_palette(palette, models))
    cube = load_cube(scan, format, calibration, detector)
    with _recording() as messages:
        for note in cube.notes:  # named by the scan's file name: a report should not carry a machine's paths
            warnings.warn(note.replace(str(scan.parent) + "/", ""), ScanWarning)
        result = analyse(cube, models, counts_tolerance, seed, device, rows)
    report = {
        "scan": str(scan), "model": models.name, "palette": palette_file.label(models.palette.source),
        "format": cube.format, "streamed": cube.streamed,
        "shape": list(cube.shape),
        "energy_keV": [float(cube.energy[0]), float(cube.energy[-1])],
        "counts_per_pixel": result.counts_per_pixel,
        "training_counts_per_pixel": models.training_counts,
        "negative_counts_clipped": cube.negative,
        **result.explanation,
        "warnings": messages,
    }
    labels = [explain.group_label(models.palette, members) for members in result.groups]
    colours = np.array([models.palette.rgb[list(members)].mean(0) for members in result.groups])
    with atomic_dir(out) as tmp:
        plots.save(plots.mosaic([result.rgb], [f"recoloured {scan.name}"], ncols=1, size=5), tmp / "recoloured.png",
                   show=False)
        plots.save(plots.image_grid(result.maps), tmp / "elements.png", show=False)
        plots.save(plots.pigment_map(result.best, labels, colours), tmp / "pigments.png", show=False)
        write_json(tmp / "report.json", report)
    return report
