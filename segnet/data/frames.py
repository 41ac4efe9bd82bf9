"""Arrays as the HxWx3 uint8 RGB frames the networks take: the conversion rules that image files
(segnet.data.images.read_image) and arrays handed to ``Model.predict`` share.

What is unambiguous is converted as image viewers show it; the rest is refused with the rule:
- depth: uint8 as is; uint16 scaled to 0..255 (65535 -> 255); float in 0..1 scaled to 0..255
  (values outside 0..1 have no single meaning: refused); other integer types refused;
- channels: HxW and HxWx1 grey repeated to RGB; HxWx4 RGBA without its alpha (the colours are
  the picture); two channels (grey+alpha, or two planes of data: an array cannot tell) refused;
- a torch tensor as its numpy array; CxHxW (torch's order) when the first axis holds 1, 3 or 4
  channels and the last does not.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from segnet.errors import SegnetError

_ALSO = "also taken: uint16, float 0..1, grey HxW or HxWx1, RGBA, torch tensors (CxHxW too)"


def as_array(frame: Any, what: str) -> np.ndarray:
    """A numpy array of ``frame`` (torch tensors: CxHxW or NxCxHxW moved to channels last)."""
    if type(frame).__module__.startswith("torch"):
        try:
            array = frame.detach().cpu().numpy()
        except (AttributeError, TypeError, RuntimeError) as exc:  # e.g. bfloat16, which numpy lacks
            raise SegnetError(f"{what}: cannot read the tensor ({str(exc).splitlines()[0]}): "
                              "pass float32 or uint8") from None
        axis = array.ndim - 3
        if array.ndim in (3, 4) and array.shape[axis] in (1, 3, 4) and array.shape[-1] not in (1, 3, 4):
            array = np.moveaxis(array, axis, -1)
        return array
    if not isinstance(frame, np.ndarray):
        raise SegnetError(f"{what}: expected an HxWx3 uint8 RGB array or an image path, got {type(frame).__name__}; "
                          f"{_ALSO}")
    return frame


def to_uint8(array: np.ndarray, what: str) -> np.ndarray:
    """``array`` at 8 bits per channel (rules: module docstring)."""
    if array.dtype == np.uint8:
        return array
    if array.dtype == np.uint16:
        return ((array.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    if array.dtype.kind == "f":
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 0.0)
        if not (np.isfinite(low) and np.isfinite(high) and 0.0 <= low and high <= 1.0):
            raise SegnetError(f"{what}: float values must lie in 0..1 (got {low:g}..{high:g}); scale them "
                              "to 0..1, or pass uint8 0..255")
        return (array.astype(np.float32) * 255 + 0.5).astype(np.uint8)
    raise SegnetError(f"{what}: dtype {array.dtype} has no one meaning as pixel values: pass uint8 0..255, "
                      "uint16 0..65535 or float 0..1")


def to_rgb(array: np.ndarray, what: str) -> np.ndarray:
    """An 8-bit HxW, HxWx1, HxWx3 or HxWx4 array (channels in RGB order) as HxWx3."""
    if array.ndim == 3 and array.shape[2] == 3:
        out = array
    elif array.ndim == 2 or (array.ndim == 3 and array.shape[2] == 1):
        grey = array if array.ndim == 2 else array[..., 0]
        out = np.repeat(grey[..., None], 3, axis=2)
    elif array.ndim == 3 and array.shape[2] == 4:
        out = np.ascontiguousarray(array[..., :3])
    else:
        raise SegnetError(f"{what}: expected shape HxWx3 (RGB), got {array.shape}; {_ALSO}")
    if min(out.shape[:2]) < 1:
        raise SegnetError(f"{what}: empty image {array.shape}")
    return out


def to_frame(frame: Any, what: str) -> np.ndarray:
    """Any accepted array or tensor as an HxWx3 uint8 RGB frame; SegnetError with the rule otherwise."""
    array = as_array(frame, what)
    if array.ndim not in (2, 3):
        raise SegnetError(f"{what}: expected shape HxWx3 (RGB), got {array.shape}; {_ALSO}")
    return to_rgb(to_uint8(array, what), what)
