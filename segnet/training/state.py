"""Training state in checkpoints: what last.pt / best.pt hold beyond the model (``training_checkpoint``),
how a stage takes it back (``restore_stage``), the run's checkpoint files (``RunCheckpoints``) and
the running sums of a partial epoch (``EpochProgress``)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from segnet.checkpoints.checkpoint import load_checkpoint, load_weights, model_fields, save_checkpoint
from segnet.config.load import to_plain
from segnet.core.choices import STAGES
from segnet.errors import SegnetError
from segnet.training.early_stopping import EarlyStopping
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
        **model_fields(t.net.inference, cfg.model.name, t.model_options, cfg.data.scale, normalization, meta, t.classes,
                       frame_size=t.train_data.frame_size),
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
        "cpu_seconds": t.cpu.seconds,
        **t.net.resume_state(),
        "early_stopping": t.early.state_dict(),
        "rng": rng_state(),
    }


def restore_stage(resume: dict, optimizer, scheduler, scaler, early: EarlyStopping,
                  patience: int | None) -> tuple[int, int, dict | None, int | None]:
    """Load a stage's optimizer, schedule, loss scaler and early stopping from a training
    checkpoint; returns the first epoch to train, the batches of it already trained on, that
    partial epoch's sums, and the final-only epoch (Log-DenseNet) if one was planned."""
    optimizer.load_state_dict(resume["optimizer"])
    if ("lr_lambdas" in resume["scheduler"]) != isinstance(scheduler, torch.optim.lr_scheduler.LambdaLR):
        stage = resume.get("stage", STAGES[0])
        raise SegnetError(f"last.pt's {stage} stage ran another lr schedule (exponential without warm-up vs "
                          f"cosine/poly/warm-up): resume with its {stage}.schedule and {stage}.warmup_epochs")
    scheduler.load_state_dict(resume["scheduler"])
    if resume.get("scaler"):
        scaler.load_state_dict(resume["scaler"])
    early.load_state_dict(resume["early_stopping"])
    early.patience = patience  # an override on resume wins
    return (int(resume["epoch"]) + 1, int(resume.get("batch_in_epoch", 0)), resume.get("epoch_progress"),
            resume.get("final_only_epoch"))


class RunCheckpoints:
    """The checkpoint files of a run directory: ``last.pt`` (resumable state), ``best.pt`` (best
    validation mIoU so far) and ``best_<stage>.pt``; every write atomic (segnet.checkpoints.checkpoint)."""

    def __init__(self, run_dir: Path, shard_mb: float | None = None):
        self.run_dir, self.shard_mb = Path(run_dir), shard_mb

    def write(self, name: str, payload: dict) -> None:
        try:
            save_checkpoint(self.run_dir / name, payload, shard_mb=self.shard_mb)
        except SegnetError as exc:  # a full or read-only disk: say what the run still has
            raise SegnetError(f"{exc} ({self._kept(name)})") from None

    def _kept(self, name: str) -> str:
        """What a failed write of ``name`` left in place: the previous file, and last.pt's epoch."""
        notes = [f"previous {name} kept"] if name != "last.pt" and (self.run_dir / name).is_file() else []
        last = self.run_dir / "last.pt"
        if not last.is_file():
            return "; ".join(notes + ["no last.pt written yet"])
        try:
            ckpt = load_checkpoint(last)
            stage = "" if ckpt.get("stage", STAGES[0]) == STAGES[0] else f"{ckpt['stage']} "
            where = f", {stage}epoch {int(ckpt['epoch'])}"
        except (SegnetError, KeyError, TypeError, ValueError):
            where = ""
        return "; ".join(notes + [f"{'previous ' if name == 'last.pt' else ''}last.pt kept{where}"])

    def keep_best_of_stage(self, stage: str) -> None:
        """best.pt as best_<stage>.pt, written before the last.pt that says the stage is done: a
        resume never comes back to write it (a kill in a plain copy would leave it torn)."""
        if (self.run_dir / "best.pt").is_file():
            self.write(f"best_{stage}.pt", load_checkpoint(self.run_dir / "best.pt"))

    def restore_best(self, model: torch.nn.Module, device: torch.device) -> None:
        """best.pt's weights into ``model`` (nothing before the first validation wrote one); a
        best.pt of another network is one SegnetError, not PyTorch's list of every key."""
        best = self.run_dir / "best.pt"
        if best.is_file():
            load_weights(model, load_checkpoint(best, map_location=device)["model"],
                         f"{best} holds another network than this run's last.pt")

    def last_kept(self) -> str:
        """What a failed run keeps, for its error message."""
        kept = self.run_dir / "last.pt"
        return f"last good checkpoint kept: {kept}" if kept.is_file() else "no checkpoint written yet"
