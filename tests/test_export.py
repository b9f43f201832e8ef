"""Loading a model runs no code; a trained run exported as safetensors + JSON, published, used by default."""

import json
import pathlib
import shutil

import numpy as np
import pytest
import torch
from test_publish import finished_run
from test_readers import write_scan

from xrfnb.embedding import dve
from xrfnb import export, training
from xrfnb.scans import realdata
from xrfnb.models import pooled, recolour
from xrfnb.pipeline import book
from xrfnb.pipeline.cli import main
from xrfnb.io import read_json


class Payload:
    """Unpickling this creates a file: what a hostile checkpoint could do instead."""

    def __init__(self, marker: pathlib.Path):
        self.marker = marker

    def __reduce__(self):
        return pathlib.Path.touch, (self.marker,)


def hostile(path, marker, template):
    """A copy of a real checkpoint whose hyper-parameters carry the payload."""
    ckpt = torch.load(template, map_location="cpu", weights_only=True)
    ckpt["hyper_parameters"]["note"] = Payload(marker)
    torch.save(ckpt, path)
    return path


def test_a_checkpoint_that_needs_unpickling_is_refused_in_one_line_and_runs_nothing(tmp_path, run_dir, capsys):
    marker = tmp_path / "pwned"
    proof = hostile(tmp_path / "proof.ckpt", marker, run_dir / "dve" / "dve.ckpt")
    torch.load(proof, map_location="cpu", weights_only=False)  # the payload is real: an unsafe load runs it
    assert marker.exists()
    marker.unlink()
    shared = tmp_path / "shared_run"
    shutil.copytree(run_dir, shared)
    for ckpt, loader in ((shared / "dve" / "dve.ckpt", dve.load), (shared / "smalluvit" / "best.ckpt", recolour.load)):
        hostile(ckpt, marker, run_dir / ckpt.relative_to(shared))
        with pytest.raises(ValueError) as err:
            loader(ckpt)
        assert str(err.value).startswith(f"{ckpt}: refused: loading it would unpickle arbitrary objects")
        assert "\n" not in str(err.value) and not marker.exists()
    path, _, _ = write_scan("msa", tmp_path, realdata.load_run(run_dir).palette)
    assert main(["recolour", str(path), "--run", str(shared), "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and str(shared / "dve" / "dve.ckpt") in err and "refused" in err
    assert not marker.exists() and not (tmp_path / "out").exists()


def test_trainings_resume_checkpoints_load_weights_only(run_dir, tmp_path):
    for folder in ("dve", "smalluvit"):
        last = torch.load(run_dir / folder / "last.ckpt", map_location="cpu", weights_only=True)
        assert "optimizer_states" in last and last["epoch"] >= 0
    marker = tmp_path / "pwned"
    out = tmp_path / "resume"
    out.mkdir()
    hostile(out / "last.ckpt", marker, run_dir / "dve" / "last.ckpt")
    (out / "run.key").write_text("key")
    with pytest.raises(ValueError, match="last.ckpt: refused"):
        training.resume_path(out, "key", 5)
    assert not marker.exists()


def outputs(models, embedded, spectra):
    """The DVE's latents and SmallUViT's RGB for fixed inputs."""
    return dve.encode(models.dve_model, spectra), recolour.predict(models.module, embedded)


def test_an_exported_model_gives_the_runs_outputs_and_loads_from_tensors_and_json_only(tmp_path, run_dir):
    full, half = export.write(run_dir, tmp_path / "full"), export.write(run_dir, tmp_path / "half", half=True)
    assert {p.name for p in half.iterdir()} == {"dve.safetensors", "smalluvit.safetensors", "model.json"}
    meta = read_json(half / "model.json")
    assert meta["precision"] == "float16" and meta["instrument"]["anode"] == "Mo"
    assert meta["palette"]["names"][0] == "Red Ochre" and meta["training_counts"] == 400
    assert (half / "dve.safetensors").stat().st_size < 0.6 * (full / "dve.safetensors").stat().st_size
    rng = np.random.default_rng(0)
    original = realdata.load_run(run_dir)
    spectra = rng.multinomial(400, original.palette.spectra[rng.integers(0, 12, 64)]).astype(np.float32)
    embedded = rng.normal(size=(2, 3, 16, 16)).astype(np.float32)
    reference = outputs(original, embedded, spectra)
    for folder, tolerance in ((full, 1e-6), (half, 2e-2)):
        exported = realdata.load_run(folder)
        assert exported.name.startswith(f"{folder} (exported from {run_dir.name}")  # no machine's paths
        for a, b in zip(reference, outputs(exported, embedded, spectra)):
            np.testing.assert_allclose(a, b, atol=tolerance)


def test_publish_writes_the_model_and_recolour_uses_it_by_default(tmp_path, run_dir, monkeypatch, capsys):
    root = tmp_path / "project"
    root.mkdir()
    finished_run(root)
    scan, _, _ = write_scan("mca", tmp_path, realdata.load_run(run_dir).palette)
    monkeypatch.setenv("XRFNB_ROOT", str(root))
    assert main(["recolour", str(scan), "--out", str(tmp_path / "none")]) == 1
    assert "book/published/model: no such model folder or run directory (publish one with `xrfnb publish`" \
        in capsys.readouterr().err
    shutil.copytree(run_dir, root / "runs" / "smoke")
    book.publish(root)
    model = root / "book" / "published" / "model"
    assert read_json(model / "model.json")["profile"] == {"profile": "smoke"}
    assert main(["recolour", str(scan), "--out", str(tmp_path / "out")]) == 0
    report = json.loads((tmp_path / "out" / "report.json").read_text())
    assert report["model"].startswith(f"{model} (exported from runs/smoke, profile smoke)")
    assert f"recolour: model {model}" in capsys.readouterr().out


def test_the_pooled_decoder_is_exported_and_recolours_a_scan_in_smalluvits_place(tmp_path, run_dir, capsys):
    from xrfnb.models import pooled

    run = shutil.copytree(run_dir, tmp_path / "run")
    scan, _, _ = write_scan("mca", tmp_path, realdata.load_run(run).palette)
    assert main(["recolour", str(scan), "--run", str(run), "--out", str(tmp_path / "x"), "--model", "pooled"]) == 1
    assert "holds no pooled decoder" in capsys.readouterr().err
    rng = np.random.default_rng(0)
    latent = rng.normal(size=(4, 3, 16, 16)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(4, 16, 16, 3), dtype=np.uint8)
    pooled.train(latent, rgb, pooled.PooledConfig(weights=(0.3,), steps=5, batch_pixels=64), run / "ablations" / "pooled")
    folder = export.write(run, tmp_path / "model")
    assert read_json(folder / "model.json")["pooled"]["weights"] == [0.3]
    outputs = {}
    for source in (run, folder):  # from the run directory and from the exported folder: the same colours
        out = tmp_path / f"out_{source.name}"
        assert main(["recolour", str(scan), "--run", str(source), "--out", str(out), "--model", "pooled"]) == 0
        assert json.loads((out / "report.json").read_text())["model"].endswith("pooled decoder")
        outputs[source] = realdata.analyse(realdata.load_cube(scan), realdata.load_run(source, "pooled")).rgb
    np.testing.assert_allclose(outputs[run], outputs[folder], atol=1e-6)
    smalluvit = realdata.analyse(realdata.load_cube(scan), realdata.load_run(folder)).rgb
    assert not np.allclose(smalluvit, outputs[folder])


def test_a_package_installed_outside_any_clone_fetches_the_published_model_once(tmp_path, run_dir, monkeypatch,
                                                                                 capsys):
    import functools
    import http.server
    import threading

    served = tmp_path / "site"
    export.write(run_dir, served / "model")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # the server's access log would mix with the command's stderr
            pass

    handler = functools.partial(Quiet, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(export.locations, "checkout", lambda: None)  # an install that is no clone
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")  # a machine's proxy must not stand between the test and its server
    scan, _, _ = write_scan("mca", tmp_path, realdata.load_run(run_dir).palette)
    try:
        monkeypatch.setattr(export, "MODEL_URL", f"http://127.0.0.1:{server.server_address[1]}/nowhere/")
        assert main(["recolour", str(scan), "--out", str(tmp_path / "none")]) == 1
        err = capsys.readouterr().err
        assert "HTTP 404 fetching the published model; pass --run" in err and len(err.strip().splitlines()) == 1
        assert not (tmp_path / "cache" / "xrfnb").exists() or not any((tmp_path / "cache" / "xrfnb").iterdir())
        monkeypatch.setattr(export, "MODEL_URL", f"http://127.0.0.1:{server.server_address[1]}/model/")
        assert main(["recolour", str(scan), "--out", str(tmp_path / "out")]) == 0
        cached = tmp_path / "cache" / "xrfnb" / "model"
        assert {p.name for p in cached.iterdir()} == {p.name for p in (served / "model").iterdir()}
        assert read_json(tmp_path / "out" / "report.json")["model"].startswith(str(cached))
    finally:
        server.shutdown()
    assert export.published_model() == cached  # fetched once: the cache serves without the server


def kept_best(run: pathlib.Path, palette, d: int = 4) -> tuple[dve.Embedding, pooled.PooledRecolouring]:
    """Chapter 7's best model kept in `run` as its embedding sizes keep it: the first `d` components of a PCA
    fitted on tiny spectra, and a pooled decoder trained a few steps on their latents."""
    from xrfnb.evaluation import embedding_sizes
    from xrfnb.embedding import pca

    rng = np.random.default_rng(1)
    spectra = rng.multinomial(400, palette.spectra[rng.integers(0, len(palette), 128)])
    fitted = pca.fit(spectra, pca.PCAConfig(len(palette.energy), d + 2, 1, 0))
    encoder = embedding_sizes.first_components(fitted, d)
    cubes = rng.multinomial(400, palette.spectra[rng.integers(0, len(palette), 3 * 16 * 16)]).reshape(3, 16, 16, -1)
    latents = np.stack([dve.embed_cube(encoder, cube) for cube in cubes])
    rgb = rng.integers(0, 256, size=(3, 16, 16, 3), dtype=np.uint8)
    trained = run / "tmp_pooled"
    pooled.train(latents, rgb, pooled.PooledConfig(in_channels=d, weights=(0.3,), steps=5, batch_pixels=64), trained)
    embedding_sizes.keep_largest(run / embedding_sizes.KEPT, encoder, trained / "pooled.pt")
    shutil.rmtree(trained)
    return export.read_best(run)


def test_the_best_model_is_exported_and_gives_the_runs_colours_with_model_best(tmp_path, run_dir, capsys):
    run = shutil.copytree(run_dir, tmp_path / "run")
    palette = realdata.load_run(run).palette
    scan, _, _ = write_scan("mca", tmp_path, palette)
    plain = export.write(run, tmp_path / "plain")  # a run without chapter 7's kept files: no best model
    assert not any(name.startswith("best") for name in map(lambda p: p.name, plain.iterdir()))
    for source in (run, plain):
        assert main(["recolour", str(scan), "--run", str(source), "--out", str(tmp_path / "x"), "--model", "best"]) == 1
        err = capsys.readouterr().err.strip()
        assert "\n" not in err and "holds no best model (missing" in err and "chapter 7's embedding sizes" in err
        assert not (tmp_path / "x").exists()
    assert "model.json's \"best\"" in err and "best_encoder.safetensors" in err

    encoder, decoder = kept_best(run, palette)
    folder = export.write(run, tmp_path / "model")
    assert {"best_encoder.safetensors", "best_pooled.safetensors"} <= {p.name for p in folder.iterdir()}
    assert set(export.BEST_FILES) <= set(export.OPTIONAL_FILES)  # the installed package's fetch does without them
    best = read_json(folder / "model.json")["best"]
    assert best["embedding"] == "pca" and best["encoder"]["latent_dim"] == 4 and best["pooled"]["in_channels"] == 4
    assert best["description"] == "pooled decoder on PCA-4, chapter 7's embedding sizes"
    rng = np.random.default_rng(2)
    spectra = rng.multinomial(400, palette.spectra[rng.integers(0, len(palette), 64)]).astype(np.float32)
    latent = rng.normal(size=(2, 4, 16, 16)).astype(np.float32)
    for model in export.read_best(folder):  # bit-identical after export, float32, eval mode
        assert not model.training and all(p.dtype == torch.float32 for p in model.state_dict().values())
    read_encoder, read_decoder = export.read_best(folder)
    np.testing.assert_array_equal(dve.encode(encoder, spectra), dve.encode(read_encoder, spectra))
    np.testing.assert_array_equal(recolour.predict(decoder, latent), recolour.predict(read_decoder, latent))

    rgb = {}
    for source in (run, folder):  # from the run directory and from the exported folder: the same colours
        out = tmp_path / f"out_{source.name}"
        assert main(["recolour", str(scan), "--run", str(source), "--out", str(out), "--model", "best"]) == 0
        assert {p.name for p in out.iterdir()} == {"recoloured.png", "elements.png", "pigments.png", "report.json"}
        name = read_json(out / "report.json")["model"]
        assert name.endswith("best model (pooled decoder on PCA-4, chapter 7's embedding sizes)")
        assert "best model (pooled decoder on PCA-4" in capsys.readouterr().out
        rgb[source] = realdata.analyse(realdata.load_cube(scan), realdata.load_run(source, "best")).rgb
    np.testing.assert_array_equal(rgb[run], rgb[folder])
    assert rgb[run].shape[-1] == 3 and np.isfinite(rgb[run]).all()
    smalluvit = realdata.analyse(realdata.load_cube(scan), realdata.load_run(folder)).rgb
    assert not np.allclose(smalluvit, rgb[folder])
    assert realdata.load_run(folder, "best").dve_model.kind == "pca"  # the PCA embeds, not the DVE


def test_model_best_names_the_pca_where_a_scan_is_noisier_than_its_training_spectra(tmp_path, run_dir):
    run = shutil.copytree(run_dir, tmp_path / "run")
    palette = realdata.load_run(run).palette
    kept_best(run, palette)
    cube = realdata.Cube(np.random.default_rng(3).poisson(0.2, (4, 4, len(palette.energy))).astype(float),
                         palette.energy)
    with pytest.warns(realdata.ScanWarning, match="noisier than any the PCA saw"):
        realdata.analyse(cube, realdata.load_run(run, "best"))
    with pytest.warns(realdata.ScanWarning, match="noisier than any the DVE saw"):
        realdata.analyse(cube, realdata.load_run(run))
