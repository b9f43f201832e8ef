"""Fundamental-parameter XRF physics on `xraylib`: tube, layered fresco sample, air path and detector.

The paper took its pigment spectra from a tabulated database that is not public. Here each spectrum is
computed from the pigment's elemental composition (the book's choices page, rows 1 and 1a):

* a Mo tube (Kramers continuum through a Be window plus the anode's K lines),
* a sample: either a thick layer of the pure pigment (`ReferenceSample`, the way a reference-database
  spectrum is measured; the default) or a fresco paint layer (pigment in a CaCO3 binder) over lime plaster
  (`FrescoSample`), with primary fluorescence, Rayleigh and Compton scatter, and absorption on the way in
  and out of every layer,
* an air path between tube, sample and detector (attenuating, and fluorescing Ar K),
* a Si drift detector: Be window and Si thickness efficiency, Gaussian peaks with Fano-limited width,
  Si K escape peaks and a small low-energy shelf, integrated exactly over each channel.

Everything is vectorised with `xraylib_np` over elements, lines and incident energies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import xraylib as xr
import xraylib_np as xrn
from scipy.special import erf

#: Air by mass (dry, sea level) and its density in g/cm3.
AIR = {"N": 0.7553, "O": 0.2318, "Ar": 0.0128, "C": 0.0001}
AIR_DENSITY = 1.205e-3
SI_KA = 1.7398  # keV, the energy an escaping Si K alpha photon carries away

_IUPAC = re.compile(r"(K|L[1-3]|M[1-5]|N[1-7]|O[1-7]|P[1-5])(K|L[1-3]|M[1-5]|N[1-7]|O[1-7]|P[1-5]|Q[1-3])_LINE")


@lru_cache(maxsize=1)
def iupac_lines() -> tuple[np.ndarray, tuple[str, ...]]:
    """All single IUPAC line constants of xraylib (never the Siegbahn sums, which double-count)."""
    names = sorted((n for n in dir(xr) if _IUPAC.fullmatch(n)), key=lambda n: -getattr(xr, n))
    return np.array([getattr(xr, n) for n in names], dtype=np.int64), tuple(n[:-5] for n in names)


@dataclass(frozen=True)
class EnergyAxis:
    """A detector's channel axis: `n_channels` equal bins from `e_min` to `e_max` keV."""

    e_min: float = 0.5
    e_max: float = 38.5
    n_channels: int = 512

    def __post_init__(self) -> None:
        if self.n_channels < 8:
            raise ValueError(f"energy axis: n_channels={self.n_channels} is too few (need at least 8)")
        if not 0 <= self.e_min < self.e_max:
            raise ValueError(f"energy axis: need 0 <= e_min < e_max, got {self.e_min}..{self.e_max} keV")
        if self.e_max < 5.0:
            raise ValueError(
                f"energy axis: e_max={self.e_max} keV cannot hold the palette's K lines (Ti 4.5 to Fe 6.4 keV); "
                "use e_max >= 5 keV")

    @classmethod
    def from_centres(cls, centres: np.ndarray) -> "EnergyAxis":
        """The axis whose channel centres are `centres` (equally spaced, keV)."""
        width = (centres[-1] - centres[0]) / (len(centres) - 1)
        return cls(float(centres[0] - width / 2), float(centres[-1] + width / 2), len(centres))

    @property
    def edges(self) -> np.ndarray:
        return np.linspace(self.e_min, self.e_max, self.n_channels + 1)

    @property
    def centres(self) -> np.ndarray:
        e = self.edges
        return 0.5 * (e[1:] + e[:-1])

    @property
    def width(self) -> float:
        return (self.e_max - self.e_min) / self.n_channels

    def channel(self, energy: float) -> int:
        """Index of the channel that holds `energy` keV."""
        return int(np.clip((energy - self.e_min) // self.width, 0, self.n_channels - 1))


@dataclass(frozen=True)
class Instrument:
    """Tube, geometry and detector of a macro-XRF scanner (defaults: a Mo tube at 40 kV, 45/45 degree
    geometry, 1 cm of air and a Si drift detector; the choices page, row 1)."""

    anode: str = "Mo"
    tube_kv: float = 40.0
    tube_be_um: float = 125.0
    tube_line_fraction: float = 0.156
    angle_in_deg: float = 45.0
    angle_out_deg: float = 45.0
    air_cm: float = 1.0
    detector_be_um: float = 12.5
    detector_si_um: float = 500.0
    fano: float = 0.114
    pair_energy_ev: float = 3.85
    noise_ev: float = 26.0
    shelf_fraction: float = 0.002
    incident_step_kev: float = 0.1

    def sigma_kev(self, energy: np.ndarray) -> np.ndarray:
        """Gaussian peak width: sigma^2 = noise^2 + F * eps * E (all in eV), returned in keV."""
        energy_ev = np.asarray(energy) * 1e3
        return np.sqrt(self.noise_ev**2 + self.fano * self.pair_energy_ev * energy_ev) * 1e-3

    def fwhm_ev(self, energy: float) -> float:
        return float(2 * np.sqrt(2 * np.log(2)) * self.sigma_kev(energy) * 1e3)

    @property
    def scatter_angle(self) -> float:
        """Scattering angle (rad) between incident and detected beam."""
        return float(np.pi - np.radians(self.angle_in_deg + self.angle_out_deg))


@dataclass(frozen=True)
class Layer:
    """A homogeneous layer: element mass fractions, density (g/cm3) and thickness (cm)."""

    elements: dict[str, float]
    density: float
    thickness_cm: float
    name: str = ""

    @property
    def z(self) -> np.ndarray:
        return np.array([xr.SymbolToAtomicNumber(s) for s in self.elements], dtype=np.int64)

    @property
    def w(self) -> np.ndarray:
        return np.array(list(self.elements.values()), dtype=float)

    def mu(self, energy: np.ndarray) -> np.ndarray:
        """Mass attenuation coefficient (cm2/g) at each energy."""
        return mass_attenuation(self.elements, energy)


def line_energy(symbol: str, line: str) -> float:
    """Energy (keV) of an IUPAC line such as ('Fe', 'KL3') or ('Hg', 'L3M5')."""
    return float(xr.LineEnergy(xr.SymbolToAtomicNumber(symbol), getattr(xr, f"{line}_LINE")))


def parse_composition(composition: dict[str, float], where: str = "composition") -> dict[str, float]:
    """Element mass fractions of a mixture of compounds given as {formula: mass fraction}.

    Fractions are renormalised to sum to one. A formula that xraylib cannot parse raises a ValueError
    naming it and `where` it came from.
    """
    total = sum(composition.values())
    if total <= 0 or any(f < 0 for f in composition.values()):
        raise ValueError(f"{where}: mass fractions must be non-negative and sum to more than 0, got {composition}")
    elements: dict[str, float] = {}
    for formula, fraction in composition.items():
        try:
            parsed = xr.CompoundParser(formula)
        except ValueError as err:
            raise ValueError(f"{where}: cannot parse compound formula {formula!r} ({err})") from None
        for z, wz in zip(parsed["Elements"], parsed["massFractions"]):
            symbol = xr.AtomicNumberToSymbol(z)
            elements[symbol] = elements.get(symbol, 0.0) + fraction / total * wz
    return elements


def mix(parts: list[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Mass-weighted mixture of element compositions [(elements, mass fraction), ...]."""
    out: dict[str, float] = {}
    for elements, fraction in parts:
        for symbol, w in elements.items():
            out[symbol] = out.get(symbol, 0.0) + fraction * w
    return out


def mass_attenuation(elements: dict[str, float], energy: np.ndarray) -> np.ndarray:
    """Total mass attenuation coefficient (cm2/g) of a composition at each energy (keV)."""
    z = np.array([xr.SymbolToAtomicNumber(s) for s in elements], dtype=np.int64)
    w = np.array(list(elements.values()))
    return w @ xrn.CS_Total(z, np.atleast_1d(np.asarray(energy, dtype=float)))


def tube_spectrum(instrument: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """Photons per incident energy leaving the tube window: Kramers continuum plus anode K lines.

    Returns the energies (keV) and relative photon numbers (summing to 1).
    """
    step = instrument.incident_step_kev
    e = np.arange(1.0 + step / 2, instrument.tube_kv, step)
    z_anode = xr.SymbolToAtomicNumber(instrument.anode)
    continuum = z_anode * (instrument.tube_kv - e) / e
    codes, _ = iupac_lines()
    k_lines = codes[codes >= xr.KP5_LINE]  # K-shell lines come first among the negative codes
    line_e = xrn.LineEnergy(np.array([z_anode]), k_lines)[0]
    rates = xrn.RadRate(np.array([z_anode]), k_lines)[0]
    keep = (line_e > 0) & (rates > 0) & (line_e < instrument.tube_kv)
    if instrument.tube_kv <= xr.EdgeEnergy(z_anode, xr.K_SHELL):
        keep[:] = False
    line_e, rates = line_e[keep], rates[keep]
    continuum = continuum / continuum.sum() * (1 - instrument.tube_line_fraction if keep.any() else 1.0)
    lines = rates / rates.sum() * instrument.tube_line_fraction if keep.any() else rates
    energy = np.concatenate([e, line_e])
    photons = np.concatenate([continuum, lines])
    photons *= np.exp(-mass_attenuation({"Be": 1.0}, energy) * 1.848 * instrument.tube_be_um * 1e-4)
    return energy, photons / photons.sum()


def fluorescence_lines(z: np.ndarray, e0: np.ndarray, e_max: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every IUPAC line of elements `z` that the incident energies `e0` excite, below `e_max` keV.

    Returns (element index, line energy in keV, cross-section in cm2/g/sr per incident energy), element by
    element in the order of `z`.
    """
    e0 = np.ascontiguousarray(e0, dtype=float)
    found = [_element_lines(int(element), e0.tobytes(), float(e_max)) for element in np.atleast_1d(z)]
    index = np.concatenate([np.full(len(energies), i) for i, (energies, _) in enumerate(found)]).astype(np.int64)
    return (index, np.concatenate([energies for energies, _ in found]),
            np.concatenate([sigma for _, sigma in found]).reshape(-1, len(e0)))


@lru_cache(maxsize=1024)
def _element_lines(z: int, e0: bytes, e_max: float) -> tuple[np.ndarray, np.ndarray]:
    """One element's lines for `fluorescence_lines` (energies, cross-sections per incident energy), computed
    once per element and tube spectrum: every paint, mixture and ground shares its elements' tables."""
    codes, _ = iupac_lines()
    incident = np.frombuffer(e0)
    energies = xrn.LineEnergy(np.array([z]), codes)[0]
    sigma = xrn.CS_FluorLine_Kissel_Cascade(np.array([z]), codes, incident)[0] / (4 * np.pi)  # (lines, E0)
    (j,) = np.nonzero((energies > 0) & (energies < e_max) & (sigma.max(axis=1) > 0))
    return energies[j], sigma[j]


def sample_emission(layers: list[Layer], instrument: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """Photons per steradian reaching the detector window from a stack of layers (top layer first).

    Sums primary fluorescence of every line and the Rayleigh and Compton scatter of the whole tube
    spectrum, each with absorption on the way in and out of its own layer and of the layers above it,
    then the air path (which also adds its own Ar K fluorescence).

    Returns emitted energies (keV) and intensities (arbitrary common units).
    """
    e0, n0 = tube_spectrum(instrument)
    sin_in = np.sin(np.radians(instrument.angle_in_deg))
    sin_out = np.sin(np.radians(instrument.angle_out_deg))
    theta = instrument.scatter_angle
    air_depth = AIR_DENSITY * instrument.air_cm
    n0 = n0 * np.exp(-mass_attenuation(AIR, e0) * air_depth)

    out_e, out_i = [], []
    above_in = np.zeros_like(e0)  # optical depth of the layers above, incident path (already / sin)
    above_layers: list[Layer] = []

    def exit_depth(energy: np.ndarray) -> np.ndarray:
        tau = sum((layer.mu(energy) * layer.density * layer.thickness_cm for layer in above_layers),
                  np.zeros_like(energy))
        return tau / sin_out

    for layer in layers:
        rho_d = layer.density * layer.thickness_cm
        mu0 = layer.mu(e0)
        # fluorescence: per element and line, integrated over the tube spectrum
        idx, line_e, sigma = fluorescence_lines(layer.z, e0, instrument.tube_kv)
        if len(idx):
            chi = mu0[None, :] / sin_in + layer.mu(line_e)[:, None] / sin_out
            depth = (1 - np.exp(-chi * rho_d)) / chi
            weight = n0 * np.exp(-above_in) / sin_in
            inten = layer.w[idx] * ((sigma * depth) @ weight)
            out_e.append(line_e)
            out_i.append(inten * np.exp(-exit_depth(line_e)))
        # Rayleigh (elastic) and Compton (inelastic) scatter of every incident energy
        w, z = layer.w, layer.z
        for e_s, dcs in (
            (e0, w @ xrn.DCS_Rayl(z, e0, np.array([theta]))[:, :, 0]),
            (np.array([xr.ComptonEnergy(e, theta) for e in e0]), w @ xrn.DCS_Compt(z, e0, np.array([theta]))[:, :, 0]),
        ):
            chi = mu0 / sin_in + layer.mu(e_s) / sin_out
            inten = n0 * np.exp(-above_in) / sin_in * dcs * (1 - np.exp(-chi * rho_d)) / chi
            out_e.append(e_s)
            out_i.append(inten * np.exp(-exit_depth(e_s)))
        above_in = above_in + mu0 * rho_d / sin_in
        above_layers.append(layer)

    energy = np.concatenate(out_e)
    intensity = np.concatenate(out_i)
    intensity = intensity * np.exp(-mass_attenuation(AIR, energy) * air_depth)
    ar_e, ar_i = air_fluorescence(e0, n0, instrument)
    return np.concatenate([energy, ar_e]), np.concatenate([intensity, ar_i])


def air_fluorescence(e0: np.ndarray, n0: np.ndarray, instrument: Instrument) -> tuple[np.ndarray, np.ndarray]:
    """Ar K lines excited in the air path (thin-layer approximation: the path is optically thin)."""
    z = np.array([xr.SymbolToAtomicNumber("Ar")], dtype=np.int64)
    _, line_e, sigma = fluorescence_lines(z, e0, instrument.tube_kv)
    return line_e, AIR["Ar"] * AIR_DENSITY * instrument.air_cm * (sigma @ n0)


def detector_efficiency(energy: np.ndarray, instrument: Instrument) -> np.ndarray:
    """Fraction of photons at `energy` that pass the Be window and are absorbed in the Si crystal."""
    be = np.exp(-mass_attenuation({"Be": 1.0}, energy) * 1.848 * instrument.detector_be_um * 1e-4)
    si_photo = xrn.CS_Photo(np.array([14], dtype=np.int64), np.asarray(energy, dtype=float))[0]
    absorbed = 1 - np.exp(-si_photo * 2.33 * instrument.detector_si_um * 1e-4)
    return be * absorbed


def escape_fraction(energy: np.ndarray) -> np.ndarray:
    """Probability that a photon absorbed in Si loses a Si K alpha photon (Reed & Ware, normal incidence)."""
    energy = np.asarray(energy, dtype=float)
    out = np.zeros_like(energy)
    above = energy > xr.EdgeEnergy(14, xr.K_SHELL)
    if above.any():
        z = np.array([14], dtype=np.int64)
        mu_e = xrn.CS_Photo(z, energy[above])[0]
        mu_k = xr.CS_Photo(14, SI_KA)
        omega = xr.FluorYield(14, xr.K_SHELL)
        jump = xr.JumpFactor(14, xr.K_SHELL)
        ratio = mu_k / mu_e
        out[above] = 0.5 * omega * (1 - 1 / jump) * (1 - ratio * np.log1p(1 / ratio))
    return out


def detector_response(energy: np.ndarray, intensity: np.ndarray, axis: EnergyAxis,
                      instrument: Instrument) -> np.ndarray:
    """Counts per channel recorded for photons (energy, intensity) arriving at the detector window.

    Each photon energy becomes a Gaussian photopeak (Fano-limited width), a Si escape peak at
    E - 1.74 keV, and a flat shelf from 0 to E; all are integrated exactly over the channel edges.
    """
    energy = np.asarray(energy, dtype=float)
    absorbed = np.asarray(intensity, dtype=float) * detector_efficiency(energy, instrument)
    esc = escape_fraction(energy)
    shelf = instrument.shelf_fraction
    edges = axis.edges

    def gaussians(centre: np.ndarray, weight: np.ndarray) -> np.ndarray:
        keep = weight > 0
        centre, weight = centre[keep], weight[keep]
        s = instrument.sigma_kev(centre)[:, None] * np.sqrt(2)
        cdf = 0.5 * (1 + erf((edges[None, :] - centre[:, None]) / s))
        return weight @ np.diff(cdf, axis=1)

    peak = gaussians(energy, absorbed * (1 - esc - shelf))
    escape = gaussians(energy - SI_KA, absorbed * esc)
    # shelf: uniform from 0 to E, the part that falls in each channel
    lo, hi = edges[:-1], edges[1:]
    overlap = np.clip(np.minimum(hi[None, :], energy[:, None]) - lo[None, :], 0, None)
    tail = (absorbed * shelf / np.maximum(energy, 1e-9)) @ overlap
    return peak + escape + tail


@dataclass(frozen=True)
class ReferenceSample:
    """A thick layer of the pure pigment, as a reference-database spectrum is measured (the default).

    At 2 mm the layer is infinitely thick for every line of the palette, so nothing beneath it shows.
    """

    density: float = 2.0
    thickness_um: float = 2000.0

    def __post_init__(self) -> None:
        if self.density <= 0 or self.thickness_um <= 0:
            raise ValueError(f"reference sample: density and thickness must be positive, "
                             f"got {self.density} g/cm3 and {self.thickness_um} um")

    def layers(self, pigment: dict[str, float] | None, plaster: dict[str, float]) -> list[Layer]:
        """One layer of the pigment (None: the plaster alone, as the background reference)."""
        elements, name = (plaster, "plaster") if pigment is None else (pigment, "pigment")
        return [Layer(elements, self.density, self.thickness_um * 1e-4, name)]


@dataclass(frozen=True)
class FrescoSample:
    """A paint layer (pigment in a CaCO3 binder) over lime plaster: buon fresco, as painted."""

    pigment_fraction: float = 0.5
    paint_thickness_um: float = 20.0
    paint_density: float = 2.0
    plaster_density: float = 1.7
    plaster_thickness_um: float = 5000.0
    binder: tuple[tuple[str, float], ...] = (("CaCO3", 1.0),)

    def __post_init__(self) -> None:
        if not 0 <= self.pigment_fraction <= 1:
            raise ValueError(f"pigment_fraction must be in [0, 1], got {self.pigment_fraction}")
        if self.paint_thickness_um <= 0:
            raise ValueError(f"paint_thickness_um must be positive, got {self.paint_thickness_um}")

    def layers(self, pigment: dict[str, float] | None, plaster: dict[str, float]) -> list[Layer]:
        """Layers for a pigment's element composition (None: bare plaster)."""
        plaster_layer = Layer(plaster, self.plaster_density, self.plaster_thickness_um * 1e-4, "plaster")
        if pigment is None:
            return [plaster_layer]
        binder = parse_composition(dict(self.binder), "binder")
        paint = mix([(pigment, self.pigment_fraction), (binder, 1 - self.pigment_fraction)])
        return [Layer(paint, self.paint_density, self.paint_thickness_um * 1e-4, "paint"), plaster_layer]


Sample = ReferenceSample | FrescoSample

#: The sample models a palette can be computed for, by name.
SAMPLE_MODELS: dict[str, type] = {"reference": ReferenceSample, "fresco": FrescoSample}


def known_model(name: str) -> str:
    """`name` if it is a sample model's; otherwise a one-line error that lists the known ones."""
    if name not in SAMPLE_MODELS:
        raise ValueError(f"unknown sample model {name!r} (known: {', '.join(SAMPLE_MODELS)})")
    return name


def sample_model(name: str, **settings: float) -> Sample:
    """The sample model called `name` ('reference' or 'fresco') with its settings."""
    return SAMPLE_MODELS[known_model(name)](**settings)


def model_name(sample: Sample) -> str:
    """The name under which `sample`'s kind is registered in SAMPLE_MODELS."""
    return next(name for name, kind in SAMPLE_MODELS.items() if isinstance(sample, kind))


def spectrum(layers: list[Layer], axis: EnergyAxis, instrument: Instrument) -> np.ndarray:
    """Normalised detected spectrum (sums to 1 over the axis) of a stack of layers."""
    energy, intensity = sample_emission(layers, instrument)
    counts = detector_response(energy, intensity, axis, instrument)
    counts = np.clip(counts, 0, None)
    return counts / counts.sum()
