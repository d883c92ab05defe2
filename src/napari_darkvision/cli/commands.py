"""Command line: what ``napari-darkvision enhance | calibrate | demo | train | evaluate`` do (their
arguments are in :mod:`.parser`)."""

from __future__ import annotations

import sys
from pathlib import Path

from ..core.output import default_output
from .parser import build_parser


def _enhance(args) -> int:
    """One input to one output; several inputs, a folder, a glob or a list file go to :mod:`.batch`."""
    inputs = list(args.input)
    if args.burst:
        return _enhance_burst(args)
    if len(inputs) > 1 or any(_is_many(i) for i in inputs):
        from ..batch import run_from_cli

        settings, output = settings_from_args(args)
        return run_from_cli(args, settings, output)
    return _enhance_one(args, Path(inputs[0]))


def settings_from_args(args):
    """The enhancement's and the outputs' settings from the parsed arguments, checked once (before
    torch is imported): an EnhanceSettings and an OutputSettings."""
    from ..core.settings import EnhanceSettings, OutputSettings

    enhance = EnhanceSettings(
        ratio=args.ratio,
        strength=args.strength,
        stretch=args.stretch,
        weights=args.weights,
        device=args.device,
        profile=args.profile,
    )
    return enhance, OutputSettings(overwrite=args.overwrite, dng_compression=args.dng_compression)


def _is_many(text: str) -> bool:
    """A folder, a glob pattern or a text file listing paths, rather than a single raw."""
    path = Path(text)
    return (
        path.is_dir()
        or (not path.exists() and any(c in text for c in "*?["))
        or path.suffix.lower() == ".txt"
    )


def _enhance_one(args, source: Path) -> int:
    """One raw file to one output, with a progress bar."""
    if not source.is_file():
        raise _missing(source)
    out = _output_for(args, source)
    settings, output = settings_from_args(args)
    meta = _enhance_to_file(source, [source], out, settings, output, args.quiet, source.name)
    print(
        f"{out}  (ratio x{meta['ratio']:g} {meta['ratio_mode']}, {meta['model']}, {meta['device']}, "
        f"{meta['seconds']:.1f} s)"
    )
    if meta["ratio_mode"] == "auto":
        print(f"  auto chose x{meta['ratio']:.0f}: {meta['ratio_reason']}")
    return 0


def _enhance_burst(args) -> int:
    """A burst (files, a folder or a glob; frame 0 first, by name within a folder or a glob) to
    one output: its frames are checked (headers only) before anything else."""
    from ..batch.plan import collect_inputs
    from ..core.burst import check_burst
    from ..core.errors import BurstError

    found, problems = collect_inputs(args.input)
    if problems:
        raise BurstError(problems[0].reason)
    frames = check_burst([path for path, _ in found])
    out = _output_for(args, frames[0], stem_suffix="_burst")
    settings, output = settings_from_args(args)
    name = f"{frames[0].name} (+{len(frames) - 1})"
    meta = _enhance_to_file(frames, frames, out, settings, output, args.quiet, name)
    print(
        f"{out}  ({len(frames)} frames, worth {meta['burst_effective_frames']:g}; ratio x{meta['ratio']:g} "
        f"{meta['ratio_mode']}, {meta['model']}, {meta['device']}, {meta['seconds']:.1f} s)"
    )
    return 0


def _output_for(args, source: Path, stem_suffix: str = "") -> Path:
    """``-o`` or the default name beside `source` (``--format`` its suffix)."""
    if args.output:
        return Path(args.output)
    suffix = f".{args.format}" if args.format else ".png"
    return default_output(source.with_stem(source.stem + stem_suffix), suffix)


def _enhance_to_file(
    source, sources: list[Path], out: Path, settings, output, quiet: bool, name: str
) -> dict:
    """Enhance `source` (a file or a burst's frames) into `out` with a progress bar; the output is
    checked (against `sources` too) before any work. Returns the result's metadata."""
    from ..core.output import check_output

    check_output(out, sources=sources, overwrite=output.overwrite)

    from tqdm import tqdm

    from ..core.export import save_result
    from ..core.pipeline import enhance_steps, run_to_end

    bar = tqdm(total=100, desc=name, unit="%", disable=quiet, leave=False)
    try:
        result = run_to_end(enhance_steps(source, settings), _progress_shown_on(bar, name))
        save_result(
            out, result, overwrite=output.overwrite, sources=sources, dng_compression=output.dng_compression
        )
    finally:
        bar.close()
    return result.metadata


def _progress_shown_on(bar, name: str):
    """A progress callback moving `bar` through the stages: reading to 5 %, the network to 90 %."""
    from ..core.progress import Stage

    labels = {
        Stage.NETWORK: "denoising",
        Stage.RENDER: "rendering",
        Stage.ALIGN: "aligning",
        Stage.MERGE: "merging",
    }
    reached = {Stage.READ: 5, Stage.RENDER: 90}
    burst_stages = (Stage.ALIGN, Stage.MERGE)  # a burst's frames: up to 5 %, a step each

    def show(event) -> None:
        label = labels.get(event.stage, event.stage)
        if event.stage in burst_stages:
            label += f" frame {event.done} of {event.total}"
        bar.set_description(f"{name}: {label}")
        if event.stage == Stage.NETWORK:
            done = 5 + 85 * event.fraction
        elif event.stage in burst_stages:
            done = max(bar.n, 5 * event.fraction)
        else:
            done = reached.get(event.stage, 100)
        bar.update(done - bar.n)

    return show


def _calibrate(args) -> int:
    """Dark frames to a profile; each frame checked (one line for the one refused) before writing."""
    import warnings

    from ..core.calibration import calibrate
    from ..core.output import check_output

    frames = [Path(f) for f in args.frames]
    flats = [Path(f) for f in args.flats or []]
    for frame in frames + flats:
        if not frame.is_file():
            raise _missing(frame)
    check_output(args.output, sources=frames + flats, overwrite=args.overwrite, formats=[".npz"])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            profile = calibrate(frames, flats=flats or None)
        finally:
            for warning in caught:
                print(f"napari-darkvision: warning: {warning.message}", file=sys.stderr)
    written = profile.save(args.output, overwrite=args.overwrite)
    print(profile.summary())
    print(f"profile written to {written}")
    return 0


def _missing(source: Path):
    from ..core.errors import MissingInputError

    what = "is a folder, not a raw file" if source.is_dir() else "does not exist"
    return MissingInputError(f"{source} {what}.")


def _demo(args) -> int:
    """napari with the sample and the widget where there is a display; the CLI otherwise."""
    from ..core.bundled import SAMPLE as sample
    from ..plugin.display import has_display

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
    out = Path(args.output_dir) / default_output(sample).name
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        from ..core.errors import OutputError

        raise OutputError(
            f"Cannot make the output folder {args.output_dir!r}: {err.strerror or err}."
        ) from None
    print(f"No display: enhancing the bundled sample {sample.name} (x100) on the command line.")
    from ..core.settings import EnhanceSettings, OutputSettings

    meta = _enhance_to_file(
        sample, [sample], out, EnhanceSettings(ratio=100), OutputSettings(overwrite=True), False, sample.name
    )
    print(f"{out}  (ratio x{meta['ratio']:g}, {meta['model']}, {meta['device']}, {meta['seconds']:.1f} s)")
    print(f"Output written to {out.resolve()}")
    return 0


def _train(args) -> int:
    from ..training.train import TrainOptions, train

    opts = _options(TrainOptions, args, raws=args.raws or [])
    summary = train(opts, resume=args.resume, progress=not args.quiet)
    print(
        f"trained {summary['steps']} steps in {summary['elapsed_s']:.0f} s on {summary['device']}; "
        f"best validation PSNR (raw) {summary['best_val_psnr_raw']:.2f} dB; weights in {args.out}"
    )
    return 0


def _evaluate(args) -> int:
    from ..training.evaluate import EvalOptions, evaluate

    models = dict(m.split("=", 1) if "=" in m else (Path(m).stem, m) for m in (args.model or []))
    if not models:
        models = {"ours": None}
    opts = _options(
        EvalOptions,
        args,
        models=models,
        raws=args.raws or [],
        ratios=tuple(args.ratios),
        bm3d=not args.no_bm3d,
        keep_levels=not args.no_keep_levels,
    )
    evaluate(opts, progress=not args.quiet)
    print(f"results in {args.out} (results.json, results.md, grid PNGs)")
    return 0


def _options(kind, args, **given):
    """The options dataclass `kind` from the arguments named as its fields, and `given` (values
    the arguments do not hold as they are); the fields no argument sets keep their defaults."""
    from dataclasses import fields

    named = {f.name: getattr(args, f.name) for f in fields(kind) if hasattr(args, f.name)}
    return kind(**{**named, **given})


def _fail(message: str) -> int:
    print(f"napari-darkvision: error: {message}", file=sys.stderr)
    return 2


#: Exit status after Ctrl-C, as shells report a process ended by SIGINT.
INTERRUPTED = 130


#: What each subcommand runs, by the name the parser gives it (``args.command``).
COMMANDS = {
    "enhance": _enhance,
    "calibrate": _calibrate,
    "demo": _demo,
    "train": _train,
    "evaluate": _evaluate,
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from ..core.errors import DarkvisionError

    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        if args.debug:
            raise
        print("napari-darkvision: interrupted; no partial output was left.", file=sys.stderr)
        return INTERRUPTED
    except DarkvisionError as err:
        if args.debug:
            raise
        return _fail(str(err))
