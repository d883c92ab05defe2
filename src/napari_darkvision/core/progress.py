"""The one progress protocol: every long computation is a generator that yields
:class:`Progress` events and returns its result; :func:`run_to_end` drives one.

Stages nest with ``yield from`` (the pipeline passes the tiling's network events on as they
are), so a caller sees one stream whatever the depth, and closing the generator stops the work
at the next event (between tiles)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from enum import Enum
from typing import TypeVar

Result = TypeVar("Result")


class Stage(str, Enum):
    """What a run is doing; a ``str`` so that ``event.stage == "network"`` reads naturally."""

    READ = "read"
    ALIGN = "align"  # a burst's frames, one by one (done: frames aligned, total: extra frames)
    MERGE = "merge"
    NETWORK = "network"
    RENDER = "render"
    DONE = "done"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Progress:
    """One step of a run.

    Parameters
    ----------
    stage
        The stage the run is in (:class:`Stage`).
    done, total
        Units of this stage done and in all (tiles for the network, extra frames for a burst's alignment and merge, 1 for the others).
    """

    stage: Stage
    done: int
    total: int

    @property
    def fraction(self) -> float:
        """Fraction of this stage done, 0 to 1."""
        return self.done / self.total if self.total else 0.0


def run_to_end(
    steps: Generator[Progress, None, Result], on_event: Callable[[Progress], None] | None = None
) -> Result:
    """Drive a progress generator to its end and return its result, calling ``on_event(event)``
    for each event if given."""
    while True:
        try:
            event = next(steps)
        except StopIteration as finished:
            return finished.value
        if on_event is not None:
            on_event(event)
