"""What every reader shares: the scan it returns, the instrument a file records, errors and calibration."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np


class ScanError(ValueError):
    """A scan that cannot be read or used; the message names the file and what is wrong, on one line."""


class ScanWarning(UserWarning):
    """Something about a scan that the recolouring works around, recorded in its report."""


@dataclass(frozen=True)
class Recorded:
    """The instrument as the file records it; None where the file says nothing.

    anode : the tube's anode element symbol (e.g. "Rh"); tube_kv : tube voltage (kV);
    fwhm_ev : the detector's resolution, FWHM at Mn K alpha (5.9 keV) in eV; detector : its name.
    The channel width is read from the energy axis itself (`Cube.channel_kev`).
    """

    anode: str | None = None
    tube_kv: float | None = None
    fwhm_ev: float | None = None
    detector: str | None = None

    def as_dict(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


class Rows:
    """Counts (rows, cols, channels) left in their file and read a block of rows at a time (`read(start,
    stop)`), so that a scan larger than memory is never held whole. Indexing reads only the rows asked for;
    `np.asarray` reads it all."""

    ndim = 3

    def __init__(self, shape: tuple[int, int, int], dtype: np.dtype, read: Callable[[int, int], np.ndarray],
                 where: str | Path = "scan"):
        self.shape, self.dtype, self._read, self.where = tuple(int(n) for n in shape), np.dtype(dtype), read, where

    def read(self, start: int, stop: int) -> np.ndarray:
        """Rows start..stop; a file that fails there (truncated, corrupt) is named, on one line."""
        try:
            return np.asarray(self._read(start, stop))
        except Exception as err:  # each library fails in its own way: name the file and the rows
            detail = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise ScanError(f"{self.where}: rows {start} to {stop - 1} could not be read "
                            f"({type(err).__name__}: {detail})") from None

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, key):
        key = key if isinstance(key, tuple) else (key,)
        first, rest = key[0], key[1:]
        if isinstance(first, (int, np.integer)):
            row = int(first) % self.shape[0]
            return self.read(row, row + 1)[(0, *rest)]
        if isinstance(first, slice) and first.step in (None, 1):
            start, stop, _ = first.indices(self.shape[0])
            return self.read(start, max(start, stop))[(slice(None), *rest)]
        return np.asarray(self)[key]

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        whole = self.read(0, self.shape[0])
        return whole if dtype is None else whole.astype(dtype)


#: Rows per block are chosen so that a block, as float64, holds about this many bytes [choice].
BLOCK_BYTES = 64 * 2 ** 20


def block_rows(shape: tuple[int, ...], nbytes: int = BLOCK_BYTES) -> int:
    """Rows per block for a (rows, cols, channels) scan: about `nbytes` of float64, at least one row."""
    return max(1, nbytes // max(1, 8 * shape[1] * shape[2]))


@dataclass(frozen=True)
class Cube:
    """A measured scan: counts (rows, cols, channels), the channel centres in keV, and the format read.

    `counts` is an array, or `Rows` for a format read block by block (HDF5, ripple, Bruker `.bcf`, `.npy`);
    `blocks` reads either way, a block of rows at a time, with negative channels clipped at zero.
    """

    counts: np.ndarray | Rows
    energy: np.ndarray
    format: str = "hdf5"
    notes: tuple[str, ...] = field(default=())  # what the reader assumed (e.g. units), as warnings
    instrument: Recorded = field(default_factory=Recorded)
    negative: dict = field(default_factory=dict)  # channels clipped at zero: {"values": n, "share": s}

    @property
    def shape(self) -> tuple[int, int, int]:
        return tuple(self.counts.shape)

    @property
    def streamed(self) -> bool:
        """Whether the counts stay in the file and are read block by block."""
        return isinstance(self.counts, Rows)

    def blocks(self, rows: int | None = None) -> Iterator[tuple[slice, np.ndarray]]:
        """(row slice, counts of those rows) in order, `rows` rows at a time (None: `block_rows`)."""
        n = self.shape[0]
        step = rows or block_rows(self.shape)
        for start in range(0, n, step):
            block = np.asarray(self.counts[start:min(n, start + step)])
            yield slice(start, start + len(block)), (np.clip(block, 0, None) if self.negative else block)

    @property
    def channel_kev(self) -> float:
        """The median channel width (keV)."""
        return float(np.median(np.diff(self.energy))) if len(self.energy) > 1 else float("nan")


@dataclass(frozen=True)
class Options:
    """What the caller adds to a file: a calibration (offset keV, keV per channel) for files that store
    none, and which detector of a multi-element file to read (None: all, summed on one axis)."""

    calibration: tuple[float, float] | None = None
    detector: int | None = None


def needs_calibration(path: Path, what: str) -> ScanError:
    """The one request every reader makes when the file stores no energy axis."""
    return ScanError(f"{path}: {what} carries no energy axis; pass the calibration "
                     f"(--calibration OFFSET GAIN: keV of channel 0, keV per channel)")


def linear_axis(n: int, offset: float, gain: float, quadratic: float = 0.0) -> np.ndarray:
    """Channel centres offset + gain * i + quadratic * i^2 (keV) of an n-channel detector."""
    i = np.arange(n, dtype=float)
    return offset + gain * i + quadratic * i ** 2


def to_kev(values: np.ndarray, units: str | None, where: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """An energy axis in keV, from eV or keV; without units, eV is assumed above 200 (and said so)."""
    unit = (units or "").strip().lower()
    if unit == "kev":
        return values, ()
    if unit == "ev":
        return values * 1e-3, ()
    if unit:
        raise ScanError(f"{where}: energy units {units!r} are neither eV nor keV")
    guess = "eV" if values.size and np.nanmax(np.abs(values)) > 200 else "keV"
    return (values * 1e-3 if guess == "eV" else values), (f"{where}: no energy units stored; read as {guess}",)


def anode_symbol(value: str | float | int | None) -> str | None:
    """An anode as an element symbol, from a symbol ("Rh") or an atomic number (45, as Bruker stores it)."""
    import xraylib as xr

    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        return xr.AtomicNumberToSymbol(int(float(text)))
    except ValueError:
        symbol = text[:1].upper() + text[1:].lower()
        try:
            xr.SymbolToAtomicNumber(symbol)
        except ValueError:
            return None
        return symbol


def calibrate(n: int, pairs: list[tuple[float, float]], where: str) -> np.ndarray:
    """Channel centres from (channel, keV) calibration points: a straight line through two or more."""
    if len(pairs) < 2:
        raise needs_calibration(Path(where), f"a calibration of {len(pairs)} point(s)")
    channel, kev = np.array(pairs, dtype=float).T
    gain, offset = np.polyfit(channel, kev, 1)
    return linear_axis(n, float(offset), float(gain))


def edges(centres: np.ndarray) -> np.ndarray:
    """Channel edges halfway between centres (the end channels as wide as their neighbours)."""
    if len(centres) == 1:
        return np.array([centres[0] - 0.5, centres[0] + 0.5])  # one channel: no width to go by
    w = np.diff(centres)
    return np.concatenate([[centres[0] - w[0] / 2], centres[:-1] + w / 2, [centres[-1] + w[-1] / 2]])


def rebin_matrix(source: np.ndarray, target: np.ndarray) -> np.ndarray:
    """(E_source, E_target) share of each source channel that falls in each target channel.

    Counts are spread evenly within a source channel, so a row sums to the part of that channel inside the
    target's range: counts are conserved there, and what lies outside is dropped.
    """
    s, t = edges(source), edges(target)
    overlap = np.minimum(s[1:, None], t[None, 1:]) - np.maximum(s[:-1, None], t[None, :-1])
    return np.clip(overlap, 0, None) / np.diff(s)[:, None]


def detectors(spectra: list[np.ndarray], axes: list[np.ndarray], detector: int | None,
              path: Path) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """One spectrum from a multi-element file: detector `detector` (0-based), or all of them summed on the
    first detector's axis (each rebinned onto it, conserving counts, since each has its own calibration)."""
    n = len(spectra)
    if detector is not None:
        if not 0 <= detector < n:
            raise ScanError(f"{path}: --detector {detector} is not one of the file's {n} detectors (0 to {n - 1})")
        return spectra[detector], axes[detector], (f"{path}: detector {detector} of {n} read",)
    if n == 1:
        return spectra[0], axes[0], ()
    total = sum(np.asarray(s, float) @ rebin_matrix(a, axes[0]) for s, a in zip(spectra, axes))
    return total, axes[0], (f"{path}: {n} detectors summed on detector 0's energy axis "
                            f"(pick one with --detector)",)
