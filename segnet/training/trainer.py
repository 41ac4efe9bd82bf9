"""The training loop: stages of epochs, validation, early stopping, checkpoints, resume.

One ``Trainer`` runs the enabled stages of a config in order (``train`` on random crops,
then ``finetune`` on full frames starting from the best weights so far). Files go to the run
directory (see segnet.training.run_dir); only rank 0 writes them.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from segnet.config import STAGES, to_plain
from segnet.data.classes import CLASS_NAMES, NUM_CLASSES
from segnet.training import distributed
from segnet.training.batches import TrainData, ValData
from segnet.core.checkpoint import load_checkpoint, model_fields, save_checkpoint
from segnet.core.device import autocast, resolve_amp
from segnet.training.early_stopping import EarlyStopping
from segnet.core.forward import forward_logits
from segnet.training.losses import class_weights_for, make_criterion, training_loss
from segnet.core.metrics import SegmentationMetrics
from segnet.training.optim import make_optimizer, make_scheduler
from segnet.training.run_dir import RunLog
from segnet.training.seeding import rng_state, seed_everything, set_deterministic, set_rng_state
from segnet.errors import SegnetError
from segnet.paths import default_data_root

LAST_RUN_DIR: list[str] = []  # the run directory of the current command (for the Ctrl-C message)


class Trainer:
    def __init__(self, cfg, run_dir: Path, dist: distributed.DistInfo, device: torch.device,
                 resume: dict | None = None, command: str = "", started: float | None = None):
        from segnet.models import create_model

        self.cfg, self.run_dir, self.dist, self.device = cfg, Path(run_dir), dist, device
        self.command = command
        self.started = started if started is not None else time.monotonic()
        self.main = dist.is_main
        self.bars = self.main and (cfg.progress if cfg.progress is not None else sys.stderr.isatty())
        LAST_RUN_DIR[:] = [str(self.run_dir)]
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        set_deterministic(cfg.deterministic, device)
        seed_everything(cfg.seed)

        root = Path(cfg.data.root) if cfg.data.root else default_data_root()
        self.train_data = TrainData(cfg, root, device, dist)
        self.val_data = ValData(cfg, root, device, dist)
        cache = Path.home() / ".cache" / "segnet" / "class_weights"
        weights = class_weights_for(cfg.loss.class_weights, self.train_data.label_paths(), NUM_CLASSES, cache)
        self.criterion = make_criterion(None if weights is None else weights.to(device))

        self.model_options = to_plain(cfg.model.options)
        self.raw_model = create_model(cfg.model.name, NUM_CLASSES, **self.model_options).to(device)
        if cfg.channels_last:
            self.raw_model = self.raw_model.to(memory_format=torch.channels_last)
        if resume is not None:
            self.raw_model.load_state_dict(resume["model"])
        self.model = self.raw_model
        if dist.enabled:
            ids = [device.index] if device.type == "cuda" else None
            self.model = torch.nn.parallel.DistributedDataParallel(self.raw_model, device_ids=ids)
        self.eval_model = self.raw_model
        if cfg.compile:
            self.model = torch.compile(self.model)
            self.eval_model = torch.compile(self.raw_model)
        if dist.enabled:  # distinct dropout masks per rank (weights come from rank 0 via DDP)
            torch.manual_seed(cfg.seed + 7919 * dist.rank)

        self.amp_dtype = resolve_amp(cfg.amp, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.resume = resume
        self.step = int(resume["step"]) if resume else 0
        self.log = RunLog(self.run_dir, purge_step=self.step if resume else None) if self.main else None
        if self.log is not None and resume is not None:
            self.log.truncate(resume["stage"], int(resume["epoch"]))
        self.best_score = -math.inf
        self.best_epoch_label = ""

    # ------------------------------------------------------------------ stages
    def fit(self) -> dict:
        """Run the remaining stages; returns a summary dict (stop reason, best mIoU, paths)."""
        r = self.resume
        start_index = STAGES.index(r["stage"]) if r else 0
        if r:
            self.best_score = float(r["meta"].get("best_miou", -math.inf))
        reason = "completed"
        try:
            for index, name in enumerate(STAGES):
                scfg = self.cfg[name]
                if index < start_index or not scfg.enabled or scfg.epochs == 0:
                    continue
                if r and index == start_index and r["stage_done"]:
                    continue
                resume_here = r if (r and index == start_index) else None
                reason = self._run_stage(index, name, scfg, resume_here)
                if reason == "time budget":
                    break
        finally:
            if self.log is not None:
                self.log.close()
        return {"run_dir": str(self.run_dir), "stopped": reason, "best_miou": self.best_score,
                "best": str(self.run_dir / "best.pt"), "step": self.step}

    def _run_stage(self, index: int, name: str, scfg, resume: dict | None) -> str:
        self.optimizer = make_optimizer(self.raw_model, self.cfg.optim, scfg.lr)
        self.scheduler = make_scheduler(self.optimizer, scfg.lr_decay)
        self.early = EarlyStopping(patience=scfg.patience)
        first_epoch, skip, partial = 1, 0, None
        if resume is not None:
            self.optimizer.load_state_dict(resume["optimizer"])
            self.scheduler.load_state_dict(resume["scheduler"])
            if resume.get("scaler"):
                self.scaler.load_state_dict(resume["scaler"])
            self.early.load_state_dict(resume["early_stopping"])
            self.early.patience = scfg.patience  # an override on --resume wins
            first_epoch = int(resume["epoch"]) + 1
            skip = int(resume.get("batch_in_epoch", 0))
            partial = resume.get("epoch_progress")
        else:  # a later stage starts from the best weights and must beat them
            self.early.best_score = self.best_score
        stage_started = time.monotonic()
        self.stage_name, self.stage_index = name, index
        # Log-DenseNet: after the last stage converges, one extra epoch trains the final output alone.
        wants_final_only = self.cfg.loss.final_only_last_epoch and index == self._last_stage_index()
        self.final_only_epoch = resume.get("final_only_epoch") if resume is not None else None
        epoch = first_epoch
        while epoch <= scfg.epochs or epoch == self.final_only_epoch:
            final_only = epoch == self.final_only_epoch
            self.epoch, self.epoch_done, self.stage_done = epoch, epoch - 1, False
            rng = resume["rng"] if (resume is not None and epoch == first_epoch) else None
            epoch_started = time.monotonic()
            try:
                self.phase = "train"
                loss, ips, train_seconds = self._train_epoch(scfg, epoch, skip, partial, rng, final_only)
                skip, partial = 0, None
                validate = epoch % self.cfg.val_every == 0 or epoch >= scfg.epochs
                result = self._validate() if validate else None
            except KeyboardInterrupt:
                if self.main and self.phase in ("train", "validate"):
                    self._save("last.pt", stage_done=False, batch_in_epoch=self.batch_in_epoch)
                raise
            self.phase = "commit"
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            self.epoch_done = epoch
            improved = result is not None and self.early.update(result["miou"], epoch)
            if improved:
                self.best_score = result["miou"]
                self.best_epoch_label = f"{name} {epoch}" + (" final-only" if final_only else "")
                if self.main:
                    self._save("best.pt", stage_done=False, batch_in_epoch=0, val=result)
            epoch_seconds = time.monotonic() - epoch_started
            self._log_epoch(name, epoch, scfg.epochs, lr, loss, result, ips, epoch_seconds)
            stop_early = result is not None and self.early.should_stop(epoch)
            converged = stop_early or epoch >= scfg.epochs
            if final_only:
                self.stage_done = True
            elif converged and wants_final_only:
                self.final_only_epoch = epoch + 1
            else:
                self.stage_done = converged
            out_of_time = self._out_of_time(epoch_seconds, stage_started, scfg)
            if converged:
                self._restore_best()
            if self.main:
                # best_<stage>.pt first and atomically: once last.pt says the stage is done, a resume
                # never comes back to write it (a kill in a plain copy would leave it torn)
                if self.stage_done and (self.run_dir / "best.pt").is_file():
                    save_checkpoint(self.run_dir / f"best_{name}.pt", load_checkpoint(self.run_dir / "best.pt"))
                self._save("last.pt", stage_done=self.stage_done, batch_in_epoch=0)
            distributed.barrier()
            if self.stage_done:
                why = "early stopping" if stop_early and epoch < scfg.epochs else "last epoch"
                self._print(f"[{name}] stage done after {epoch} epochs ({why}); best val mIoU "
                            f"{self.best_score:.4f} ({self.best_epoch_label}) -> {self.run_dir / 'best.pt'}")
                return "time budget" if out_of_time else "completed"
            if out_of_time:
                self._print(f"[{name}] time budget reached after epoch {epoch}; stopped cleanly. "
                            f"Resume with: segnet train --resume {self.run_dir}")
                return "time budget"
            epoch += 1
        return "completed"

    # ------------------------------------------------------------------ epochs
    def _last_stage_index(self) -> int:
        return max(i for i, s in enumerate(STAGES) if self.cfg[s].enabled and self.cfg[s].epochs > 0)

    def _train_epoch(self, scfg, epoch: int, skip: int, partial: dict | None, rng: dict | None,
                     final_only: bool = False):
        cfg, dev = self.cfg, self.device
        self.model.train()
        if rng is not None and skip == 0:
            set_rng_state(rng)
        batches = self.train_data.epoch(scfg, self.stage_index, epoch)
        total = self.train_data.num_batches(scfg)
        for _ in range(skip):  # a run stopped mid-epoch re-reads the batches it had trained on
            next(batches)
        if rng is not None and skip > 0:
            set_rng_state(rng)
        self.batch_in_epoch = skip
        self.loss_sum = float(partial["loss_sum"]) if partial else 0.0
        self.images_seen = int(partial["images"]) if partial else 0
        seconds_before = float(partial["seconds"]) if partial else 0.0
        images_this_run = 0
        lr = self.optimizer.param_groups[0]["lr"]
        bar = tqdm(total=total, initial=skip, desc=f"{self.stage_name} {epoch}/{scfg.epochs}", leave=False,
                   disable=not self.bars, dynamic_ncols=True,
                   mininterval=0.5)
        t0 = time.perf_counter()
        self._t0_epoch, self._seconds_before = t0, seconds_before
        try:
            for images, masks in batches:
                images = images.to(dev, non_blocking=True)
                masks = masks.to(dev, non_blocking=True)
                if cfg.channels_last:
                    images = images.contiguous(memory_format=torch.channels_last)
                with autocast(dev, self.amp_dtype):
                    output = self.model(images)
                loss = training_loss(output, masks, self.criterion, cfg.loss.final_weight, final_only)
                if cfg.debug.nan_at_step is not None and self.step + 1 == cfg.debug.nan_at_step:
                    loss = loss * float("nan")
                value = distributed.all_reduce_mean(loss.detach()).item()
                if not math.isfinite(value):
                    kept = self.run_dir / "last.pt"
                    kept_msg = f"last good checkpoint kept: {kept}" if kept.is_file() else "no checkpoint written yet"
                    raise SegnetError(
                        f"loss is {value} at {self.stage_name} epoch {epoch}, step {self.step + 1}; "
                        f"training stopped ({kept_msg})"
                    )
                self.optimizer.zero_grad(set_to_none=True)
                self.scaler.scale(loss).backward()
                self.scaler.step(self.optimizer)
                self.scaler.update()
                self.step += 1
                self.batch_in_epoch += 1
                n = images.shape[0] * self.dist.world_size
                self.loss_sum += value * n
                self.images_seen += n
                images_this_run += n
                elapsed = time.perf_counter() - t0
                if self.bars:
                    bar.update(1)
                    bar.set_postfix(loss=f"{self.loss_sum / max(self.images_seen, 1):.4f}", lr=f"{lr:.2e}",
                                    img_s=f"{images_this_run / max(elapsed, 1e-9):.1f}", refresh=False)
                if self.main and self.step % 10 == 0 and self.log is not None:
                    self.log.scalar("train/step_loss", value, self.step)
                if cfg.debug.interrupt_at_step is not None and self.step == cfg.debug.interrupt_at_step:
                    raise KeyboardInterrupt
        finally:
            bar.close()
        train_seconds = seconds_before + time.perf_counter() - t0
        loss_avg = self.loss_sum / max(self.images_seen, 1)
        return loss_avg, self.images_seen / max(train_seconds, 1e-9), train_seconds

    @torch.no_grad()
    def _validate(self) -> dict:
        self.phase = "validate"
        distributed.broadcast_buffers(self.raw_model)
        self.eval_model.eval()
        metrics = SegmentationMetrics(NUM_CLASSES, device=self.device)
        bar = tqdm(self.val_data.batches(), total=len(self.val_data), desc="val", leave=False,
                   disable=not self.bars, dynamic_ncols=True,
                   mininterval=0.5)
        for images, masks in bar:
            logits = forward_logits(self.eval_model, images.to(self.device), input_scale=self.cfg.data.scale,
                                    amp_dtype=self.amp_dtype, channels_last=self.cfg.channels_last)
            metrics.update(logits, masks.to(self.device))
        result = metrics.compute()
        self.model.train()
        return result

    # ------------------------------------------------------------------ bookkeeping
    def _out_of_time(self, epoch_seconds: float, stage_started: float, scfg) -> bool:
        """Stop when another epoch like the last one would not fit the budget (rank 0 decides)."""
        flag = False
        now = time.monotonic()
        if self.cfg.max_minutes is not None:
            flag |= (now - self.started) + epoch_seconds > self.cfg.max_minutes * 60
        if scfg.max_minutes is not None:
            flag |= (now - stage_started) + epoch_seconds > scfg.max_minutes * 60
        return distributed.any_rank(flag and self.main, self.device)

    def _restore_best(self) -> None:
        distributed.barrier()
        best = self.run_dir / "best.pt"
        if best.is_file():
            self.raw_model.load_state_dict(load_checkpoint(best, map_location=self.device)["model"])

    def _log_epoch(self, name, epoch, epochs, lr, loss, result, ips, seconds) -> None:
        if not self.main:
            return
        row = {"stage": name, "epoch": epoch, "step": self.step, "lr": lr, "train_loss": loss,
               "images_per_s": ips, "epoch_seconds": seconds,
               "elapsed_minutes": (time.monotonic() - self.started) / 60}
        msg = f"[{name}] epoch {epoch}/{epochs} | loss {loss:.4f} | lr {lr:.2e}"
        if result is not None:
            row.update(val_miou=result["miou"], val_pixel_accuracy=result["pixel_accuracy"],
                       val_mean_class_accuracy=result["mean_class_accuracy"])
            row.update({f"iou_{c}": v for c, v in zip(CLASS_NAMES, result["per_class_iou"])})
            msg += (f" | val mIoU {result['miou']:.4f} acc {result['pixel_accuracy']:.4f}"
                    f" (best {self.best_score:.4f}, {self.best_epoch_label})")
        msg += f" | {ips:.1f} img/s | {seconds:.0f}s"
        self.log.epoch(row, self.step)
        self._print(msg)

    def _print(self, msg: str) -> None:
        if self.main:
            tqdm.write(msg, file=sys.stdout)
            sys.stdout.flush()

    def _save(self, filename: str, stage_done: bool, batch_in_epoch: int, val: dict | None = None) -> None:
        cfg = self.cfg
        epoch_done = self.epoch_done if batch_in_epoch == 0 else self.epoch - 1
        finished = stage_done and not any(
            cfg[s].enabled and cfg[s].epochs > 0 for s in STAGES[self.stage_index + 1 :]
        )
        meta = {"command": self.command, "run_dir": str(self.run_dir), "stage": self.stage_name,
                "epoch": self.epoch, "best_miou": self.best_score, "saved": time.strftime("%Y-%m-%d %H:%M:%S")}
        if val is not None:
            meta.update(val_miou=val["miou"], val_pixel_accuracy=val["pixel_accuracy"],
                        val_per_class_iou=val["per_class_iou"])
        progress = None
        if batch_in_epoch:
            progress = {"loss_sum": self.loss_sum, "images": self.images_seen,
                        "seconds": self._seconds_before + time.perf_counter() - self._t0_epoch}
        normalization = {"mean": [float(v) for v in cfg.data.mean], "std": [float(v) for v in cfg.data.std]}
        save_checkpoint(self.run_dir / filename, {
            **model_fields(self.raw_model, cfg.model.name, self.model_options, cfg.data.scale, normalization, meta),
            "config": to_plain(cfg),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
            "stage": self.stage_name,
            "epoch": epoch_done,
            "batch_in_epoch": batch_in_epoch,
            "epoch_progress": progress,
            "stage_done": stage_done,
            "final_only_epoch": self.final_only_epoch,
            "finished": finished,
            "step": self.step,
            "early_stopping": self.early.state_dict(),
            "rng": rng_state(),
        })
