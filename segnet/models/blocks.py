"""Blocks shared by FC-DenseNet, FC-Log-DenseNet and the DenseNet backbones.

Tiny classes, one idea each, after torchvision's ``_DenseLayer`` / ``_DenseBlock`` /
``_Transition``. A layer takes a *list* of earlier feature maps and concatenates them
itself, so that ``memory_efficient`` can checkpoint concat -> BN -> ReLU -> conv as one
step: the concatenation and the normalised copy are then never kept for backward
(Pleiss et al., "Memory-Efficient Implementation of DenseNets").
"""

from __future__ import annotations

import contextlib

import torch
import torch.nn as nn
import torch.nn.functional as F
import torch.utils.checkpoint as cp


def bn_relu_conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = True) -> nn.Sequential:
    """The pre-activation unit every DenseNet variant is made of.

    The Tiramisu's Lasagne layers keep the conv bias (its parameter counts include it);
    classification DenseNets drop it (bias=False) as the BN that follows makes it redundant.
    """
    return nn.Sequential(
        nn.BatchNorm2d(in_channels),
        nn.ReLU(inplace=True),
        nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias),
    )


class DenseLayer(nn.Module):
    """BN -> ReLU -> 3x3 conv (growth_rate) -> Dropout on the concatenated inputs.

    bottleneck_width: DenseNet-B's "BN -> ReLU -> 1x1 conv (bottleneck_width * k)" in front
    of the 3x3 conv; the checkpointed step is then the cheap 1x1 one, as in torchvision.
    """

    def __init__(
        self,
        in_channels: int,
        growth_rate: int,
        dropout: float = 0.0,
        bottleneck_width: int | None = None,
        memory_efficient: bool = False,
        bias: bool = True,
    ) -> None:
        """``bias``: of the 3x3 conv without bottleneck (the Tiramisu keeps it, tensorpack drops it)."""
        super().__init__()
        if bottleneck_width:
            self.first = bn_relu_conv(in_channels, bottleneck_width * growth_rate, 1, bias=False)
            self.second = bn_relu_conv(bottleneck_width * growth_rate, growth_rate, 3, bias=False)
        else:
            self.first = bn_relu_conv(in_channels, growth_rate, 3, bias)
            self.second = nn.Identity()
        self.drop = nn.Dropout(dropout)
        self.memory_efficient = memory_efficient

    def _concat_first(self, *inputs: torch.Tensor) -> torch.Tensor:
        return self.first(torch.cat(inputs, 1))

    @contextlib.contextmanager
    def _bn_statistics_kept(self):
        # The backward recomputation runs BN in training mode again; without this its
        # running mean/var would take a second step per iteration.
        saved = [b.clone() for b in self.first[0].buffers()]
        try:
            yield
        finally:  # checkpoint's early stop ends the recomputation by raising
            with torch.no_grad():
                for buffer, value in zip(self.first[0].buffers(), saved):
                    buffer.copy_(value)

    def _checkpoint_contexts(self):
        return contextlib.nullcontext(), self._bn_statistics_kept()

    def forward(self, inputs: list[torch.Tensor] | torch.Tensor) -> torch.Tensor:
        if isinstance(inputs, torch.Tensor):
            inputs = [inputs]
        if self.memory_efficient and any(t.requires_grad for t in inputs) and torch.is_grad_enabled():
            out = cp.checkpoint(
                self._concat_first, *inputs, use_reentrant=False, context_fn=self._checkpoint_contexts
            )
        else:
            out = self._concat_first(*inputs)
        return self.drop(self.second(out))


class DenseBlock(nn.Module):
    """``num_layers`` dense layers, each seeing the block input and all new maps before it.

    Returns the list ``[input, new_1, ..., new_L]``: FC-DenseNet's up path upsamples only
    the new maps, so the caller decides what to concatenate.
    """

    def __init__(
        self,
        in_channels: int,
        num_layers: int,
        growth_rate: int,
        dropout: float = 0.0,
        bottleneck_width: int | None = None,
        memory_efficient: bool = False,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            DenseLayer(in_channels + i * growth_rate, growth_rate, dropout, bottleneck_width, memory_efficient)
            for i in range(num_layers)
        )
        self.out_channels = in_channels + num_layers * growth_rate

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        features = [x]
        for layer in self.layers:
            features.append(layer(features))
        return features


class TransitionDown(nn.Sequential):
    """BN -> ReLU -> 1x1 conv -> Dropout -> 2x2 pool (max in FC-DenseNet, average in DenseNet).

    Pooling floors odd sizes; ``TransitionUp`` crops back to the skip's size.
    """

    def __init__(
        self, in_channels: int, out_channels: int | None = None, dropout: float = 0.0, pool: str = "max",
        bias: bool = True,
    ) -> None:
        pooling = {"max": nn.MaxPool2d, "avg": nn.AvgPool2d}[pool]
        super().__init__(
            *bn_relu_conv(in_channels, out_channels or in_channels, 1, bias),
            nn.Dropout(dropout),
            pooling(2, 2),
        )


def center_crop(x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
    """Crop (or zero-pad, should it be smaller) the centre of ``x`` to ``size``."""
    dh, dw = x.shape[-2] - size[0], x.shape[-1] - size[1]
    if dh == 0 and dw == 0:
        return x
    # F.pad with negative amounts crops, so one call covers both directions.
    return F.pad(x, (-(dw // 2), -(dw - dw // 2), -(dh // 2), -(dh - dh // 2)))


class TransitionUp(nn.Module):
    """3x3 stride-2 transposed conv, centre-cropped to the skip connection's size.

    Without padding the output is 2n + 1 >= the size n came from by flooring pooling, so
    cropping alone makes any input size work (as the official Lasagne code's 'valid' deconv
    followed by a centre-cropping concat).

    ``pre_activation``: BN -> ReLU in front (FC-Log-DenseNet's code; the Tiramisu has none).
    """

    def __init__(self, in_channels: int, out_channels: int, pre_activation: bool = False, bias: bool = True) -> None:
        super().__init__()
        self.pre = (nn.Sequential(nn.BatchNorm2d(in_channels), nn.ReLU(inplace=True)) if pre_activation
                    else nn.Identity())
        self.conv = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, bias=bias)

    def forward(self, x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        return center_crop(self.conv(self.pre(x)), size)


class Concatenated(nn.Module):
    """A block that returns its feature maps as a list, seen as one tensor (a backbone stage)."""

    def __init__(self, block: nn.Module) -> None:
        super().__init__()
        self.block = block

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.block(x), 1)
