"""The network as training runs it: built from the config's model section, in channels_last
when that is faster, resumed weights loaded, wrapped for DDP and ``torch.compile``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from segnet.config import to_plain
from segnet.core.device import resolve_channels_last
from segnet.training import distributed


@dataclass
class TrainingNetwork:
    """``raw``: the module itself (checkpoints, BatchNorm buffers); ``train``: what the training
    step calls (DDP and/or compiled around ``raw``); ``eval``: what validation calls (``raw``,
    compiled when ``compile`` is on; never DDP: ranks validate different numbers of frames)."""

    raw: torch.nn.Module
    train: torch.nn.Module
    eval: torch.nn.Module
    options: dict
    channels_last: bool


def build_network(cfg, num_classes: int, device: torch.device, dist: distributed.DistInfo,
                  weights: dict | None = None) -> TrainingNetwork:
    """The config's model for ``num_classes`` classes on ``device``; ``weights``: a state_dict to
    resume from. Under DDP each rank then reseeds, so dropout masks differ between ranks."""
    from segnet.models import create_model

    options = to_plain(cfg.model.options)
    raw = create_model(cfg.model.name, num_classes, **options).to(device)
    channels_last = resolve_channels_last(cfg.channels_last, device)
    if channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    if weights is not None:
        raw.load_state_dict(weights)
    model = raw
    if dist.enabled:
        ids = [device.index] if device.type == "cuda" else None
        model = torch.nn.parallel.DistributedDataParallel(raw, device_ids=ids)
    evaluated = raw
    if cfg.compile:
        model, evaluated = torch.compile(model), torch.compile(raw)
    if dist.enabled:  # weights come from rank 0 via DDP
        torch.manual_seed(cfg.seed + 7919 * dist.rank)
    return TrainingNetwork(raw, model, evaluated, options, channels_last)
