"""The network as training runs it: built from the config's model section, in channels_last
when that is faster, resumed weights loaded, wrapped for DDP and ``torch.compile``, and with
``ema_decay`` an exponential moving average of its weights (torch.optim.swa_utils.AveragedModel,
BatchNorm statistics averaged too) that validation scores and checkpoints ship."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from segnet import models  # models.create_model looked up per call: test harnesses wrap it
from segnet.checkpoints.checkpoint import load_checkpoint, load_weights
from segnet.checkpoints.model_card import ModelCard
from segnet.config.load import to_plain
from segnet.core.device import resolve_channels_last
from segnet.core.paths import bundled_model_path
from segnet.errors import SegnetError
from segnet.training import distributed


@dataclass
class TrainingNetwork:
    """``raw``: the module itself (optimizer, BatchNorm buffers); ``train``: what the training
    step calls (DDP and/or compiled around ``raw``); ``eval``: what validation calls (``inference``,
    compiled when ``compile`` is on; never DDP: ranks validate different numbers of frames);
    ``averaged``: the moving average of ``raw`` (None without ``ema_decay``)."""

    raw: torch.nn.Module
    train: torch.nn.Module
    eval: torch.nn.Module
    options: dict
    channels_last: bool
    averaged: AveragedModel | None = None

    @property
    def inference(self) -> torch.nn.Module:
        """The weights validation scores and checkpoints hold as ``model``: the average, if any."""
        return self.averaged.module if self.averaged is not None else self.raw

    def after_step(self) -> None:
        if self.averaged is not None:
            self.averaged.update_parameters(self.raw)

    def after_restore(self) -> None:
        """``raw`` was set to the best weights (stage end): the average starts again from them."""
        if self.averaged is not None:
            self.averaged.module.load_state_dict(self.raw.state_dict())

    def resume_state(self) -> dict:
        """What a checkpoint needs beyond ``model`` to continue: the trained weights and the
        average's update count (``model`` holds the average)."""
        if self.averaged is None:
            return {}
        return {"training_weights": self.raw.state_dict(), "ema_updates": int(self.averaged.n_averaged)}


def build_network(cfg, num_classes: int, device: torch.device, dist: distributed.DistInfo,
                  resume: dict | None = None) -> TrainingNetwork:
    """The config's model for ``num_classes`` classes on ``device``; ``resume``: a training
    checkpoint to continue, else ``cfg.load_from``'s weights. Under DDP each rank then reseeds, so
    dropout masks differ between ranks."""
    weights = None if resume is None else resume.get("training_weights", resume["model"])
    options = to_plain(cfg.model.options)
    raw = models.create_model(cfg.model.name, num_classes, **options).to(device)
    channels_last = resolve_channels_last(cfg.channels_last, device)
    if channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    if weights is not None:
        load_weights(raw, weights, f"the run's checkpoint holds weights of another network than {cfg.model.name} "
                                   f"with {num_classes} classes and these options")
    elif cfg.load_from:
        _load_from(raw, cfg.load_from, cfg.model.name, num_classes)
    model = raw
    if dist.enabled:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(raw, device_ids=ids)
    averaged = _average(raw, cfg.ema_decay, cfg.ema_warmup, resume)
    evaluated = raw if averaged is None else averaged.module
    if cfg.compile:
        model, evaluated = torch.compile(model), torch.compile(evaluated)
    if dist.enabled:  # weights come from rank 0 via DDP
        torch.manual_seed(cfg.seed + 7919 * dist.rank)
    return TrainingNetwork(raw, model, evaluated, options, channels_last, averaged)


def _average(raw: torch.nn.Module, decay: float | None, warmup: bool, resume: dict | None) -> AveragedModel | None:
    """The moving average of ``raw``'s weights (per optimizer step), continued from ``resume``'s
    when it kept one; a run that turns it on at a resume starts it from the resumed weights."""
    if decay is None:
        return None
    averaged = AveragedModel(raw, multi_avg_fn=ema_update(decay, warmup), use_buffers=True)
    if resume is not None and "training_weights" in resume:
        averaged.module.load_state_dict(resume["model"])
        averaged.n_averaged.fill_(int(resume["ema_updates"]))
    return averaged


def ema_update(decay: float, warmup: bool):
    """AveragedModel's ``multi_avg_fn``: torch's EMA step with ``decay``, or with ``warmup`` with
    min(decay, (1 + n) / (10 + n)) after n updates, so that early weights fade within a few hundred
    steps instead of thousands."""
    if not warmup:
        return get_ema_multi_avg_fn(decay)

    def update(averaged: list, current: list, n_averaged: torch.Tensor) -> None:
        n = float(n_averaged)
        get_ema_multi_avg_fn(min(decay, (1 + n) / (10 + n)))(averaged, current, n_averaged)

    return update


def _load_from(model: torch.nn.Module, source: str, name: str, num_classes: int) -> None:
    """``source``'s weights into ``model``; a checkpoint of another model or class count is
    refused in one line naming the file."""
    path = bundled_model_path() if source == "bundled" else source
    try:
        ckpt = load_checkpoint(path)
    except SegnetError as exc:
        raise SegnetError(f"load_from: {exc}") from None
    card = ModelCard.from_checkpoint(ckpt, str(path))
    theirs = (card.model_name, card.classes.num_classes)
    if theirs != (name, num_classes):
        raise SegnetError(f"load_from {path}: it holds {theirs[0]} with {theirs[1]} classes, this run trains "
                          f"{name} with {num_classes}")
    load_weights(model, ckpt["model"], f"load_from {path}: its weights do not fit this run's {name} options")
