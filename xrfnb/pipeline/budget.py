"""Will a profile finish in its time budget on this machine? An estimate from measured stage rates.

Every stage that computes its work records its seconds and parameters in `runs/<profile>/computed.json`
(the runner does this). A stage's cost grows with a few sizes (pixels generated or embedded, spectra x
epochs, image pixels x epochs of training), so the seconds of a finished stage, scaled by the ratio of
those sizes, estimate the same stage at another profile on the same machine.
"""

from __future__ import annotations

from pathlib import Path

from ..io import read_json


def compared_models() -> int:
    """Models the evaluation trains for its baseline and ablation table (the non-learned lookup not counted)."""
    from ..evaluation.compared import COMPARED

    return len(COMPARED)


def dve_trainings(p: dict) -> int:
    """DVE trainings of chapter 4: its own, plus every other (clustering loss, seed) of its comparison; with
    `embedding: pca` the stage trains none of its own (its PCA's fit is counted as one, an upper bound)."""
    from ..embedding.dve_losses import CLUSTERINGS

    seeds = p.get("dve_compare_seeds") or []
    compared = len(CLUSTERINGS) * len(seeds)
    if p.get("embedding", "dve") == "pca":
        return max(1, compared)
    return 1 + compared - (p.get("seed", 0) in seeds)  # at the stage's seed, its own variant is its training


def dve_epochs_trained(p: dict) -> int:
    """DVE epochs chapter 4 trains (`dve_trainings` of them): every variant of a comparison seed but that
    seed's first starts from the first one's warm-up (`dve.train`, `warmup_from`), and at the stage's seed the
    first is the stage's own training (reused). A PCA's fit is counted as one training, an upper bound."""
    from ..embedding.dve_losses import CLUSTERINGS

    epochs, warmup = p.get("dve_epochs", 1), p.get("dve_warmup_epochs", 0)
    after_warmup = epochs - (warmup if 0 < warmup < epochs else 0)
    own = p.get("embedding", "dve") != "pca"
    total = epochs if own else 0
    for seed in p.get("dve_compare_seeds") or []:
        first = 0 if own and seed == p.get("seed", 0) else epochs
        total += first + (len(CLUSTERINGS) - 1) * after_warmup
    return max(total, epochs)


def work(stage: str, p: dict) -> float:
    """How much a stage does at parameters `p`, in units that its seconds are proportional to."""
    pixels = p.get("n_samples", 1) * p.get("image_size", 1) ** 2
    train_pixels = 0.7 * pixels
    return {
        "02_seed_images": p.get("seed_limit", 1),
        "03_synthetic_maxrf": pixels,
        "04_train_dve": p.get("dve_spectra", 1) * dve_epochs_trained(p),
        "05_embedded_dataset": pixels,
        "06_train_smalluvit": train_pixels * p.get("uvit_epochs", 1),
        "07_evaluate": train_pixels * p.get("compare_epochs", p.get("uvit_epochs", 1)) * compared_models(),
        "08_domain_shift": p.get("shift_images", 1) * p.get("image_size", 1) ** 2,
    }.get(stage, 1.0)


def measured(runs: Path) -> dict[str, dict]:
    """The largest computed record of every stage across the profiles run on this machine."""
    best: dict[str, dict] = {}
    for ledger in sorted(Path(runs).glob("*/computed.json")):
        for stage, rec in read_json(ledger).items():
            if "n_samples" in rec.get("parameters", {}) and (stage not in best or
                                        work(stage, rec["parameters"]) > work(stage, best[stage]["parameters"])):
                best[stage] = rec
    return best


def estimate(stages: list[str], params: dict, runs: Path) -> float | None:
    """Seconds the stages would take at `params`, from the measured rates; None if a stage was never measured."""
    rates = measured(runs)
    if any(stage not in rates for stage in stages):
        return None
    return sum(rates[s]["seconds"] * work(s, params) / work(s, rates[s]["parameters"]) for s in stages)
