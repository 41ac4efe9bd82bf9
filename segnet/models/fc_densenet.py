"""FC-DenseNet ("The One Hundred Layers Tiramisu", Jegou et al., 2017).

Follows the official Lasagne code (SimJeg/FC-DenseNet):
- down path: dense block, then the whole stack (input + new maps) is both the skip
  connection and the input of ``TransitionDown``;
- bottleneck and up path: only a block's *new* maps go through ``TransitionUp``; they are
  concatenated with the skip (the whole down stack at that resolution);
- the last up block's whole stack (input + new maps) feeds the 1x1 classifier.

Weights start as the official code's (HeUniform, zero biases; ``segnet.models.init``);
``init="pytorch"`` keeps PyTorch's defaults instead.

Deep supervision (off by default, as in the paper): a 1x1 conv head on every block's
output stack except the last one, whose head is the classifier itself.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, fields

import torch
import torch.nn as nn

from segnet.models.blocks import DenseBlock, TransitionDown, TransitionUp
from segnet.models.deep_supervision import with_aux
from segnet.models.init import he_init
from segnet.models.registry import register_model


@dataclass(frozen=True)
class FCDenseNetConfig:
    growth_rate: int
    down_layers: tuple[int, ...]
    bottleneck_layers: int
    first_channels: int = 48


CONFIGS = {
    "fc_densenet56": FCDenseNetConfig(12, (4,) * 5, 4),
    "fc_densenet67": FCDenseNetConfig(16, (5,) * 5, 5),
    "fc_densenet103": FCDenseNetConfig(16, (4, 5, 7, 10, 12), 15),
}


class FCDenseNet(nn.Module):
    def __init__(
        self,
        num_classes: int = 11,
        growth_rate: int = 16,
        down_layers: tuple[int, ...] = (4, 5, 7, 10, 12),
        bottleneck_layers: int = 15,
        first_channels: int = 48,
        dropout: float = 0.2,
        in_channels: int = 3,
        deep_supervision: bool = False,
        memory_efficient: bool = False,
        init: str = "official",
    ) -> None:
        """``down_layers``: layers per down block; the up path mirrors it."""
        super().__init__()
        k, block = growth_rate, dict(dropout=dropout, memory_efficient=memory_efficient)
        self.first_conv = nn.Conv2d(in_channels, first_channels, 3, padding=1)

        channels, skip_channels = first_channels, []
        self.down_blocks, self.transitions_down = nn.ModuleList(), nn.ModuleList()
        for n in down_layers:
            self.down_blocks.append(DenseBlock(channels, n, k, **block))
            channels += n * k
            skip_channels.append(channels)
            self.transitions_down.append(TransitionDown(channels, dropout=dropout))

        self.bottleneck = DenseBlock(channels, bottleneck_layers, k, **block)
        block_channels = [channels + bottleneck_layers * k]
        new_channels = bottleneck_layers * k

        self.transitions_up, self.up_blocks = nn.ModuleList(), nn.ModuleList()
        for n, skip in zip(reversed(down_layers), reversed(skip_channels)):
            self.transitions_up.append(TransitionUp(new_channels, new_channels))
            self.up_blocks.append(DenseBlock(new_channels + skip, n, k, **block))
            block_channels.append(new_channels + skip + n * k)
            new_channels = n * k

        self.classifier = nn.Conv2d(block_channels[-1], num_classes, 1)
        self.aux_heads = None
        if deep_supervision:
            heads = list(skip_channels) + block_channels[:-1]
            self.aux_heads = nn.ModuleList(nn.Conv2d(c, num_classes, 1) for c in heads)
        if init == "official":
            he_init(self, "uniform")

    def input_rule(self) -> tuple[int, int]:
        """(multiple, minimum side): TransitionUp crops to its skip's size, so any side of at least
        one pixel per pooling level works."""
        return 1, 2 ** len(self.transitions_down)

    def forward(self, x: torch.Tensor):
        aux = self.aux_heads is not None and self.training
        x = self.first_conv(x)
        skips, stacks = [], []
        for block, down in zip(self.down_blocks, self.transitions_down):
            x = torch.cat(block(x), 1)
            skips.append(x)
            stacks.append(x)
            x = down(x)

        features = self.bottleneck(x)
        for up, block, skip in zip(self.transitions_up, self.up_blocks, reversed(skips)):
            if aux:  # the bottleneck's / up block's whole stack, only for its head
                stacks.append(torch.cat(features, 1))
            x = torch.cat([up(torch.cat(features[1:], 1), skip.shape[-2:]), skip], 1)
            features = block(x)

        logits = self.classifier(torch.cat(features, 1))
        return with_aux(logits, self.aux_heads, stacks) if aux else logits


# The registry checks option names against this signature: the config is in the name.
_SIGNATURE = inspect.signature(FCDenseNet)
_NAMED_SIGNATURE = _SIGNATURE.replace(
    parameters=[p for p in _SIGNATURE.parameters.values() if p.name not in {f.name for f in fields(FCDenseNetConfig)}]
)


def _named(name: str):
    def build(num_classes: int = 11, **options) -> FCDenseNet:
        c = CONFIGS[name]
        return FCDenseNet(num_classes, c.growth_rate, c.down_layers, c.bottleneck_layers, c.first_channels, **options)

    build.__name__ = name
    build.__doc__ = f"{name}: {CONFIGS[name]}"
    build.__signature__ = _NAMED_SIGNATURE
    return build


register_model(FCDenseNet, "fc_densenet")
fc_densenet56, fc_densenet67, fc_densenet103 = (register_model(_named(n)) for n in CONFIGS)
