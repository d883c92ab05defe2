"""Training, resuming, SID-format lists and evaluation."""

import functools

import numpy as np
import pytest
import torch
from PIL import Image

from helpers import synthetic_raw
from napari_darkvision.core.dng import write_dng
from napari_darkvision.core.model import load_model
from napari_darkvision.training.datasets import exposure_from_name, read_sid_list, split_photos
from napari_darkvision.training.evaluate import FLOOR_ROWS, EvalOptions, bm3d_denoise, evaluate
from napari_darkvision.training.train import TrainOptions, train


def _options(out, photos, steps):
    return TrainOptions(
        out=str(out),
        photos=str(photos),
        steps=steps,
        batch=2,
        crop=64,
        lr=1e-3,
        val_every=steps,
        checkpoint_every=2,
        val_items=3,
        seed=3,
        threads=1,
    )


def test_a_few_steps_lower_the_loss_and_write_weights_and_log(tmp_path, photo_dir):
    summary = train(_options(tmp_path, photo_dir, 30), progress=False)
    assert summary["steps"] == 30
    rows = list(csv_rows(tmp_path / "log.csv"))
    losses = [float(r["loss"]) for r in rows]
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert rows[-1]["val_psnr_raw"] != ""
    model = load_model(tmp_path / "best.safetensors", device="cpu")
    assert model.config.name == "darkvision-fast-aware"


def csv_rows(path):
    import csv

    with open(path) as f:
        yield from csv.DictReader(f)


def test_resume_continues_exactly(tmp_path, photo_dir):
    straight, split = tmp_path / "straight", tmp_path / "split"
    train(_options(straight, photo_dir, 8), progress=False)
    interrupted = _options(split, photo_dir, 8)
    interrupted.session_steps = 3  # as if the session ended after step 3
    train(interrupted, progress=False)
    assert torch.load(split / "last.pt", weights_only=False)["step"] == 3
    train(_options(split, photo_dir, 8), resume=True, progress=False)
    a = torch.load(straight / "last.pt", weights_only=False)["model"]
    b = torch.load(split / "last.pt", weights_only=False)["model"]
    assert all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)


def test_pairs_made_in_worker_processes_train_exactly_as_in_process(tmp_path, photo_dir):
    """--workers changes where pairs are made, not which: the weights come out the same."""
    from napari_darkvision.training.train import batches, build_sources

    opts = _options(tmp_path / "parallel", photo_dir, 5)
    opts.workers = 2
    source, _ = build_sources(opts)
    made_by_workers = list(batches(source, opts, 2, 5))
    opts.workers = 0
    made_here = list(batches(source, opts, 2, 5))
    assert len(made_by_workers) == len(made_here) == 3
    for a, b in zip(made_by_workers, made_here, strict=True):
        assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(made_here[0][0], made_here[1][0])  # each step its own batch

    opts.workers = 2
    train(opts, progress=False)
    train(_options(tmp_path / "serial", photo_dir, 5), progress=False)
    a = torch.load(tmp_path / "parallel" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "serial" / "last.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_init_starts_from_given_weights(tmp_path, photo_dir):
    train(_options(tmp_path / "a", photo_dir, 4), progress=False)
    opts = _options(tmp_path / "b", photo_dir, 1)
    opts.init, opts.lr = str(tmp_path / "a" / "final.safetensors"), 1e-12
    train(opts, progress=False)
    a = load_model(tmp_path / "a" / "final.safetensors", device="cpu").state_dict()
    b = load_model(tmp_path / "b" / "final.safetensors", device="cpu").state_dict()
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)


def test_init_takes_a_shipped_model_by_name(tmp_path, photo_dir):
    from safetensors.torch import load_file

    from napari_darkvision.core.bundled import SHIPPED_MODELS

    opts = _options(tmp_path / "r", photo_dir, 1)
    opts.arch, opts.init, opts.lr = "fast-rep", "fast-rep", 1e-12
    train(opts, progress=False)
    shipped, trained = (
        load_file(SHIPPED_MODELS["fast-rep"].path),
        load_file(tmp_path / "r" / "final.safetensors"),
    )
    assert trained.keys() == shipped.keys()
    assert all(torch.allclose(shipped[k], trained[k], atol=1e-5) for k in shipped)


def test_photo_split_is_fixed_and_disjoint(photo_dir):
    from napari_darkvision.training.datasets import list_photos

    train_a, val_a = split_photos(list_photos(photo_dir))
    train_b, val_b = split_photos(list_photos(photo_dir))
    assert train_a == train_b and val_a == val_b and val_a and not set(train_a) & set(val_a)


def test_sid_list_pairs_read_with_capped_ratio(tmp_path):
    (tmp_path / "Sony" / "short").mkdir(parents=True)
    (tmp_path / "Sony" / "long").mkdir(parents=True)
    clean = synthetic_raw("RGGB", shape=(128, 128))
    write_dng(tmp_path / "Sony" / "long" / "00001_00_10s.dng", clean)
    write_dng(tmp_path / "Sony" / "short" / "00001_00_0.1s.dng", clean)
    write_dng(tmp_path / "Sony" / "short" / "00001_01_0.033s.dng", clean)
    lst = tmp_path / "Sony_test_list.txt"
    lst.write_text(
        "./Sony/short/00001_00_0.1s.dng ./Sony/long/00001_00_10s.dng ISO200 F8\n"
        "./Sony/short/00001_01_0.033s.dng ./Sony/long/00001_00_10s.dng ISO200 F8\n"
    )
    pairs = read_sid_list(lst)
    assert [round(r, 3) for _, _, r in pairs] == [100.0, 300.0]  # 10/0.033 = 303 is capped at 300
    assert exposure_from_name("a/00001_00_0.04s.ARW") == 0.04
    out = tmp_path / "eval"
    result = evaluate(EvalOptions(out=str(out), sid_list=str(lst), bm3d=False), progress=False)
    methods = {r["method"] for r in result["rows"]}
    assert methods == {"plain scaling", "ours", *FLOOR_ROWS}
    assert (out / "results.md").is_file()


def test_evaluation_reuses_bm3d_rows_only_for_the_same_pairs(tmp_path, photo_dir, monkeypatch):
    import json

    import napari_darkvision.training.evaluate as evaluation

    def options(out, **changes):
        fields = dict(
            out=str(tmp_path / out),
            photos=str(photo_dir),
            ratios=(100,),
            photo_crop=64,
            grid_items=0,
            floors=False,
        )
        return EvalOptions(**{**fields, **changes})

    first = evaluate(options("first"), progress=False)
    bm3d_rows = [r for r in first["rows"] if r["method"] == "BM3D"]
    assert bm3d_rows and first["bm3d_rows_reused"] == 0
    earlier = str(tmp_path / "first" / "results.json")

    calls = []
    monkeypatch.setattr(evaluation, "bm3d_denoise", lambda *a: calls.append(a) or np.clip(a[0], 0, 1))
    again = evaluate(options("again", baselines_from=earlier), progress=False)
    assert not calls and again["bm3d_rows_reused"] == len(bm3d_rows)
    reused = [r for r in again["rows"] if r["method"] == "BM3D"]
    assert [r["psnr_srgb"] for r in reused] == [r["psnr_srgb"] for r in bm3d_rows]

    other = evaluate(options("other", photo_crop=48, baselines_from=earlier), progress=False)
    assert other["bm3d_rows_reused"] == 0 and len(calls) == len(bm3d_rows)  # other pairs: BM3D runs
    assert json.loads((tmp_path / "other" / "results.json").read_text())["bm3d_rows_reused"] == 0


def test_bm3d_with_the_true_noise_level_denoises():
    from napari_darkvision.training.synth import NoiseModel

    rng = np.random.default_rng(0)
    eld = str(__import__("importlib.resources").resources.files("napari_darkvision.training") / "data")
    model = NoiseModel.from_files(eld + "/eld_camera_params.json")
    yy, xx = np.mgrid[0:64, 0:64] / 64
    clean = np.stack([0.2 + 0.1 * np.sin(6 * xx)] * 4).astype(np.float32)
    noise = model.eld_params("SonyA7S2", rng, K=1.0)
    from napari_darkvision.training.synth import amplify, short_exposure

    noisy = amplify(short_exposure(clean, 100, noise, rng), 100)
    den = bm3d_denoise(noisy, 100, noise)
    assert np.abs(den - clean).mean() < 0.5 * np.abs(noisy - clean).mean()
    assert abs(den.mean() / clean.mean() - 1) < 0.05  # the unbiased inverse keeps the level


@functools.lru_cache(maxsize=1)
def _fixed_pair():
    """The bundled sample at x100, the shipped model's output and the clean reference."""
    from helpers import CLEAN_REFERENCE, SAMPLE
    from napari_darkvision.core.pipeline import run_to_end
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.core.tiling import run_tiled

    dark, clean = read_raw(SAMPLE), read_raw(CLEAN_REFERENCE)
    noisy = pack(dark, ratio=100)
    reference = np.clip(pack(clean), 0, 1)
    ours = run_to_end(run_tiled(load_model(device="cpu"), noisy))
    return noisy, ours, reference


def test_shipped_model_beats_plain_scaling_and_keeps_colour_on_a_fixed_pair():
    """Fails for untrained weights: they do not denoise, and shift levels."""
    from napari_darkvision.training.metrics import channel_mean_error, psnr

    noisy, ours, reference = _fixed_pair()
    assert psnr(ours, reference) > psnr(np.clip(noisy, 0, 1), reference) + 4.0
    assert max(abs(e) for e in channel_mean_error(ours, reference)) < 0.025  # no colour cast


def test_shipped_model_keeps_the_level_of_the_darkest_pixels_on_a_fixed_pair():
    from napari_darkvision.training.metrics import shadow_mean_error

    _, ours, reference = _fixed_pair()
    assert abs(shadow_mean_error(ours, reference)) < 0.10  # darkest 5 %: level kept


def test_training_crops_favour_detail(tmp_path):
    """Half a photo is flat, half is fine texture: more than half the crops hold texture."""
    from napari_darkvision.training.datasets import PhotoPairs, _detail
    from napari_darkvision.training.synth import NoiseModel

    rng = np.random.default_rng(0)
    rgb = np.full((256, 1024, 3), 120, np.uint8)
    rgb[:, :512] = rng.integers(0, 255, (256, 512, 1), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "half.png")
    eld = str(__import__("importlib.resources").resources.files("napari_darkvision.training") / "data")
    source = PhotoPairs(
        [tmp_path / "half.png"], NoiseModel.from_files(eld + "/eld_camera_params.json"), crop=128
    )
    crops = [source._crop(source.images[0], rng) for _ in range(200)]
    textured = np.mean([_detail(c) > 1.0 for c in crops])
    assert textured > 0.7  # uniform crops: 512 of 897 positions, 0.57
    again = PhotoPairs([tmp_path / "half.png"], source.noise_model, crop=128)
    a, b = source.sample(np.random.default_rng(5)), again.sample(np.random.default_rng(5))
    assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.clean, b.clean)


@pytest.mark.parametrize(("gain", "margin_db"), [(0.1, -2.0), (3.0, 1.0)])
def test_shipped_model_keeps_texture_that_stands_out_of_the_noise(gain, margin_db):
    """Fine texture (2x2-pixel cells of random brightness): where the noise is low the model
    keeps it (every model before the detail gate blurred it to 23 dB, even from clean input:
    16 dB below the input); where the noise is high it still denoises. At K = 0.1 v4 gave
    -0.8 dB and v5 -1.6 dB: its sRGB-weighted loss traded that for +0.3 dB at K = 3 and
    +0.1-0.2 dB sRGB on every evaluation row (MODEL_CARD.md)."""
    from napari_darkvision.core.pipeline import run_to_end
    from napari_darkvision.core.tiling import run_tiled
    from napari_darkvision.training.metrics import psnr
    from napari_darkvision.training.synth import CameraLook, NoiseModel, amplify, short_exposure, unprocess

    rng = np.random.default_rng(7)
    cells = rng.uniform(0.15, 0.85, size=(64, 64, 1))
    rgb = np.kron(cells, np.ones((4, 4, 1))) * np.array([1.0, 0.85, 0.7])
    rgb[::10, :] *= 0.3
    clean = unprocess(rgb.astype(np.float32), CameraLook(np.array([2.0, 1.0, 1.6, 1.0]), np.eye(3)))
    eld = str(__import__("importlib.resources").resources.files("napari_darkvision.training") / "data")
    noise = NoiseModel.from_files(eld + "/eld_camera_params.json").eld_params("SonyA7S2", rng, K=gain)
    noisy = amplify(short_exposure(clean, 100.0, noise, rng), 100.0)
    ours = run_to_end(run_tiled(load_model(device="cpu"), noisy))
    assert psnr(ours, clean) > psnr(np.clip(noisy, 0, 1), clean) + margin_db


def test_srgb_loss_renders_each_pair_as_the_evaluation_does():
    """The loss's display term is quick_render's image, so a red error weighs with red's gain."""
    from napari_darkvision.core.render import quick_render
    from napari_darkvision.training.synth import CameraLook, random_look
    from napari_darkvision.training.train import _loss, _render

    rng = np.random.default_rng(3)
    look = random_look(rng)
    packed = rng.uniform(0.0, 0.4, (4, 24, 24)).astype(np.float32)
    rendered = _render(torch.from_numpy(packed)[None], torch.from_numpy(look.packed_to_rgb())[None])
    expected = quick_render(packed, look.wb, look.rgb_from_camera)
    np.testing.assert_allclose(rendered[0].permute(1, 2, 0).numpy(), expected, atol=1e-5)

    target = torch.full((1, 4, 16, 16), 0.05)
    off_in_red = target.clone()
    off_in_red[:, 0] += 0.01
    looks = [CameraLook(np.array([red, 1.0, 1.5, 1.0]), np.eye(3)).packed_to_rgb() for red in (1.0, 2.5)]
    costs = [_loss(off_in_red, target, "log-l1+srgb", torch.from_numpy(m)[None]) for m in looks]
    assert costs[1] > costs[0]


def test_training_pairs_with_sensor_defects_are_deterministic_and_off_by_default(tmp_path, monkeypatch):
    """--defects F: about F of the pairs come from a sensor with defects, the same ones for the
    same seed; at 0 the pairs are those of before (no random draw added)."""
    from napari_darkvision.training import defects, synth
    from napari_darkvision.training.datasets import PhotoPairs
    from napari_darkvision.training.noise_model import NoiseModel

    rgb = np.random.default_rng(0).integers(0, 255, (192, 192, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "photo.png")
    eld = str(__import__("importlib.resources").resources.files("napari_darkvision.training") / "data")
    noise_model = NoiseModel.from_files(eld + "/eld_camera_params.json")

    def source(fraction=None):
        extra = {} if fraction is None else {"defects": fraction}
        return PhotoPairs([tmp_path / "photo.png"], noise_model, crop=128, **extra)

    plain, every = source(), source(1.0)
    for seed in range(3):
        a, b = plain.sample(np.random.default_rng(seed)), source(0.0).sample(np.random.default_rng(seed))
        assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.clean, b.clean)
        a, b = every.sample(np.random.default_rng(seed)), every.sample(np.random.default_rng(seed))
        assert np.array_equal(a.noisy, b.noisy) and np.array_equal(a.clean, b.clean)
    sensors = []
    real_add_defects = defects.add_defects
    monkeypatch.setattr(
        synth, "add_defects", lambda short, *args: sensors.append(args[1]) or real_add_defects(short, *args)
    )
    for fraction, low, high in [(0.0, 0, 0), (0.5, 20, 44), (1.0, 64, 64)]:
        sensors.clear()
        pairs = source(fraction)
        for seed in range(64):
            pairs.sample(np.random.default_rng(seed))
        assert low <= len(sensors) <= high
        assert all(isinstance(s, defects.SensorDefects) for s in sensors)
    with pytest.raises(ValueError, match="fraction"):
        source(1.5)


def test_the_held_out_sets_are_other_crops_and_other_cameras_the_same_every_time(tmp_path, photo_dir):
    """Held-out photos: corner crops that the validation's centre crops never touch, ELD cameras
    other than the Sony, every ratio meeting every camera; the same pairs on every call; and
    evaluate --held-out scores them with the two sets pooled."""
    from PIL import Image

    from napari_darkvision.training.datasets import (
        HELD_OUT_CAMERAS,
        held_out_photos,
        load_photo,
        photo_validation,
    )
    from napari_darkvision.training.synth import NoiseModel, unprocess
    from napari_darkvision.training.train import default_noise_file

    rng = np.random.default_rng(2)
    paths = []
    for i in range(4):  # 400 x 300 with noise: every crop differs from every other
        paths.append(tmp_path / f"{i}.png")
        Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(paths[-1])
    noise = NoiseModel.from_files(default_noise_file("eld_camera_params.json"))
    held = held_out_photos(paths, noise, crop=96)
    again = held_out_photos(paths, noise, crop=96)
    validation = photo_validation(paths, noise, crop=96)
    assert len(held) == 12 and [h.name for h in held] == [a.name for a in again]
    assert all(np.array_equal(h.pair.noisy, a.pair.noisy) for h, a in zip(held, again, strict=True))
    assert {h.pair.noise.camera for h in held} == set(HELD_OUT_CAMERAS)
    assert {v.pair.noise.camera for v in validation} == {"SonyA7S2"}
    for k in range(3):  # each ratio meets each camera over the four photos
        assert {held[3 * i + k].pair.noise.camera for i in range(4)} == set(HELD_OUT_CAMERAS)
    # where the crops lie: find each held-out crop's clean pixels in its photo, not at the centre
    image = load_photo(paths[0])
    top_left = unprocess(image[64:160, 64:160].astype(np.float32) / 255, held[0].pair.look)
    np.testing.assert_allclose(held[0].pair.clean, top_left, atol=1e-6)
    centre = unprocess(image[102:198, 152:248].astype(np.float32) / 255, held[0].pair.look)
    assert not np.allclose(held[0].pair.clean, centre, atol=1e-2)

    result = evaluate(
        EvalOptions(
            out=str(tmp_path / "out"),
            photos=str(photo_dir),
            held_out=True,
            bm3d=False,
            photo_crop=64,
            ratios=(100,),
            floors=False,
            grid_items=0,
        ),
        progress=False,
    )
    assert {row["set"] for row in result["rows"]} == {"held-out photos"}
