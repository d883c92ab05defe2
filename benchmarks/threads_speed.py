"""What fixing the summation order costs: the tiled network on a 12 MP frame as it runs now
(each tile on one intra-op thread, tiles side by side: core.threads) and as it ran before (one
tile at a time on all of torch's threads), interleaved in one process.

    python benchmarks/threads_speed.py [WEIGHTS] [--rounds 5]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from stages import SHARED, network_alone  # noqa: E402


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("weights", nargs="?", help="model weights (default: the shipped model)")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from napari_darkvision.core.pipeline import cached_model
    from napari_darkvision.core.raw import pack, read_raw

    packed = pack(read_raw(SHARED / "raw" / "HERO7_GOPR9231.DNG"))
    model = cached_model(args.weights)
    network_alone(model, packed)  # untimed: oneDNN's set-up of each shape
    network_alone(model, packed, legacy=True)
    times = {"now": [], "before": []}
    for _ in range(args.rounds):
        times["now"].append(network_alone(model, packed))
        times["before"].append(network_alone(model, packed, legacy=True))
    ratios = [round(a / b, 2) for a, b in zip(times["now"], times["before"], strict=True)]
    medians = {key: round(float(np.median(values)), 2) for key, values in times.items()}
    print(f"median seconds {medians}; now ÷ before, round by round: {ratios}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
