"""Command line: a thin layer over the package's functions (`xrfnb --help`).

The commands that run one stage without its notebook (`xrfnb stage`, `xrfnb train`, `xrfnb scaling`)
treat missing inputs as `xrfnb run --only` does: the earlier stages they read from that are not done run
first, at the same profile. One process of many (a shard, or a rank under torchrun or SLURM) builds
nothing, as the others would build the same files at once: it names the command to run first.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from . import book, runner


def _run(args: argparse.Namespace) -> None:
    record = runner.run(args.profile, only=args.only, overrides=args.set, force=args.force)
    print(f"run record: book/executed/run.json ({record['total_seconds']:.1f} s in all stages)")


def _book(args: argparse.Namespace) -> None:
    print(f"book: {book.build(strict=not args.no_strict, published=args.published)}")


def _publish(args: argparse.Namespace) -> None:
    print(f"published: {book.publish(scaling_only=args.scaling_only)}")


def _palette_export(args: argparse.Namespace) -> None:
    from ..palette import pigments

    params = pigments.PaletteParams(palette=args.palette, n_channels=args.channels, sample_model=args.sample)
    print(f"palette: {params.make_palette().export_ganx(args.dir)}")


def _seeds(args: argparse.Namespace) -> None:
    from ..paintings import seeds

    options = {k: v for k, v in (("endpoint", args.endpoint), ("files_url", args.files_url)) if v}
    manifest = seeds.collect(args.source, args.out, args.limit, **options)
    print(f"seeds: {len(manifest['seeds'])} images in {args.out} ({len(manifest['skipped'])} skipped)")


def _generate(args: argparse.Namespace) -> None:
    from ..synthetic import dataset
    from ..palette import pigments

    palette = pigments.Palette.load(args.palette) if args.palette else pigments.paper_palette(args.channels)
    chosen = {"threshold": args.threshold} if args.threshold is not None else {}
    config = dataset.GenerateConfig(samples=args.samples, size=args.size, seed=args.seed, counts=args.counts,
                                    **chosen)
    card = dataset.generate(args.seeds, Path(args.out) / "dataset.h5", palette, config, workers=args.workers)
    made = card.get("made_now")
    resumed = f" ({made} made now, the rest resumed)" if made is not None and made < card["samples"] else ""
    print(f"dataset: {card['samples']} samples from {card['paintings']} paintings, "
          f"{card['sizes']['store_bytes'] / 2**20:.1f} MiB, hash {card['content_hash'][:12]}{resumed}")


def _recolour(args: argparse.Namespace) -> None:
    from ..scans import realdata
    from ..device import torch_device

    with warnings.catch_warnings():  # each scan warning is printed below, once, as a line of the report
        warnings.simplefilter("ignore", realdata.ScanWarning)
        report = realdata.recolour(args.scan, args.run, args.out, args.format, args.calibration,
                                   torch_device(args.device), detector=args.detector, palette=args.palette,
                                   model=args.model)
    print(f"recolour: model {report['model']}; pigments of the {report['palette']} palette")
    print(f"recolour: {report['format']} scan {' x '.join(map(str, report['shape']))}, "
          f"{report['energy_keV'][0]:.3f}-{report['energy_keV'][1]:.3f} keV, "
          f"{report['counts_per_pixel']:.0f} counts per pixel; elements {' '.join(report['elements']) or 'none'}; "
          f"tube {report['instrument']['anode']} ({len(report['tube_lines_keV'])} peaks)")
    pigments = ", ".join(f"{k} {100 * v:.0f} %" for k, v in report["pigments"].items()) or "none"
    print(f"recolour: pigments {pigments}; mixture reduced chi2 {report['mixture']['reduced_chi2']:g}; "
          f"unexplained {', '.join(report['unexplained_elements']) or 'nothing'}")
    for label in report["pigment_groups"]:
        print(f"recolour: XRF cannot tell apart {label.replace(' / ', ', ')}: named together as one group")
    for message in report["warnings"]:
        print(f"recolour: warning: {message}")
    print(f"recolour: recoloured.png, elements.png, pigments.png and report.json in {args.out}")


def _adapt(args: argparse.Namespace) -> None:
    from ..scans import adapted

    report = adapted.adapt_scans(args.scans, args.out, args.run, args.method, args.steps, args.pixels,
                                 format=args.format, calibration=args.calibration, detector=args.detector)
    print(f"adapt: {report['target_pixels']} pixels of {len(report['scans'])} scan(s), DVE of {report['run']}, "
          f"{report['method']} loss, {report['config']['steps']} steps in {report['seconds']:.1f} s")
    print(f"adapt: latent MMD to the training latents {report['latent_mmd_before']:.4f} before, "
          f"{report['latent_mmd_after']:.4f} after; training latents moved by {report['training_drift']:.4f} "
          f"(mean squared)")
    print(f"adapt: model folder {args.out}; `xrfnb recolour SCAN --run {args.out}` recolours with it")


def _shard(text: str | None) -> tuple[int, int]:
    """'R/W', or 'auto' for the rank and world size torchrun (RANK, WORLD_SIZE) or SLURM set."""
    import os

    if text is None:
        return 0, 1
    if text == "auto":
        rank = int(os.environ.get("RANK", os.environ.get("SLURM_PROCID", 0)))
        world = int(os.environ.get("WORLD_SIZE", os.environ.get("SLURM_NTASKS", 1)))
        return rank, world
    rank, _, world = text.partition("/")
    if not (rank.isdigit() and world.isdigit() and int(rank) < int(world)):
        raise ValueError(f"--shard {text!r}: expected RANK/WORLD with RANK < WORLD, or 'auto'")
    return int(rank), int(world)


def _inputs(profile: str, stage: str, overrides: list[str], processes: int = 1) -> None:
    """Run the earlier stages `stage` reads from that are not done (as `xrfnb run --only` does); one of
    several `processes` (or of a torchrun or SLURM launch) names the command instead."""
    import os

    launched = max(int(os.environ.get("WORLD_SIZE", 1)), int(os.environ.get("SLURM_NTASKS", 1)))
    if max(processes, launched) == 1:
        runner.build_inputs(profile, stage, overrides)
        return
    build = runner.inputs_to_build(profile, stage, overrides)
    if build:
        raise runner.RunError(f"{stage} reads the outputs of {', '.join(build)}, which are not done at the "
                              f"{profile!r} profile; one process of many builds nothing: run "
                              f"`{runner.inputs_command(profile, build, overrides)}` first")


def _stage(args: argparse.Namespace) -> None:
    import os

    from ..synthetic import dataset
    from ..embedding import embedded
    from . import paths

    run, shard = paths.run_dir(args.profile), _shard(args.shard)
    merge = {"merge_world": args.merge} if args.merge else {}
    stage = "03_synthetic_maxrf" if args.stage == "generate" else "05_embedded_dataset"
    _inputs(args.profile, stage, args.set, processes=max(shard[1], args.merge or 1))
    params = runner.stage_params_at(args.profile, stage, args.set)
    if args.stage == "generate":
        dataset.run_stage(run, params, shard=shard, progress=True, **merge)
    else:
        local = os.environ.get("LOCAL_RANK", os.environ.get("SLURM_LOCALID"))  # one GPU per rank
        device = f"cuda:{local}" if local is not None and _cuda() else None
        embedded.embed_stage(run, params, shard=shard, device=device, progress=True, **merge)
    what = f"merged {args.merge} shards" if args.merge else f"shard {shard[0]}/{shard[1]}"
    print(f"{args.stage}: {what} done in {run}")


def _cuda() -> bool:
    import torch

    return torch.cuda.is_available()


def _train(args: argparse.Namespace) -> None:
    from ..embedding import dve
    from ..models import recolour
    from . import paths

    run = paths.run_dir(args.profile)
    stage = "04_train_dve" if args.model == "dve" else "06_train_smalluvit"
    _inputs(args.profile, stage, args.set)
    params = runner.stage_params_at(args.profile, stage, args.set)
    (dve.run_stage if args.model == "dve" else recolour.run_stage)(run, params)
    print(f"{args.model}: trained into {run}; the notebooks reuse it")


def _scaling(args: argparse.Namespace) -> None:
    from ..scaling import scaling_report, scaling_study
    from . import paths

    if args.refile:
        scaling_report.refile(paths.book_dir("scaling"), args.profile, args.refile)
        print(f"scaling: book/scaling/ written again from its {args.profile} point records, checked against "
              f"{args.refile}")
        return

    own = [item for item in args.set if item.startswith("scaling_")]
    recipe = [item for item in args.set if item not in own]
    _inputs(args.profile, "06_train_smalluvit", recipe)  # the study trains on chapter 6's inputs
    train = runner.stage_params_at(args.profile, "06_train_smalluvit", recipe)
    found = scaling_study.run_stage(paths.run_dir(args.profile), paths.book_dir("scaling"), args.profile, train,
                                    scaling_study.ScalingParams.at_profile(args.profile, own),
                                    runner.resolve_parameters(runner.load_profile("lite"), []), args.plan, args.force)
    print("scaling: planned only (--plan)" if args.plan else "scaling: book/scaling/fit.json, study.json, study.png "
          f"and study.md written for {', '.join(found['models'])}")


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="xrfnb", description=__doc__)
    sub = top.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="execute the notebooks with papermill at a profile")
    p.add_argument("--profile", default="smoke",
                   help=f"one of {', '.join(runner.profile_names())} (default: smoke)")
    p.add_argument("--only", nargs="+", metavar="STAGE", help="run only these stages (e.g. 01 or pigments)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--force", action="store_true",
                   help="run even if the time estimated from this machine's stage rates exceeds the budget")
    p.set_defaults(func=_run)

    p = sub.add_parser("seeds", help="gather seed painting images")
    p.add_argument("--source", default="museum", help="museum (bundled, offline), wikidata, or a folder")
    p.add_argument("--limit", type=int, default=None, help="at most this many images")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--endpoint", help="SPARQL endpoint URL (wikidata)")
    p.add_argument("--files-url", help="base URL of image files (wikidata)")
    p.set_defaults(func=_seeds)

    p = sub.add_parser("generate", help="synthesise an MA-XRF dataset from seed images")
    p.add_argument("--seeds", type=Path, required=True, help="folder of seed images (with seeds.json)")
    p.add_argument("--samples", type=int, required=True)
    p.add_argument("--size", type=int, default=128)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--counts", type=int, default=400)
    p.add_argument("--threshold", type=float,
                   help="minimum CIEDE2000 similarity for a pigment to enter a mixture "
                        "(default: xrfnb.synthetic.synth.THRESHOLD; ganx: 0.2)")
    p.add_argument("--channels", type=int, default=512)
    p.add_argument("--palette", type=Path, help="palette.h5 from the pigments stage (default: computed)")
    p.add_argument("--workers", type=int, default=1)
    p.set_defaults(func=_generate)

    p = sub.add_parser("stage", help="run the generation or embedding stage of a profile, optionally as one "
                                      "shard of many (torchrun, SLURM)")
    p.add_argument("stage", choices=["generate", "embed"])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--shard", help="RANK/WORLD, or 'auto' to read torchrun's or SLURM's environment")
    p.add_argument("--merge", type=int, metavar="WORLD", help="assemble the store from WORLD finished shards")
    p.set_defaults(func=_stage)

    p = sub.add_parser("train", help="train one model outside the notebooks (e.g. under torchrun or srun)")
    p.add_argument("model", choices=["dve", "smalluvit"])
    p.add_argument("--profile", default="smoke")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.set_defaults(func=_train)

    p = sub.add_parser("scaling", help="the controlled scaling study on a run's embedded data (resumable)")
    p.add_argument("--profile", default="smoke")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a parameter")
    p.add_argument("--plan", action="store_true", help="measure and print the planned cost; train nothing")
    p.add_argument("--force", action="store_true", help="run even if the planned worst case exceeds the limit")
    p.add_argument("--refile", type=Path, metavar="RESULTS",
                   help="train nothing: write the filed study's report again from its point records, checked "
                        "against a run's results folder (e.g. book/published/results)")
    p.set_defaults(func=_scaling)

    p = sub.add_parser("recolour", help="recolour a measured MA-XRF scan with a run's models and explain it")
    p.add_argument("scan", type=Path, help="the scan: .bcf, .spx, .rpl, .msa, .mca (SPEC, Amptek, multi-element, "
                                           "one column), .spe (ORTEC), text columns, .h5 (PyXRF, cronomaxrf, "
                                           "a cube) or .npy")
    p.add_argument("--run", type=Path, help="a model folder written by `xrfnb publish`, or a run directory with "
                                            "palette.h5, dataset.h5, dve/dve.ckpt and smalluvit/best.ckpt "
                                            "(default: the published model, book/published/model)")
    p.add_argument("--out", type=Path, required=True, help="output folder (replaced as a whole)")
    p.add_argument("--format", help="the format expected, refused if the file is another: "
                                    "bruker-bcf, bruker-spx, ripple, msa, mca, gse-mca, amptek-mca, ortec-spe, text, "
                                    "pyxrf, crono, hdf5 or npy")
    p.add_argument("--calibration", nargs=2, type=float, metavar=("OFFSET", "GAIN"),
                   help="keV of channel 0 and keV per channel, for files that store none (e.g. .npy)")
    p.add_argument("--detector", type=int, help="which detector of a multi-element file (0-based; "
                                                 "default: all, summed on detector 0's axis)")
    p.add_argument("--device", default="cpu", help="cpu (default), cuda or auto")
    p.add_argument("--palette", help="explain the scan with these pigments: paper, copper or a palette YAML file "
                                     "(default: the model's own; the recolouring stays the model's)")
    p.add_argument("--model", default="smalluvit", choices=("smalluvit", "pooled", "best"),
                   help="smalluvit (default: the paper's model), pooled (chapter 7's TV pooling + per-pixel MLP on "
                        "the DVE latent) or best (chapter 7's best model: that pooled decoder on a PCA of the "
                        "spectra, the PCA embedding in the DVE's place)")
    p.set_defaults(func=_recolour)

    p = sub.add_parser("adapt", help="adapt a run's DVE to unlabelled scans (no colours needed); "
                                      "`xrfnb recolour --run OUT` then uses it")
    p.add_argument("scans", nargs="+", type=Path, metavar="SCAN",
                   help="one or more scans, in any format recolour reads")
    p.add_argument("--out", type=Path, required=True, help="the model folder to write (replaced as a whole)")
    p.add_argument("--run", type=Path, help="the run directory whose DVE and training spectra are used (default: "
                                            "the one the published model was exported from)")
    p.add_argument("--method", default="mmd", choices=("mmd", "adversarial"),
                   help="mmd (default: latent MMD to the training latents) or adversarial (a domain classifier "
                        "behind gradient reversal)")
    p.add_argument("--steps", type=int, default=200, help="optimiser steps (default 200)")
    p.add_argument("--pixels", type=int, default=20_000, help="target pixels sampled across the scans (default 20,000)")
    p.add_argument("--format", help="the format expected (as for recolour)")
    p.add_argument("--calibration", nargs=2, type=float, metavar=("OFFSET", "GAIN"),
                   help="keV of channel 0 and keV per channel, for files that store none")
    p.add_argument("--detector", type=int, help="which detector of a multi-element file (0-based)")
    p.set_defaults(func=_adapt)

    p = sub.add_parser("book", help="build the Jupyter Book into _build/html")
    p.add_argument("--no-strict", action="store_true", help="do not turn warnings into errors")
    p.add_argument("--published", action="store_true",
                   help="show the committed run in book/published/ instead of the local run (runs nothing)")
    p.set_defaults(func=_book)

    p = sub.add_parser("publish", help="copy a finished run into book/published/ (committed) for the book")
    p.add_argument("--scaling-only", action="store_true",
                   help="only file the run's record for the scaling study (book/scaling/)")
    p.set_defaults(func=_publish)

    p = sub.add_parser("palette", help="the pigment palette")
    pal = p.add_subparsers(dest="action", required=True)
    e = pal.add_parser("export", help="write the palette in the layout ganx reads")
    e.add_argument("dir", type=Path)
    e.add_argument("--channels", type=int, default=512)
    e.add_argument("--sample", default="reference", help="sample model: reference (pure pigment) or fresco")
    e.add_argument("--palette", default="paper",
                   help="paper, copper, or a palette YAML file (the layout of xrfnb/data/palette.yml)")
    e.set_defaults(func=_palette_export)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        args.func(args)
    except (RuntimeError, ValueError, OSError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        print(f"xrfnb {args.command}: error: {first}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"xrfnb {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
