"""Runs ``segnet`` (argv as for the command) with hooks that stop it at chosen moments.

    python tests/training/crash_harness.py train --config R.yaml

Environment (each optional):
    SLOW_FSYNC=0.3                  os.fsync sleeps first: checkpoint writes become wide windows
    SIGNAL_AT=where:N:SIGNAME:to    send SIGNAME from *inside* the N-th call of ``where``:
                                    setup (the trainer reading its data, before any step), step
                                    (optimizer.step), backward (a gradient hook, mid-backward) or
                                    validate (a validation forward); ``to`` is process or group
    MARK_AT=where:N:path:seconds    in the N-th call of ``where``, create ``path`` and sleep
"""

import os
import signal
import sys
import time


def _slow_fsync():
    real = os.fsync

    def fsync(fd):
        time.sleep(float(os.environ.get("SLOW_FSYNC", "0")))
        real(fd)

    os.fsync = fsync


def _action():
    actions = []
    if os.environ.get("SIGNAL_AT"):
        where, n, name, to = os.environ["SIGNAL_AT"].split(":")
        sig = getattr(signal, name)

        def send():
            os.killpg(os.getpgid(0), sig) if to == "group" else os.kill(os.getpid(), sig)

        actions.append((where, int(n), send))
    if os.environ.get("MARK_AT"):
        where, n, path, seconds = os.environ["MARK_AT"].split(":")

        def mark():
            open(path, "w").close()
            time.sleep(float(seconds))

        actions.append((where, int(n), mark))
    return actions


def _install(actions):
    import torch

    import segnet.models
    import segnet.training.trainer as trainer
    import segnet.training.validation as validation

    calls = {"setup": 0, "step": 0, "backward": 0, "validate": 0}

    def fire(where):
        calls[where] += 1
        for w, n, act in actions:
            if w == where and calls[where] == n:
                act()

    for cls in (torch.optim.RMSprop, torch.optim.Adam, torch.optim.SGD):
        real_step = cls.step

        def step(self, *args, _real=real_step, **kwargs):
            out = _real(self, *args, **kwargs)
            fire("step")  # after the update, before the trainer's counters: the worst moment
            return out

        cls.step = step

    real_create = segnet.models.create_model

    def create_model(*args, **kwargs):
        model = real_create(*args, **kwargs)
        params = [p for p in model.parameters() if p.requires_grad]
        params[len(params) // 2].register_hook(lambda grad: fire("backward"))
        return model

    segnet.models.create_model = create_model
    real_forward = validation.forward_logits

    def forward_logits(*args, **kwargs):
        fire("validate")
        return real_forward(*args, **kwargs)

    validation.forward_logits = forward_logits
    real_train_data = trainer.TrainData

    def train_data(*args, **kwargs):
        fire("setup")
        return real_train_data(*args, **kwargs)

    trainer.TrainData = train_data


if __name__ == "__main__":
    _slow_fsync()
    actions = _action()
    if actions:
        _install(actions)
    from segnet.cli import main

    sys.exit(main(sys.argv[1:]))
