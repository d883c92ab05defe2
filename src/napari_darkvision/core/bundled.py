"""Files shipped inside the package, each named in this one place."""

from __future__ import annotations

import os
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

_PACKAGE = resources.files("napari_darkvision")

#: The bundled sample: a GoPro street scene darkened 100x with calibrated sensor noise (a DNG).
SAMPLE = Path(str(_PACKAGE / "sample_data" / "gopro_dark_x100.dng"))


@dataclass(frozen=True)
class ShippedModel:
    file: str  # in the package's weights/ folder
    description: str

    @property
    def path(self) -> Path:
        return Path(str(_PACKAGE / "weights" / self.file))


#: The models shipped in the package, by the name ``--weights NAME`` / ``weights="NAME"`` takes.
SHIPPED_MODELS: dict[str, ShippedModel] = {
    "release-5": ShippedModel(
        "darkvision.safetensors", "release 5: fast-aware, 1.09 M parameters (the most accurate)"
    ),
    "fast-rep": ShippedModel(
        "fast-rep.safetensors",
        "release 6 candidate: fast-rep, 248 k parameters folded, 0.57x release 5's time",
    ),
}
#: The model used when none is chosen.
DEFAULT_MODEL = "release-5"


def weights_file(weights: str | os.PathLike | None = None) -> str:
    """The weights file `weights` stands for: None for the default model, a shipped model's name
    (:data:`SHIPPED_MODELS`) or a path; :class:`~.errors.MissingWeightsError` where there is none."""
    from .errors import MissingWeightsError

    if weights is None or weights == "":
        weights = DEFAULT_MODEL
    if isinstance(weights, str) and weights in SHIPPED_MODELS:
        path = SHIPPED_MODELS[weights].path
        if not path.is_file():
            raise MissingWeightsError(
                f"The shipped model {weights!r} is missing from this installation ({path})."
            )
        return str(path)
    if not isinstance(weights, (str, os.PathLike)):
        raise MissingWeightsError(f"weights must be a model name or a file, not {weights!r}.")
    if not os.path.isfile(weights):
        names = ", ".join(SHIPPED_MODELS)
        raise MissingWeightsError(
            f"No model weights at {os.fspath(weights)}: give a .safetensors file or one of {names}."
        )
    return os.fspath(weights)
