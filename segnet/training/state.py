"""What a training checkpoint holds beyond the model, and the running sums of a partial epoch."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import torch

from segnet.config import STAGES, to_plain
from segnet.core.checkpoint import model_fields
from segnet.training.seeding import rng_state


@dataclass
class EpochProgress:
    """Batches, images and loss of the epoch in progress; a resumed epoch starts from the sums
    the stop saved, so its mean loss and images/s cover the whole epoch."""

    batches: int = 0
    images: int = 0
    loss_sum: float = 0.0
    seconds_before: float = 0.0  # training time of this epoch in earlier runs
    images_this_run: int = 0
    started: float = field(default_factory=time.perf_counter)

    @classmethod
    def resumed(cls, batches: int, saved: dict | None) -> EpochProgress:
        if not saved:
            return cls(batches=batches)
        return cls(batches=batches, images=int(saved["images"]), loss_sum=float(saved["loss_sum"]),
                   seconds_before=float(saved["seconds"]))

    def add(self, loss: float, images: int) -> None:
        self.batches += 1
        self.images += images
        self.images_this_run += images
        self.loss_sum += loss * images

    @property
    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.images, 1)

    @property
    def rate(self) -> float:
        return self.images / max(self.seconds, 1e-9)

    @property
    def rate_this_run(self) -> float:
        return self.images_this_run / max(time.perf_counter() - self.started, 1e-9)

    def state_dict(self) -> dict:
        return {"loss_sum": self.loss_sum, "images": self.images, "seconds": self.seconds}


def training_checkpoint(trainer, batch_in_epoch: int, val: dict | None) -> dict:
    """The resumable state of ``trainer`` (a segnet.training.trainer.Trainer) as a plain dict.

    ``batch_in_epoch`` > 0: saved mid-epoch after that many batches of epoch ``trainer.epoch``
    (``epoch`` then names the last finished one and ``epoch_progress`` the partial sums).
    """
    t, cfg = trainer, trainer.cfg
    epoch_done = t.epoch_done if batch_in_epoch == 0 else t.epoch - 1
    later_stages = any(cfg[s].enabled and cfg[s].epochs > 0 for s in STAGES[t.stage_index + 1 :])
    meta = {"command": t.command, "run_dir": str(t.run_dir), "stage": t.stage_name, "epoch": t.epoch,
            "best_miou": t.best_score, "saved": time.strftime("%Y-%m-%d %H:%M:%S")}
    if val is not None:
        meta.update(val_miou=val["miou"], val_pixel_accuracy=val["pixel_accuracy"],
                    val_per_class_iou=val["per_class_iou"])
    normalization = {"mean": [float(v) for v in cfg.data.mean], "std": [float(v) for v in cfg.data.std]}
    return {
        **model_fields(t.raw_model, cfg.model.name, t.model_options, cfg.data.scale, normalization, meta, t.classes),
        "config": to_plain(cfg),
        "optimizer": t.optimizer.state_dict(),
        "scheduler": t.scheduler.state_dict(),
        "scaler": t.scaler.state_dict() if t.scaler.is_enabled() else None,
        "stage": t.stage_name,
        "epoch": epoch_done,
        "batch_in_epoch": batch_in_epoch,
        "epoch_progress": t.progress.state_dict() if batch_in_epoch else None,
        "stage_done": t.stage_done,
        "final_only_epoch": t.final_only_epoch,
        "finished": t.stage_done and not later_stages,
        "step": t.step,
        "early_stopping": t.early.state_dict(),
        "rng": rng_state(),
    }
