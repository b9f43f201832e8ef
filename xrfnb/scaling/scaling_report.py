"""What the scaling study's points say: the fit per model, `fit.json`, the figure and the results page's text.

Everything here is computed from the point records (`scaling_study`), so the page types no number.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from .. import plots
from . import scaling_fit
from ..io import atomic_path, write_json


def fits(records: list[dict], models: list[str], targets: dict[str, int], seed: int) -> dict[str, dict]:
    """Per model: the fit over its finished points (or why there is none) and its failed points."""
    out = {}
    for model in models:
        mine = [r for r in records if r["model"] == model]
        ok = [r for r in mine if r["status"] == "ok"]
        fit = scaling_fit.fit_model([r["train_images"] for r in ok], [r["per_image"]["ms_ssim"] for r in ok],
                                    ok[0]["test_paintings"] if ok else [], targets, seed=seed) if ok else {
            "fitted": False, "sizes": 0, "reason": "no training-set size finished; nothing to fit"}
        fit["points"] = [{"train_images": r["train_images"], "status": r["status"],
                          **({"ms_ssim": r["test"]["ms_ssim"]["mean"], "stopped_by": r["stopped_by"]}
                             if r["status"] == "ok" else {"reason": r["reason"]})} for r in mine]
        out[model] = fit
    return out


def fit_document(records: list[dict], models: list[str], targets: dict[str, int], paper: dict, profile: str,
                 image_size: int, seed: int) -> dict:
    """The content of `fit.json`: each model's fit and its value at the paper's scale, beside the paper's."""
    found = fits(records, models, targets, seed)
    for fit in found.values():
        if fit["fitted"]:
            at = fit["at"]["paper"]
            fit["paper_scale"] = {"train_images": at["train_images"], "epochs": paper["epochs"],
                                  "ms_ssim": at["ms_ssim"], "interval": at["interval"]}
    return {"profile": profile, "image_size": image_size, "curve": "1 - MS-SSIM = a * N^-alpha + c",
            "targets": targets, "paper": paper, "models": found}


def caveats(records: list[dict], targets: dict[str, int], all_paintings: int, paper: dict) -> list[str]:
    """What the extrapolation cannot account for, computed from the study's own sizes."""
    ok = [r for r in records if r["status"] == "ok"] or records
    largest = max(ok, key=lambda r: r["train_images"])
    smallest = min(ok, key=lambda r: r["train_images"])
    crops = largest["train_images"] / largest["train_paintings"]
    capped = [r for r in records if r["status"] == "ok" and r["stopped_by"] == "budget"]
    done = [r for r in records if r["status"] == "ok"]
    needed = targets["paper"] / crops
    return [
        f"The fit spans {smallest['train_images']} to {largest['train_images']} training images; the paper's "
        f"{targets['paper']:,} lie {targets['paper'] / largest['train_images']:,.0f} times beyond the largest point.",
        f"Here more images means more paintings, at {crops:.1f} crops each; the paper's images were seeded from "
        f"about {paper['images']:,} paintings and frescoes on Wikidata, while this run's come from {all_paintings} "
        f"paintings. At this study's crops per painting, {targets['paper']:,} training images would take "
        f"{needed:,.0f} paintings, {needed / all_paintings:,.0f} times as many: the curve cannot say what that "
        f"variety (frescoes, other media and subjects) would add, nor the paper's own pigment spectra and "
        f"threshold, which set the floor c.",
        f"{len(capped)} of the {len(done)} finished points stopped at the compute budget rather than at "
        f"convergence; their error is an upper bound of the converged one, so the fit may be pessimistic."
        if done else "No point finished.",
        *([_compute_note(done, paper)] if done else []),
    ]


def _compute_note(done: list[dict], paper: dict) -> str:
    """How the study's compute per point compares with the paper's 100 epochs over its training set: the
    fit varies the data at a fixed budget, so its floor c holds this budget's limit too."""
    shown = max(r["epochs_run"] * r["epoch_images"] for r in done)
    epochs = sorted({r["epochs_run"] for r in done})
    papers = paper["train_images"] * paper["epochs"]
    over = sorted({r["model"]: r["train_tflop"] / r["budget_tflop"] for r in done
                   if r["epochs_run"] == 1 and r["train_tflop"] > 1.1 * r["budget_tflop"]}.items())
    exceeded = "".join(f" The {model}'s single epoch is {ratio:.2f} times the budget (a point trains at least one "
                       f"epoch), so it had that much more compute than the others." for model, ratio in over)
    return (f"Every point is given one budget ({done[0]['budget_tflop']:g} TFLOP; {epochs[0]} to {epochs[-1]} epochs "
            f"of {done[0]['epoch_images']:,} images, at most {shown:,} images shown to a model). The paper showed "
            f"{paper['epochs']} epochs of {paper['train_images']:,} images, {papers:,} in all, {papers / shown:,.0f} "
            f"times as many: the curve varies the data at this budget, so the value at the paper's size is what "
            f"that data would give at this budget, and its floor c includes what the budget leaves unlearnt.{exceeded}")


def verdicts(document: dict) -> list[str]:
    """One sentence per model: its extrapolation at the paper's scale against the paper's MS-SSIM."""
    paper = document["paper"]["ms_ssim"]
    out = []
    for model, fit in document["models"].items():
        if not fit["fitted"]:
            out.append(f"{model}: {fit['reason']}.")
            continue
        v, (lo, hi) = fit["paper_scale"]["ms_ssim"], fit["paper_scale"]["interval"]
        where = "above" if lo > paper else "below" if hi < paper else "consistent with"
        out.append(f"{model}: extrapolated to {fit['paper_scale']['train_images']:,} training images, MS-SSIM "
                   f"{v:.4f} [{lo:.4f}, {hi:.4f}], {where} the paper's {paper:.4f}; its limit for unlimited "
                   f"data is {fit['ms_ssim_limit']:.4f} (alpha {fit['alpha']:.2f}).")
    return out


@plots.styled
def figure(records: list[dict], document: dict) -> plt.Figure:
    """Top: test MS-SSIM against training images, the fitted curves and their extrapolation (dotted, open
    diamonds). Bottom: validation MS-SSIM against epochs and against training compute."""
    fig = plt.figure(figsize=(11, 8))
    grid = fig.add_gridspec(2, 2, height_ratios=(1.15, 1))
    a, b, c = fig.add_subplot(grid[0, :]), fig.add_subplot(grid[1, 0]), fig.add_subplot(grid[1, 1])
    targets, paper = document["targets"], document["paper"]
    colours = dict(zip(document["models"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    for model, fit in document["models"].items():
        mine = [r for r in records if r["model"] == model]
        ok = [r for r in mine if r["status"] == "ok"]
        colour = colours[model]
        if ok:
            n = np.array([r["train_images"] for r in ok])
            m = np.array([r["test"]["ms_ssim"]["mean"] for r in ok])
            err = np.array([np.abs(np.array(r["test"]["ms_ssim"]["interval"]) - r["test"]["ms_ssim"]["mean"])
                            for r in ok]).T
            a.errorbar(n, m, yerr=err, fmt="o", color=colour, capsize=3, label=f"{model}, measured")
        failed = [r["train_images"] for r in mine if r["status"] != "ok"]
        if failed:
            a.plot(failed, [0.0] * len(failed), "x", color=colour, ms=9, clip_on=False, label=f"{model}, failed")
        if fit["fitted"]:
            line = np.geomspace(n.min(), n.max(), 50)
            a.plot(line, 1 - scaling_fit.power_law(line, fit["a"], fit["alpha"], fit["c"]), color=colour)
            ext = np.geomspace(n.max(), targets["paper"], 50)
            a.plot(ext, 1 - scaling_fit.power_law(ext, fit["a"], fit["alpha"], fit["c"]), ":", color=colour)
            for at in fit["at"].values():
                lo, hi = at["interval"]
                a.errorbar(at["train_images"], at["ms_ssim"], yerr=[[at["ms_ssim"] - lo], [hi - at["ms_ssim"]]],
                           fmt="D", mfc="white", color=colour, capsize=3)
        largest = max((r["train_images"] for r in ok), default=1)
        for r in ok:
            shade = 0.3 + 0.7 * r["train_images"] / largest
            b.plot(r["curve"]["epoch"], r["curve"]["val_ms_ssim"], "-o", ms=3, color=colour, alpha=shade)
            c.plot(r["curve"]["train_tflop"], r["curve"]["val_ms_ssim"], "-o", ms=3, color=colour, alpha=shade)
        b.plot([], [], "-o", ms=3, color=colour, label=model)
    a.plot(targets["paper"], paper["ms_ssim"], "*", color="black", ms=13, label=f"paper ({paper['ms_ssim']:.4f})")
    for name, images in targets.items():
        a.axvline(images, color="grey", lw=0.7, ls="--")
        a.annotate(f"{name}\n(extrapolated)", (images, 1.0), xycoords=("data", "axes fraction"), ha="center",
                   va="bottom", fontsize=9, color="dimgrey")
    a.set(xscale="log", xlabel="training images N (log)", ylabel="test MS-SSIM")
    a.legend(fontsize=8, loc="lower right", ncol=2)
    b.set(xlabel="epoch (as many images as the whole training split)", ylabel="validation MS-SSIM")
    b.legend(fontsize=8, title="paler: fewer training images", title_fontsize=8)
    c.set(xscale="log", xlabel="training TFLOP spent (log)", ylabel="validation MS-SSIM")
    c.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    fig.tight_layout()
    return fig


def markdown(records: list[dict], document: dict, notes: list[str]) -> str:
    """The study's tables and sentences for the results page (`{include}`d from `book/scaling/study.md`)."""
    rows = ["| model | paintings | training images | epochs run / planned | ended by | TFLOP | training s | "
            "test MS-SSIM [95 %] | test sRGB loss [95 %] |", "|---|---|---|---|---|---|---|---|---|"]
    for r in sorted(records, key=lambda r: (r["model"], r["train_images"])):
        if r["status"] == "ok":
            ms, sr = r["test"]["ms_ssim"], r["test"]["srgb_loss"]
            rows.append(f"| {r['model']} | {r['train_paintings']} | {r['train_images']} | {r['epochs_run']} / "
                        f"{r['epochs_planned']} | {r['stopped_by']} | {r['train_tflop']:.2f} | "
                        f"{r['train_seconds']:.0f} | {ms['mean']:.4f} [{ms['interval'][0]:.4f}, "
                        f"{ms['interval'][1]:.4f}] | {sr['mean']:.4f} [{sr['interval'][0]:.4f}, "
                        f"{sr['interval'][1]:.4f}] |")
        else:
            rows.append(f"| {r['model']} | {r['train_paintings']} | {r['train_images']} | – / {r['epochs_planned']} "
                        f"| **failed**: {r['reason']} | – | – | – | – |")
    fit_rows = ["| model | a | alpha | c | " + " | ".join(f"MS-SSIM at {k} ({v:,} images), extrapolated"
                                                       for k, v in document["targets"].items()) + " |",
                "|---|---|---|---|" + "---|" * len(document["targets"])]
    for model, fit in document["models"].items():
        if fit["fitted"]:
            cells = [f"{fit['at'][k]['ms_ssim']:.4f} [{fit['at'][k]['interval'][0]:.4f}, "
                     f"{fit['at'][k]['interval'][1]:.4f}]" for k in document["targets"]]
            fit_rows.append(f"| {model} | {fit['a']:.3g} | {fit['alpha']:.3f} [{fit['alpha_interval'][0]:.3f}, "
                            f"{fit['alpha_interval'][1]:.3f}] | {fit['c']:.4f} [{fit['c_interval'][0]:.4f}, "
                            f"{fit['c_interval'][1]:.4f}] | " + " | ".join(cells) + " |")
        else:
            fit_rows.append(f"| {model} | not fitted: {fit['reason']} |" + " |" * (2 + len(document["targets"])))
    text = [f"Profile `{document['profile']}`, {document['image_size']} px. Measured points:", "", *rows, "",
            f"Fitted curves ({document['curve']}, N in training images, 95 % intervals from refitting on "
            f"bootstrap resamples of the test paintings). The last columns are **extrapolations**, not "
            f"measurements:", "", *fit_rows, "", *[f"* {s}" for s in verdicts(document)], "",
            "What the extrapolation cannot account for:", "", *[f"* {s}" for s in notes], ""]
    return "\n".join(text)


def write(out_dir, records: list[dict], document: dict, notes: list[str], plan: dict) -> None:
    """`study.json` (every point, failed ones included), `fit.json`, `study.png` and `study.md`, atomically."""
    slim = [{k: v for k, v in r.items() if k not in ("per_image", "test_paintings", "reused")} for r in records]
    write_json(out_dir / "study.json", {"plan": plan, "points": slim, "caveats": notes})
    write_json(out_dir / "fit.json", {**document, "caveats": notes})
    plots.save(figure(records, document), out_dir / "study.png", show=False)
    with atomic_path(out_dir / "study.md") as tmp:
        tmp.write_text(markdown(records, document, notes))
