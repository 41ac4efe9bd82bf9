"""One training step measured exactly as ``segnet train`` runs it, in a fresh process.

The step is built from a recipe with the trainer's own pieces: ``create_model`` with the recipe's
model options, ``resolve_channels_last`` / ``resolve_amp`` for memory format and precision,
``make_optimizer`` (the recipe's optimizer and conv-only weight decay), ``make_criterion`` and
``training_loss``; then zero_grad, backward, optimizer step; ``torch.compile`` around the model
when the recipe says ``compile: true`` (its compilation is the warm-up step, ``first_step_seconds``).
Inputs are random (the data loader is measured by ``segnet bench loader``). The variant ``port``
runs the plain PyTorch Tiramisu port (segnet.bench.tiramisu_port) under the same optimizer, the
reference the speed-ups are quoted against.

``subnormal_fraction``: the share of subnormal values in the weights, gradients and optimizer state
after the timed steps, a count that (unlike the step's time) holds on a machine shared with other work.

Peak memory: on CUDA ``torch.cuda.max_memory_allocated``; on CPU the process's peak resident set
(VmHWM, reset through /proc/self/clear_refs after a warm-up step) minus its size before the
step, with glibc told to mmap every large block (MALLOC_MMAP_THRESHOLD_) so freed tensors leave
the resident set at once.
"""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import time

import torch

MIB = 2**20


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith(field))


def _sync(device: torch.device | str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def build_step(spec: dict):
    """(step function, description) for ``spec``: config, overrides, variant, batch, size, device."""
    from segnet.config.load import load_config, to_plain
    from segnet.core.device import autocast, resolve_amp, resolve_channels_last
    from segnet.models import create_model
    from segnet.training.losses import make_criterion, training_loss
    from segnet.training.optim import make_optimizer

    cfg = load_config(spec.get("config"), spec.get("overrides", []))
    device = torch.device(spec["device"])
    num_classes = 11
    if spec["variant"] == "port":
        from segnet.bench.tiramisu_port import tiramisu_port_103

        model, channels_last, amp_dtype, options = tiramisu_port_103(num_classes), False, None, {}
    else:
        options = to_plain(cfg.model.options)
        model = create_model(cfg.model.name, num_classes, **options)
        channels_last = resolve_channels_last(cfg.channels_last, device)
        amp_dtype = resolve_amp(cfg.amp, device)
    if spec.get("weights"):  # a run's late weights instead of a fresh initialisation
        from segnet.checkpoints.checkpoint import load_checkpoint, load_weights

        load_weights(model, load_checkpoint(spec["weights"])["model"], f"{spec['weights']} holds another network")
    model = model.to(device).train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimizer = make_optimizer(model, cfg.optim, cfg.train.lr)
    compiled = bool(cfg.compile) and spec["variant"] != "port"
    forward = torch.compile(model) if compiled else model  # as training/network.py wraps it
    criterion = make_criterion(None, cfg.loss.label_smoothing, ignore_index=num_classes)
    x = torch.rand(spec["batch"], 3, *spec["size"], device=device)
    if channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, num_classes + 1, (spec["batch"], *spec["size"]), device=device)

    def step() -> None:
        with autocast(device, amp_dtype):
            output = forward(x)
        if spec["variant"] == "port":  # LogSoftmax output: cross-entropy is NLL of it
            loss = torch.nn.functional.nll_loss(output, y, ignore_index=num_classes)
        else:
            loss = training_loss(output, y, criterion, cfg.loss.final_weight, False, cfg.loss.aux_weighting,
                                 cfg.loss.aux_targets)  # fmt: skip
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    described = {
        "model": "tiramisu_port_103" if spec["variant"] == "port" else cfg.model.name,
        "optimizer": cfg.optim.name,
        "channels_last": channels_last,
        "amp": str(amp_dtype).replace("torch.", "") if amp_dtype else "float32",
        "memory_efficient": bool(options.get("memory_efficient", False)),
        "compile": compiled,
        "weights": spec.get("weights"),
        "flush_denormal": bool(spec.get("flush_denormal")),
    }
    return step, described, functools.partial(_state_tensors, model, optimizer)


def _state_tensors(model: torch.nn.Module, optimizer: torch.optim.Optimizer) -> list[torch.Tensor]:
    """What the next step's kernels read besides the batch: weights, gradients, optimizer state."""
    found = [p for p in model.parameters()] + [p.grad for p in model.parameters() if p.grad is not None]
    for values in optimizer.state.values():
        found += [v for v in values.values() if torch.is_tensor(v) and v.dim() > 0]
    return found


def subnormal_fraction(tensors: list[torch.Tensor]) -> float:
    """Share of the floating-point values that are subnormal (non-zero, below the dtype's smallest
    normal): the values a step computes at a fraction of its speed unless denormals are flushed.
    Unlike a step's time it does not depend on what else shares the machine."""
    subnormal = total = 0
    for t in tensors:
        if t.is_floating_point():
            values = t.detach()
            subnormal += int(((values != 0) & (values.abs() < torch.finfo(values.dtype).tiny)).sum())
            total += values.numel()
    return subnormal / max(total, 1)


def measure(spec: dict) -> dict:
    """Warm-up step, then ``repeats`` timed steps: seconds per step, images/s and peak memory."""
    torch.set_num_threads(spec["threads"])
    torch.set_flush_denormal(bool(spec.get("flush_denormal")))
    device = torch.device(spec["device"])
    step, record, state_tensors = build_step(spec)
    start = time.perf_counter()
    step()  # optimizer state, allocator pools, oneDNN primitives; torch.compile's compilation
    _sync(device)
    record["first_step_seconds"] = time.perf_counter() - start
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = _status_kib("VmRSS") * 1024
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
    times = []
    for _ in range(spec["repeats"]):
        start = time.perf_counter()
        step()
        _sync(device)
        times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() if device.type == "cuda" else _status_kib("VmHWM") * 1024
    seconds = sorted(times)[len(times) // 2]  # median: robust to one step disturbed by another job
    record.update(
        train_seconds_per_step=seconds,
        train_images_per_s=spec["batch"] / seconds,
        peak_rss_gib=peak / 2**30 if device.type != "cuda" else None,
        peak_step_mib=(peak - base) / MIB,
        threads=spec["threads"],
        batch=spec["batch"],
        size=list(spec["size"]),
        subnormal_fraction=subnormal_fraction(state_tensors()),
    )
    return record


def run_in_subprocess(spec: dict) -> dict:
    """``measure(spec)`` in a fresh interpreter, so one variant's memory never counts for the next."""
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    cmd = [sys.executable, "-m", "segnet.bench.train_step", json.dumps(spec)]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"training-step worker failed for {spec}:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(measure(json.loads(sys.argv[1]))))
