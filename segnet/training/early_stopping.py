"""Early stopping on validation mIoU (higher is better), with a state dict for checkpoints."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass


@dataclass
class EarlyStopping:
    patience: int | None = None  # epochs without improvement before stopping; None: never
    best_score: float = -math.inf
    best_epoch: int = 0  # epoch (within the stage) of the best score; 0: carried over

    def update(self, score: float, epoch: int) -> bool:
        """Record a validation score; True when it is a new best."""
        if not math.isnan(score) and score > self.best_score:
            self.best_score, self.best_epoch = score, epoch
            return True
        return False

    def should_stop(self, epoch: int) -> bool:
        return self.patience is not None and epoch - self.best_epoch >= self.patience

    def state_dict(self) -> dict:
        return asdict(self)

    def load_state_dict(self, state: dict) -> None:
        self.patience = state.get("patience")
        self.best_score = float(state["best_score"])
        self.best_epoch = int(state["best_epoch"])
