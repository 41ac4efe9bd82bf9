"""One contract for every registered network (as smp's tests/models/base.py): it builds, runs forward
at an odd size in eval and train mode, reports its parameters and states the input it takes. A new
model is tested by being registered."""

from __future__ import annotations

import gc
import io

import pytest
import torch

from segnet.inference.preprocess import pad_to
from segnet.models import create_model, final_logits, input_rule, list_models

# The generic builders take the network's shape as options; these keep them small.
SMALL = {"fc_densenet": dict(growth_rate=4, down_layers=[2, 2], bottleneck_layers=2, first_channels=8),
         "fc_log_densenet": dict(growth_rate=4, down_layers=[1, 1], bottleneck_layers=1, first_channels=8)}
NAMES = [n for n in list_models() if not n.startswith("smp/")] + ["smp/unet/resnet18", "smp/unet/dsnet50",
                                                                   "smp/unet/densenet_bc121"]
CLASSES = 5


@pytest.fixture(scope="module", params=NAMES)
def network(request):
    torch.manual_seed(0)
    return request.param, create_model(request.param, CLASSES, **SMALL.get(request.param, {}))


def test_states_an_input_rule_it_keeps(network):
    name, model = network
    multiple, min_size = input_rule(model)
    assert multiple >= 1 and min_size >= 1 and min_size % multiple == 0
    x = pad_to(torch.rand(1, 3, 37, 53), multiple, min_size)  # an odd size, padded as inference pads it
    with torch.no_grad():
        out = model.eval()(x)
    assert out.shape == (1, CLASSES, *x.shape[-2:]), name


def test_trains_at_an_odd_size_with_final_logits_first(network):
    name, model = network
    multiple, min_size = input_rule(model)
    x = pad_to(torch.rand(2, 3, 45, 61), multiple, min_size)
    out = model.train()(x)
    logits = final_logits(out)
    assert logits.shape == (2, CLASSES, *x.shape[-2:]), name
    logits.mean().backward()
    assert any(p.grad is not None for p in model.parameters())


def test_a_training_step_leaves_no_garbage_cycle(network):
    """A forward pass must not tie its activations into a reference cycle: reference counting then
    cannot free them, and every step's activations wait for the garbage collector (a recursive
    closure in FC-Log-DenseNet's forward grew a training process to 17.7 GiB)."""
    name, model = network
    multiple, min_size = input_rule(model)
    x = pad_to(torch.rand(2, 3, 45, 61), multiple, min_size)
    gc.collect()
    gc.disable()
    try:
        out = model.train()(x)
        final_logits(out).mean().backward()
        del out
        assert gc.collect() == 0, f"{name}: a training step left objects only the garbage collector frees"
    finally:
        gc.enable()
        model.zero_grad(set_to_none=True)


def test_weights_round_trip_through_a_weights_only_load(network):
    """Checkpoints are loaded with weights_only=True: the state_dict, its metadata included, must hold
    nothing else (a method of FC-Log-DenseNet named ``_version`` once shadowed nn.Module's format
    number and made every checkpoint of it unreadable)."""
    name, model = network
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=True)
    assert loaded.keys() == model.state_dict().keys(), name


def test_reports_trainable_parameters(network):
    name, model = network
    assert sum(p.numel() for p in model.parameters() if p.requires_grad) > 0, name
