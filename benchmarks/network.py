"""Ours against the SID reference U-Net on the same 12 MP file, alternating within one process so
that a busy machine slows both alike; how far bfloat16 is from float32; the sample's quality."""

from __future__ import annotations

import os
import shutil
import tempfile

import numpy as np
from common import (
    HERE,
    NONE,
    RATIO,
    Report,
    median,
    median_text,
    network,
    seconds_text,
    set_threads,
    timed_enhance,
    verdict,
    warm_up,
)

from napari_darkvision.training.metrics import psnr

#: Ours at most this fraction of the SID reference's time.
TARGET_SID_FRACTION = 1 / 8
#: "Negligible" difference of the bfloat16 network from float32: RMS at most 1/1000 of the white
#: level (16 DN of a 14-bit raw; the shipped model's own error is ~30x that) and at most half an
#: 8-bit level on average once rendered.
TARGET_PRECISION_PSNR_DB = 60.0
TARGET_PRECISION_LEVELS = 0.5
#: The timings of one round, in the order they alternate.
TIMED = ("ours_network", "ours_network_float32", "sid_network", "sid_network_auto", "ours_e2e", "sid_e2e")


def compare_outputs(raw, auto: np.ndarray, reference: np.ndarray) -> dict:
    """How far the network output in the "auto" precision is from float32's, as packed raw and
    as rendered sRGB (in 8-bit levels); and, for scale, how far a change of +-1 DN in the raw
    (its own quantisation) moves the float32 result."""
    from napari_darkvision.core.raw import unpack
    from napari_darkvision.core.render import render

    one_dn = reference + np.random.default_rng(0).integers(-1, 2, reference.shape) / (
        raw.white_level - max(raw.black_level)
    )
    shown = render(raw, unpack(reference, raw))
    result = {
        "packed_psnr_db": psnr(auto, reference, 1.0),
        "packed_max_abs": float(np.abs(auto - reference).max()),
    }
    for name, other in (("auto", auto), ("one_dn", one_dn.astype(np.float32))):
        levels = np.abs(render(raw, unpack(other, raw)).astype(np.int32) - shown) / 257.0
        result[f"{name}_rendered_psnr_db"] = psnr(levels, np.zeros(1), 255.0)
        result[f"{name}_rendered_mean_levels"] = float(levels.mean())
        result[f"{name}_rendered_p999_levels"] = float(np.percentile(levels, 99.9))
    result["one_dn_packed_psnr_db"] = psnr(one_dn, reference, 1.0)
    return result


def sample_quality(model) -> dict | None:
    """On the bundled dark sample and its clean long exposure (sample_data/ of a checkout), the
    rendered error of the network's output in float32 and in the "auto" precision: does the
    precision change the quality, next to the model's own error?"""
    from napari_darkvision.core.bundled import SAMPLE
    from napari_darkvision.core.raw import pack, read_raw, unpack
    from napari_darkvision.core.render import render

    clean_path = HERE.parent / "sample_data" / "gopro_clean_reference.dng"
    if not (SAMPLE.is_file() and clean_path.is_file()):
        return None
    dark, clean = read_raw(SAMPLE), read_raw(clean_path)
    reference = render(clean, clean.mosaic).astype(np.int32)
    result = {}
    for precision in ("float32", "auto"):
        image = render(dark, unpack(network(model, pack(dark, ratio=RATIO), precision), dark))
        result[f"{precision}_mean_levels"] = float(np.mean(np.abs(image - reference)) / 257.0)
        result[f"{precision}_psnr_db"] = psnr(image, reference, 65535.0)
    return result


def render_by_demosaic(raw, clean: np.ndarray) -> dict:
    """LibRaw's render of the enhanced mosaic with its default demosaic (AHD) and two cheaper
    ones: seconds, and how far each is from the default (mean 8-bit levels). For information:
    the default render stays AHD."""
    import time

    from napari_darkvision.core.raw import unpack
    from napari_darkvision.core.render import render

    mosaic = unpack(clean, raw)
    result, default = {}, None
    for name in (None, "PPG", "LINEAR"):
        started = time.perf_counter()
        image = render(raw, mosaic, demosaic=name)
        seconds = time.perf_counter() - started
        if default is None:
            default = image
        levels = np.abs(image.astype(np.int32) - default) / 257.0
        result[name or "AHD (default)"] = {
            "seconds": seconds,
            "mean_levels_from_default": float(levels.mean()),
        }
    return result


def alternate(spec: dict, ours, sid, sid_weights: str, packed: np.ndarray) -> tuple[dict, dict]:
    """`spec["rounds"]` rounds of each timing in TIMED; the times and ours' last outputs."""
    import time

    timed: dict[str, list[float]] = {key: [] for key in TIMED}
    outputs = {}

    def timed_network(key, model, precision):
        started = time.perf_counter()
        result = network(model, packed, precision)
        timed[key].append(time.perf_counter() - started)
        return result

    for _ in range(spec["rounds"]):
        outputs["auto"] = timed_network("ours_network", ours, "auto")
        outputs["float32"] = timed_network("ours_network_float32", ours, "float32")
        timed_network("sid_network", sid, "float32")
        timed_network("sid_network_auto", sid, "auto")  # like with like: SID in our precision too
        timed["ours_e2e"].append(timed_enhance(spec["path"])[0])
        timed["sid_e2e"].append(timed_enhance(spec["path"], weights=sid_weights, precision="float32")[0])
    return timed, outputs


def child(spec: dict) -> dict:
    """Ours and SID's (random weights, which time the same) on one file (spec: path, threads, rounds)."""
    set_threads(spec["threads"])
    import torch

    from napari_darkvision.core.model import build_network, save_weights
    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw
    from napari_darkvision.core.tiling import resolve_precision

    folder = tempfile.mkdtemp(prefix="darkvision-bench-")
    try:
        sid_weights = os.path.join(folder, "sid-reference-random.safetensors")
        torch.manual_seed(0)
        save_weights(build_network("sid"), sid_weights)
        ours, sid = cached_model(), cached_model(sid_weights)
        raw = read_raw(spec["path"])
        packed = pack(raw, ratio=RATIO)
        for model in (ours, sid):
            warm_up(model, packed, "auto")
            warm_up(model, packed, "float32")
        timed_enhance(spec["path"])  # first calls: imports, LibRaw
        timed, outputs = alternate(spec, ours, sid, sid_weights, packed)
        result = {key: median(values) for key, values in timed.items()}
        result["runs"] = timed
        result["precision"] = resolve_precision("auto", torch.device("cpu"))
        result["auto_vs_float32"] = compare_outputs(raw, outputs["auto"], outputs["float32"])
        result["render_by_demosaic"] = render_by_demosaic(raw, outputs["auto"])
        result["sample_quality"] = sample_quality(ours)
        result["torch_threads"] = torch.get_num_threads()
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def speed_rows(report: Report, versus: dict) -> None:
    """Ours and SID's times, end to end and network only, and their ratios."""
    threads, runs = versus["torch_threads"], versus["runs"]["sid_e2e"]
    precision = versus["precision"]
    e2e_fraction = versus["ours_e2e"] / versus["sid_e2e"]
    net_fraction = versus["ours_network"] / versus["sid_network"]
    goal = f"≤ 1/{1 / TARGET_SID_FRACTION:.0f}"
    met_e2e = report.target(
        "12mp end to end, fraction of SID reference", e2e_fraction, TARGET_SID_FRACTION, "×"
    )
    met_net = report.target(
        "12mp network only, fraction of SID reference (float32)", net_fraction, TARGET_SID_FRACTION, "×"
    )
    report.row(
        "12 MP end to end, SID reference U-Net (float32)", threads, median_text(versus["sid_e2e"], runs)
    )
    report.row(
        "12 MP end to end, ours (same process, alternating)", threads, median_text(versus["ours_e2e"], runs)
    )
    report.row(
        "12 MP end to end, ours ÷ SID reference",
        threads,
        f"{e2e_fraction:.3f} (1/{1 / e2e_fraction:.0f})",
        NONE,
        goal,
        verdict(met_e2e),
    )
    report.row(
        "12 MP network only, SID reference U-Net (float32)", threads, median_text(versus["sid_network"], runs)
    )
    report.row(f"12 MP network only, ours ({precision})", threads, median_text(versus["ours_network"], runs))
    if precision != "float32":  # without native bfloat16 the row before already ran in float32
        report.row(
            "12 MP network only, ours (float32)", threads, median_text(versus["ours_network_float32"], runs)
        )
    report.row(
        "12 MP network only, ours ÷ SID reference (float32)",
        threads,
        f"{net_fraction:.3f} (1/{1 / net_fraction:.1f})",
        NONE,
        goal,
        verdict(met_net),
    )
    if "sid_network_auto" in versus and precision != "float32":
        same_fraction = versus["ours_network"] / versus["sid_network_auto"]
        report.row(
            f"12 MP network only, SID reference U-Net ({precision}, as ours runs)",
            threads,
            median_text(versus["sid_network_auto"], runs),
        )
        report.row(
            f"12 MP network only, ours ÷ SID reference, both {precision}",
            threads,
            f"{same_fraction:.3f} (1/{1 / same_fraction:.1f})",
        )


def precision_row(report: Report, versus: dict) -> None:
    """How far the "auto" precision's output is from float32's (where it is not float32 itself)."""
    precision = versus["precision"]
    if precision == "float32":
        return
    check = versus["auto_vs_float32"]
    close = check["packed_psnr_db"] >= TARGET_PRECISION_PSNR_DB
    met = close and report.target(
        f"{precision} vs float32, rendered mean 8-bit levels",
        check["auto_rendered_mean_levels"],
        TARGET_PRECISION_LEVELS,
        "levels",
    )
    report.row(
        f"12 MP output, {precision} vs float32 (for scale: ±1 DN of raw noise)",
        versus["torch_threads"],
        f"raw PSNR {check['packed_psnr_db']:.0f} dB ({check['one_dn_packed_psnr_db']:.0f}); "
        f"sRGB mean {check['auto_rendered_mean_levels']:.2f} ({check['one_dn_rendered_mean_levels']:.2f}), "
        f"99.9% {check['auto_rendered_p999_levels']:.1f} ({check['one_dn_rendered_p999_levels']:.1f}) 8-bit levels",
        NONE,
        f"raw PSNR ≥ {TARGET_PRECISION_PSNR_DB:g} dB, sRGB mean ≤ {TARGET_PRECISION_LEVELS:g}",
        verdict(met),
    )


def quality_row(report: Report, versus: dict) -> None:
    """The bundled sample against its clean reference, in both precisions where they differ."""
    quality = versus.get("sample_quality")
    if not quality:
        return
    same = versus["precision"] == "float32"  # without native bfloat16 "auto" is float32 itself

    def both(key: str) -> str:
        return f"{quality['float32_' + key]:.2f}" + ("" if same else f" / {quality['auto_' + key]:.2f}")

    label = "float32" if same else f"float32 / {versus['precision']}"
    report.row(
        f"Bundled GoPro sample vs its clean reference, {label} network",
        versus["torch_threads"],
        f"sRGB PSNR {both('psnr_db')} dB, mean error {both('mean_levels')} 8-bit levels",
    )


def demosaic_row(report: Report, versus: dict) -> None:
    """LibRaw's render time by demosaic, for information."""
    renders = versus.get("render_by_demosaic")
    if not renders:
        return
    text = ", ".join(
        f"{name} {seconds_text(r['seconds'])}"
        + (f" (Δ {r['mean_levels_from_default']:.1f} levels)" if r["mean_levels_from_default"] else "")
        for name, r in renders.items()
    )
    report.row(
        "12 MP LibRaw render by demosaic (information; the default stays AHD)", versus["torch_threads"], text
    )


def rows(report: Report, results: dict) -> None:
    """The rows of the "versus" case, if it ran."""
    versus = results.get("versus", {})
    if not versus or "error" in versus:
        return
    speed_rows(report, versus)
    precision_row(report, versus)
    quality_row(report, versus)
    demosaic_row(report, versus)
