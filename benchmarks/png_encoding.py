"""16-bit PNG encoding of a rendered 12 MP frame (the amplified input, noisier than a result): the
shipped encoder (rows filtered Up, zlib level 1 with the Z_RLE strategy, deflated in parallel
pieces) against the settings before it (the same with zlib's default strategy) and the first
encoder (no filter, zlib level 6, one piece), in the same run; seconds (median of rounds,
interleaved) and size against the raw bytes.

Run from the repository root: ``.venv/bin/python benchmarks/png_encoding.py [--repeats 3]``;
writes ``research/benchmarks/png-<name>.json`` (``--name``, default the host name).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import struct
import sys
import tempfile
import time
import zlib
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import RATIO, RESULTS, SIZES, median, synthetic_raw


def reference_png16(path: Path, rgb) -> None:
    """The encoder before: no filter, zlib level 6, one piece."""
    import numpy as np

    h, w, _ = rgb.shape
    rows = np.ascontiguousarray(rgb, dtype=">u2").view(np.uint8).reshape(h, w * 6)
    scanlines = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return (
            struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))
        )

    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", zlib.compress(scanlines.tobytes(), 6)) + chunk(b"IEND", b""))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default=socket.gethostname())
    args = parser.parse_args()
    from napari_darkvision.core import export
    from napari_darkvision.core.raw import pack, unpack
    from napari_darkvision.core.render import render

    raw = synthetic_raw(SIZES["12mp"])
    rgb = render(raw, unpack(pack(raw, ratio=RATIO), raw))  # the amplified input: strength 0
    encoders = {
        "reference": reference_png16,
        "before (Up, level 1, default strategy)": partial(
            export.write_png16, strategy=zlib.Z_DEFAULT_STRATEGY
        ),
        "shipped": export.write_png16,
    }
    times: dict[str, list[float]] = {name: [] for name in encoders}
    sizes = {}
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.repeats):
            for name, encode in encoders.items():
                path = Path(folder) / f"{name}.png"
                started = time.perf_counter()
                encode(path, rgb)
                times[name].append(time.perf_counter() - started)
                sizes[name] = path.stat().st_size / rgb.nbytes
    result = {
        "machine": {"cores": os.cpu_count(), "load_average": list(os.getloadavg())},
        "image": list(rgb.shape),
        "seconds": {name: median(runs) for name, runs in times.items()},
        "runs": times,
        "size_of_raw_bytes": sizes,
    }
    result["shipped_time_ratio"] = result["seconds"]["shipped"] / result["seconds"]["reference"]
    before = "before (Up, level 1, default strategy)"
    result["shipped_over_before"] = {
        "time": result["seconds"]["shipped"] / result["seconds"][before],
        "size": sizes["shipped"] / sizes[before],
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"png-{args.name}.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print("| encoder | seconds | size / raw bytes |\n|---|---|---|")
    for name in encoders:
        print(f"| {name} | {result['seconds'][name]:.2f} | {sizes[name]:.3f} |")
    print(
        f"shipped / reference time: {result['shipped_time_ratio']:.2f}; shipped / before: time "
        f"{result['shipped_over_before']['time']:.2f}, size {result['shipped_over_before']['size']:.3f}; wrote {out}"
    )


if __name__ == "__main__":
    main()
