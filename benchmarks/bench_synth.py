"""Synthetic MA-XRF generation: xrfnb.synthetic.synth against the paper's ganx 0.0.2, side by side in one run.

Same 128 x 128 painting crop, same palette (exported in the ganx layout), 512 channels, 400 counts,
K in {9, 10}, on one CPU core. ganx 0.0.2 crashes when the top channels of a mixture are never drawn
(its histogram length follows the largest drawn channel), so, as its later source does, its
`get_xrf_distr_2D` is given a fixed-length histogram; its algorithm and cost are unchanged.
On a GPU, also reports cubes per second of the torch sampler.

    python benchmarks/bench_synth.py [--repeat 5] [--size 128] [--label NAME]
"""

import os

os.environ.update(OMP_NUM_THREADS="1", NUMBA_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import json  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import record  # noqa: E402
from xrfnb.palette import pigments
from xrfnb.paintings import seeds
from xrfnb.synthetic import synth  # noqa: E402


def painting_crop(size: int) -> np.ndarray:
    """A size x size crop from the middle of the first bundled painting."""
    with tempfile.TemporaryDirectory() as tmp:
        manifest = seeds.museum(Path(tmp), limit=1)
        rgb = seeds.load_rgb(Path(tmp) / manifest["seeds"][0]["file"])
    h, w = rgb.shape[0] // 2, rgb.shape[1] // 2
    return rgb[h - size // 2:h + size // 2, w - size // 2:w + size // 2]


def ganx_generator(palette_json: Path):
    """ganx's XRFGenerator with the fixed-length histogram of its later source."""
    from ganx import XRF_generator_classes as gx

    def get_xrf_distr_2D(num_of_counts, distr, size):
        rng = np.random.default_rng()
        draws = rng.choice(distr.size, size=(size[0] * size[1], num_of_counts), p=distr, axis=-1)
        return gx.XRFGenerator.bincount2d(draws, bins=distr.size).reshape(size[0], size[1], distr.size)

    gx.XRFGenerator.get_xrf_distr_2D = staticmethod(get_xrf_distr_2D)
    return gx.XRFGenerator


def best_of(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--channels", type=int, default=512)
    ap.add_argument("--label", default="", help="suffix of the result's name (e.g. gpu)")
    args = ap.parse_args()
    os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    torch.set_num_threads(1)

    palette = pigments.paper_palette(n_channels=args.channels)
    crop = painting_crop(args.size)
    results = {"size": args.size, "channels": args.channels, "counts": 400, "cpu_cores": 1}

    with tempfile.TemporaryDirectory() as tmp:
        index = palette.export_ganx(tmp)
        cwd = os.getcwd()
        os.chdir(tmp)  # ganx opens the palette's files relative to the working directory
        try:
            generator = ganx_generator(index)

            def run_ganx():
                with contextlib.redirect_stdout(io.StringIO()):
                    g = generator(str(index), crop, N_start=10, delta_N=1, num_of_counts=400,
                                  rebin_size=args.channels)
                    return g.generate_xrf()

            cube = run_ganx()
            assert cube.shape == (args.size, args.size, args.channels) and (cube.sum(-1) == 400).all()
            results["ganx_s"] = best_of(run_ganx, max(1, args.repeat // 2))
        finally:
            os.chdir(cwd)

    synth.synthesize(crop, palette, seed=0).cube()  # compile the kernels once
    results["xrfnb_s"] = best_of(lambda: synth.synthesize(crop, palette, seed=0).cube(), args.repeat)
    s = synth.synthesize(crop, palette, seed=0)
    results["xrfnb_cluster_s"] = best_of(lambda: synth.synthesize(crop, palette, seed=0), args.repeat)
    results["xrfnb_cube_s"] = best_of(s.cube, args.repeat)
    results["speedup"] = results["ganx_s"] / results["xrfnb_s"]

    if torch.cuda.is_available():
        s.cube(device="cuda")
        torch.cuda.synchronize()
        n = 20
        sec = best_of(lambda: [s.cube(device="cuda") for _ in range(n)], 3) / n
        results["gpu"] = torch.cuda.get_device_name(0)
        results["gpu_cubes_per_s"] = 1 / sec

    print(json.dumps(results, indent=2))
    record.save("synth" + (f"_{args.label}" if args.label else ""), results)
    print(f"ganx 0.0.2: {results['ganx_s']:.3f} s/cube   xrfnb: {results['xrfnb_s'] * 1e3:.1f} ms/cube "
          f"(clustering {results['xrfnb_cluster_s'] * 1e3:.1f} ms, counts {results['xrfnb_cube_s'] * 1e3:.1f} ms)"
          f"   ratio {results['speedup']:.1f}x on one CPU core")


if __name__ == "__main__":
    main()
