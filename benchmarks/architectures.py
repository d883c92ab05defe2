"""The architectures side by side: parameters, multiply-adds per packed pixel and the 12 MP
network time in float32, all in one run, as ratios to release 5's.

    python benchmarks/architectures.py [--name NAME] [--repeats 3] [--threads 2]
        [--arch fast-aware --arch fast-rep --arch sid]

Writes research/benchmarks/architectures-NAME.json and prints a markdown table. Each model is
timed in turn, round after round, and the median of its rounds is kept, so a slower stretch of a
shared machine falls on every model alike. The weights are untrained (speed does not depend on
them); trained ones time the same.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent.parent / "research" / "benchmarks"
#: A 12 MP Bayer frame, packed: 2848 x 4256 sensor pixels.
PACKED_12MP = (4, 1424, 2128)


def multiply_adds_per_packed_pixel(model) -> float:
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    x = torch.rand(1, 4, 128, 128) * 0.3
    with torch.inference_mode(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() / 2 / (128 * 128)


def time_12mp(models: dict, repeats: int) -> dict[str, list[float]]:
    from napari_darkvision.core.progress import run_to_end
    from napari_darkvision.core.tiling import run_tiled

    packed = (np.random.default_rng(0).random(PACKED_12MP, dtype=np.float32) * 0.3).astype(np.float32)
    seconds = {name: [] for name in models}
    for model in models.values():  # warm-up: oneDNN picks its kernels on the first call
        run_to_end(run_tiled(model, packed[:, :256, :256], precision="float32"))
    for _ in range(repeats):
        for name, model in models.items():
            started = time.perf_counter()
            run_to_end(run_tiled(model, packed, precision="float32"))
            seconds[name].append(time.perf_counter() - started)
    return seconds


def main() -> None:
    import torch

    from napari_darkvision.core.archs import ARCHITECTURES, build_network
    from napari_darkvision.core.model import parameter_count, reparameterise

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--name", default=platform.node() or "this-machine")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--arch", action="append", choices=sorted(ARCHITECTURES))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = args.arch or ["fast-aware", "fast-rep", "sid"]
    models, rows = {}, []
    for name in names:
        trained = build_network(name).eval()
        trained_parameters = parameter_count(trained)
        model = reparameterise(trained)
        models[name] = model.to(memory_format=torch.channels_last)
        rows.append({"arch": name, "parameters_training": trained_parameters,
                     "parameters_inference": parameter_count(model),
                     "mac_per_packed_pixel": multiply_adds_per_packed_pixel(model)})  # fmt: skip
    seconds = time_12mp(models, args.repeats)
    reference = statistics.median(seconds.get("fast-aware", next(iter(seconds.values()))))
    for row in rows:
        row["seconds_12mp_float32"] = statistics.median(seconds[row["arch"]])
        row["all_seconds"] = seconds[row["arch"]]
        row["ratio_to_release5"] = row["seconds_12mp_float32"] / reference
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"architectures-{args.name}.json"
    meta = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
            "cpu_bfloat16": bool(torch.cpu._is_avx512_bf16_supported())}  # fmt: skip
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=1))
    print(markdown(rows))
    print(f"written to {out}")


def markdown(rows: list[dict]) -> str:
    lines = ["| architecture | parameters (training / inference) | MAC per packed pixel | 12 MP network, float32 | ÷ release 5 |",
             "|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['arch']} | {r['parameters_training']:,} / {r['parameters_inference']:,} | "
                     f"{r['mac_per_packed_pixel']:,.0f} | {r['seconds_12mp_float32']:.2f} s | "
                     f"{r['ratio_to_release5']:.2f} |")  # fmt: skip
    return "\n".join(lines)


if __name__ == "__main__":
    main()
