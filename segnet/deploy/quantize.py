"""INT8 for OpenVINO: NNCF post-training quantization of a network made fit for it first.

Per-tensor INT8 needs each quantized tensor's values on one scale, and an FC-DenseNet's
concatenated stacks are not: a dense block's BatchNorms renormalise the whole stack, so early
maps stay ~0.02-0.5 beside later ones reaching +-20, and one range for a Concat wipes the small
maps out. Two changes that keep the network's function fix it (measurements in
docs/results/inference.md, "INT8"):

1. ``equalize_ranges`` scales every channel a conv produces to a range of ~1 (its weight and bias
   rows x k) and undoes it in every consumer (BN: weight / k, running_mean x k; a conv's input
   weights / k).
2. ``SlicingTransitionUp`` crops with a slice: ``center_crop``'s negative ``F.pad`` exports as a
   Pad with negative pads, which OpenVINO's CPU plugin computes wrongly before INT8 convolutions.

Two quantizers stay out, each chosen on CamVid val: the BN scale-shift's input (a Multiply), so
the stacks stay float32 and only the convs' inputs are INT8; and the first conv, whose outputs
reach every stack down to the classifier. Other architectures get NNCF's default quantization.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
import torch.nn as nn

from segnet.errors import SegnetError
from segnet.models.blocks import DenseLayer
from segnet.models.fc_densenet import FCDenseNet


def prepare_for_int8(model: nn.Module, frames: list) -> tuple[nn.Module, bool]:
    """``model`` (eval mode, changed in place) ready for export and per-tensor INT8, and whether it
    was changed: an FCDenseNet range-equalised on ``frames`` (network inputs) and cropping by
    slices; others unchanged."""
    if not isinstance(model, FCDenseNet):
        return model, False
    return crop_by_slicing(equalize_ranges(model.eval(), frames)), True


def quantize_openvino(model, frames: list, source: str, fc_densenet: bool):
    """NNCF post-training INT8 of an OpenVINO model (its default preset: symmetric 8-bit weights
    per channel, activations per tensor), calibrated on ``frames``. An FC-DenseNet keeps its
    first conv and its BNs' inputs in float32 (the module docstring says why)."""
    import nncf

    ignored = None
    if fc_densenet:
        ignored = nncf.IgnoredScope(names=_first_convs(model), types=["Multiply"], validate=False)
    try:
        return nncf.quantize(model, nncf.Dataset([_numpy(f) for f in frames]), subset_size=len(frames),
                             ignored_scope=ignored)
    except Exception as exc:
        raise SegnetError(f"INT8 quantization of {source} failed: {str(exc).strip().splitlines()[0][:300]}") from exc


def _first_convs(model) -> list[str]:
    """Names of the convolutions that read the graph's input."""
    return [op.get_friendly_name() for op in model.get_ordered_ops() if op.get_type_name() == "Convolution"
            and op.input(0).get_source_output().get_node().get_type_name() == "Parameter"]


def _numpy(frame):
    return frame.numpy() if isinstance(frame, torch.Tensor) else frame


def stack_convs(model: nn.Module) -> list[nn.Module]:
    """Every conv whose output channels go into a stack, in forward order (hooks go on these)."""
    if not isinstance(model, FCDenseNet):
        raise TypeError(f"channel rescaling is written for FCDenseNet, got {type(model).__name__}")
    if any(not isinstance(layer.second, nn.Identity) for layer in _dense_layers(model)):
        raise TypeError("channel rescaling does not handle bottleneck dense layers")
    found = [model.first_conv]
    for block, down in zip(model.down_blocks, model.transitions_down):
        found += [layer.first[2] for layer in block.layers] + [down[2]]
    found += [layer.first[2] for layer in model.bottleneck.layers]
    for up, block in zip(model.transitions_up, model.up_blocks):
        found += [up.conv] + [layer.first[2] for layer in block.layers]
    return found


@torch.no_grad()
def channel_ranges(model: nn.Module, frames: Iterable[torch.Tensor]) -> dict[nn.Module, torch.Tensor]:
    """Per output channel of each producer conv: its largest |value|, averaged over frames (the
    statistic NNCF's default range estimator takes per tensor: the mean of per-frame extremes)."""
    sums: dict[nn.Module, torch.Tensor] = {}
    count = 0

    def hook(module, _inputs, output):
        peak = output.detach().abs().amax(dim=(0, 2, 3))
        sums[module] = sums.get(module, 0) + peak

    handles = [m.register_forward_hook(hook) for m in stack_convs(model)]
    try:
        for frame in frames:
            model(torch.as_tensor(frame, dtype=torch.float32))
            count += 1
    finally:
        for handle in handles:
            handle.remove()
    return {m: s / max(count, 1) for m, s in sums.items()}


def _scale_output(conv: nn.Module, k: torch.Tensor) -> None:
    axis = 1 if isinstance(conv, nn.ConvTranspose2d) else 0  # ConvTranspose2d weight: [in, out, kh, kw]
    conv.weight.mul_(k.view([-1 if i == axis else 1 for i in range(conv.weight.dim())]))
    if conv.bias is not None:
        conv.bias.mul_(k)


def _undo_in_bn(bn: nn.BatchNorm2d, k: torch.Tensor) -> None:
    # BN(k x) with mean k*mu and weight gamma/k equals BN(x): (kx - k mu) * gamma / k / sqrt(var + eps)
    bn.running_mean.mul_(k)
    bn.weight.div_(k)


def _undo_in_conv(conv: nn.Module, k: torch.Tensor) -> None:
    axis = 0 if isinstance(conv, nn.ConvTranspose2d) else 1
    conv.weight.div_(k.view([-1 if i == axis else 1 for i in range(conv.weight.dim())]))


@torch.no_grad()
def equalize_ranges(model: nn.Module, frames: Iterable[torch.Tensor], eps: float = 1e-8) -> nn.Module:
    """Rescale ``model`` (an FCDenseNet in eval mode, changed in place) so that every map of every
    concatenated stack spans about [-1, 1] on ``frames`` (network inputs); its outputs are
    unchanged (float rounding aside). Returns the model."""
    ranges = channel_ranges(model.eval(), frames)
    return rescale_channels(model, {conv: 1.0 / r.clamp_min(eps) for conv, r in ranges.items()})


@torch.no_grad()
def rescale_channels(model: nn.Module, k: dict[nn.Module, torch.Tensor]) -> nn.Module:
    """Multiply output channel ``c`` of each conv ``m`` feeding a stack by ``k[m][c]`` > 0 (its
    weight and bias rows; convs not in ``k`` keep their scale) and undo it in every consumer: a
    BN (weight / k, running_mean x k: exact, variance and eps unchanged), a conv or transposed
    conv (its input weights / k). Max pooling commutes with a positive scale. The model (an
    FCDenseNet, changed in place) computes what it did."""
    k = {conv: torch.as_tensor(k[conv], dtype=torch.float32) if conv in k else torch.ones(conv.out_channels)
         for conv in stack_convs(model)}
    for conv, scale in k.items():
        _scale_output(conv, scale)
    # Walk the forward pass with the stacks' per-channel scales in place of feature maps.
    x = k[model.first_conv]
    skips = []
    for block, down in zip(model.down_blocks, model.transitions_down):
        x = torch.cat(_block(block, x, k), 0)
        skips.append(x)
        _undo_in_bn(down[0], x)
        x = k[down[2]]
    features = _block(model.bottleneck, x, k)
    for up, block, skip in zip(model.transitions_up, model.up_blocks, reversed(skips)):
        _undo_in_conv(up.conv, torch.cat(features[1:], 0))
        features = _block(block, torch.cat([k[up.conv], skip], 0), k)
    _undo_in_conv(model.classifier, torch.cat(features, 0))
    model.aux_heads = None  # training-only heads would read rescaled stacks; export never runs them
    return model


def _block(block: nn.Module, x: torch.Tensor, k: dict[nn.Module, torch.Tensor]) -> list[torch.Tensor]:
    """A DenseBlock's forward on scales: each layer's BN undoes its input stack's scales."""
    features = [x]
    for layer in block.layers:
        _undo_in_bn(layer.first[0], torch.cat(features, 0))
        features.append(k[layer.first[2]])
    return features


class SlicingTransitionUp(nn.Module):
    """A TransitionUp whose centre crop is a slice, for export: the ONNX graph of
    ``center_crop``'s negative ``F.pad`` is a Pad with negative pads, and OpenVINO's CPU plugin
    computes wrong values when that crop feeds INT8 convolutions (docs/results/inference.md). Same function: the
    transposed conv's 2n + 1 output is never smaller than the skip it is cropped to."""

    def __init__(self, up: nn.Module) -> None:
        super().__init__()
        self.pre, self.conv = up.pre, up.conv

    def forward(self, x: torch.Tensor, size: torch.Size | tuple[int, int]) -> torch.Tensor:
        x = self.conv(self.pre(x))
        top, left = (x.shape[-2] - size[0]) // 2, (x.shape[-1] - size[1]) // 2
        return x[..., top:top + size[0], left:left + size[1]]


def crop_by_slicing(model: nn.Module) -> nn.Module:
    """``model`` (an FCDenseNet, changed in place) with SlicingTransitionUp crops."""
    for i, up in enumerate(model.transitions_up):
        model.transitions_up[i] = SlicingTransitionUp(up)
    return model


def _dense_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, DenseLayer)]
