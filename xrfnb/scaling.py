"""A scaling study beyond the paper: when does the transformer catch up with the convolutional baseline?

Each run's evaluation writes a scaling record (`book/results/scaling.json`): its training-set size, the
test MS-SSIM of SmallUViT and of the U-Net at the epochs each trained, and their validation MS-SSIM per
epoch. `xrfnb publish` files the record under `book/scaling/<profile>.json` and redraws the study from
every record there, so the results page compares all the runs that exist.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from .io import atomic_path, read_json, write_json

#: The two models the study follows, as named in the baseline and ablation table.
MODELS = {"SmallUViT (paper)": "SmallUViT", "convolutional U-Net": "U-Net"}


def record(profile: str, train_images: int, image_size: int, test: pd.DataFrame, epochs: dict[str, int],
           curves: dict[str, list[float]]) -> dict:
    """A run's scaling record.

    Parameters
    ----------
    profile, train_images, image_size : the run and its training data.
    test : rows named like `MODELS`' keys with at least `ms_ssim` and `srgb_loss` (the comparison table).
    epochs : epochs each model of `test` trained for.
    curves : validation MS-SSIM per epoch of each model.
    """
    return {"profile": profile, "train_images": int(train_images), "image_size": int(image_size),
            "models": {MODELS[name]: {"epochs": int(epochs[name]), "ms_ssim": float(test.loc[name, "ms_ssim"]),
                                      "srgb_loss": float(test.loc[name, "srgb_loss"]),
                                      "val_ms_ssim": [float(v) for v in curves[name]]}
                       for name in MODELS}}


def table(records: list[dict]) -> pd.DataFrame:
    """One row per run and model: training images, image size, epochs and test metrics."""
    rows = [{"profile": r["profile"], "training images": r["train_images"], "image size": r["image_size"],
             "model": model, "epochs": m["epochs"], "test MS-SSIM": m["ms_ssim"], "test sRGB loss": m["srgb_loss"]}
            for r in records for model, m in r["models"].items()]
    return pd.DataFrame(rows).sort_values(["training images", "model"]).reset_index(drop=True)


def figure(records: list[dict]) -> plt.Figure:
    """Test MS-SSIM against training images, and validation MS-SSIM against epochs, for both models."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    t = table(records)
    for (model, rows), marker in zip(t.groupby("model"), "os"):
        a.plot(rows["training images"], rows["test MS-SSIM"], marker=marker, label=model)
        for _, row in rows.iterrows():
            a.annotate(row["profile"], (row["training images"], row["test MS-SSIM"]), xytext=(4, 4),
                       textcoords="offset points", fontsize=9)
    a.set(xscale="log", xlabel="training images", ylabel="test MS-SSIM", title="more data")
    a.legend(fontsize=9)
    for r in records:
        for (model, m), style in zip(r["models"].items(), ("-", "--")):
            b.plot(range(1, len(m["val_ms_ssim"]) + 1), m["val_ms_ssim"], style,
                   label=f"{model}, {r['profile']} ({r['train_images']} images)")
    b.set(xlabel="epoch", ylabel="validation MS-SSIM", title="more epochs")
    b.legend(fontsize=8)
    fig.tight_layout()
    return fig


def catch_up(records: list[dict]) -> str:
    """A sentence saying, run by run, whether SmallUViT's test MS-SSIM reached the U-Net's."""
    parts = []
    for r in sorted(records, key=lambda r: r["train_images"]):
        uvit, unet = r["models"]["SmallUViT"], r["models"]["U-Net"]
        verdict = "reaches" if uvit["ms_ssim"] >= unet["ms_ssim"] else "stays below"
        parts.append(f"at {r['train_images']} training images ({r['profile']}), SmallUViT {verdict} the U-Net "
                     f"({uvit['ms_ssim']:.3f} against {unet['ms_ssim']:.3f})")
    return "; ".join(parts) + "."


def file_record(source: Path, folder: Path, run: dict) -> None:
    """File a run's scaling record as `folder/<profile>.json` and redraw the study from all of them."""
    if not source.exists():
        raise FileNotFoundError(f"{source}: no scaling record (the evaluation stage writes it)")
    folder.mkdir(parents=True, exist_ok=True)
    data = read_json(source)
    data["device"], data["date"] = run["device"], run["date"]
    write_json(folder / f"{data['profile']}.json", data)
    records = [r for r in (read_json(p) for p in sorted(folder.glob("*.json"))) if "train_images" in r]  # not the study's files
    fig = figure(records)
    with atomic_path(folder / "scaling.png") as tmp:
        fig.savefig(tmp, dpi=110, bbox_inches="tight", format="png")
    plt.close(fig)
    sentence = catch_up(records)
    with atomic_path(folder / "scaling.md") as tmp:
        tmp.write_text(f"{markdown_table(table(records))}\n\n{sentence[0].upper()}{sentence[1:]}\n")


def markdown_table(df: pd.DataFrame, digits: int = 4) -> str:
    """A pipe table of `df` (numbers rounded), for a page that includes it."""
    cells = [[f"{v:.{digits}f}" if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in cells])
