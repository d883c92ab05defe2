"""Copy the release 6 candidate's evaluated weights (EMA, step 60,000) into the package as
weights/fast-rep.safetensors: the same tensors, its architecture in today's metadata format.

    python research/experiments/ship_fast_rep.py [research/checkpoints/v6-fast-rep/final.safetensors]
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path

from safetensors import safe_open
from safetensors.torch import load_file, save_file

from napari_darkvision.core.archs import from_legacy_config

ROOT = Path(__file__).resolve().parents[2]
SOURCE = next(
    (
        p
        for p in (
            ROOT / f / "v6-fast-rep" / "final.safetensors" for f in ("research/checkpoints", "training_state")
        )
        if p.is_file()
    ),
    None,
)
TARGET = ROOT / "src" / "napari_darkvision" / "weights" / "fast-rep.safetensors"


def main() -> None:
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE
    if source is None:
        sys.exit(
            "no v6-fast-rep/final.safetensors in research/checkpoints/ or training_state/: give its path"
        )
    with safe_open(str(source), framework="pt") as handle:
        meta = handle.metadata()
    architecture = from_legacy_config(json.loads(meta.pop("config")))
    meta.update(
        architecture=json.dumps(asdict(architecture)),
        release="6 candidate",
        trained="60000 steps from random weights (defects from step 32250), EMA 0.999",
    )
    state = load_file(str(source))
    save_file(state, str(TARGET), metadata=meta)
    shipped = load_file(str(TARGET))
    assert all((shipped[k] == v).all() for k, v in state.items()) and shipped.keys() == state.keys()
    print(f"{TARGET.relative_to(ROOT)}: {len(state)} tensors as in {source}, metadata {meta}")


if __name__ == "__main__":
    main()
