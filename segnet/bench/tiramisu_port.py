"""The plain PyTorch Tiramisu port, kept only as the speed reference of ``segnet bench models``.

A faithful copy of the most-used port, github.com/bfortuner/pytorch_tiramisu at c1cf079
(models/layers.py:5-71, models/tiramisu.py:6-118): a dense block grows its input with one
``torch.cat([x, out], 1)`` per layer, every unit is BatchNorm -> ReLU -> conv -> Dropout2d(0.2),
and the network ends in LogSoftmax (trained with NLLLoss). segnet's speed-ups are quoted against
this, measured one after the other in the same process kind; it is never used for training.
"""

from __future__ import annotations

import torch
import torch.nn as nn


class _DenseLayer(nn.Sequential):
    def __init__(self, in_channels: int, growth_rate: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(True))
        self.add_module("conv", nn.Conv2d(in_channels, growth_rate, 3, padding=1, bias=True))
        self.add_module("drop", nn.Dropout2d(0.2))


class _DenseBlock(nn.Module):
    def __init__(self, in_channels: int, growth_rate: int, n_layers: int, upsample: bool = False) -> None:
        super().__init__()
        self.upsample = upsample
        self.layers = nn.ModuleList(_DenseLayer(in_channels + i * growth_rate, growth_rate) for i in range(n_layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        new_features = []
        for layer in self.layers:
            out = layer(x)
            x = torch.cat([x, out], 1)
            new_features.append(out)
        return torch.cat(new_features, 1) if self.upsample else x


class _TransitionDown(nn.Sequential):
    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.add_module("norm", nn.BatchNorm2d(in_channels))
        self.add_module("relu", nn.ReLU(inplace=True))
        self.add_module("conv", nn.Conv2d(in_channels, in_channels, 1, bias=True))
        self.add_module("drop", nn.Dropout2d(0.2))
        self.add_module("maxpool", nn.MaxPool2d(2))


class _TransitionUp(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convTrans = nn.ConvTranspose2d(in_channels, out_channels, 3, stride=2, padding=0, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        out = self.convTrans(x)
        h, w = skip.shape[2:]
        top, left = (out.shape[2] - h) // 2, (out.shape[3] - w) // 2
        return torch.cat([out[:, :, top : top + h, left : left + w], skip], 1)


class TiramisuPort(nn.Module):
    """FCDenseNet of the port; ``tiramisu_port_103`` builds its FCDenseNet103."""

    def __init__(self, down_blocks, up_blocks, bottleneck_layers, growth_rate=16, first_channels=48, n_classes=12):
        super().__init__()
        self.firstconv = nn.Conv2d(3, first_channels, 3, padding=1, bias=True)
        channels, skips = first_channels, []
        self.denseBlocksDown, self.transDownBlocks = nn.ModuleList(), nn.ModuleList()
        for n in down_blocks:
            self.denseBlocksDown.append(_DenseBlock(channels, growth_rate, n))
            channels += growth_rate * n
            skips.insert(0, channels)
            self.transDownBlocks.append(_TransitionDown(channels))
        self.bottleneck = _DenseBlock(channels, growth_rate, bottleneck_layers, upsample=True)
        previous = growth_rate * bottleneck_layers
        self.transUpBlocks, self.denseBlocksUp = nn.ModuleList(), nn.ModuleList()
        for i, n in enumerate(up_blocks):
            self.transUpBlocks.append(_TransitionUp(previous, previous))
            channels = previous + skips[i]
            last = i == len(up_blocks) - 1
            self.denseBlocksUp.append(_DenseBlock(channels, growth_rate, n, upsample=not last))
            previous = growth_rate * n
        self.finalConv = nn.Conv2d(channels + previous, n_classes, 1, bias=True)
        self.softmax = nn.LogSoftmax(dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.firstconv(x)
        skip_connections = []
        for block, down in zip(self.denseBlocksDown, self.transDownBlocks):
            out = block(out)
            skip_connections.append(out)
            out = down(out)
        out = self.bottleneck(out)
        for up, block in zip(self.transUpBlocks, self.denseBlocksUp):
            out = block(up(out, skip_connections.pop()))
        return self.softmax(self.finalConv(out))


def tiramisu_port_103(n_classes: int = 12) -> TiramisuPort:
    """The port's FCDenseNet103 (models/tiramisu.py:113-118)."""
    return TiramisuPort((4, 5, 7, 10, 12), (12, 10, 7, 5, 4), 15, 16, 48, n_classes)


# The port's networks by segnet's names (its FCDenseNet57 is the paper's 56: models/tiramisu.py:99-111).
PORTS = {
    "fc_densenet56": lambda n: TiramisuPort((4,) * 5, (4,) * 5, 4, 12, 48, n),
    "fc_densenet67": lambda n: TiramisuPort((5,) * 5, (5,) * 5, 5, 16, 48, n),
    "fc_densenet103": tiramisu_port_103,
}
