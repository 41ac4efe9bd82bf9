"""DSNet / DS2Net (Zhang et al., "ResNet or DenseNet? Introducing Dense Shortcuts to ResNet").

ResNet-50 (torchvision layout: 7x7 stem, bottlenecks 3,4,6,3, stride on the 3x3 conv)
with each identity shortcut replaced by dense weighted normalized shortcuts, variant (b),
Eq. 12: in a stage, Y_l = ReLU(X_l + sum_{i<l} W_l^i * N(Y_i)), X_l the bottleneck's output.
- N is GroupNorm (32 groups) without affine (the paper's best, Table 1), computed once
  per Y_i and shared by every later shortcut (sec. 4.5); W_l^i is a learnable channel-wise
  weight, initialised to 1.
- Y_0 is the stage's first block, which keeps ResNet's projection shortcut: channels and
  resolution change there, and dense shortcuts only link maps of one shape.
- DS2Net also inserts them "within the convolutional block on the 3x3 convolution": the
  3x3 conv's BN output V_l of block l gets sum_{i<l} W * N(V_i) over the earlier blocks of
  the stage before its ReLU (the first block's V_0 is a source only).
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from segnet.models.backbones._base import Backbone, BackboneEncoder, encoder_entry, stem

GROUPS = 32


def normalize(x: torch.Tensor) -> torch.Tensor:
    return F.group_norm(x, GROUPS)  # no affine: the weights W do the scaling, a bias is redundant


class DenseShortcut(nn.Module):
    """sum_i W_i * N(Y_i) over already-normalised earlier outputs."""

    def __init__(self, channels: int, num_inputs: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(num_inputs, channels, 1, 1))

    def forward(self, normalized: list[torch.Tensor]) -> torch.Tensor:
        return sum(w * n for w, n in zip(self.weight, normalized))


class DSBottleneck(nn.Module):
    expansion = 4

    def __init__(self, in_channels: int, width: int, stride: int = 1, inner_inputs: int = 0) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, width * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(width * self.expansion)
        self.inner = DenseShortcut(width, inner_inputs) if inner_inputs else None

    def forward(self, x: torch.Tensor, inner: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Returns X (before any shortcut) and V, the 3x3 conv's aggregated output."""
        v = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.inner is not None:
            v = v + self.inner(inner)
        return self.bn3(self.conv3(F.relu(v))), v


class DSStage(nn.Module):
    def __init__(self, in_channels: int, width: int, num_blocks: int, stride: int, ds2: bool) -> None:
        super().__init__()
        out = width * DSBottleneck.expansion
        self.ds2 = ds2
        self.blocks = nn.ModuleList(
            DSBottleneck(in_channels if index == 0 else out, width, stride if index == 0 else 1, index if ds2 else 0)
            for index in range(num_blocks)
        )
        self.projection = nn.Sequential(nn.Conv2d(in_channels, out, 1, stride=stride, bias=False), nn.BatchNorm2d(out))
        self.shortcuts = nn.ModuleList(DenseShortcut(out, index) for index in range(1, num_blocks))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        ys, vs = [], []
        for index, block in enumerate(self.blocks):
            out, v = block(x, vs)
            x = F.relu(out + (self.projection(x) if index == 0 else self.shortcuts[index - 1](ys)))
            if index + 1 < len(self.blocks):  # the last outputs feed no shortcut
                ys.append(normalize(x))
                if self.ds2:
                    vs.append(normalize(v))
        return x


class DSNet(Backbone):
    def __init__(self, layers: tuple[int, ...] = (3, 4, 6, 3), ds2: bool = False, num_classes: int = 1000) -> None:
        stages, channels = [stem(3, 64)], 64
        for s, n in enumerate(layers):
            width = 64 * 2**s
            stage = DSStage(channels, width, n, 1 if s == 0 else 2, ds2)
            stages.append(nn.Sequential(nn.MaxPool2d(3, stride=2, padding=1), stage) if s == 0 else stage)
            channels = width * DSBottleneck.expansion
        super().__init__(stages, channels, num_classes)


def dsnet50(num_classes: int = 1000) -> DSNet:
    return DSNet((3, 4, 6, 3), ds2=False, num_classes=num_classes)


def ds2net50(num_classes: int = 1000) -> DSNet:
    return DSNet((3, 4, 6, 3), ds2=True, num_classes=num_classes)


class DSNetEncoder(BackboneEncoder, DSNet):
    pass  # strided convs: dilatable, so DeepLabV3+ gets output stride 16


_RESNET50_CHANNELS = [3, 64, 256, 512, 1024, 2048]
dsnet_encoders = {
    "dsnet50": encoder_entry(DSNetEncoder, _RESNET50_CHANNELS, layers=(3, 4, 6, 3), ds2=False),
    "ds2net50": encoder_entry(DSNetEncoder, _RESNET50_CHANNELS, layers=(3, 4, 6, 3), ds2=True),
}
