"""What a checkpoint says about its model, as one typed object (docs/DESIGN.md, "Checkpoint dict").

Checkpoints stay plain dicts on disk (``torch.load(weights_only=True)`` reads them without
running code); ``ModelCard.from_checkpoint`` is the one place that reads those entries, with
the defaults older checkpoints need, and ``to_checkpoint`` the one place that writes them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from segnet.data.classes import CAMVID, DatasetClasses
from segnet.core.choices import RESCALE
from segnet.errors import SegnetError

IDENTITY_NORMALIZATION = {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]}


@dataclass(frozen=True)
class ModelCard:
    """A network's name and options, its classes and the preprocessing its input needs.

    ``input_scale``: the resize factor the network was trained at (1.0 = full frames).
    ``frame_size``: (height, width) of a training frame as the network saw it (after input_scale),
    None in checkpoints from before it was recorded. With it, a frame of any camera can be brought
    to the scale the network learnt (segnet.inference.predictor.network_scale); without it only
    the factor is known, which is right for frames the size of the training frames only.
    ``normalization``: ``{"mean": [r, g, b], "std": [r, g, b]}`` applied to [0, 1] RGB.
    ``meta``: free-form record (training command, test mIoU, ...).
    """

    model_name: str
    model_options: dict[str, Any] = field(default_factory=dict)
    classes: DatasetClasses = CAMVID
    input_scale: float = 1.0
    frame_size: tuple[int, int] | None = None
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
        frame_size = _frame_size(ckpt.get("frame_size"), source)
        return cls(
            model_name=ckpt["model_name"],
            model_options=dict(ckpt.get("model_options") or {}),
            classes=DatasetClasses.from_checkpoint(ckpt, source),
            input_scale=scale,
            frame_size=frame_size,
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
            **({"frame_size": list(self.frame_size)} if self.frame_size else {}),
            "normalization": {k: list(v) for k, v in self.normalization.items()},
            "meta": dict(self.meta),
        }


def _frame_size(value: Any, source: str) -> tuple[int, int] | None:
    """A checkpoint's ``frame_size`` entry as (height, width), None when absent."""
    if value is None:
        return None
    try:
        if not isinstance(value, (list, tuple)):  # a string such as "12" would unpack to 1 x 2
            raise TypeError
        height, width = (int(v) for v in value)
        if height != float(value[0]) or width != float(value[1]):
            raise ValueError
    except (TypeError, ValueError, OverflowError):
        raise SegnetError(f"{source}: malformed 'frame_size' entry {value!r} (want [height, width])") from None
    if height < 1 or width < 1:
        raise SegnetError(f"{source}: 'frame_size' {value!r} must be two positive pixel counts")
    return height, width


def rescale_mode(rescale: str, card: ModelCard, source: str = "checkpoint") -> str:
    """``rescale`` checked against the card; "auto" resolved (segnet.inference.predictor.network_scale)."""
    if rescale not in RESCALE:
        raise SegnetError(f"unknown rescale '{rescale}' (use {', '.join(RESCALE)})")
    if rescale == "frame" and card.frame_size is None:
        raise SegnetError(f"{source} does not record its training frame size (trained before segnet stored "
                          "frame_size): use rescale factor, or add 'frame_size': [height, width] to it")
    if rescale == "auto":
        return "frame" if card.frame_size is not None else "factor"
    return rescale
