"""The network as training runs it: built from the config's model section, in channels_last
when that is faster, resumed weights loaded, wrapped for DDP and ``torch.compile``."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from segnet.config import to_plain
from segnet.core.device import resolve_channels_last
from segnet.errors import SegnetError
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
    resume from, else ``cfg.load_from``'s. Under DDP each rank then reseeds, so dropout masks
    differ between ranks."""
    from segnet.models import create_model

    options = to_plain(cfg.model.options)
    raw = create_model(cfg.model.name, num_classes, **options).to(device)
    channels_last = resolve_channels_last(cfg.channels_last, device)
    if channels_last:
        raw = raw.to(memory_format=torch.channels_last)
    if weights is not None:
        raw.load_state_dict(weights)
    elif cfg.load_from:
        _load_from(raw, cfg.load_from, cfg.model.name, num_classes)
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


def _load_from(model: torch.nn.Module, source: str, name: str, num_classes: int) -> None:
    """``source``'s weights into ``model`` (float16 bundles cast up); a checkpoint of another
    model or class count is refused in one line naming the file."""
    from segnet.core.checkpoint import load_checkpoint
    from segnet.inference.bundled import BUNDLED_PATH

    path = BUNDLED_PATH if source == "bundled" else source
    try:
        ckpt = load_checkpoint(path)
    except SegnetError as exc:
        raise SegnetError(f"load_from: {exc}") from None
    theirs = (ckpt["model_name"], int(ckpt.get("num_classes", 11)))
    if theirs != (name, num_classes):
        raise SegnetError(f"load_from {path}: it holds {theirs[0]} with {theirs[1]} classes, this run trains "
                          f"{name} with {num_classes}")
    state = {k: v.float() if v.is_floating_point() else v for k, v in ckpt["model"].items()}
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        lines = str(exc).strip().splitlines()
        raise SegnetError(f"load_from {path}: its weights do not fit this run's {name} options "
                          f"({(lines[1] if len(lines) > 1 else lines[0]).strip()[:200]})") from None
