"""The command line's arguments: ``napari-darkvision enhance | calibrate | demo | train | evaluate``
(what each command does is in :mod:`.cli`)."""

from __future__ import annotations

import argparse

from ..batch.execute import WORKERLESS_TIMEOUT_S
from ..core.archs import ARCHITECTURES
from ..core.bundled import DEFAULT_MODEL, SHIPPED_MODELS
from ..core.output import FORMAT_NAMES
from ..core.parameters import DNG_COMPRESSIONS

WEIGHTS_HELP = (
    f"a shipped model ({', '.join(f'{name}: {m.description}' for name, m in SHIPPED_MODELS.items())}; "
    f"default {DEFAULT_MODEL}) or a .safetensors file"
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-darkvision", description="See in the dark: enhance dark camera raws."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_enhance, _add_calibrate, _add_demo, _add_train, _add_evaluate):
        add(sub)
    for command in sub.choices.values():  # after the subcommand, where people type it
        command.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def _add_enhance(sub) -> None:
    p = sub.add_parser("enhance", help="enhance dark raw files into 16-bit PNG or TIFF")
    p.add_argument(
        "input",
        nargs="+",
        help=(
            "camera raw file (ARW, NEF, CR2, DNG, RAF, ORF, RW2, ...); several files, folders, "
            "glob patterns or a .txt list of paths make a batch"
        ),
    )
    p.add_argument(
        "-o",
        "--output",
        help="output .png/.tif (default: <input>_darkvision.png beside it); for a batch, the output folder",
    )
    p.add_argument("--ratio", default="auto", help="exposure amplification, e.g. 100, 250, 300, or 'auto'")
    p.add_argument("--stretch", action="store_true", help="histogram-stretch the result (after the network)")
    p.add_argument(
        "--strength",
        default="1.0",
        help="0 to 1: blend of the network's result with the amplified input (default 1)",
    )
    p.add_argument("--weights", help=WEIGHTS_HELP)
    p.add_argument("--device", help="cpu, cuda, mps (default: the fastest present)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (never the input)")
    p.add_argument(
        "--dng-compression",
        choices=list(DNG_COMPRESSIONS),
        default="ljpeg",
        help="how a .dng output stores the mosaic: lossless JPEG (default, about half the size) or none",
    )
    _add_batch_options(p)
    p.add_argument("--profile", help="camera profile (.npz from `calibrate`) or a folder of them")
    p.add_argument(
        "--burst",
        action="store_true",
        help=(
            "the inputs (files, a folder or a glob) are frames of one scene from one camera, "
            "frame 0 first: align and merge them into one output (default <frame 0>_burst_darkvision.png)"
        ),
    )
    p.add_argument("-q", "--quiet", action="store_true")


def _add_batch_options(p) -> None:
    batch = p.add_argument_group(
        "batch (several inputs, a folder, a glob or a .txt list; exit status 1 if any file failed)"
    )
    batch.add_argument(
        "--format",
        choices=FORMAT_NAMES,
        help="output format when -o is not a file name (default png)",
    )
    batch.add_argument("--recursive", action="store_true", help="also enhance the folders' sub-folders")
    batch.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help=(
            "an existing Dask scheduler (e.g. tcp://10.0.0.5:8786; default: Dask's "
            "scheduler-address setting, else a local cluster), or 'none': this process. A cluster "
            f"with no worker for {WORKERLESS_TIMEOUT_S} s ends the batch, its files reported unfinished "
            "(Dask setting darkvision.workerless-timeout)"
        ),
    )
    batch.add_argument(
        "--workers", type=int, help="local cluster workers (default: sized to cores and memory)"
    )
    batch.add_argument("--threads", type=int, help="torch threads per file (default: cores / files at once)")
    batch.add_argument(
        "--summary",
        metavar="JSON",
        help=(
            "where to write the summary (default OUT_DIR/darkvision-summary.json; CSV beside; never "
            "over an input, another file only with --overwrite); also written after Ctrl-C or SIGTERM"
        ),
    )
    batch.add_argument(
        "--include-outputs",
        action="store_true",
        help="also enhance DNGs that napari-darkvision enhanced (by default they are ignored)",
    )


def _add_calibrate(sub) -> None:
    p = sub.add_parser(
        "calibrate", help="a camera profile from dark frames (lens cap on), for enhance --profile"
    )
    p.add_argument("frames", nargs="+", help="2-16 dark raw frames of one camera, ISO and exposure time")
    p.add_argument("-o", "--output", required=True, help="the profile to write (.npz)")
    p.add_argument("--flats", nargs="*", help="pairs of flat frames (same exposure per pair) for the gain K")
    p.add_argument("--overwrite", action="store_true", help="replace an existing profile")


def _add_demo(sub) -> None:
    p = sub.add_parser("demo", help="the bundled sample in napari (or on the command line without a display)")
    p.add_argument("--output-dir", default="darkvision_output")


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train a model on synthetic pairs from photos, real raws or a SID list")
    p.add_argument("--out", required=True, help="folder for checkpoints, weights and log.csv")
    p.add_argument("--photos", help="folder of clean photos (synthetic pairs)")
    p.add_argument("--raws", nargs="*", help="clean real raw files (long exposures) to darken")
    p.add_argument("--sid-list", help="SID-format list file (e.g. Sony_train_list.txt)")
    p.add_argument("--eld", help="ELD calibration JSON (eld_camera_params.json)")
    p.add_argument("--darktable", help="darktable noiseprofiles JSON for more cameras")
    p.add_argument("--arch", choices=list(ARCHITECTURES), default="fast-aware")
    p.add_argument("--steps", type=int, default=20000)
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--crop", type=int, default=256, help="crop side in sensor pixels")
    p.add_argument("--lr", type=float, default=3e-4)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--threads", type=int)
    p.add_argument("--device")
    p.add_argument("--resume", action="store_true", help="continue from <out>/last.pt")
    p.add_argument(
        "--loss",
        choices=["log-l1+srgb", "log-l1+gamma", "l1+gamma", "l1"],
        default="log-l1+srgb",
        help=(
            "+srgb also weighs errors as they show rendered (each pair's white balance, colour matrix "
            "and gamma), +gamma after a gamma on raw channels; log- averages each image's log loss "
            "(equal weight to dark and bright pairs)"
        ),
    )
    p.add_argument(
        "--init", help="start from these weights (a file or a shipped model's name) with a new schedule"
    )
    p.add_argument("--session-steps", type=int, help="stop after this many steps now; --resume later")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that make the training pairs (on a GPU: about the CPU cores less one)",
    )
    p.add_argument(
        "--ema",
        type=float,
        default=0.0,
        help=(
            "keep an exponential moving average of the weights with this decay (e.g. 0.999) "
            "and validate and save it"
        ),
    )
    p.add_argument(
        "--defects",
        type=float,
        default=0.0,
        metavar="FRACTION",
        help=(
            "fraction of synthetic pairs from a sensor with defects: hot and stuck pixels, "
            "column banding, a 12-bit converter (e.g. 0.5)"
        ),
    )
    p.add_argument("-q", "--quiet", action="store_true")


def _add_evaluate(sub) -> None:
    p = sub.add_parser("evaluate", help="PSNR/SSIM of models vs BM3D and plain scaling")
    p.add_argument("--out", required=True)
    p.add_argument(
        "--model",
        action="append",
        help=f"NAME=WEIGHTS or a shipped model's name ({', '.join(SHIPPED_MODELS)}); repeatable; default: {DEFAULT_MODEL}",
    )
    p.add_argument("--photos", help="photo folder: its fixed validation split is darkened synthetically")
    p.add_argument("--raws", nargs="*", help="well-exposed real raws, darkened synthetically")
    p.add_argument("--sid-list", help="SID-format list of real short/long pairs")
    p.add_argument("--eld", help="ELD calibration JSON")
    p.add_argument("--ratios", type=float, nargs="+", default=[100, 250, 300])
    p.add_argument("--max-items", type=int, help="use at most this many images per set")
    p.add_argument("--no-bm3d", action="store_true", help="skip the (slow) BM3D baseline")
    p.add_argument("--cache", help="folder keeping BM3D results between runs")
    p.add_argument(
        "--held-out",
        action="store_true",
        help=(
            "evaluate on the held-out sets of --photos and --raws instead of validation's: corner crops "
            "that validation never uses, darkened with other cameras' noise (docs/evaluation.md)"
        ),
    )
    p.add_argument(
        "--baselines-from",
        metavar="RESULTS_JSON",
        help=(
            "reuse the BM3D rows of an earlier evaluation for the pairs it shares with this one "
            "(e.g. research/evaluations/eval_v5.json)"
        ),
    )
    p.add_argument(
        "--no-keep-levels",
        action="store_true",
        help="the network's own channel levels, without matching them to the input's",
    )
    p.add_argument("--device")
    p.add_argument("-q", "--quiet", action="store_true")
