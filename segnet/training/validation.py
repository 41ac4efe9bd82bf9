"""Validation during training: full frames, scored on the full-resolution labels, with the
BatchNorm protocol the test will use (``val_bn``)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import torch
from tqdm import tqdm

from segnet.core.device import resolve_channels_last
from segnet.core.metrics import SegmentationMetrics
from segnet.inference.forward import forward_logits, use_batch_statistics
from segnet.training.distributed import broadcast_buffers


@torch.no_grad()
def validate(model: torch.nn.Module, raw_model: torch.nn.Module, val_data, cfg, num_classes: int,
             device: torch.device, amp_dtype, at_safe_point: Callable[[], None], bars: bool,
             distributed_run: bool = False) -> dict:
    """Metrics of ``model`` (``raw_model`` or its compiled wrapper) on this rank's share of the val
    split; ``at_safe_point()`` runs after every batch (a stop request raises there).

    ``distributed_run`` (DDP): rank 0's BatchNorm statistics are broadcast first, so every rank
    scores one model; and no per-batch stop check, since ranks validate different numbers of
    frames and a collective per batch would deadlock (a stop waits for the end of validation).
    """
    if distributed_run:
        broadcast_buffers(raw_model)
        at_safe_point = _nothing
    metrics = SegmentationMetrics(num_classes, ignore_index=num_classes, device=device)  # void id = num_classes
    batches = tqdm(val_data.batches(), total=len(val_data), desc="val", leave=False, disable=not bars,
                   dynamic_ncols=True, mininterval=0.5)
    with validation_bn(raw_model, cfg.val_bn):
        for images, masks in batches:
            logits = forward_logits(model, images.to(device), input_scale=cfg.data.scale, amp_dtype=amp_dtype,
                                    channels_last=resolve_channels_last(cfg.channels_last, device))
            metrics.update(logits, masks.to(device))
            at_safe_point()
    return metrics.compute()


def _nothing() -> None:
    pass


@contextlib.contextmanager
def validation_bn(model: torch.nn.Module, mode: str) -> Iterator[None]:
    """Validate as the test will be scored: ``running`` (eval mode) or ``batch`` (BatchNorm
    normalises with each batch's statistics, segnet.inference.forward.use_batch_statistics).

    With ``batch`` every BatchNorm buffer and momentum is put back afterwards, so validation
    leaves the running statistics (and a deterministic resume) exactly as they were.
    """
    if mode != "batch":
        model.eval()
        yield
        return
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    saved = [(m.momentum, [b.clone() for b in m.buffers()]) for m in norms]
    use_batch_statistics(model)
    try:
        yield
    finally:
        for m, (momentum, buffers) in zip(norms, saved):
            m.momentum = momentum
            for buffer, value in zip(m.buffers(), buffers):
                buffer.copy_(value)
