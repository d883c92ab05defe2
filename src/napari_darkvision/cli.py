"""Command line: ``napari-darkvision enhance | demo | train | evaluate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.architectures import ARCHITECTURES


def _enhance(args) -> int:
    """One input to one output; several inputs, a folder, a glob or a list file go to :mod:`.batch`."""
    inputs = list(args.input)
    if len(inputs) > 1 or any(_is_many(i) for i in inputs):
        from .batch import run_from_cli

        return run_from_cli(args)
    return _enhance_one(args, Path(inputs[0]))


def _is_many(text: str) -> bool:
    """A folder, a glob pattern or a text file listing paths, rather than a single raw."""
    path = Path(text)
    return (
        path.is_dir()
        or (not path.exists() and any(c in text for c in "*?["))
        or path.suffix.lower() == ".txt"
    )


def default_output(source: Path, suffix: str = ".png") -> Path:
    """The single-file naming rule: ``<input stem>_darkvision<suffix>`` beside the input."""
    return source.with_name(f"{source.stem}_darkvision{suffix}")


def _enhance_one(args, source: Path) -> int:
    from .core.output import check_output
    from .core.parameters import check_device, check_flag, check_strength
    from .core.pipeline import validate_ratio

    # everything a person can get wrong is checked here, before torch is imported (seconds)
    if not source.is_file():
        raise _missing(source)
    suffix = f".{args.format}" if getattr(args, "format", None) else ".png"
    out = Path(args.output) if args.output else default_output(source, suffix)
    check_output(out, sources=[source], overwrite=args.overwrite)
    validate_ratio(args.ratio)
    check_flag(args.stretch, "stretch")
    strength = check_strength(getattr(args, "strength", 1.0))
    check_device(args.device)
    profile = getattr(args, "profile", None)
    if profile:
        from .core.calibration import check_profile_source

        check_profile_source(profile)
    if args.weights and not Path(args.weights).is_file():
        from .core.errors import MissingWeightsError

        raise MissingWeightsError(f"No model weights at {args.weights}.")

    from tqdm import tqdm

    from .core.export import save_result
    from .core.pipeline import enhance_steps, run_to_end

    bar = tqdm(total=100, desc=source.name, unit="%", disable=args.quiet, leave=False)

    def show(event) -> None:
        label = {"network": "denoising", "render": "rendering"}.get(event.stage, event.stage)
        bar.set_description(f"{source.name}: {label}")
        done = (
            5 + 85 * event.fraction
            if event.stage == "network"
            else {"read": 5, "render": 90}.get(event.stage, 100)
        )
        bar.update(done - bar.n)

    steps = enhance_steps(
        source,
        ratio=args.ratio,
        stretch=args.stretch,
        weights=args.weights,
        device=args.device,
        strength=strength,
        profile=profile,
    )
    try:
        result = run_to_end(steps, show)
        save_result(out, result, overwrite=args.overwrite, sources=[source])
    finally:
        bar.close()
    meta = result.metadata
    print(f"{out}  (ratio x{meta['ratio']:g} {meta['ratio_mode']}, {meta['model']}, {meta['device']}, "
          f"{meta['seconds']:.1f} s)")  # fmt: skip
    return 0


def _calibrate(args) -> int:
    from .core.calibration import calibrate
    from .core.output import check_output

    frames = [Path(f) for f in args.frames]
    for frame in frames + [Path(f) for f in args.flats or []]:
        if not frame.is_file():
            raise _missing(frame)
    check_output(args.output, sources=frames, overwrite=args.overwrite, formats=[".npz"])
    profile = calibrate(frames, flats=args.flats or None)
    written = profile.save(args.output, overwrite=args.overwrite)
    print(profile.summary())
    print(f"profile written to {written}")
    return 0


def _missing(source: Path):
    from .core.errors import MissingInputError

    what = "is a folder, not a raw file" if source.is_dir() else "does not exist"
    return MissingInputError(f"{source} {what}.")


def _demo(args) -> int:
    """napari with the sample and the widget where there is a display; the CLI otherwise."""
    from ._display import has_display
    from .core.bundled import SAMPLE as sample

    if has_display():
        try:
            import napari
        except ImportError:
            print("napari is not installed: pip install 'napari[pyqt6]'; running the command line instead")
        else:
            viewer = napari.Viewer(title="napari-darkvision demo")
            viewer.open(str(sample), plugin="napari-darkvision")
            viewer.window.add_plugin_dock_widget("napari-darkvision", "Enhance")
            napari.run()
            return 0
    out = Path(args.output_dir) / "gopro_dark_x100_darkvision.png"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        from .core.errors import OutputError

        raise OutputError(
            f"Cannot make the output folder {args.output_dir!r}: {err.strerror or err}."
        ) from None
    print(f"No display: enhancing the bundled sample {sample.name} (x100) on the command line.")
    ns = argparse.Namespace(input=[str(sample)], output=str(out), ratio="100", stretch=False, weights=None,
                            device=None, overwrite=True, quiet=False)  # fmt: skip
    code = _enhance_one(ns, Path(str(sample)))
    if code == 0:
        print(f"Output written to {out.resolve()}")
    return code


def _train(args) -> int:
    from .training.train import TrainOptions, train

    opts = TrainOptions(out=args.out, photos=args.photos, raws=args.raws or [], sid_list=args.sid_list,
                        eld=args.eld, darktable=args.darktable, arch=args.arch, steps=args.steps,
                        batch=args.batch, crop=args.crop, lr=args.lr, seed=args.seed, device=args.device,
                        val_every=args.val_every, threads=args.threads,
                        session_steps=args.session_steps, init=args.init, loss=args.loss,
                        workers=args.workers, ema=args.ema, defects=args.defects)  # fmt: skip
    summary = train(opts, resume=args.resume, progress=not args.quiet)
    print(f"trained {summary['steps']} steps in {summary['elapsed_s']:.0f} s on {summary['device']}; "
          f"best validation PSNR (raw) {summary['best_val_psnr_raw']:.2f} dB; weights in {args.out}")  # fmt: skip
    return 0


def _evaluate(args) -> int:
    from .training.evaluate import EvalOptions, evaluate

    models = dict(m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in (args.model or []))
    if not models:
        models = {"ours": None}
    opts = EvalOptions(out=args.out, models=models, photos=args.photos, raws=args.raws or [],
                       sid_list=args.sid_list, eld=args.eld, ratios=tuple(args.ratios), bm3d=not args.no_bm3d,
                       max_items=args.max_items, device=args.device, cache=args.cache,
                       keep_levels=not args.no_keep_levels, baselines_from=args.baselines_from)  # fmt: skip
    evaluate(opts, progress=not args.quiet)
    print(f"results in {args.out} (results.json, results.md, grid PNGs)")
    return 0


def _fail(message: str) -> int:
    print(f"napari-darkvision: error: {message}", file=sys.stderr)
    return 2


#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="napari-darkvision", description="See in the dark: enhance dark camera raws."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("enhance", help="enhance dark raw files into 16-bit PNG or TIFF")
    p.add_argument("input", nargs="+",
                   help="camera raw file (ARW, NEF, CR2, DNG, RAF, ORF, RW2, ...); several files, folders, "
                        "glob patterns or a .txt list of paths make a batch")  # fmt: skip
    p.add_argument("-o", "--output",
                   help="output .png/.tif (default: <input>_darkvision.png beside it); for a batch, the "
                        "output folder")  # fmt: skip
    p.add_argument("--ratio", default="auto", help="exposure amplification, e.g. 100, 250, 300, or 'auto'")
    p.add_argument("--stretch", action="store_true", help="histogram-stretch the result (after the network)")
    p.add_argument("--strength", default="1.0",
                   help="0 to 1: blend of the network's result with the amplified input (default 1)")  # fmt: skip
    p.add_argument("--weights", help="other model weights (.safetensors)")
    p.add_argument("--device", help="cpu, cuda, mps (default: the fastest present)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing output (never the input)")
    batch = p.add_argument_group("batch (several inputs, a folder, a glob or a .txt list; exit status 1 if "
                                 "any file failed)")  # fmt: skip
    batch.add_argument("--format", choices=["png", "tif", "dng"],
                       help="output format when -o is not a file name (default png)")  # fmt: skip
    batch.add_argument("--recursive", action="store_true", help="also enhance the folders' sub-folders")
    batch.add_argument("--scheduler", metavar="ADDRESS",
                       help="an existing Dask scheduler (e.g. tcp://10.0.0.5:8786; default: Dask's "
                            "scheduler-address setting, else a local cluster), or 'none': this process")  # fmt: skip
    batch.add_argument(
        "--workers", type=int, help="local cluster workers (default: sized to cores and memory)"
    )
    batch.add_argument("--threads", type=int, help="torch threads per file (default: cores / files at once)")
    batch.add_argument("--summary", metavar="JSON",
                       help="where to write the summary (default OUT_DIR/darkvision-summary.json; CSV beside)")  # fmt: skip
    p.add_argument("--profile", help="camera profile (.npz from `calibrate`) or a folder of them")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_enhance)

    p = sub.add_parser(
        "calibrate", help="a camera profile from dark frames (lens cap on), for enhance --profile"
    )
    p.add_argument("frames", nargs="+", help="2-16 dark raw frames of one camera, ISO and exposure time")
    p.add_argument("-o", "--output", required=True, help="the profile to write (.npz)")
    p.add_argument("--flats", nargs="*", help="pairs of flat frames (same exposure per pair) for the gain K")
    p.add_argument("--overwrite", action="store_true", help="replace an existing profile")
    p.set_defaults(func=_calibrate)

    p = sub.add_parser("demo", help="the bundled sample in napari (or on the command line without a display)")
    p.add_argument("--output-dir", default="darkvision_output")
    p.set_defaults(func=_demo)

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
    p.add_argument("--loss", choices=["log-l1+srgb", "log-l1+gamma", "l1+gamma", "l1"], default="log-l1+srgb",
                   help="+srgb also weighs errors as they show rendered (each pair's white balance, "
                        "colour matrix and gamma), +gamma after a gamma on raw channels; log- "
                        "averages each image's log loss (equal weight to dark and bright pairs)")  # fmt: skip
    p.add_argument("--init", help="start from these weights (e.g. the shipped model) with a new schedule")
    p.add_argument("--session-steps", type=int, help="stop after this many steps now; --resume later")
    p.add_argument(
        "--workers",
        type=int,
        default=0,
        help="processes that make the training pairs (on a GPU: about the CPU cores less one)",
    )
    p.add_argument("--ema", type=float, default=0.0,
                   help="keep an exponential moving average of the weights with this decay (e.g. 0.999) "
                        "and validate and save it")  # fmt: skip
    p.add_argument("--defects", type=float, default=0.0, metavar="FRACTION",
                   help="fraction of synthetic pairs from a sensor with defects: hot and stuck pixels, "
                        "column banding, a 12-bit converter (e.g. 0.5)")  # fmt: skip
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_train)

    p = sub.add_parser("evaluate", help="PSNR/SSIM of models vs BM3D and plain scaling")
    p.add_argument("--out", required=True)
    p.add_argument("--model", action="append", help="NAME=weights.safetensors (repeatable; default: shipped)")
    p.add_argument("--photos", help="photo folder: its fixed validation split is darkened synthetically")
    p.add_argument("--raws", nargs="*", help="well-exposed real raws, darkened synthetically")
    p.add_argument("--sid-list", help="SID-format list of real short/long pairs")
    p.add_argument("--eld", help="ELD calibration JSON")
    p.add_argument("--ratios", type=float, nargs="+", default=[100, 250, 300])
    p.add_argument("--max-items", type=int, help="use at most this many images per set")
    p.add_argument("--no-bm3d", action="store_true", help="skip the (slow) BM3D baseline")
    p.add_argument("--cache", help="folder keeping BM3D results between runs")
    p.add_argument("--baselines-from", metavar="RESULTS_JSON",
                   help="reuse the BM3D rows of an earlier evaluation for the pairs it shares with this one "
                        "(e.g. docs/training/eval_v5.json)")  # fmt: skip
    p.add_argument("--no-keep-levels", action="store_true",
                   help="the network's own channel levels, without matching them to the input's")  # fmt: skip
    p.add_argument("--device")
    p.add_argument("-q", "--quiet", action="store_true")
    p.set_defaults(func=_evaluate)
    for command in sub.choices.values():  # after the subcommand, where people type it
        command.add_argument("--debug", action="store_true", help="show the full traceback of an error")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from .core.errors import DarkvisionError

    try:
        return args.func(args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("napari-darkvision: interrupted; no partial output was left.", file=sys.stderr)
        return INTERRUPTED
    except DarkvisionError as err:
        if args.debug:
            raise
        return _fail(str(err))


if __name__ == "__main__":
    sys.exit(main())
