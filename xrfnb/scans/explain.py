"""Explaining a scan independently of the models: its elements, the tube's peaks, and its pigments.

Elements are found at xraylib's line energies in the sum spectrum; the tube's own lines (Rayleigh) and
their Compton peaks are labelled as the tube's, so a blank measured with a Mo tube reports no Mo. The
pigments are a non-negative least-squares unmixing against the palette, reported honestly: the
mixture's goodness of fit, every element whose line counts no pigment explains (with the share left
unexplained), never a pigment without lines of its own (carbon black) for counts that have lines, and
pigments whose spectra XRF cannot tell apart (the iron earths; azurite and malachite) as one group with
its alternatives named (`groups`), never as one confident name.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import xraylib as xr
from scipy.optimize import nnls

from ..palette import physics
from ..palette.pigments import Palette


@dataclass(frozen=True)
class Line:
    """An element's line that stands out of the background of a scan's sum spectrum."""

    symbol: str
    label: str  # e.g. "Fe Ka"
    energy: float  # keV
    window: np.ndarray  # boolean mask of its channels
    net_fraction: float  # share of the window's counts above the background


#: The line tried for each element: K alpha1, else L alpha1, else M alpha1 (the first within the range).
CANDIDATE_LINES = (("Ka", xr.KL3_LINE), ("La", xr.L3M5_LINE), ("Ma", xr.M5N7_LINE))
#: Elements tried, Na to U [choice]: not krypton, xenon, the lanthanides, technetium or Po to Pa, which
#: paintings do not hold and whose lines would otherwise take the peaks of Mn, Fe, Pb and others.
ELEMENTS = tuple(z for z in range(11, 93) if z not in {36, 43, 54, *range(57, 72), *range(84, 92)})


def snip_background(spectrum: np.ndarray, width: int) -> np.ndarray:
    """SNIP background (Ryan et al. 1988): iterated clipping of the log-log-sqrt transformed spectrum."""
    v = np.log(np.log(np.sqrt(spectrum + 1) + 1) + 1)
    for k in range(width, 0, -1):
        mean = np.full_like(v, np.inf)
        mean[k:-k] = (v[:-2 * k] + v[2 * k:]) / 2
        v = np.minimum(v, mean)
    return (np.exp(np.exp(v) - 1) - 1) ** 2 - 1


def _line_energies(z: int, codes: tuple[int, ...], min_rate: float = 0.0) -> list[tuple[str, float]]:
    """(line name, keV) of the element's lines among `codes` that xraylib knows (with rate >= `min_rate`)."""
    out = []
    for code in codes:
        try:
            if min_rate and xr.RadRate(z, code) < min_rate:
                continue
            out.append((next((n for n, c in CANDIDATE_LINES if c == code), ""), xr.LineEnergy(z, code)))
        except ValueError:  # the element has no such line
            continue
    return out


def find_lines(spectrum: np.ndarray, energy: np.ndarray, usable: np.ndarray,
               detector: physics.Instrument = physics.Instrument(), sigmas: float = 5.0,
               min_share: float = 1e-3, e_floor: float = 1.0, reserved: np.ndarray | None = None) -> list[Line]:
    """Elements whose line (xraylib energy) stands out of the SNIP background of a sum spectrum.

    Each element is tried at its first line within the range (K alpha1, else L alpha1, else M alpha1). A
    line stands out when its window (one FWHM each side) holds net counts above `sigmas` Poisson standard
    deviations of the background and above `min_share` of all counts, the net spectrum peaks within an
    FWHM of it, and the peak is as narrow as a line (`SHARPNESS`). Elements are accepted strongest first,
    and each claims the peaks of all its lines of the family found (K, L or M, radiative rate >= 1 %), so
    that a peak already explained (Fe K beta, Hg L l) is not read as another element (Co K alpha, Zn K alpha).
    Channels `reserved` (the tube's peaks) are claimed from the start: no sample element is read there.
    """
    width = float(np.median(np.diff(energy)))
    fwhm_max = detector.fwhm_ev(float(energy[-1])) * 1e-3
    background = np.where(usable, snip_background(np.where(usable, spectrum, 0), max(2, round(2 * fwhm_max / width))),
                          0)
    net, total = spectrum - background, spectrum[usable].sum()
    lo, hi = energy[usable][[0, -1]] if usable.any() else (np.inf, -np.inf)

    def half_width(e: float) -> float:
        return max(detector.fwhm_ev(e) * 1e-3, width)

    candidates = []
    for z in ELEMENTS:
        name, e = next(((n, e) for n, e in _line_energies(z, tuple(c for _, c in CANDIDATE_LINES))
                        if max(lo, e_floor) <= e <= hi), ("", 0.0))
        if not name:
            continue
        window = usable & (np.abs(energy - e) <= half_width(e))
        around = usable & (np.abs(energy - e) <= 1.5 * half_width(e))
        signal, noise = net[window].sum(), np.sqrt(background[window].sum() + 1)
        peak = int(np.flatnonzero(around)[np.argmax(net[around])])
        if (signal > sigmas * noise and signal > min_share * total and abs(energy[peak] - e) <= half_width(e)
                and signal > SHARPNESS * _flank(net, energy, usable, e, half_width(e))):
            candidates.append((signal / noise, z, name, e, window, peak))
    claimed = np.zeros(len(energy), bool) if reserved is None else reserved.copy()
    found = []
    for _, z, name, e, window, peak in sorted(candidates, key=lambda c: -c[0]):
        if claimed[peak]:
            continue
        symbol = xr.AtomicNumberToSymbol(z)
        found.append(Line(symbol, f"{symbol} {name}", e, window, float(net[window].sum() / spectrum[window].sum())))
        codes, names = physics.iupac_lines()
        family = tuple(c for c, n in zip(codes, names) if n[0] == name[0])  # K, L or M lines
        for _, other in _line_energies(z, family, min_rate=0.01):
            claimed |= np.abs(energy - other) <= half_width(other)
    return sorted(found, key=lambda line: line.energy)


#: A line is a peak as narrow as the detector makes it: its window's net counts are at least this many times
#: those of the quieter of the two windows beside it, which a bump of the scattered continuum is not.
SHARPNESS = 3.0


def _flank(net: np.ndarray, energy: np.ndarray, usable: np.ndarray, e: float, half: float) -> float:
    """Net counts of the quieter of the two windows (as wide as the line's) just beside a line at `e`."""
    sides = [usable & (energy > e + s * half) & (energy <= e + s * 3 * half) if s > 0 else
             usable & (energy < e + s * half) & (energy >= e + s * 3 * half) for s in (1, -1)]
    return max(0.0, min(float(net[side].sum()) for side in sides))


def element_maps(counts: np.ndarray, lines: list[Line]) -> dict[str, np.ndarray]:
    """Per-pixel net counts of each line: the window's counts times the sum spectrum's net share there."""
    return {line.label: counts[..., line.window].sum(-1) * line.net_fraction for line in lines}


# ------------------------------------------------------------------------------------ the tube's peaks

@dataclass(frozen=True)
class TubePeak:
    """A peak the tube puts in every spectrum: an anode line scattered elastically or by Compton."""

    label: str  # e.g. "Mo Ka (Rayleigh)", "Mo Ka (Compton)"
    energy: float  # keV
    half_width: float  # keV: the detector's FWHM, plus the Compton peak's Doppler broadening


#: Compton peaks are broader than the detector's resolution (Doppler broadening by the electrons'
#: momenta): their window is widened by this share of the energy [choice, about the measured width].
COMPTON_BROADENING = 0.02


def tube_peaks(anode: str, tube_kv: float, instrument: physics.Instrument) -> list[TubePeak]:
    """The anode's lines the tube emits at `tube_kv`, each scattered by Rayleigh (at the line) and Compton (at
    `xraylib.ComptonEnergy` for the instrument's geometry): its K lines (radiative rate >= 2 %) when the
    voltage excites them, else its L lines (a W tube below 69.5 kV); an excited anode's L lines are too
    soft to pass the tube's window and the air."""
    z = xr.SymbolToAtomicNumber(anode)
    codes, names = physics.iupac_lines()
    family = "K" if tube_kv > xr.EdgeEnergy(z, xr.K_SHELL) else "L"
    peaks = []
    for code, name in zip(codes, names):
        try:
            if not name.startswith(family) or xr.RadRate(z, code) < 0.02:
                continue
            e = xr.LineEnergy(z, code)
        except ValueError:  # the anode has no such line
            continue
        if 1.0 <= e < tube_kv:
            compton = xr.ComptonEnergy(e, instrument.scatter_angle)
            peaks.append(TubePeak(f"{anode} {name} (Rayleigh)", e, instrument.fwhm_ev(e) * 1e-3))
            peaks.append(TubePeak(f"{anode} {name} (Compton)", compton,
                                  instrument.fwhm_ev(compton) * 1e-3 + COMPTON_BROADENING * compton))
    return sorted(peaks, key=lambda p: p.energy)


def reserved_channels(peaks: list[TubePeak], energy: np.ndarray) -> np.ndarray:
    """The channels within any tube peak's window."""
    mask = np.zeros(len(energy), bool)
    for peak in peaks:
        mask |= np.abs(energy - peak.energy) <= peak.half_width
    return mask


def visible_tube_peaks(spectrum: np.ndarray, energy: np.ndarray, usable: np.ndarray, peaks: list[TubePeak],
                       sigmas: float = 5.0) -> dict[str, float]:
    """The tube peaks that stand out of the sum spectrum's background: {label: keV}."""
    width = float(np.median(np.diff(energy)))
    background = np.where(usable, snip_background(np.where(usable, spectrum, 0), max(2, round(0.6 / width))), 0)
    net = spectrum - background
    out = {}
    for peak in peaks:
        window = usable & (np.abs(energy - peak.energy) <= peak.half_width)
        if window.any() and net[window].sum() > sigmas * np.sqrt(background[window].sum() + 1):
            out[peak.label] = round(peak.energy, 4)
    return out


# ------------------------------------------------------------------------------------ pigments

#: A pigment has no lines of its own when its elements heavier than neon make less than this share of its
#: mass (carbon black: 0.6 %) [choice]: its spectrum is scatter and traces, fit for counts without lines.
LINELESS_MASS = 0.01
#: A pixel's counts "have lines" when the net counts of the scan's lines are at least this share of them.
LINE_SHARE = 0.05
#: A pigment with lines stands in for a line-less one only when it carries this share of the pixel's fit.
MIN_WEIGHT_SHARE = 0.1
#: An element is listed as unexplained when the mixture leaves more than this share of its line counts (and
#: what it leaves is more than noise: `Mixture.significant`).
UNEXPLAINED = 0.5


def lineless(palette: Palette) -> np.ndarray:
    """Which pigments have no lines of their own (by composition; a pigment without one has lines)."""
    out = []
    for composition in palette.compositions:
        if not composition:
            out.append(False)
            continue
        elements = physics.parse_composition(composition)
        out.append(sum(w for s, w in elements.items() if xr.SymbolToAtomicNumber(s) > 10) < LINELESS_MASS)
    return np.array(out, bool)


def unmix(counts: np.ndarray, palette: Palette, usable: np.ndarray) -> np.ndarray:
    """Non-negative least-squares weights (rows, cols, P) of the palette's spectra in each pixel.

    Fitted on the channels the scan covers only, so a scan that stops short is not read as missing counts.
    Each pixel's fit is solved on the basis' QR factors (P x P, not channels x P), the same minimum: with
    basis = QR, |basis w - b|^2 = |R w - Q'b|^2 + what no weights can change.
    """
    basis = palette.spectra[:, usable].T
    q, r = np.linalg.qr(basis)
    projected = counts[..., usable].reshape(-1, basis.shape[0]) @ q
    weights = np.stack([nnls(r, pixel)[0] for pixel in projected])
    return weights.reshape(*counts.shape[:2], len(palette))


#: Two pigments are one group when their spectra (on the scan's channels) are this close to collinear:
#: cosine similarity at least this, an angle under about 8 degrees [choice]. In the paper's palette the
#: iron pigments are 0.995 or more alike and the next closest pair (cobalt blue, smalt) 0.80.
SAME_SPECTRUM = 0.99


def groups(palette: Palette, usable: np.ndarray | None = None) -> list[tuple[int, ...]]:
    """The palette's pigments in groups XRF cannot tell apart, computed from their spectra: linked when
    their spectra on the `usable` channels are nearly collinear (`SAME_SPECTRUM`), a group being all the
    pigments so linked (single linkage); each pigment in exactly one group, in palette order."""
    spectra = palette.spectra if usable is None else palette.spectra[:, usable]
    norms = np.linalg.norm(spectra, axis=1, keepdims=True)
    unit = spectra / np.where(norms > 0, norms, 1)
    linked = unit @ unit.T >= SAME_SPECTRUM
    group = np.arange(len(spectra))
    changed = True
    while changed:  # each pigment takes the smallest group index among those it is linked to
        merged = np.array([group[linked[k]].min() for k in range(len(spectra))])
        changed, group = bool((merged != group).any()), merged
    return [tuple(int(k) for k in np.flatnonzero(group == g)) for g in np.unique(group)]


def group_label(palette: Palette, members: tuple[int, ...]) -> str:
    """A group as the report names it: its pigments' names joined by ' / ' (one name for one pigment)."""
    return " / ".join(palette.names[k] for k in members)


def group_weights(weights: np.ndarray, grouping: list[tuple[int, ...]]) -> np.ndarray:
    """Per-pixel weights (..., P) summed within each group (..., G): how much of the fit a group carries,
    however the fit split it among pigments it cannot tell apart."""
    return np.stack([weights[..., list(members)].sum(-1) for members in grouping], -1)


def dominant(weights: np.ndarray, no_lines: np.ndarray | None = None,
             has_lines: np.ndarray | None = None) -> np.ndarray:
    """Index of the pigment with the largest weight in each pixel; -1 where no pigment fits.

    Where the counts have lines (`has_lines`, per pixel) a line-less pigment (`no_lines`, per pigment) is not
    the answer: the strongest pigment with lines is, if it carries at least `MIN_WEIGHT_SHARE` of the fit;
    otherwise nothing in the palette explains the pixel (-1).
    """
    total = weights.sum(-1)
    best = np.where(total > 0, weights.argmax(-1), -1)
    if no_lines is None or has_lines is None or not no_lines.any():
        return best
    with_lines = np.where(no_lines, -np.inf, weights)
    stand_in = with_lines.argmax(-1)
    strong = np.take_along_axis(weights, stand_in[..., None], -1)[..., 0] >= MIN_WEIGHT_SHARE * total
    refused = (best >= 0) & no_lines[np.maximum(best, 0)] & has_lines
    return np.where(refused, np.where(strong, stand_in, -1), best)


@dataclass(frozen=True)
class Mixture:
    """The palette fitted to the sum spectrum: weight shares, goodness of fit, unexplained line counts."""

    shares: dict[str, float]  # pigment: share of the fitted counts
    reduced_chi2: float  # Poisson chi-square per degree of freedom over the covered channels
    residual_share: float  # sum |observed - fitted| / sum observed
    unexplained: dict[str, float]  # element: share of its net line counts the mixture leaves
    significant: frozenset[str]  # elements whose counts left exceed 5 Poisson sigmas of the fit there


def mixture(spectrum: np.ndarray, palette: Palette, usable: np.ndarray, lines: list[Line]) -> Mixture:
    """Fit the palette to a sum spectrum (NNLS on the covered channels) and say how well it explains it."""
    weights, _ = nnls(palette.spectra[:, usable].T, spectrum[usable])
    fitted = weights @ palette.spectra
    residual = (spectrum - fitted)[usable]
    dof = max(1, int(usable.sum()) - int((weights > 0).sum()))
    unexplained, significant = {}, set()
    for line in lines:
        net = line.net_fraction * spectrum[line.window].sum()
        left = (spectrum - fitted)[line.window].sum()
        unexplained[line.symbol] = float(np.clip(left / net, 0, 1)) if net > 0 else 0.0
        if left > 5 * np.sqrt(max(fitted[line.window].sum(), 0) + 1):
            significant.add(line.symbol)
    total = weights.sum()
    return Mixture({n: float(w / total) for n, w in zip(palette.names, weights) if w > 0} if total > 0 else {},
                   float((residual ** 2 / np.maximum(fitted[usable], 1)).sum() / dof),
                   float(np.abs(residual).sum() / max(spectrum[usable].sum(), 1)), unexplained, frozenset(significant))


def line_pixels(counts: np.ndarray, maps: dict[str, np.ndarray]) -> np.ndarray:
    """Which pixels' counts have lines: the lines' net counts at least `LINE_SHARE` of the pixel's counts."""
    net = sum(maps.values()) if maps else np.zeros(counts.shape[:2])
    return net >= LINE_SHARE * np.maximum(counts.sum(-1), 1e-12)
