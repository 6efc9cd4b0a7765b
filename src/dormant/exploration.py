"""Exploration-noise schedule strings, as DrQ-v2 writes them.

A schedule is a constant (``"0.2"``), ``linear(init, final, duration)`` or
``step_linear(init, final1, duration1, final2, duration2)``. Durations are in
**agent steps** (one step = ``action_repeat`` frames), as in the reference.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

_CALL = re.compile(r"^\s*(linear|step_linear)\s*\((.*)\)\s*$")


@dataclass(frozen=True)
class Schedule:
    """A parsed schedule: ``value(step)`` gives σ at an agent step."""

    kind: str
    args: tuple[float, ...]

    def value(self, step: float) -> float:
        if self.kind == "constant":
            return self.args[0]
        if self.kind == "linear":
            init, final, duration = self.args
            mix = min(max(step / duration, 0.0), 1.0)
            return (1.0 - mix) * init + mix * final
        init, final1, duration1, final2, duration2 = self.args
        if step <= duration1:
            mix = min(max(step / duration1, 0.0), 1.0)
            return (1.0 - mix) * init + mix * final1
        mix = min(max((step - duration1) / duration2, 0.0), 1.0)
        return (1.0 - mix) * final1 + mix * final2

    def value_tensor(self, step: torch.Tensor) -> torch.Tensor:
        """``value`` for a step held in a (device) tensor, without a host sync."""
        import torch

        step = step.float()
        if self.kind == "constant":
            return torch.full_like(step, self.args[0])
        if self.kind == "linear":
            init, final, duration = self.args
            mix = (step / duration).clamp(0.0, 1.0)
            return (1.0 - mix) * init + mix * final
        init, final1, duration1, final2, duration2 = self.args
        first = (step / duration1).clamp(0.0, 1.0)
        second = ((step - duration1) / duration2).clamp(0.0, 1.0)
        return torch.where(
            step <= duration1, (1.0 - first) * init + first * final1, (1.0 - second) * final1 + second * final2
        )


def parse_schedule(text: str | float) -> Schedule:
    """Parse a schedule string; raise ``ValueError`` naming the accepted forms."""
    try:
        constant = float(text) if not isinstance(text, bool) else math.nan
    except ValueError:
        constant = None
    if constant is not None:
        if not math.isfinite(constant) or constant < 0:
            raise ValueError(f"invalid schedule {text!r}: a constant σ must be a finite number ≥ 0")
        return Schedule("constant", (constant,))
    match = _CALL.match(str(text))
    expected = {"linear": 3, "step_linear": 5}
    if match:
        kind = match.group(1)
        try:
            args = tuple(float(part) for part in match.group(2).split(","))
        except ValueError:
            args = ()
        if len(args) == expected[kind]:
            durations = args[2::2]
            if any(d <= 0 for d in durations):
                raise ValueError(f"schedule {text!r}: durations must be > 0 agent steps")
            return Schedule(kind, args)
    raise ValueError(
        f"invalid schedule {text!r}: expected a number, 'linear(init,final,duration)' "
        "or 'step_linear(init,final1,duration1,final2,duration2)' (durations in agent steps)"
    )


def schedule(text: str | float, step: float) -> float:
    """σ of schedule ``text`` at agent step ``step`` (DrQ-v2's ``utils.schedule``)."""
    return parse_schedule(text).value(step)
