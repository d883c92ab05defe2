"""The architectures by name: each a :class:`ModelConfig`, the numbers a :class:`~.model.UNet` is
built from. Plain data (no torch), so that the command line can list them without loading torch."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class ModelConfig:
    base_channels: int = 32
    depth: int = 5
    unshuffle: int = 1  # fold s x s blocks of the packed image into channels first
    residual: bool = False  # predict a correction to the (amplified) input
    refine: int = 0  # channels of a final stage at packed resolution that sees the input (0: none)
    noise_map: bool = False  # also give the network the noise level estimated from its input
    detail_gate: bool = False  # put back the input's detail where it stands out of the noise
    rep: bool = False  # re-parameterisable convolutions: 3x3 + 1x1 + identity while training
    fused_detail: bool = False  # one packed-resolution stage gives both refinement and gate
    additive_skips: bool = False  # skip connections added to the upsampled features, not concatenated
    name: str = "sid-reference"
    version: str = "0"

    @property
    def multiple(self) -> int:
        """Tile sides (in packed pixels) must be multiples of this."""
        return self.unshuffle * 2 ** (self.depth - 1)


SID_REFERENCE = ModelConfig()
FAST = ModelConfig(
    base_channels=24, depth=4, unshuffle=2, residual=False, name="darkvision-fast", version="1"
)
#: FAST plus a small stage at packed resolution, for fine texture (weights load from FAST's).
FAST_DETAIL = replace(FAST, refine=16, name="darkvision-fast-detail", version="2")
#: The SID U-Net at 3/8 of its width (no fold), as fast as FAST_DETAIL in bfloat16; compared in
#: the model card, not shipped: per step it learnt more slowly than FAST.
SMALL = ModelConfig(base_channels=12, depth=5, name="darkvision-small", version="3")
#: FAST_DETAIL plus the noise level of its input (:func:`noise_level_map`) and a detail gate:
#: every version without them blurred fine texture even in clean input. Loads FAST_DETAIL's
#: weights (the new inputs start at zero weight, the gate nearly closed).
FAST_AWARE = replace(FAST_DETAIL, noise_map=True, detail_gate=True, name="darkvision-fast-aware", version="4")
#: Release 6 candidate: FAST_AWARE's shape at half its width (a quarter of the body's multiply-adds),
#: each 3x3 convolution trained with 1x1 and identity branches that fold into it for inference
#: (RepVGG, Ding et al. 2021), and one packed-resolution stage instead of refine plus gate.
FAST_REP = replace(
    FAST_AWARE,
    base_channels=12,
    refine=8,
    rep=True,
    fused_detail=True,
    additive_skips=True,
    name="darkvision-fast-rep",
    version="6",
)
ARCHITECTURES = {
    "sid": SID_REFERENCE,
    "fast": FAST,
    "fast-detail": FAST_DETAIL,
    "small": SMALL,
    "fast-aware": FAST_AWARE,
    "fast-rep": FAST_REP,
}
