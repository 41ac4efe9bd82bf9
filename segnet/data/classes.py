"""CamVid class names, ids and colours, read from camvid_classes.yaml (kept as data)."""

from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

_SPEC = OmegaConf.load(Path(__file__).with_name("camvid_classes.yaml"))

CLASS_NAMES: list[str] = [c.name for c in _SPEC.classes]
NUM_CLASSES: int = len(CLASS_NAMES)
VOID_ID: int = int(_SPEC.void_id)
VOID_NAME: str = str(_SPEC.void_name)
# Row i is the RGB colour of class i; the extra last row is void.
PALETTE: np.ndarray = np.array(
    [list(c.colour) for c in _SPEC.classes] + [list(_SPEC.void_colour)], dtype=np.uint8
)
