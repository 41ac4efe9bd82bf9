"""The training loop: stages of epochs, validation, early stopping, checkpoints, resume.

One ``Trainer`` runs the enabled stages of a config in order (``train`` on random crops,
then ``finetune`` on full frames starting from the best weights so far). Files go to the run
directory (see segnet.training.run_dir); only rank 0 writes them.

Stopping (segnet.training.stop): a signal is acted on only at a safe point, after a whole
optimizer step and its counters or between validation batches; ``last.pt`` then holds that
point exactly and ``TrainingInterrupted`` is raised.
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import torch
from tqdm import tqdm

from segnet.core.choices import STAGES
from segnet.core.device import autocast, resolve_amp
from segnet.core.paths import cache_dir, default_data_root
from segnet.data.classes import load_classes
from segnet.errors import SegnetError
from segnet.training import distributed
from segnet.training.batches import TrainData, ValData
from segnet.training.cpu_time import CpuClock
from segnet.training.early_stopping import EarlyStopping
from segnet.training.losses import class_weights_for, make_criterion, training_loss
from segnet.training.network import build_network
from segnet.training.optim import make_optimizer, make_scheduler
from segnet.training.run_dir import RunLog, epoch_line, epoch_row
from segnet.training.seeding import seed_everything, set_deterministic, set_rng_state
from segnet.training.state import EpochProgress, RunCheckpoints, restore_stage, training_checkpoint
from segnet.training.stop import StopRequested, StopSignals, TrainingInterrupted, out_of_time, worker_death
from segnet.training.validation import validate


class Trainer:
    """One run: data, network (segnet.training.network), loss and run directory set up from the
    config (and a resume checkpoint); ``fit()`` trains the remaining stages."""

    def __init__(self, cfg, run_dir: Path, dist: distributed.DistInfo, device: torch.device,
                 resume: dict | None = None, command: str = "", started: float | None = None,
                 stop: StopSignals | None = None):
        self.cfg, self.run_dir, self.dist, self.device = cfg, Path(run_dir), dist, device
        self.command = command
        self.started = started if started is not None else time.monotonic()
        self.cpu = CpuClock.resumed(resume, dist.enabled)
        self.stop = stop if stop is not None else StopSignals(self.run_dir)  # not installed: no handlers
        self.main = dist.is_main
        self.bars = self.main and (cfg.progress if cfg.progress is not None else sys.stderr.isatty())
        if self.main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
        self.files = RunCheckpoints(self.run_dir, cfg.checkpoint.shard_mb)
        if cfg.threads:
            torch.set_num_threads(cfg.threads)
        if cfg.flush_denormal:
            torch.set_flush_denormal(True)
        set_deterministic(cfg.deterministic, device)
        seed_everything(cfg.seed)

        root = Path(cfg.data.root) if cfg.data.root else default_data_root()
        self.classes = load_classes(root)  # the root's classes.yaml, else CamVid's
        self.train_data = TrainData(cfg, root, device, dist)
        self.val_data = ValData(cfg, root, device, dist)
        cache = cache_dir() / "class_weights"
        weights = class_weights_for(cfg.loss.class_weights, self.train_data.label_paths(),
                                    self.classes.num_classes, cache)
        self.criterion = make_criterion(None if weights is None else weights.to(device), cfg.loss.label_smoothing,
                                        ignore_index=self.classes.void_id)

        self.net = net = build_network(cfg, self.classes.num_classes, device, dist, resume)
        self.raw_model, self.model, self.eval_model = net.raw, net.train, net.eval
        self.model_options, self.channels_last = net.options, net.channels_last

        self.amp_dtype = resolve_amp(cfg.amp, device)
        self.scaler = torch.amp.GradScaler(device.type, enabled=self.amp_dtype == torch.float16)
        self.resume = resume
        self.step = int(resume["step"]) if resume else 0
        self.log = RunLog(self.run_dir, purge_step=self.step if resume else None,
                          class_names=self.classes.names) if self.main else None
        if self.log is not None and resume is not None:
            self.log.truncate(resume["stage"], int(resume["epoch"]))
        self.best_score = float(resume["meta"].get("best_miou", -math.inf)) if resume else -math.inf
        self.best_epoch_label = ""
        # per stage (set by _begin_stage)
        self.stage_name, self.stage_index = STAGES[0], 0
        self.optimizer = self.scheduler = None
        self.early = EarlyStopping()
        self.final_only_epoch: int | None = None
        # per epoch
        self.epoch, self.epoch_done, self.stage_done, self.progress = 0, 0, False, EpochProgress()

    # ------------------------------------------------------------------ stages
    def fit(self) -> dict:
        """Run the remaining stages; returns a summary dict (stop reason, best mIoU, paths)."""
        r = self.resume
        start_index = STAGES.index(r["stage"]) if r else 0
        reason = "completed"
        self.stop.armed = True  # from here a signal waits for a safe point
        try:
            for index, name in enumerate(STAGES):
                scfg = self.cfg[name]
                if index < start_index or not scfg.enabled or scfg.epochs == 0:
                    continue
                if r and index == start_index and r["stage_done"]:
                    continue
                reason = self._run_stage(index, name, scfg, r if (r and index == start_index) else None)
                if reason == "time budget":
                    break
        except RuntimeError as exc:  # torch raises it from its SIGCHLD handler, at any bytecode
            raise worker_death(exc, self.run_dir) or exc from None
        finally:
            self.stop.armed = False
            if self.log is not None:
                self.log.close()
        return {"run_dir": str(self.run_dir), "stopped": reason, "best_miou": self.best_score,
                "best": str(self.run_dir / "best.pt"), "step": self.step}

    def _run_stage(self, index: int, name: str, scfg, resume: dict | None) -> str:
        epoch, skip, partial = self._begin_stage(index, name, scfg, resume)
        first_epoch, stage_started = epoch, time.monotonic()
        while epoch <= scfg.epochs or epoch == self.final_only_epoch:
            self.epoch, self.epoch_done, self.stage_done = epoch, epoch - 1, False
            rng = resume["rng"] if (resume is not None and epoch == first_epoch) else None
            epoch_started = time.monotonic()
            try:
                loss, ips = self._train_epoch(scfg, epoch, skip, partial, rng)
                skip, partial = 0, None
                validate = epoch % self.cfg.val_every == 0 or epoch >= scfg.epochs
                result = self._validate() if validate else None
            except StopRequested:
                if self.main:
                    self._save("last.pt", batch_in_epoch=self.progress.batches)
                raise TrainingInterrupted(self.run_dir, resumable=True) from None
            stop_early = self._commit_epoch(scfg, loss, ips, result, time.monotonic() - epoch_started)
            spent = self.main and out_of_time(time.monotonic() - epoch_started, (self.started, self.cfg.max_minutes),
                                              (stage_started, scfg.max_minutes))
            spent = distributed.any_rank(spent, self.device)  # rank 0 decides, every rank follows
            if self.stop.requested_anywhere(self.device):  # arrived during the commit: last.pt is this epoch's end
                raise TrainingInterrupted(self.run_dir, resumable=True)
            if self.stage_done:
                why = "early stopping" if stop_early and epoch < scfg.epochs else "last epoch"
                self._print(f"[{name}] stage done after {epoch} epochs ({why}); best val mIoU "
                            f"{self.best_score:.4f} ({self.best_epoch_label}) -> {self.run_dir / 'best.pt'}")
                more_stages = self.stage_index < self._last_stage_index()
                return "time budget" if spent and more_stages else "completed"
            if spent:
                self._print(f"[{name}] time budget reached after epoch {epoch}; stopped cleanly, resumable "
                            f"state in {self.run_dir / 'last.pt'}")
                return "time budget"
            epoch += 1
        return "completed"

    def _begin_stage(self, index: int, name: str, scfg, resume: dict | None) -> tuple[int, int, dict | None]:
        """Fresh optimizer, schedule and early stopping, or theirs from ``resume``; returns the
        first epoch, the batches of it already trained on, and that partial epoch's sums."""
        self.stage_name, self.stage_index = name, index
        self.optimizer = make_optimizer(self.raw_model, self.cfg.optim, scfg.lr)
        self.scheduler = make_scheduler(self.optimizer, scfg)
        self.early = EarlyStopping(patience=scfg.patience)
        self.final_only_epoch = None
        if resume is None:  # a later stage starts from the best weights and must beat them
            self.early.best_score = self.best_score
            return scfg.start_epoch, 0, None
        epoch, skip, partial, self.final_only_epoch = restore_stage(resume, self.optimizer, self.scheduler, self.scaler,
                                                                    self.early, scfg.patience)
        return epoch, skip, partial

    def _commit_epoch(self, scfg, loss: float, ips: float, result: dict | None, seconds: float) -> bool:
        """Schedule, best.pt, metrics row, stage end, last.pt; True when early stopping ends the stage."""
        epoch, name = self.epoch, self.stage_name
        final_only = epoch == self.final_only_epoch
        lr = self.optimizer.param_groups[0]["lr"]
        self.scheduler.step()
        self.epoch_done = epoch
        if result is not None and self.early.update(result["miou"], epoch):
            self.best_score = result["miou"]
            self.best_epoch_label = f"{name} {epoch}" + (" final-only" if final_only else "")
            if self.main:
                self._save("best.pt", val=result)
        self._log_epoch(scfg.epochs, lr, loss, result, ips, seconds)
        stop_early = result is not None and self.early.should_stop(epoch)
        converged = stop_early or epoch >= scfg.epochs
        # Log-DenseNet: after the last stage converges, one extra epoch trains the final output alone.
        wants_final_only = self.cfg.loss.final_only_last_epoch and self.stage_index == self._last_stage_index()
        if final_only:
            self.stage_done = True
        elif converged and wants_final_only:
            self.final_only_epoch = epoch + 1
        else:
            self.stage_done = converged
        if converged:
            self._restore_best()
        if self.main:
            if self.stage_done:
                self.files.keep_best_of_stage(name)
            self._save("last.pt")
        distributed.barrier()
        return stop_early

    # ------------------------------------------------------------------ epochs
    def _last_stage_index(self) -> int:
        return max(i for i, s in enumerate(STAGES) if self.cfg[s].enabled and self.cfg[s].epochs > 0)

    def _train_epoch(self, scfg, epoch: int, skip: int, partial: dict | None, rng: dict | None):
        """One epoch from batch ``skip`` on (a resumed epoch re-reads the batches it had trained on,
        then restores the RNG state of the stop); returns (mean loss, images/s)."""
        self.model.train()
        if rng is not None and skip == 0:
            set_rng_state(rng)
        batches = self.train_data.epoch(scfg, self.stage_index, epoch)
        for _ in range(skip):
            next(batches)
            if self.stop.requested_anywhere(self.device):  # nothing trained since last.pt: it already holds this point
                raise TrainingInterrupted(self.run_dir, resumable=True)
        if rng is not None and skip > 0:
            set_rng_state(rng)
        self.progress = EpochProgress.resumed(skip, partial)
        bar = tqdm(total=self.train_data.num_batches(scfg), initial=skip,
                   desc=f"{self.stage_name} {epoch}/{scfg.epochs}", leave=False, disable=not self.bars,
                   dynamic_ncols=True, mininterval=0.5)
        try:
            for images, masks in batches:
                value = self._train_step(images, masks, epoch == self.final_only_epoch)
                self.progress.add(value, images.shape[0] * self.dist.world_size)
                if self.bars:
                    bar.update(1)
                    bar.set_postfix(loss=f"{self.progress.mean_loss:.4f}", img_s=f"{self.progress.rate_this_run:.1f}",
                                    refresh=False)
                if self.main and self.step % 10 == 0 and self.log is not None:
                    self.log.scalar("train/step_loss", value, self.step)
                if self.cfg.debug.interrupt_at_step is not None and self.step == self.cfg.debug.interrupt_at_step:
                    self.stop.request()
                self._check_stop()  # the safe point: a whole step and its counters are done
        finally:
            bar.close()
        return self.progress.mean_loss, self.progress.rate

    def _train_step(self, images: torch.Tensor, masks: torch.Tensor, final_only: bool) -> float:
        cfg, dev = self.cfg, self.device
        images, masks = images.to(dev, non_blocking=True), masks.to(dev, non_blocking=True)
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        with autocast(dev, self.amp_dtype):
            output = self.model(images)
        loss = training_loss(output, masks, self.criterion, cfg.loss.final_weight, final_only,
                             cfg.loss.aux_weighting, cfg.loss.aux_targets)
        if cfg.debug.nan_at_step is not None and self.step + 1 == cfg.debug.nan_at_step:
            loss = loss * float("nan")
        value = distributed.all_reduce_mean(loss.detach()).item()
        if not math.isfinite(value):
            raise SegnetError(f"loss is {value} at {self.stage_name} epoch {self.epoch}, step {self.step + 1}; "
                              f"training stopped ({self.files.last_kept()})")
        self.optimizer.zero_grad(set_to_none=True)
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        self.net.after_step()
        self.step += 1
        return value

    def _check_stop(self) -> None:
        """The safe point of a training step or validation batch: StopRequested when a stop was requested."""
        if self.stop.requested_anywhere(self.device):
            raise StopRequested

    def _validate(self) -> dict:
        result = validate(self.eval_model, self.net.inference, self.val_data, self.cfg, self.classes.num_classes,
                          self.device, self.amp_dtype, self._check_stop, self.bars, self.dist.enabled)
        self.model.train()
        return result

    # ------------------------------------------------------------------ bookkeeping
    def _restore_best(self) -> None:
        distributed.barrier()
        self.files.restore_best(self.raw_model, self.device)
        self.net.after_restore()

    def _log_epoch(self, epochs, lr, loss, result, ips, seconds) -> None:
        if not self.main:
            return
        row = epoch_row(self.stage_name, self.epoch, self.step, lr, loss, result, ips, seconds,
                        (time.monotonic() - self.started) / 60, self.classes.names, self.cpu.minutes)
        self.log.epoch(row, self.step)
        self._print(epoch_line(row, epochs, f"best {self.best_score:.4f}, {self.best_epoch_label}"))

    def _print(self, msg: str) -> None:
        if self.main:
            tqdm.write(msg, file=sys.stdout)
            sys.stdout.flush()

    def _save(self, filename: str, batch_in_epoch: int = 0, val: dict | None = None) -> None:
        """last.pt / best.pt: the whole resumable state at the end of an epoch or, mid-epoch, after
        ``batch_in_epoch`` batches (a stop at a safe point)."""
        self.files.write(filename, training_checkpoint(self, batch_in_epoch, val))
