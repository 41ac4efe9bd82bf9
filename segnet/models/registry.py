"""The one model registry: ``create_model(name, num_classes, **options)``.

Our networks register here by name; ``smp/<arch>/<encoder>`` builds any
segmentation-models-pytorch model from scratch (our backbones join smp's own encoder
registry, see ``segnet.models.backbones``). Every mistake a user can make in a name or an
option is a one-line ``SegnetError``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import torch.nn as nn

from segnet.errors import SegnetError
from segnet.models.init import INIT_CHOICES

_MODELS: dict[str, Callable[..., nn.Module]] = {}
SMP_PATTERN = "smp/<arch>/<encoder>"


def register_model(fn: Callable[..., nn.Module], name: str | None = None) -> Callable[..., nn.Module]:
    """Add a builder ``fn(num_classes, **options)`` under ``name`` (default: its own name); used as
    a decorator where the builder is defined. A second builder under one name is an error."""
    name = name or fn.__name__
    if name in _MODELS and _MODELS[name] is not fn:
        raise ValueError(f"a model named {name!r} is registered already ({_MODELS[name].__module__})")
    _MODELS[name] = fn
    return fn


def input_rule(model: nn.Module) -> tuple[int, int]:
    """(multiple, minimum side) the network's input height and width need. Our networks state it
    (``input_rule()``); an smp model needs a multiple of its encoder's output stride."""
    if hasattr(model, "input_rule"):
        return model.input_rule()
    stride = int(getattr(getattr(model, "encoder", None), "output_stride", 32) or 32)
    return stride, stride


def list_models() -> list[str]:
    """Our networks, then the pattern for smp models (``smp/unet/resnet34``, ...)."""
    return sorted(_MODELS) + [SMP_PATTERN]


def _positive_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def _layers(v) -> bool:
    return isinstance(v, (list, tuple)) and len(v) > 0 and all(_positive_int(n) for n in v)


# What a valid value looks like, for the options several networks share.
_CHECKS: dict[str, tuple[Callable[[object], bool], str]] = {
    "growth_rate": (_positive_int, "a positive integer"),
    "first_channels": (_positive_int, "a positive integer"),
    "bottleneck_layers": (_positive_int, "a positive integer"),
    "in_channels": (_positive_int, "a positive integer"),
    "down_layers": (_layers, "a non-empty list of positive integers"),
    "dropout": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1, "in [0, 1)"),
    "deep_supervision": (lambda v: isinstance(v, bool), "true or false"),
    "memory_efficient": (lambda v: isinstance(v, bool), "true or false"),
    "init": (lambda v: v in INIT_CHOICES, " or ".join(INIT_CHOICES)),
}


def _check_options(name: str, fn: Callable[..., nn.Module], options: dict) -> None:
    params = inspect.signature(fn).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        valid = [p for p in params if p != "num_classes"]
        for key in options:
            if key not in params or key == "num_classes":
                raise SegnetError(f"model '{name}' has no option '{key}' (valid: {', '.join(valid)})")
    for key, value in options.items():
        check, expected = _CHECKS.get(key, (None, ""))
        if check is not None and not check(value):
            raise SegnetError(f"model '{name}': option {key}={value!r} must be {expected}")


def _create_smp(name: str, num_classes: int, options: dict) -> nn.Module:
    import segmentation_models_pytorch as smp

    import segnet.models.backbones  # noqa: F401  (our encoders join smp's registry when imported)

    parts = name.split("/")
    if len(parts) != 3 or not all(parts):
        raise SegnetError(f"smp model name '{name}' must look like {SMP_PATTERN}, e.g. smp/unet/resnet34")
    _, arch, encoder = parts
    archs = smp.MODEL_ARCHITECTURES_MAPPING
    if arch.lower() not in archs:
        raise SegnetError(f"unknown smp architecture '{arch}' in '{name}' (valid: {', '.join(archs)})")
    if encoder not in smp.encoders.encoders and not encoder.startswith("tu-"):
        raise SegnetError(f"unknown smp encoder '{encoder}' in '{name}' (e.g. resnet34, densenet_bc121, dsnet50)")
    for key in ("encoder_name", "encoder_weights", "classes"):
        if key in options:
            raise SegnetError(f"model '{name}': option '{key}' is set by the name / num_classes, not as an option")
    for key in ("deep_supervision", "memory_efficient", "init"):
        if options.get(key):
            raise SegnetError(f"model '{name}': option '{key}' is only supported by our FC networks")
        options.pop(key, None)
    # smp passes unknown keywords on to the encoder, where only timm ("tu-") encoders use
    # them; ours and smp's own would silently drop a misspelt option.
    params = inspect.signature(archs[arch.lower()].__init__).parameters
    valid = [p for p, v in params.items() if p != "self" and v.kind is v.POSITIONAL_OR_KEYWORD]
    if not encoder.startswith("tu-"):
        for key in options:
            if key not in valid:
                raise SegnetError(f"model '{name}' has no option '{key}' (valid: {', '.join(valid)})")
    try:
        return smp.create_model(arch, encoder_name=encoder, encoder_weights=None, classes=num_classes, **options)
    except (TypeError, ValueError, KeyError) as exc:
        message = exc.args[0] if exc.args and isinstance(exc.args[0], str) else repr(exc)
        raise SegnetError(f"model '{name}': {message.splitlines()[0]}") from exc


def check_model_name(name: str) -> None:
    """A config's ``model.name`` must name a registered network or an smp model."""
    if not name.startswith("smp/") and name not in _MODELS:
        raise SegnetError(f"config key 'model.name' = {name!r}: unknown model (known: {', '.join(list_models())})")


def create_model(name: str, num_classes: int = 11, **options) -> nn.Module:
    """Build a network by name; ``list_models()`` says which names exist."""
    if not _positive_int(num_classes):
        raise SegnetError(f"num_classes must be a positive integer, got {num_classes!r}")
    if isinstance(name, str) and name.startswith("smp/"):
        return _create_smp(name, num_classes, dict(options))
    if name not in _MODELS:
        raise SegnetError(f"unknown model '{name}' (valid: {', '.join(list_models())})")
    fn = _MODELS[name]
    _check_options(name, fn, options)
    return fn(num_classes, **options)
