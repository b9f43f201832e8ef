"""Chapter 8: the shift suite is data and each shift changes the spectra as named; the adaptation refuses
what it cannot adapt to, brings shifted latents closer to the training ones, and `xrfnb adapt` writes a
model folder that `xrfnb recolour --run` uses. Everything at tiny sizes."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from xrfnb.embedding import adapt, dve
from xrfnb.synthetic import shifts, synth


@pytest.fixture(scope="module")
def suite():
    return shifts.load()


@pytest.fixture(scope="module")
def base(palette):
    """A 16 px image of four flat quadrants (red, blue, ochre, white), synthesised with the default palette."""
    colours = np.array([[[180, 30, 20], [30, 40, 160]], [[200, 150, 60], [240, 240, 230]]], np.uint8)
    image = np.kron(colours, np.ones((8, 8, 1), np.uint8))
    return synth.synthesize(image, palette, seed=0, n_start=4, delta=1)


def window(spectrum, energy, centre, half=0.15):
    return spectrum[np.abs(energy - centre) <= half].sum() / spectrum.sum()


def test_the_suite_is_data_with_every_shift_the_issue_names(suite):
    assert {"unshifted", "tube", "detector", "counts_low", "counts_high", "physics", "fresco", "blur",
            "combined"} <= set(suite)
    assert suite["combined"].instrument and suite["combined"].counts_factor != 1 and suite["combined"].blur_sigma
    assert shifts.table(suite).loc["unshifted", "changes"] == "nothing"
    assert len(shifts.digest()) == 64


def test_a_bad_suite_is_refused_in_one_line(tmp_path):
    for text, match in (("a: {counts_factor: 2}", "needs 'unshifted', changing nothing"),
                        ("unshifted: {blur_sigma: 1}", "needs 'unshifted', changing nothing"),
                        ("a: {instrument: {anode_kv: 3}}", "unknown instrument field"),
                        ("a: {colour: red}", "unknown key"), ("a: {mixing: cubic}", "mixing must be"),
                        ("a: {counts_factor: 0}", "counts_factor must be positive"),
                        ("a: {sample_model: stone}", "unknown sample model")):
        (tmp_path / "s.yml").write_text(text)
        with pytest.raises(ValueError, match=match) as err:
            shifts.load(str(tmp_path / "s.yml"))
        assert "\n" not in str(err.value)
    with pytest.raises(FileNotFoundError, match="no such shift suite"):
        shifts.load(str(tmp_path / "none.yml"))


def test_instrument_and_sample_shifts_change_the_spectra_as_named(suite, palette, base):
    energy = palette.energy
    tube = suite["tube"].palette(palette)
    assert tube.measured_with().anode == "Rh" and tube.measured_with().tube_kv == 50
    rh_ka, mo_ka = 20.2, 17.48  # the anodes' K alpha lines, scattered by the sample
    assert window(tube.spectra.sum(0), energy, rh_ka) > 3 * window(palette.spectra.sum(0), energy, rh_ka)
    assert window(tube.spectra.sum(0), energy, mo_ka) < window(palette.spectra.sum(0), energy, mo_ka)
    wide = suite["detector"].palette(palette)
    assert wide.measured_with().fwhm_ev(5.9) > 1.5 * palette.measured_with().fwhm_ev(5.9)
    # a broader peak puts less of the strongest line's counts in its own channel
    k = int(palette.spectra.max(1).argmax())
    assert wide.spectra[k].max() < 0.8 * palette.spectra[k].max()
    fresco = suite["fresco"].palette(palette)
    assert fresco.sample == "fresco"
    assert window(fresco.spectra.mean(0), energy, 3.69) > window(palette.spectra.mean(0), energy, 3.69)  # Ca K alpha
    shifted = suite["tube"].synthesis(base, tube)
    np.testing.assert_array_equal(shifted.labels, base.labels)  # same painting, same clusters
    np.testing.assert_allclose(shifted.mixtures, synth.mixtures_of(base.weights, tube.spectra))


def test_drawing_shifts_change_counts_blur_mixing_and_calibration(suite, palette, base):
    cube = base.cube()
    totals = {name: suite[name].cube(suite[name].synthesis(base, palette), palette.energy).sum(-1)
              for name in ("counts_low", "counts_high")}
    assert (totals["counts_low"] == round(base.counts * 0.1)).all()
    assert (totals["counts_high"] == base.counts * 10).all()
    blurred = suite["blur"].synthesis(base, palette)
    assert blurred.blur_sigma == 1.5 and base.blur_sigma == 0
    assert len(base.cluster_rgb) > 1
    pure = (blurred._cluster_weights().max(1) > 0.999).mean()
    assert pure < 0.9  # pixels near an edge see more than one cluster
    physics = suite["physics"].synthesis(base, palette)
    assert not np.allclose(physics.mixtures, base.mixtures, atol=1e-4)
    np.testing.assert_allclose(physics.mixtures[:2], synth.physics_mixtures(base.weights[:2], palette), rtol=1e-10)
    moved = suite["calibration"].cube(base, palette.energy)
    mean_e = lambda c: (c.sum((0, 1)) * palette.energy).sum() / c.sum()  # noqa: E731
    assert mean_e(moved) - mean_e(cube) == pytest.approx(-0.05, abs=0.01)
    assert moved.sum() == pytest.approx(cube.sum(), rel=0.01)


def test_test_images_spread_over_the_paintings():
    class Store:
        painting = np.array([0, 0, 0, 1, 1, 2, 2, 2])

        def indices(self, split):
            return np.arange(8)

    picked = shifts.pick_test_images(Store(), 3)
    assert sorted(Store.painting[picked]) == [0, 1, 2]


@pytest.fixture(scope="module")
def trained(palette):
    """A tiny DVE trained on mixtures of the palette's spectra at 400 counts, and its training spectra."""
    rng = np.random.default_rng(0)
    mix = rng.dirichlet(np.ones(12), 1500) ** 3
    spectra = np.stack([rng.multinomial(400, m / m.sum()) for m in (mix / mix.sum(1, keepdims=True)) @ palette.spectra])
    config = dve.DVEConfig(n_channels=len(palette.energy), encoder_widths=(32, 16, 16, 8), decoder_widths=(8, 16, 32),
                           n_clusters=3, warmup_epochs=1, ramp_epochs=1)
    torch.manual_seed(0)
    model = dve.DVE(config)
    model.train()
    opt = torch.optim.Adam(model.parameters(), 3e-3)
    x = torch.as_tensor(spectra, dtype=torch.float32)
    for step in range(150):
        batch = x[torch.randint(len(x), (128,))]
        loss = model.losses(batch, 0)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model.eval(), spectra.astype(np.int16), mix


def test_adaptation_refuses_bad_targets_in_one_line(trained):
    model, spectra, _ = trained
    cases = ((spectra[:10], "10 pixels with counts; adaptation needs at least 64"),
             (np.zeros((100, 512)), "no overlap in energy range"),
             (spectra[:, :256], "256 channels, but the DVE was trained on 512"))
    for target, match in cases:
        with pytest.raises(adapt.AdaptError, match=match) as err:
            adapt.adapt(model, spectra, target)
        assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="unknown adaptation method"):
        adapt.AdaptConfig(method="cycle")


def test_adaptation_brings_shifted_latents_to_the_training_ones(trained, palette):
    model, spectra, mix = trained
    rng = np.random.default_rng(5)
    shifted = np.stack([rng.multinomial(40, m / m.sum()) for m in (mix / mix.sum(1, keepdims=True)) @ palette.spectra])
    for method in adapt.METHODS:
        result = adapt.adapt(model, spectra, shifted, adapt.AdaptConfig(method=method, steps=150, batch=128, lr=1e-3))
        assert result.pixels == len(shifted) and result.seconds > 0
        if method == "mmd":
            assert result.mmd_after < 0.5 * result.mmd_before
        spread = float(adapt._encode(model, torch.as_tensor(spectra[:500]).float()).var(0).sum())
        assert result.drift < 0.1 * spread  # the training latents stay where they were
    # the model given is left as it was
    same = adapt.adapt(model, spectra, shifted, adapt.AdaptConfig(steps=1))
    assert same.mmd_before == pytest.approx(result.mmd_before)


def test_kernel_mmd_is_near_zero_for_one_distribution_and_grows_with_a_shift():
    gen = torch.Generator().manual_seed(0)
    a, b = torch.randn(400, 3, generator=gen), torch.randn(400, 3, generator=gen)
    assert abs(float(adapt.kernel_mmd(a, b))) < 0.02
    assert float(adapt.kernel_mmd(a, b + 1.0)) > 0.2


TINY_SUITE = """
unshifted: {label: as trained}
counts_low: {label: fewer counts, counts_factor: 0.1}
calibration: {label: calibration, energy_offset_kev: 0.05}
"""


@pytest.fixture(scope="module")
def shift_run(tmp_path_factory, palette):
    """A tiny finished run: dataset (two test paintings), DVE, SmallUViT, pooled decoder and stage records."""
    from PIL import Image
    from test_dataset import painting
    from test_smalluvit import make_store

    from xrfnb.config import record_path
    from xrfnb.io import write_json
    from xrfnb.embedding.embedded import EmbeddedStore
    from xrfnb.evaluation import domain_shift
    from xrfnb.models import pooled, recolour, smalluvit
    from xrfnb.synthetic import dataset

    run = tmp_path_factory.mktemp("shift_run")
    rng = np.random.default_rng(0)
    (run / "seeds").mkdir()
    for i in range(6):
        Image.fromarray(painting(rng)).save(run / "seeds" / f"p{i}.png")
    palette.save(run / "palette.h5")
    dataset.generate(run / "seeds", run / "dataset.h5", palette,
                     dataset.GenerateConfig(samples=12, size=16, fractions=(0.5, 0.17, 0.33)), progress=False)
    spectra = dve.training_spectra(dataset.Store(run / "dataset.h5"), 600, seed=0)
    config = dve.DVEConfig(n_channels=len(palette.energy), encoder_widths=(32, 16, 16, 8), decoder_widths=(8, 16, 32),
                           n_clusters=3, warmup_epochs=1, ramp_epochs=1)
    dve.train(spectra["train"].counts, spectra["val"].counts, config, 1, 64, run / "dve")
    make_store(run / "embedded.h5", n=6, size=16)
    model = smalluvit.SmallUViTConfig(image_size=16, patch_size=8, dim=16, heads=1, dim_head=8, depth_in=1,
                                      depth_mid=1, depth_out=1)
    recolour.train(EmbeddedStore(run / "embedded.h5"), recolour.RecolourConfig(model=model), 1, 2, run / "smalluvit")
    x, rgb = EmbeddedStore(run / "embedded.h5").arrays("train")
    pooled.train(x, rgb, pooled.PooledConfig(steps=3, batch_pixels=64, iterations=5), run / domain_shift.POOLED.parent)
    for stage in domain_shift.DomainShiftParams.after:
        write_json(record_path(run, stage), {"stage": stage, "key": f"tiny-{stage}"})
    (run / "suite.yml").write_text(TINY_SUITE)
    return run


def test_the_stage_scores_every_shift_before_and_after_both_adaptations(shift_run):
    from xrfnb import result_files
    from xrfnb.evaluation import domain_shift as ds

    params = ds.DomainShiftParams(shift_suite=str(shift_run / "suite.yml"), shift_images=3, adapt_steps=3,
                                  adapt_batch=32, adapt_pixels=300, adapt_source=300)
    per_image, adaptations, spectra = ds.run_stage(shift_run, params)
    assert list(spectra.columns) == ["unshifted", "counts_low", "calibration"] and len(spectra) == 512
    assert len(per_image) == 3 * 2 * 3 * 3  # shifts x models x (none + two methods) x images
    assert per_image["painting"].nunique() == 2 and np.isfinite(per_image[["ms_ssim", "srgb_loss"]]).all().all()
    assert sorted(adaptations["method"].unique()) == sorted(adapt.METHODS) and len(adaptations) == 6
    assert params.done(shift_run)
    again, _, _ = ds.run_stage(shift_run, params)  # done: read back, not measured again
    np.testing.assert_allclose(again["ms_ssim"], per_image["ms_ssim"])
    method = ds.chosen_method(adaptations)
    table = ds.summary(per_image, method)
    for column in ("before_ms_ssim", "after_ms_ssim", "before_srgb", "after_srgb"):
        assert (table[f"{column}_low"] <= table[column] + 1e-9).all()
        assert (table[column] <= table[f"{column}_high"] + 1e-9).all()
    lower = per_image[(per_image["shift"] == "counts_low") & (per_image["method"] == "none")]
    base = per_image[(per_image["shift"] == "unshifted") & (per_image["method"] == "none")]
    cost = ds.cost(table).set_index(["shift", "model"])
    assert cost.loc[("counts_low", ds.PAPER), "ms_ssim_cost"] == pytest.approx(
        lower[lower["model"] == ds.PAPER]["ms_ssim"].mean() - base[base["model"] == ds.PAPER]["ms_ssim"].mean())
    verdict = ds.verdicts(table)
    assert sum(len(v) for k, v in verdict.items() if k != "hurt") == 2  # the unshifted set is reported apart
    assert set(ds.methods_table(per_image, adaptations)["method"]) == set(adapt.METHODS)
    words = ds.sentences(table, ds.methods_table(per_image, adaptations), method, {"counts_low": "fewer counts"})
    assert words["method"].startswith(f"the {ds.WORDS[method]} adaptation")
    assert "paired 95 % interval" in words["paper_unshifted"]
    assert all(isinstance(words[f"{m}_{k}"], str) for m in ("paper", "best") for k in ("hurt", "repaired", "worsened"))
    folder = shift_run / "results"
    folder.mkdir(exist_ok=True)
    result_files.write_domain_shift(folder, table, ds.methods_table(per_image, adaptations))
    read, methods = result_files.read_domain_shift(folder)
    assert list(read.columns[:2]) == ["shift", "model"] and "after_srgb_high" in read.columns and len(methods) == 6


def test_xrfnb_adapt_writes_a_model_folder_that_recolour_uses(shift_run, tmp_path, palette, capsys):
    from xrfnb.pipeline import cli
    from xrfnb.synthetic.dataset import Store

    store = Store(shift_run / "dataset.h5")
    scan = tmp_path / "scan.npy"
    np.save(scan, np.concatenate([store.cube(int(i)) for i in store.indices("test")[:2]], axis=1))
    width = float(palette.energy[1] - palette.energy[0])
    calibration = ["--calibration", str(float(palette.energy[0]) - width / 2), str(width)]
    out = tmp_path / "adapted"
    assert cli.main(["adapt", str(scan), "--run", str(shift_run), "--out", str(out), "--steps", "3",
                     "--pixels", "300", *calibration]) == 0
    printed = capsys.readouterr().out
    assert "latent MMD to the training latents" in printed and "xrfnb recolour SCAN --run" in printed
    report = json.loads((out / "adaptation.json").read_text())
    assert report["target_pixels"] == 300 and report["method"] == "mmd" and report["scans"] == ["scan.npy"]
    from xrfnb.scans import realdata

    adapted, original = realdata.load_run(out), realdata.load_run(shift_run)
    assert not torch.equal(adapted.dve_model.encoder.head.weight, original.dve_model.encoder.head.weight)
    assert torch.equal(adapted.dve_model.decoder.out.weight, original.dve_model.decoder.out.weight)
    assert realdata.load_run(out, "pooled").name.endswith("pooled decoder")
    assert cli.main(["recolour", str(scan), "--run", str(out), "--out", str(tmp_path / "rec"), *calibration]) == 0
    assert "adapted to scan.npy" in json.loads((tmp_path / "rec" / "report.json").read_text())["model"]


def test_xrfnb_adapt_refuses_a_scan_outside_the_energy_range_or_too_small(shift_run, tmp_path, capsys):
    from xrfnb.pipeline import cli

    scan = tmp_path / "far.npy"
    np.save(scan, np.ones((16, 16, 64), np.int16))
    assert cli.main(["adapt", str(scan), "--run", str(shift_run), "--out", str(tmp_path / "o"),
                     "--calibration", "60", "0.1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no overlap in energy range" in err
    small = tmp_path / "small.npy"
    np.save(small, np.full((4, 4, 512), 2, np.int16))
    assert cli.main(["adapt", str(small), "--run", str(shift_run), "--out", str(tmp_path / "o"),
                     "--calibration", "0.5", "0.0742"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "16 pixels with counts; adaptation needs at least 64" in err
    assert not (tmp_path / "o").exists()


def test_the_published_book_leaves_out_a_chapter_its_run_did_not_execute(tmp_path):
    from conftest import ROOT

    from xrfnb.pipeline import book

    executed = tmp_path / "executed"
    executed.mkdir()
    for stem in ("01_pigments", "07_evaluate"):
        (executed / f"{stem}.ipynb").write_text("{}")
    toc = book.published_toc((ROOT / "_toc.yml").read_text(), executed)
    assert "book/executed/07_evaluate" in toc and "book/executed/01_pigments" in toc
    assert "08_domain_shift" not in toc and "02_seed_images" not in toc
    assert "book/results" in toc and "book/your_own_scan" in toc  # pages of the book itself stay
    (executed / "08_domain_shift.ipynb").write_text("{}")
    assert "book/executed/08_domain_shift" in book.published_toc((ROOT / "_toc.yml").read_text(), executed)
