"""Value checks of a training config that its types cannot express; every message names the key."""

from __future__ import annotations

from typing import Any

from omegaconf import DictConfig

from segnet.core.choices import AMP, AUX_TARGETS, AUX_WEIGHTING, BN_MODES, CLASS_WEIGHTS, OPTIMIZERS, SCHEDULES, STAGES
from segnet.errors import SegnetError


def _check(ok: bool, key: str, value: Any, need: str) -> None:
    if not ok:
        raise SegnetError(f"config key '{key}' = {value!r}: {need}")


def validate_config(cfg: DictConfig) -> None:
    """Value checks the type system cannot express, one section at a time; every message names the key."""
    _check_run(cfg)
    _check_data(cfg.data)
    for stage in STAGES:
        _check_stage(stage, cfg[stage])
    _check_optim(cfg.optim)
    _check_loss(cfg.loss, cfg.model)
    _check_model(cfg.model)
    if not any(cfg[s].enabled and cfg[s].epochs > 0 for s in STAGES):
        stage = next((s for s in STAGES if cfg[s].enabled), "train")  # name the key that stops it
        key, value = (f"{stage}.epochs", cfg[stage].epochs) if cfg[stage].enabled else (f"{stage}.enabled", False)
        _check(False, key, value, "no stage to run (train or finetune needs enabled=true and epochs >= 1)")


def _check_run(cfg: DictConfig) -> None:
    # YAML reads a bare off/on as a boolean, which the str field stores as "False"/"True".
    cfg.amp = {"False": "off", "false": "off", "True": "auto", "true": "auto"}.get(cfg.amp, cfg.amp)
    _check(cfg.amp in AMP, "amp", cfg.amp, f"must be one of {', '.join(AMP)}")
    _check(cfg.val_every >= 1, "val_every", cfg.val_every, "must be >= 1")
    _check(cfg.ema_decay is None or 0 < cfg.ema_decay < 1, "ema_decay", cfg.ema_decay, "must be in (0, 1) or null")
    _check(cfg.val_bn in BN_MODES, "val_bn", cfg.val_bn, f"must be one of {', '.join(BN_MODES)}")
    shard_mb = cfg.checkpoint.shard_mb
    _check(shard_mb is None or shard_mb >= 0.05, "checkpoint.shard_mb", shard_mb, "must be >= 0.05 (or null: one file)")
    _check(cfg.max_minutes is None or cfg.max_minutes > 0, "max_minutes", cfg.max_minutes, "must be > 0")
    _check(cfg.threads is None or cfg.threads >= 1, "threads", cfg.threads, "must be >= 1")
    _check(cfg.device == "auto" or cfg.device.split(":")[0] in ("cpu", "cuda"), "device", cfg.device,
           "must be auto, cpu, cuda or cuda:N")


def _check_data(d: DictConfig) -> None:
    _check(0 < d.scale <= 1.0, "data.scale", d.scale, "must be in (0, 1]")
    _check(d.num_workers >= 0, "data.num_workers", d.num_workers, "must be >= 0")
    _check(d.val_batch_size >= 1, "data.val_batch_size", d.val_batch_size, "must be >= 1")
    for key in ("limit_train", "limit_val"):
        _check(d[key] is None or d[key] >= 1, f"data.{key}", d[key], "must be >= 1 (or null for all frames)")
    for key in ("mean", "std"):
        _check(len(d[key]) == 3, f"data.{key}", list(d[key]), "needs 3 values (R, G, B)")
    _check(all(s > 0 for s in d.std), "data.std", list(d.std), "values must be > 0")
    if d.scale_jitter is not None:
        jitter = list(d.scale_jitter)
        _check(len(jitter) == 2 and 0 < jitter[0] <= jitter[1], "data.scale_jitter", jitter,
               "needs two factors 0 < low <= high (or null)")
    _check(0 <= d.sky_repaint <= 1, "data.sky_repaint", d.sky_repaint, "is a probability in [0, 1]")
    _check(not (d.preload_to_device and (d.scale_jitter is not None or d.photometric or d.sky_repaint)),
           "data.preload_to_device", d.preload_to_device,
           "does not apply data.scale_jitter / photometric / sky_repaint; turn one off")


def _check_stage(stage: str, s: DictConfig) -> None:
    _check(s.epochs >= 0, f"{stage}.epochs", s.epochs, "must be >= 0")
    _check(s.lr > 0, f"{stage}.lr", s.lr, "must be > 0")
    _check(0 < s.lr_decay <= 1, f"{stage}.lr_decay", s.lr_decay, "must be in (0, 1]")
    _check(s.schedule in SCHEDULES, f"{stage}.schedule", s.schedule, f"must be one of {', '.join(SCHEDULES)}")
    _check(s.warmup_epochs >= 0, f"{stage}.warmup_epochs", s.warmup_epochs, "must be >= 0")
    _check(s.schedule == "exponential" or s.epochs == 0 or s.warmup_epochs < s.epochs, f"{stage}.warmup_epochs",
           s.warmup_epochs, f"leaves no epoch of the {s.schedule} schedule ({stage}.epochs = {s.epochs})")
    _check(1 <= s.start_epoch <= max(s.epochs, 1), f"{stage}.start_epoch", s.start_epoch,
           f"must be in [1, {stage}.epochs = {s.epochs}]")
    _check(s.patience is None or s.patience >= 1, f"{stage}.patience", s.patience, "must be >= 1 or null")
    _check(s.batch_size >= 1, f"{stage}.batch_size", s.batch_size, "must be >= 1")
    _check(s.max_minutes is None or s.max_minutes > 0, f"{stage}.max_minutes", s.max_minutes, "must be > 0")
    # whether the crop fits the frames is checked at the start of training, against the data's own
    # frames (segnet.training.batches): a config does not know which data it will meet
    _check(s.crop_size is None or s.crop_size >= 8, f"{stage}.crop_size", s.crop_size,
           "must be >= 8 (or null for full frames)")


def _check_optim(o: DictConfig) -> None:
    _check(o.name in OPTIMIZERS, "optim.name", o.name, f"must be one of {', '.join(OPTIMIZERS)}")
    _check(o.weight_decay >= 0, "optim.weight_decay", o.weight_decay, "must be >= 0")
    _check(0 <= o.alpha < 1, "optim.alpha", o.alpha, "must be in [0, 1)")
    _check(o.eps > 0, "optim.eps", o.eps, "must be > 0")
    _check(o.momentum >= 0, "optim.momentum", o.momentum, "must be >= 0")


def _check_loss(lo: DictConfig, model: DictConfig) -> None:
    _check(lo.class_weights in CLASS_WEIGHTS, "loss.class_weights", lo.class_weights,
           f"must be one of {', '.join(CLASS_WEIGHTS)}")
    _check(0 <= lo.final_weight <= 1, "loss.final_weight", lo.final_weight, "must be in [0, 1]")
    _check(lo.aux_weighting in AUX_WEIGHTING, "loss.aux_weighting", lo.aux_weighting,
           f"must be one of {', '.join(AUX_WEIGHTING)}")
    _check(lo.aux_targets in AUX_TARGETS, "loss.aux_targets", lo.aux_targets,
           f"must be one of {', '.join(AUX_TARGETS)}")
    _check(0 <= lo.label_smoothing < 1, "loss.label_smoothing", lo.label_smoothing, "must be in [0, 1)")
    _check(not lo.final_only_last_epoch or bool(model.options.get("deep_supervision")),
           "loss.final_only_last_epoch", lo.final_only_last_epoch, "needs model.options.deep_supervision=true")


def _check_model(model: DictConfig) -> None:
    """The name's form; whether it is registered is checked by training (the registry is a layer up)."""
    _check("num_classes" not in model.options, "model.options.num_classes", model.options.get("num_classes"),
           "the class count comes from the dataset: classes.yaml at data.root (data/README.md)")
    if model.name.startswith("smp/"):
        _check(len(model.name.split("/")) == 3, "model.name", model.name, "smp models are named smp/<arch>/<encoder>")
