"""What a checkpoint says about its model, as one typed object (docs/DESIGN.md, "Checkpoint dict").

Checkpoints stay plain dicts on disk (``torch.load(weights_only=True)`` reads them without
running code); ``ModelCard.from_checkpoint`` is the one place that reads those entries, with
the defaults older checkpoints need, and ``to_checkpoint`` the one place that writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segnet.data.classes import CAMVID, DatasetClasses
from segnet.errors import SegnetError

IDENTITY_NORMALIZATION = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


@dataclass(frozen=True)
class ModelCard:
    """A network's name and options, its classes and the preprocessing its input needs.

    ``input_scale``: the resize factor the network was trained at (1.0 = full frames).
    ``normalization``: ``{"mean": [r, g, b], "std": [r, g, b]}`` applied to [0, 1] RGB.
    ``meta``: free-form record (training command, test mIoU, ...).
    """

    model_name: str
    model_options: dict[str, Any] = field(default_factory=dict)
    classes: DatasetClasses = CAMVID
    input_scale: float = 1.0
    normalization: dict[str, list[float]] = field(default_factory=lambda: dict(IDENTITY_NORMALIZATION))
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], source: str = "checkpoint") -> ModelCard:
        """Read a checkpoint dict's model entries; SegnetError naming ``source`` when one is malformed."""
        if not isinstance(ckpt.get("model_name"), str):
            raise SegnetError(f"{source} is not a segnet checkpoint (no 'model_name' entry)")
        norm = ckpt.get("normalization") or IDENTITY_NORMALIZATION
        try:
            normalization = {k: [float(v) for v in norm[k]] for k in ("mean", "std")}
            scale = float(ckpt.get("input_scale", 1.0) or 1.0)
        except (KeyError, TypeError, ValueError):
            raise SegnetError(f"{source}: malformed 'normalization' or 'input_scale' entry") from None
        if not all(len(v) == 3 for v in normalization.values()) or not 0 < scale <= 1:
            raise SegnetError(f"{source}: normalization needs 3 means and 3 stds and input_scale a value in (0, 1]")
        return cls(
            model_name=ckpt["model_name"],
            model_options=dict(ckpt.get("model_options") or {}),
            classes=DatasetClasses.from_checkpoint(ckpt, source),
            input_scale=scale,
            normalization=normalization,
            meta=dict(ckpt.get("meta") or {}),
        )

    def to_checkpoint(self) -> dict[str, Any]:
        """The plain entries (no weights) a checkpoint stores for this card."""
        return {
            "model_name": self.model_name,
            "model_options": dict(self.model_options),
            **self.classes.to_checkpoint(),
            "input_scale": float(self.input_scale),
            "normalization": {k: list(v) for k, v in self.normalization.items()},
            "meta": dict(self.meta),
        }
