"""What the scaling study's points say: the fit per model, `fit.json`, the figure and the results page's text.

Everything here is computed from the point records (`scaling_study`), so the page types no number. The
study gives every point one compute budget, so it measures data at that budget (data × compute), not what
converged models would reach; where its points stop at the budget still learning, its curve flattens at
the budget's limit and its extrapolation can fall below what the same models measured when trained to their
stopping rule. An extrapolated value is therefore checked against every result measured for its model (the
study's own points and the run's, `measured_above`) and shown only where none lies above it.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import matplotlib.ticker
import numpy as np

from .. import plots
from . import scaling_fit
from ..io import atomic_path, read_json, write_json


def measured_by_the_run(results: Path, profile: str) -> dict[str, list[list]]:
    """What the run at `profile` measured on the study's test set for each model the study follows, by the
    study's short names: [label, test MS-SSIM] for chapter 6's SmallUViT (`metrics.json`, trained to its
    stopping rule) and each of chapter 7's compared models; {} without result files of that profile."""
    from .. import result_files
    from ..evaluation import compared

    if not (Path(results) / result_files.METRICS).exists():
        return {}
    metrics = result_files.read_metrics(results)
    if metrics.get("profile") != profile:
        return {}
    found = {"SmallUViT": [["chapter 6's SmallUViT", float(metrics["ms_ssim"])]]}
    if (Path(results) / result_files.COMPARISON).exists():
        for row, value in result_files.read_comparison(results)["ms_ssim"].dropna().items():
            short = compared.short_name(str(row))
            if short:
                found.setdefault(short, []).append([f"chapter 7's {row}", float(value)])
    return found


def measured_above(value: float, measured: list[list]) -> list[list]:
    """The measured results ([label, MS-SSIM]) above an extrapolated `value`, highest first: an extrapolation
    below any of them contradicts the run and is not an answer."""
    return sorted(([label, v] for label, v in measured if v > value), key=lambda m: -m[1])


def _study_points(records: list[dict], model: str) -> list[list]:
    return [[f"the study's point on {r['train_images']:,} training images", r["test"]["ms_ssim"]["mean"]]
            for r in records if r["model"] == model and r["status"] == "ok"]


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
                 image_size: int, seed: int, measured: dict[str, list[list]] | None = None) -> dict:
    """The content of `fit.json`: each model's fit and its values at the targets, each checked against
    every result measured for the model (its study points and the run's `measured`): `measured_above`
    lists those above it, and `holds` says none is."""
    measured = measured or {}
    found = fits(records, models, targets, seed)
    for model, fit in found.items():
        if not fit["fitted"]:
            continue
        known = _study_points(records, model) + measured.get(model, [])
        for at in fit["at"].values():
            at["measured_above"] = measured_above(at["ms_ssim"], known)
            at["holds"] = not at["measured_above"]
        at = fit["at"]["paper"]
        fit["paper_scale"] = {"train_images": at["train_images"], "epochs": paper["epochs"],
                              "ms_ssim": at["ms_ssim"], "interval": at["interval"], "holds": at["holds"],
                              "measured_above": at["measured_above"]}
    return {"profile": profile, "image_size": image_size, "seed": seed, "curve": "1 - MS-SSIM = a * N^-alpha + c",
            "targets": targets, "paper": paper, "measured_by_the_run": measured, "models": found}


def still_learning(records: list[dict], model: str) -> tuple[int, int, int]:
    """(points that ended at the compute budget, of them those whose best validation MS-SSIM came at their
    last epoch, finished points) of one model."""
    done = [r for r in records if r["model"] == model and r["status"] == "ok"]
    capped = [r for r in done if r["stopped_by"] == "budget"]
    rising = [r for r in capped if r["curve"]["val_ms_ssim"] and
              r["curve"]["val_ms_ssim"][-1] >= max(r["curve"]["val_ms_ssim"])]
    return len(capped), len(rising), len(done)


def framing(records: list[dict], document: dict) -> str:
    """What the study measures: data at one compute budget, and how many points the budget ended."""
    done = [r for r in records if r["status"] == "ok"]
    if not done:
        return "No point of the study finished."
    counts = []
    for model in document["models"]:
        capped, rising, total = still_learning(records, model)
        if total:
            one = all(r["epochs_run"] == 1 for r in records if r["model"] == model and r["status"] == "ok")
            counts.append(f"{model} {capped} of {total}" + (f" ({rising} still at their best at the last epoch"
                                                            f"{', a single epoch each' if one else ''})" if capped else ""))
    capped = any(r["stopped_by"] == "budget" for r in done)
    return (f"**{'A compute-limited study' if capped else 'A study at one compute budget'}.** Every point is "
            f"given the same {done[0]['budget_tflop']:g} TFLOP of training; the study measures what more data "
            f"gives at that budget (data × compute), not what the models reach trained to convergence. Points "
            f"ended by the budget: {'; '.join(counts)}.")


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


def withheld(at: dict) -> str:
    """Why an extrapolated value is not shown: the highest measured result above it."""
    label, value = at["measured_above"][0]
    return f"not shown: below the {value:.4f} measured with {label}"


def verdicts(document: dict) -> list[str]:
    """One sentence per model: what it measured at the budget, what the run measured for it, and its
    extrapolation at the paper's scale only where no measured result lies above it."""
    paper = document["paper"]["ms_ssim"]
    out = []
    for model, fit in document["models"].items():
        points = sorted((p for p in fit["points"] if p["status"] == "ok"), key=lambda p: p["train_images"])
        said = (f"{model}: measured {points[0]['ms_ssim']:.4f} on {points[0]['train_images']:,} to "
                f"{points[-1]['ms_ssim']:.4f} on {points[-1]['train_images']:,} training images at this budget"
                if points else f"{model}: no point finished")
        run = document.get("measured_by_the_run", {}).get(model, [])
        if run:
            said += "; the run measured " + " and ".join(f"{v:.4f} with {label}" for label, v in run)
        if not fit["fitted"]:
            out.append(f"{said}. {fit['reason']}.")
            continue
        at = fit["paper_scale"]
        if not at.get("holds", True):
            label, value = at["measured_above"][0]
            out.append(f"{said}. Its curve is not extrapolated to the paper's {at['train_images']:,} training "
                       f"images: there it would lie below the {value:.4f} measured with {label}. At this budget the "
                       f"curve flattens where the budget stops the training, so it says nothing about the paper's "
                       f"scale.")
            continue
        lo, hi = at["interval"]
        where = "above" if lo > paper else "below" if hi < paper else "consistent with"
        out.append(f"{said}. Extrapolated at this budget to {at['train_images']:,} training images, MS-SSIM "
                   f"{at['ms_ssim']:.4f} [{lo:.4f}, {hi:.4f}], {where} the paper's {paper:.4f}: an "
                   f"extrapolation, not a measurement.")
    return out


#: The figure's width: drawn narrow, its three panels stacked, so that a 390 px phone shows its smallest text
#: (FONT points) at about 8 px, above the book's browser test's 7 (`tests/reader_checks.js`, figureText).
WIDTH_IN, FONT = 5.0, 9


@plots.styled
def figure(records: list[dict], document: dict) -> plt.Figure:
    """Three panels, stacked: test MS-SSIM against training images with the fitted curves (dotted and open
    diamonds: an extrapolation, drawn only where no measured result lies above it) and the run's own results
    for the same models on all its training images (open squares); validation MS-SSIM against epochs; and
    against training compute."""
    fig, (a, b, c) = plt.subplots(3, 1, figsize=(WIDTH_IN, 12.5), height_ratios=(1.3, 1, 1), layout="constrained")
    run = document.get("measured_by_the_run", {})
    targets, paper = document["targets"], document["paper"]
    colours = dict(zip(document["models"], plt.rcParams["axes.prop_cycle"].by_key()["color"]))
    shown = set()
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
            for name, at in fit["at"].items():
                if not at.get("holds", True):
                    continue
                shown.add(name)
                ext = np.geomspace(n.max(), at["train_images"], 50)
                a.plot(ext, 1 - scaling_fit.power_law(ext, fit["a"], fit["alpha"], fit["c"]), ":", color=colour)
                lo, hi = at["interval"]
                a.errorbar(at["train_images"], at["ms_ssim"], yerr=[[at["ms_ssim"] - lo], [hi - at["ms_ssim"]]],
                           fmt="D", mfc="white", color=colour, capsize=3)
        largest = max((r["train_images"] for r in ok), default=1)
        for _, value in run.get(model, []) if ok else []:
            a.plot(largest, value, "s", mfc="none", color=colour, ms=8)
        for r in ok:
            shade = 0.3 + 0.7 * r["train_images"] / largest
            b.plot(r["curve"]["epoch"], r["curve"]["val_ms_ssim"], "-o", ms=3, color=colour, alpha=shade)
            c.plot(r["curve"]["train_tflop"], r["curve"]["val_ms_ssim"], "-o", ms=3, color=colour, alpha=shade)
        b.plot([], [], "-o", ms=3, color=colour, label=model)
    a.plot(targets["paper"], paper["ms_ssim"], "*", color="black", ms=13, label=f"paper ({paper['ms_ssim']:.4f})")
    if run:
        a.plot([], [], "s", mfc="none", color="black", ms=8, label="the run's own, longer trained")
    for name in shown:
        a.axvline(targets[name], color="grey", lw=0.7, ls="--")
        a.annotate(f"{name}\n(extrapolated)", (targets[name], 1.0), xycoords=("data", "axes fraction"),
                   ha="center", va="bottom", fontsize=FONT, color="dimgrey")
    a.set(xscale="log", xlabel="training images N (log)", ylabel="test MS-SSIM")
    a.legend(fontsize=FONT, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=2)
    b.set(xlabel="epoch (an epoch: as many images as the training split)", ylabel="validation MS-SSIM")
    b.legend(fontsize=FONT, title="paler: fewer training images", title_fontsize=FONT)
    c.set(xscale="log", xlabel="training TFLOP spent (log)", ylabel="validation MS-SSIM")
    c.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    for ax in (a, b, c):
        ax.tick_params(labelsize=FONT)
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
            cells = [f"{at['ms_ssim']:.4f} [{at['interval'][0]:.4f}, {at['interval'][1]:.4f}]"
                     if at.get("holds", True) else withheld(at)
                     for at in (fit["at"][k] for k in document["targets"])]
            fit_rows.append(f"| {model} | {fit['a']:.3g} | {fit['alpha']:.3f} [{fit['alpha_interval'][0]:.3f}, "
                            f"{fit['alpha_interval'][1]:.3f}] | {fit['c']:.4f} [{fit['c_interval'][0]:.4f}, "
                            f"{fit['c_interval'][1]:.4f}] | " + " | ".join(cells) + " |")
        else:
            fit_rows.append(f"| {model} | not fitted: {fit['reason']} |" + " |" * (2 + len(document["targets"])))
    text = [framing(records, document), "",
            f"Profile `{document['profile']}`, {document['image_size']} px. Measured points:", "", *rows, "",
            f"Fitted curves ({document['curve']}, N in training images, 95 % intervals from refitting on "
            f"bootstrap resamples of the test paintings). The last columns are **extrapolations** at this "
            f"budget, not measurements, shown only where no result measured for the model (its points here, "
            f"or the run's) lies above them:", "", *fit_rows, "", *[f"* {s}" for s in verdicts(document)], "",
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


def refile(out_dir: Path, profile: str, results: Path) -> dict:
    """Write the study's files again from its filed point records (`out_dir/points/<profile>/`), its fit's
    targets and caveats and its plan, checked against the run's result files in `results` (a run's
    `results/`, beside its `executed/run.json`, whose seed draws the bootstrap): nothing is trained. For a
    study filed before its report changed."""
    out_dir, results = Path(out_dir), Path(results)
    fit, plan = read_json(out_dir / "fit.json"), read_json(out_dir / "study.json")["plan"]
    if fit["profile"] != profile:
        raise ValueError(f"{out_dir / 'fit.json'}: the filed study is at profile {fit['profile']!r}, not {profile!r}")
    models = list(fit["models"])
    records = sorted((read_json(p) for p in (out_dir / "points" / profile).glob("*.json")),
                     key=lambda r: (models.index(r["model"]), r["train_paintings"]))
    if not records:
        raise FileNotFoundError(f"{out_dir / 'points' / profile}: no point records to report")
    seed = read_json(results.parent / "executed" / "run.json")["parameters"]["seed"]
    document = fit_document(records, models, fit["targets"], fit["paper"], profile, fit["image_size"], seed,
                            measured_by_the_run(results, profile))
    write(out_dir, records, document, fit["caveats"], plan)
    return document
