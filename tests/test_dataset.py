"""Seed images in odd formats, the compact dataset store, splits by painting, resume and dense export."""

import json

import h5py
import numpy as np
import pytest
from PIL import Image

from xrfnb.synthetic import dataset
from xrfnb.paintings import seeds


def painting(rng, h=80, w=96):
    """A blocky random 'painting': a few flat colours, like the clusters the generator finds."""
    colours = rng.integers(0, 256, (6, 3))
    blocks = rng.integers(0, 6, (h // 16 + 1, w // 16 + 1))
    return colours[np.kron(blocks, np.ones((16, 16), int))[:h, :w]].astype(np.uint8)


@pytest.fixture
def seed_folder(tmp_path):
    """Ten good paintings plus every kind of awkward input a user's folder may hold."""
    rng = np.random.default_rng(0)
    folder = tmp_path / "seeds"
    folder.mkdir()
    for i in range(10):
        Image.fromarray(painting(rng)).save(folder / f"p{i:02d}.png")
    Image.fromarray(painting(rng)[..., 0]).save(folder / "grey.png")                       # greyscale
    Image.fromarray(np.dstack([painting(rng), np.full((80, 96), 128, np.uint8)])).save(folder / "rgba.png")
    Image.fromarray((painting(rng)[..., 1].astype(np.uint16) * 257)).save(folder / "deep16.png")  # 16-bit
    Image.fromarray(painting(rng)).convert("P").save(folder / "palette.png")              # palette mode
    Image.fromarray(np.full((80, 80, 3), 90, np.uint8)).save(folder / "flat.png")         # one colour
    Image.fromarray(painting(rng, 20, 20)).save(folder / "tiny.png")                      # smaller than crop
    Image.fromarray(painting(rng)).save(folder / "broken.jpg")
    data = (folder / "broken.jpg").read_bytes()
    (folder / "broken.jpg").write_bytes(data[: len(data) // 3])                          # truncated
    (folder / "notes.txt").write_text("not an image")
    (folder / "fake.png").write_bytes(b"this is no png")
    return folder


@pytest.mark.parametrize("name, mode", [("grey.png", "L"), ("rgba.png", "RGBA"), ("deep16.png", "I;16"),
                                        ("palette.png", "P")])
def test_odd_image_modes_load_as_rgb(seed_folder, name, mode):
    with Image.open(seed_folder / name) as im:
        assert im.mode == mode
    rgb = seeds.load_rgb(seed_folder / name)
    assert rgb.dtype == np.uint8 and rgb.shape == (80, 96, 3)


@pytest.mark.parametrize("name", ["broken.jpg", "fake.png"])
def test_corrupt_images_raise_a_one_line_reason(seed_folder, name):
    with pytest.raises(seeds.ImageError, match=name):
        seeds.load_rgb(seed_folder / name)


def generate(seed_folder, out, palette, **kw):
    config = dataset.GenerateConfig(**{"samples": 30, "size": 32, "seed": 3, **kw})
    return dataset.generate(seed_folder, out / "dataset.h5", palette, config, progress=False)


def test_folder_dataset_records_what_it_skipped_and_why(seed_folder, tmp_path, palette):
    card = generate(seed_folder, tmp_path, palette)
    reasons = {s["file"]: s["reason"] for s in card["skipped"]}
    assert set(reasons) == {"broken.jpg", "fake.png", "notes.txt", "tiny.png"}
    assert "not an image" in reasons["notes.txt"] and "smaller than the crop" in reasons["tiny.png"]
    assert "not a readable image" in reasons["broken.jpg"]
    assert card["paintings"] == 15 and card["samples"] == 30
    assert json.loads((tmp_path / "dataset.card.json").read_text())["content_hash"] == card["content_hash"]


def test_no_painting_appears_in_two_splits(seed_folder, tmp_path, palette):
    generate(seed_folder, tmp_path, palette)
    store = dataset.Store(tmp_path / "dataset.h5")
    used = [set(store.painting[store.indices(s)]) for s in dataset.SPLITS]
    assert all(used) and not (used[0] & used[1] or used[0] & used[2] or used[1] & used[2])
    counts = [len(store.indices(s)) for s in dataset.SPLITS]
    assert counts[0] > counts[1] >= counts[2] > 0


def test_store_is_compact_and_redraws_identical_cubes(seed_folder, tmp_path, palette):
    card = generate(seed_folder, tmp_path, palette)
    assert card["sizes"]["store_bytes"] < card["sizes"]["dense_int16_bytes"] / 4
    store = dataset.Store(tmp_path / "dataset.h5")
    cube = store.cube(4)
    assert cube.shape == (32, 32, 512) and (cube.sum(-1) == 400).all()
    assert np.array_equal(cube, dataset.Store(tmp_path / "dataset.h5").cube(4))
    s = store.synthesis(4)
    np.testing.assert_allclose(s.clustered_rgb(), s.cluster_rgb[s.labels])
    assert store.rgb(4).shape == (32, 32, 3)


def test_same_parameters_give_the_same_dataset(seed_folder, tmp_path, palette):
    a = generate(seed_folder, tmp_path / "a", palette)
    b = generate(seed_folder, tmp_path / "b", palette)
    c = generate(seed_folder, tmp_path / "c", palette, seed=4)
    assert a["content_hash"] == b["content_hash"] != c["content_hash"]


def test_dense_export_reads_back_in_the_ganx_layout(seed_folder, tmp_path, palette):
    generate(seed_folder, tmp_path, palette)
    store = dataset.Store(tmp_path / "dataset.h5")
    path = dataset.export_dense(store, 2, tmp_path / "cube.h5")
    with h5py.File(path, "r") as h5:
        np.testing.assert_array_equal(h5["img"][()], store.cube(2))


def test_interrupted_generation_resumes_to_the_same_dataset(seed_folder, tmp_path, palette, monkeypatch):
    reference = generate(seed_folder, tmp_path / "ref", palette)
    real_rows, written = dataset._rows, []

    def crash_after_ten(sample, k_max):
        if len(written) == 10:
            raise KeyboardInterrupt
        written.append(sample["index"])
        return real_rows(sample, k_max)

    monkeypatch.setattr(dataset, "_rows", crash_after_ten)
    with pytest.raises(KeyboardInterrupt):
        generate(seed_folder, tmp_path / "run", palette)
    assert not (tmp_path / "run" / "dataset.h5").exists()  # nothing that looks complete
    assert (tmp_path / "run" / "dataset.h5.partial").exists()
    with pytest.raises(ValueError, match="incomplete"):
        dataset.Store(tmp_path / "run" / "dataset.h5.partial")

    monkeypatch.setattr(dataset, "_rows", real_rows)
    made = []
    real_make = dataset._make_sample
    monkeypatch.setattr(dataset, "_make_sample", lambda job: made.append(job[0]) or real_make(job))
    resumed = generate(seed_folder, tmp_path / "run", palette)
    assert len(made) == 20  # only the missing samples
    assert resumed["content_hash"] == reference["content_hash"]


def test_finished_dataset_is_reused(seed_folder, tmp_path, palette, monkeypatch):
    first = generate(seed_folder, tmp_path, palette)
    monkeypatch.setattr(dataset, "_make_sample", lambda job: pytest.fail("regenerated a finished store"))
    assert generate(seed_folder, tmp_path, palette)["content_hash"] == first["content_hash"]


def test_empty_folder_is_a_clear_error(tmp_path, palette):
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no readable images"):
        generate(tmp_path / "empty", tmp_path, palette)


def test_cube_dataset_gives_tensors(seed_folder, tmp_path, palette):
    generate(seed_folder, tmp_path, palette)
    ds = dataset.CubeDataset(tmp_path / "dataset.h5", "val")
    cube, rgb = ds[0]
    assert cube.shape == (512, 32, 32) and rgb.shape == (3, 32, 32)
    assert 0 <= rgb.min() and rgb.max() <= 1 and cube.sum(0).eq(400).all()


def test_museum_seeds_carry_provenance(tmp_path):
    manifest = seeds.collect("museum", tmp_path, limit=3)
    assert len(manifest["seeds"]) == 3
    rec = manifest["seeds"][0]
    assert rec["title"] and rec["artist"] and rec["medium"] and "CC0" in rec["licence"]
    assert seeds.load_rgb(tmp_path / rec["file"]).shape == (rec["height"], rec["width"], 3)
    assert json.loads((tmp_path / "seeds.json").read_text())["seeds"][0] == rec


def test_shards_make_exactly_the_dataset_one_process_makes(seed_folder, tmp_path, palette):
    config = dataset.GenerateConfig(samples=30, size=32, seed=3)
    single = dataset.generate(seed_folder, tmp_path / "one" / "dataset.h5", palette, config, progress=False)
    for rank in (1, 0, 2):  # any order, as ranks finish
        assert dataset.generate(seed_folder, tmp_path / "three" / "dataset.h5", palette, config,
                                progress=False, shard=(rank, 3)) is None
    merged = dataset.merge(seed_folder, tmp_path / "three" / "dataset.h5", palette, config, world=3)
    assert merged["content_hash"] == single["content_hash"]


def test_merging_with_a_missing_shard_names_it(seed_folder, tmp_path, palette):
    config = dataset.GenerateConfig(samples=10, size=32, seed=3)
    dataset.generate(seed_folder, tmp_path / "dataset.h5", palette, config, progress=False, shard=(0, 2))
    with pytest.raises(FileNotFoundError, match="dataset.shard-1-of-2.h5"):
        dataset.merge(seed_folder, tmp_path / "dataset.h5", palette, config, world=2)


def test_changed_seed_images_are_never_served_from_an_old_store(seed_folder, tmp_path, palette):
    first = generate(seed_folder, tmp_path, palette)
    rgb = seeds.load_rgb(seed_folder / "p00.png")
    Image.fromarray(255 - rgb).save(seed_folder / "p00.png")  # same name, new picture
    assert generate(seed_folder, tmp_path, palette)["content_hash"] != first["content_hash"]


def test_each_split_draws_spectra_from_its_own_random_stream(seed_folder, tmp_path, palette, monkeypatch):
    generate(seed_folder, tmp_path, palette)
    store = dataset.Store(tmp_path / "dataset.h5")
    keys = []
    real = dataset.synth.draw_counts
    monkeypatch.setattr(dataset.synth, "draw_counts", lambda m, t, key, **kw: keys.append(key) or real(m, t, key, **kw))
    for split in dataset.SPLITS:
        dataset.sample_spectra(store, split, 10, seed=0)
    assert len(set(keys)) == 3
