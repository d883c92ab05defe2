"""The networks, one class per architecture, and the architectures by name.

An :class:`Architecture` is plain data (no torch), so that the command line can list the names
without loading torch; :func:`build_network` imports the class it names. Weights files name
their architecture, class included, in their metadata (see :mod:`..model`).

=============  ===================  ===========================================================
name           class                what it is
=============  ===================  ===========================================================
sid            UNet                 the SID U-Net (Chen et al. 2018): 5 levels, 32...512 channels
small          UNet                 the SID U-Net at 3/8 of its width
fast           UNet                 a 4-level U-Net on 2x2 blocks folded into channels
fast-detail    DetailUNet           fast plus a packed-resolution stage that sees the input
fast-aware     NoiseAwareUNet       fast-detail plus the noise level and a detail gate (release 5)
fast-rep       FastRepUNet          fast-aware at half width, re-parameterisable convolutions,
                                    added skips, one fused detail stage (release 6 candidate)
=============  ===================  ===========================================================
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, fields

#: Each network class: its module in this package, and whether it takes the noise level map.
NETWORKS: dict[str, tuple[str, bool]] = {
    "UNet": ("unet", False),
    "DetailUNet": ("detail", False),
    "NoiseAwareUNet": ("noise_aware", True),
    "FastRepUNet": ("fast_rep", True),
}


@dataclass(frozen=True)
class Architecture:
    """The numbers one network class is built from, and the name its results carry."""

    network: str  # the class, one of NETWORKS
    base_channels: int
    depth: int
    unshuffle: int = 1  # fold s x s blocks of the packed image into channels first
    detail_channels: int = 0  # channels of the packed-resolution detail stage (its classes only)
    name: str = "sid-reference"  # the model's name in a result's metadata
    version: str = "0"

    def __post_init__(self):
        if self.network not in NETWORKS:
            raise ValueError(f"unknown network class {self.network!r}: one of {', '.join(NETWORKS)}")
        if (self.detail_channels > 0) != (self.network != "UNet"):
            raise ValueError(
                f"{self.network} {'needs' if self.network != 'UNet' else 'has no'} detail_channels"
            )

    @property
    def multiple(self) -> int:
        """Tile sides (in packed pixels) must be multiples of this."""
        return self.unshuffle * 2 ** (self.depth - 1)

    @property
    def noise_map(self) -> bool:
        """Whether the network takes the noise level of its input (see :mod:`..noise`)."""
        return NETWORKS[self.network][1]

    @classmethod
    def from_dict(cls, values: dict) -> Architecture:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown architecture fields {sorted(unknown)}")
        return cls(**values)


SID_REFERENCE = Architecture("UNet", base_channels=32, depth=5)
SMALL = Architecture("UNet", base_channels=12, depth=5, name="darkvision-small", version="3")
FAST = Architecture("UNet", base_channels=24, depth=4, unshuffle=2, name="darkvision-fast", version="1")
FAST_DETAIL = Architecture(
    "DetailUNet", 24, 4, unshuffle=2, detail_channels=16, name="darkvision-fast-detail", version="2"
)
FAST_AWARE = Architecture(
    "NoiseAwareUNet", 24, 4, unshuffle=2, detail_channels=16, name="darkvision-fast-aware", version="4"
)
FAST_REP = Architecture(
    "FastRepUNet", 12, 4, unshuffle=2, detail_channels=8, name="darkvision-fast-rep", version="6"
)
ARCHITECTURES: dict[str, Architecture] = {
    "sid": SID_REFERENCE,
    "fast": FAST,
    "fast-detail": FAST_DETAIL,
    "small": SMALL,
    "fast-aware": FAST_AWARE,
    "fast-rep": FAST_REP,
}


def network_class(network: str):
    """The class named `network` (one of :data:`NETWORKS`): imports torch."""
    module = importlib.import_module(f"{__name__}.{NETWORKS[network][0]}")
    return getattr(module, network)


def build_network(architecture: str | Architecture):
    """A new network (random weights) of `architecture`: a name in :data:`ARCHITECTURES` or an
    :class:`Architecture`."""
    if isinstance(architecture, str):
        if architecture not in ARCHITECTURES:
            raise ValueError(f"unknown architecture {architecture!r}: one of {', '.join(ARCHITECTURES)}")
        architecture = ARCHITECTURES[architecture]
    return network_class(architecture.network)(architecture)


def from_legacy_config(config: dict) -> Architecture:
    """The architecture of weights saved before one class per architecture: their metadata held
    one config of switches (``refine``, ``noise_map``, ``detail_gate``, ``rep``, ``fused_detail``,
    ``additive_skips``, ``residual``); each architecture set one combination of them."""
    config = dict(config)
    known = {"base_channels", "depth", "unshuffle", "refine", "noise_map", "detail_gate", "rep"}
    known |= {"fused_detail", "additive_skips", "residual", "name", "version"}
    unknown = set(config) - known
    if unknown:
        raise ValueError(f"unknown config fields {sorted(unknown)}")
    if config.get("residual"):
        raise ValueError("a residual network: no architecture predicts a correction to its input")
    switches = tuple(
        bool(config.get(k)) for k in ("noise_map", "detail_gate", "rep", "fused_detail", "additive_skips")
    )
    refine = int(config.get("refine", 0))
    combinations = {
        (False,) * 5: "DetailUNet" if refine else "UNet",
        (True, True, False, False, False): "NoiseAwareUNet",
        (True,) * 5: "FastRepUNet",
    }
    if switches not in combinations or (switches != (False,) * 5 and not refine):
        raise ValueError(f"a combination of switches no architecture had: {config}")
    return Architecture(
        combinations[switches],
        base_channels=int(config.get("base_channels", 32)),
        depth=int(config.get("depth", 5)),
        unshuffle=int(config.get("unshuffle", 1)),
        detail_channels=refine,
        name=config.get("name", "sid-reference"),
        version=str(config.get("version", "0")),
    )
