"""A trained run's two models as a folder anyone can load without running code: safetensors + JSON.

`write` stores the DVE and SmallUViT weights as safetensors (float32 by default; `half` stores float16,
for half the size, once `benchmarks/bench_half.py` has measured it to change no test metric beyond 1e-3
on the published run) and, in `model.json`, everything else a
recolouring needs: both configurations, the palette, the instrument the training data were simulated for,
the training counts per pixel and the profile's parameters. A run that embeds with a PCA (`embedding: pca`)
stores it in the DVE's place: its mean, components and latent centroids in `dve.safetensors`, its sizes
under `dve` and `"embedding": "pca"` in `model.json`; a folder without `embedding` holds a DVE. `read` loads it back; safetensors holds only
tensors, so a shared model folder cannot execute anything. `xrfnb publish` writes the book's model folder,
which `xrfnb recolour` uses when no run is given. Where chapter 7 trained the pooled decoder
(`xrfnb.models.pooled`, beyond the paper), its weights travel beside SmallUViT's as `pooled.safetensors`,
and `xrfnb recolour --model pooled` uses them in SmallUViT's place. Where chapter 7's embedding sizes kept
their best model (`embedding_sizes.KEPT`: the pooled decoder on the largest PCA of the spectra), its encoder
and decoder travel as `best_encoder.safetensors` and `best_pooled.safetensors`, described under `best` in
`model.json`, and `xrfnb recolour --model best` embeds and decodes with them (`read_best`).
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import h5py
import numpy as np
import torch
from safetensors.torch import load_file, save_file

from .embedding import dve
from .palette import palette_file, physics
from .models import pooled, recolour
from . import locations
from .io import atomic_dir, read_json, write_json
from .palette.pigments import Palette

FORMAT = 1
POOLED = Path("ablations") / "pooled" / "pooled.pt"  # chapter 7's pooled decoder in a run directory


def published_folder() -> Path:
    """Where the book's trained models live: `book/published/model/` (committed) in the checkout that
    `locations.checkout()` finds: `XRFNB_ROOT`, else the repository holding the installed package (an
    editable install, `pip install -e .`). So `xrfnb recolour` finds it from any folder of scans."""
    root = locations.checkout() or locations.package_folder().parent
    return root / "book" / "published" / "model"


#: Where a package installed without a checkout (`pip install git+...`) fetches the published model: the
#: repository's committed `book/published/model/`, as raw files (`_config.yml`'s repository, branch main).
MODEL_URL = "https://raw.githubusercontent.com/xrfnb/xrfnb/main/book/published/model/"
MODEL_FILES = ("model.json", "dve.safetensors", "smalluvit.safetensors")
#: Files a model folder holds only where the run made them: chapter 7's pooled decoder on the DVE latent, and
#: the best model of chapter 7's embedding sizes (its encoder and pooled decoder).
BEST_FILES = ("best_encoder.safetensors", "best_pooled.safetensors")
OPTIONAL_FILES = ("pooled.safetensors", *BEST_FILES)


def published_model(url: str | None = None, cache: Path | None = None) -> Path:
    """The published model folder `xrfnb recolour` uses by default: the checkout's (`published_folder`), or,
    for a package installed outside any clone, a copy fetched once from `url` (default `MODEL_URL`) into the
    user's cache (`$XDG_CACHE_HOME/xrfnb/model`, else `~/.cache/xrfnb/model`; delete it to fetch anew). A
    failed download raises one line (ConnectionError) and leaves no partial folder."""
    if locations.checkout() is not None:
        return published_folder()
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    cache = Path(cache) if cache is not None else base / "xrfnb" / "model"
    if (cache / "model.json").exists():
        return cache
    import requests

    url = url or MODEL_URL
    with atomic_dir(cache) as tmp:
        for name in MODEL_FILES + OPTIONAL_FILES:
            try:
                response = requests.get(url + name, timeout=60)
            except requests.RequestException as err:
                raise ConnectionError(f"{url}{name}: the published model could not be fetched "
                                      f"({type(err).__name__}); pass --run a model folder or run") from None
            if response.status_code == 404 and name in OPTIONAL_FILES:
                continue
            if not response.ok:
                raise ConnectionError(f"{url}{name}: HTTP {response.status_code} fetching the published model; "
                                      f"pass --run a model folder or run")
            (tmp / name).write_bytes(response.content)
    return cache


def training_counts(run: Path) -> float:
    """The median counts per pixel of a run's dataset, the noise level its models saw."""
    store = Path(run) / "dataset.h5"
    if not store.exists():
        raise FileNotFoundError(f"{store}: no dataset store (it holds the counts per pixel the models saw)")
    with h5py.File(store, "r") as h5:
        if "counts" not in h5:
            raise ValueError(f"{store}: no 'counts' dataset (counts per pixel of each sample)")
        return float(np.median(h5["counts"][()]))


def palette_dict(palette: Palette) -> dict:
    return {"names": list(palette.names), "rgb": palette.rgb.tolist(), "energy": palette.energy.tolist(),
            "spectra": palette.spectra.tolist(), "compositions": list(palette.compositions),
            "lines": list(palette.lines), "sample": palette.sample, "sample_settings": dict(palette.sample_settings),
            "source": palette_file.label(palette.source)}


def palette_from(d: dict, instrument: physics.Instrument) -> Palette:
    return Palette(tuple(d["names"]), np.array(d["rgb"], np.uint8), np.array(d["energy"]), np.array(d["spectra"]),
                   tuple(d["compositions"]), tuple(d["lines"]), d["sample"], d.get("sample_settings", {}), instrument,
                   d.get("source", ""))


def _weights(module: torch.nn.Module, half: bool) -> dict[str, torch.Tensor]:
    """A state dict as contiguous CPU tensors, floating ones in float16 when `half`."""
    return {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
            for k, v in module.state_dict().items()}


def source_name(run: Path) -> str:
    """A run as a report names it: relative to the project (`runs/laptop`), else by its folder's name, so
    that a published model carries no machine's paths."""
    try:
        return str(run.resolve().relative_to(locations.project_root().resolve()))
    except ValueError:
        return run.name


def write(run: str | Path, folder: str | Path, profile: dict | None = None, half: bool = False) -> Path:
    """Export a finished run's DVE and SmallUViT into `folder` (replaced as a whole, all or nothing)."""
    run = Path(run)
    palette = Palette.load(run / "palette.h5")
    dve_model = dve.load(run / "dve" / "dve.ckpt", n_channels=len(palette.energy))
    module = recolour.load(run / "smalluvit" / "best.ckpt")
    decoder = pooled.load(run / POOLED) if (run / POOLED).exists() else None
    best = read_best(run) if all((run / kept).exists() for kept in kept_files()) else None
    # the instrument the training data were simulated for
    return write_models(folder, palette, dve_model, module, palette.measured_with(), training_counts(run),
                        source_name(run), profile, decoder, half=half, best=best)


def kept_files() -> tuple[Path, Path]:
    """Where in a run chapter 7's embedding sizes keep their best model: its encoder (a PCA checkpoint
    `dve.load` reads) and its pooled decoder (`pooled.train`'s file)."""
    from .evaluation.embedding_sizes import KEPT  # imported here: the evaluation's imports are not recolour's

    return KEPT / "encoder.ckpt", KEPT / "pooled.pt"


def best_description(encoder: dve.Embedding) -> str:
    """What the best model is, in words, from its encoder: e.g. 'pooled decoder on PCA-8, chapter 7's
    embedding sizes'."""
    d = encoder.cfg.latent_dim
    latent = f"PCA-{d}" if encoder.kind == "pca" else f"the {d}-D {encoder.kind.upper()} latent"
    return f"pooled decoder on {latent}, chapter 7's embedding sizes"


def write_models(folder: str | Path, palette: Palette, dve_model: dve.Embedding, module: recolour.Recolouring,
                 instrument: physics.Instrument, counts: float, source: str, profile: dict | None = None,
                 decoder: pooled.PooledRecolouring | None = None, extra: dict | None = None,
                 half: bool = False, best: tuple[dve.Embedding, pooled.PooledRecolouring] | None = None) -> Path:
    """Write models already loaded into a model folder (`write`'s layout; `extra` joins model.json), as
    `xrfnb adapt` writes a run's models with its adapted DVE; `best` is chapter 7's best model (encoder,
    pooled decoder)."""
    meta = {"format": FORMAT, "precision": "float16" if half else "float32", "source": source,
            "embedding": dve_model.kind, "dve": asdict(dve_model.cfg), "smalluvit": asdict(module.cfg), "training_counts": counts,
            "palette": palette_dict(palette), "instrument": asdict(instrument), "profile": profile or {},
            **(extra or {})}
    if decoder is not None:
        meta["pooled"] = asdict(decoder.cfg)
    if best is not None:
        meta["best"] = {"description": best_description(best[0]), "embedding": best[0].kind,
                        "encoder": asdict(best[0].cfg), "pooled": asdict(best[1].cfg)}
    with atomic_dir(folder) as tmp:
        save_file(_weights(dve_model, half), tmp / "dve.safetensors")
        save_file(_weights(module, half), tmp / "smalluvit.safetensors")
        if decoder is not None:
            save_file(_weights(decoder, half), tmp / "pooled.safetensors")
        if best is not None:
            for model, name in zip(best, BEST_FILES):
                save_file(_weights(model, half), tmp / name)
        write_json(tmp / "model.json", meta)
    return Path(folder)


def _load_into(module: torch.nn.Module, file: Path) -> None:
    state = module.state_dict()
    weights = {k: v.to(state[k].dtype) if k in state else v for k, v in load_file(str(file)).items()}
    result = module.load_state_dict(weights, strict=False)
    if result.missing_keys or result.unexpected_keys:
        raise ValueError(f"{file}: weights do not match the model of model.json "
                         f"(missing {result.missing_keys[:3]}, unexpected {result.unexpected_keys[:3]})")


def read(folder: str | Path) -> tuple[Palette, dve.Embedding, recolour.Recolouring, float, physics.Instrument,
                                      dict]:
    """The palette, DVE (or PCA), SmallUViT (float32, eval mode), training counts, instrument and metadata of
    an exported folder."""
    folder = Path(folder)
    meta = read_json(folder / "model.json")
    if meta.get("format") != FORMAT:
        raise ValueError(f"{folder / 'model.json'}: model folder format {meta.get('format')!r}, expected {FORMAT}")
    dve_model = dve.build(meta.get("embedding", "dve"), meta["dve"])
    module = recolour.Recolouring(meta["smalluvit"])
    _load_into(dve_model, folder / "dve.safetensors")
    _load_into(module, folder / "smalluvit.safetensors")
    instrument = physics.Instrument(**meta["instrument"])
    return (palette_from(meta["palette"], instrument), dve_model.eval(), module.eval(),
            float(meta["training_counts"]), instrument, meta)


def read_pooled(folder: str | Path) -> pooled.PooledRecolouring:
    """The pooled decoder (float32, eval mode) of an exported folder or a run directory."""
    folder = Path(folder)
    if (folder / "model.json").exists():
        meta = read_json(folder / "model.json")
        if "pooled" in meta:
            module = pooled.PooledRecolouring(pooled.PooledConfig.from_dict(meta["pooled"]))
            _load_into(module, folder / "pooled.safetensors")
            return module.eval()
    elif (folder / POOLED).exists():
        return pooled.load(folder / POOLED)
    raise FileNotFoundError(f"{folder}: holds no pooled decoder (chapter 7 trains it; `xrfnb publish` exports it)")


def read_best(folder: str | Path) -> tuple[dve.Embedding, pooled.PooledRecolouring]:
    """Chapter 7's best model, its encoder and pooled decoder (float32, eval mode), of an exported folder
    (`model.json`'s `best` and `BEST_FILES`) or a run directory (`kept_files`); a folder without it is
    refused in one line naming what is missing."""
    folder = Path(folder)
    maker = "chapter 7's embedding sizes make it (notebook 07, keep=run / embedding_sizes.KEPT)"
    if (folder / "model.json").exists():
        meta = read_json(folder / "model.json")
        missing = (["model.json's \"best\""] if "best" not in meta else []) + \
            [name for name in BEST_FILES if not (folder / name).exists()]
        if missing:
            raise FileNotFoundError(f"{folder}: holds no best model (missing {', '.join(missing)}); {maker}, "
                                    f"`xrfnb publish` exports it")
        best = meta["best"]
        encoder = dve.build(best["embedding"], best["encoder"])
        decoder = pooled.PooledRecolouring(pooled.PooledConfig.from_dict(best["pooled"]))
        for model, name in zip((encoder, decoder), BEST_FILES):
            _load_into(model, folder / name)
        return encoder.eval(), decoder.eval()
    kept = kept_files()
    missing = [str(path) for path in kept if not (folder / path).exists()]
    if missing:
        raise FileNotFoundError(f"{folder}: holds no best model (missing {', '.join(missing)}); {maker}")
    return dve.load(folder / kept[0]).eval(), pooled.load(folder / kept[1])
