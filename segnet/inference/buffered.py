"""An inference-only FC-DenseNet forward that never re-copies a dense block's stack.

The training forward (segnet.models) concatenates a block's maps again before every layer:
at 360x480 those ``torch.cat`` copies, and the separate BatchNorm and ReLU passes over them,
cost more CPU time than the convolutions (profile in docs/results/inference.md). Here each
block owns one preallocated ``[N, C_total, H, W]`` buffer (channels_last); layer ``j`` reads
the slice ``[:, :c_j]`` through its eval-mode BatchNorm folded to ``x * scale + shift``,
ReLU in place, and its convolution's ``growth_rate`` new maps are written into the next slice.
An up block's buffer also holds its input ``[upsampled | skip]``: the down block at that
resolution writes its stack straight into it, so the skip is never copied either.

Same weights, same arithmetic order per layer: logits match the model's to float rounding
(tests/inference/test_predict.py). Models other than FC-DenseNet pass through unchanged.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn as nn

from segnet.models.blocks import DenseBlock
from segnet.models.fc_densenet import FCDenseNet


def prepare_for_inference(model: nn.Module, channels_last: bool = True, fused: bool = True) -> nn.Module:
    """Eval-mode model for the torch runtime: channels_last weights, and the buffered
    FC-DenseNet forward when ``fused`` and the model is a plain (non-bottleneck) FC-DenseNet."""
    model = model.eval()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if fused and isinstance(model, FCDenseNet) and all(_plain(b) for b in _blocks(model)):
        return BufferedFCDenseNet(model, channels_last).eval()
    return model


def _blocks(model: FCDenseNet) -> list[DenseBlock]:
    return [*model.down_blocks, model.bottleneck, *model.up_blocks]


def _plain(block: DenseBlock) -> bool:
    return all(isinstance(layer.second, nn.Identity) for layer in block.layers)


_SAME_SIZE_INT = {torch.float32: torch.int32, torch.bfloat16: torch.int16, torch.float16: torch.int16}


def _relu_(y: torch.Tensor) -> torch.Tensor:
    """In-place ReLU of a dense tensor through its integer view: a float is negative exactly
    when its sign bit is set, i.e. when the same bits read as a signed integer are negative,
    and integer 0 is +0.0. Several times faster than bfloat16 ``relu_`` on the CPU."""
    as_int = _SAME_SIZE_INT.get(y.dtype)
    if as_int is None or y.is_cuda:
        return y.relu_()
    flat = y.permute(0, 2, 3, 1) if y.stride(1) == 1 and y.dim() == 4 else y
    flat.view(as_int).clamp_min_(0)
    return y


class _FoldedUnit(nn.Module):
    """``conv(relu(x * scale + shift))``: a BN -> ReLU -> conv unit with its eval BatchNorm folded.

    The BN scale's magnitude goes into the conv weights, ``relu(a x + b) = |a| relu(sign(a) x + b/|a|)``,
    so ``scale`` is +-1 (exact in bfloat16) and only ``shift`` is rounded under bf16 autocast:
    one rounding fewer than ``a x + b`` with both in bf16 (bf16 argmax agreement with float32 on
    a trained FC-DenseNet56 went from 99.31% to 99.53%, docs/results/inference.md). A channel with a = 0
    contributes the constant relu(b). The activation goes into a caller-owned scratch tensor.
    """

    def __init__(self, bn: nn.BatchNorm2d, conv: nn.Conv2d):
        super().__init__()
        with torch.no_grad():
            a = bn.weight.float() / torch.sqrt(bn.running_var.float() + bn.eps)
            b = bn.bias.float() - bn.running_mean.float() * a
            magnitude = a.abs()
            dead = magnitude == 0
            shift = torch.where(dead, b.clamp_min(0), b / torch.where(dead, torch.ones_like(a), magnitude))
            self.conv = copy.deepcopy(conv)
            factor = torch.where(dead, torch.ones_like(a), magnitude).to(conv.weight.dtype)
            self.conv.weight.mul_(factor.view(1, -1, 1, 1))
        self.register_buffer("scale", torch.sign(a).view(1, -1, 1, 1).clone())
        self.register_buffer("shift", shift.view(1, -1, 1, 1).clone())
        self._cast: dict[torch.dtype, tuple[torch.Tensor, torch.Tensor]] = {}

    def _affine(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        if dtype == self.scale.dtype:
            return self.scale, self.shift
        if dtype not in self._cast or self._cast[dtype][0].device != self.scale.device:
            self._cast[dtype] = (self.scale.to(dtype), self.shift.to(dtype))
        return self._cast[dtype]

    def forward(self, x: torch.Tensor, scratch: torch.Tensor) -> torch.Tensor:
        """``scratch``: a flat tensor of at least ``x.numel()`` elements, x's dtype."""
        n, c, h, w = x.shape
        if x.stride(1) == 1:  # a channels_last buffer: keep the activation channels_last
            y = scratch[: x.numel()].view(n, h, w, c).permute(0, 3, 1, 2)
        else:
            y = scratch[: x.numel()].view(n, c, h, w)
        scale, shift = self._affine(x.dtype)
        torch.addcmul(shift, x, scale, out=y)
        return self.conv(_relu_(y))


class BufferedFCDenseNet(nn.Module):
    """Inference-only view of an ``FCDenseNet``'s weights (eval mode, no deep supervision)."""

    def __init__(self, model: FCDenseNet, channels_last: bool = True):
        super().__init__()
        self.model = model
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.layers = nn.ModuleList(
            nn.ModuleList(_FoldedUnit(layer.first[0], layer.first[2]) for layer in block.layers)
            for block in _blocks(model)
        )
        # TransitionDown = BN, ReLU, 1x1 conv, Dropout, pool: folded unit + the pool
        self.downs = nn.ModuleList(_FoldedUnit(td[0], td[2]) for td in model.transitions_down)
        self.growth = model.down_blocks[0].layers[0].first[2].out_channels
        # Buffers of the last input shape, reused while it repeats (video frames): fresh
        # allocations of this size are page-faulted in by the kernel on every call.
        self._workspace_key = None
        self._workspace: list[torch.Tensor] = []

    def train(self, mode: bool = True):
        if mode:
            raise RuntimeError("BufferedFCDenseNet is for inference only")
        return super().train(False)


    def _get_workspace(self, x: torch.Tensor) -> list[torch.Tensor]:
        """One buffer per up block (largest first), one for the bottleneck, one flat scratch."""
        key = (tuple(x.shape), x.dtype, x.device)
        if key != self._workspace_key:
            self._workspace, self._workspace_key = [], None
            m, (n, _, h, w) = self.model, x.shape
            dtype = torch.get_autocast_dtype(x.device.type) if torch.is_autocast_enabled(x.device.type) else x.dtype
            options = dict(dtype=dtype, device=x.device)
            sizes = []
            for block in [*reversed(m.up_blocks), m.bottleneck]:
                sizes.append((n, block.out_channels, h, w))
                h, w = h // 2, w // 2
            self._workspace = [torch.empty(s, memory_format=self.memory_format, **options) for s in sizes]
            self._workspace.append(torch.empty(max(math.prod(s) for s in sizes), **options))
            self._workspace_key = key
        return self._workspace

    def _fill(self, buffer: torch.Tensor, start: int, layers: nn.ModuleList, scratch: torch.Tensor) -> None:
        """Dense layers in place: channels ``[0, start)`` are filled, the rest get written."""
        c = start
        for layer in layers:
            buffer[:, c:c + self.growth] = layer(buffer[:, :c], scratch)
            c += self.growth

    @torch.no_grad()
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m, k = self.model, self.growth
        down_layers = self.layers[: len(m.down_blocks)]
        up_layers = self.layers[len(m.down_blocks) + 1:]
        *up_buffers, bottleneck, scratch = self._get_workspace(x)
        x = m.first_conv(x)
        # Each up block's buffer = [upsampled new maps | skip stack | own new maps]; the matching
        # down block fills its skip part in place.
        skips = []
        for layers, down, td, up, buffer in zip(down_layers, self.downs, m.transitions_down,
                                                reversed(m.transitions_up), up_buffers):
            c0, up_channels = x.shape[1], up.conv.out_channels
            skip = buffer[:, up_channels:up_channels + c0 + len(layers) * k]
            skip[:, :c0] = x
            self._fill(skip, c0, layers, scratch)
            skips.append(skip)
            x = td[-1](down(skip, scratch))

        c0 = x.shape[1]
        bottleneck[:, :c0] = x
        self._fill(bottleneck, c0, self.layers[len(m.down_blocks)], scratch)
        new = bottleneck[:, c0:]

        for up, layers, buffer, skip in zip(m.transitions_up, up_layers, reversed(up_buffers), reversed(skips)):
            up_channels = up.conv.out_channels
            buffer[:, :up_channels] = up(new, skip.shape[-2:])
            start = up_channels + skip.shape[1]
            self._fill(buffer, start, layers, scratch)
            new = buffer[:, start:]
        return m.classifier(buffer)
