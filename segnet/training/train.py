"""``segnet train``: a run from a config, or the continuation of a stopped run.

    from segnet.config.load import load_config
    from segnet.training.train import train, resume
    summary = train(load_config("configs/quick_cpu.yaml", ["train.epochs=2"]))
    summary = resume("runs/quick_cpu-20250101-120000")

SIGINT/SIGTERM stop either at a safe point with a resumable last.pt (segnet.training.stop):
both raise ``TrainingInterrupted`` (a KeyboardInterrupt) naming the run directory.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch.distributed as dist

from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.config.load import apply_overrides, config_from_dict, to_plain
from segnet.core.atomic import remove_stale_temporaries
from segnet.core.choices import STAGES
from segnet.errors import SegnetError
from segnet.models.registry import check_model_name
from segnet.training import distributed
from segnet.training.run_dir import default_run_dir, make_run_dir, save_config
from segnet.training.run_lock import RunLock
from segnet.training.stop import StopSignals
from segnet.training.trainer import Trainer


def _shared_run_dir(cfg, info: distributed.DistInfo) -> Path:
    """Rank 0 names the run directory; the other ranks learn it from rank 0."""
    path = [str(cfg.run_dir) if cfg.run_dir else (str(default_run_dir(cfg.name)) if info.is_main else None)]
    if info.enabled:
        dist.broadcast_object_list(path, src=0)
    return Path(path[0])


def _absolute_paths(cfg) -> None:
    """Store the config's paths absolute, so that a resume from another folder finds them."""
    if cfg.data.root:
        cfg.data.root = os.path.abspath(os.path.expanduser(cfg.data.root))
    if cfg.run_dir:
        cfg.run_dir = os.path.abspath(os.path.expanduser(cfg.run_dir))
    if cfg.load_from and cfg.load_from != "bundled":
        cfg.load_from = os.path.abspath(os.path.expanduser(cfg.load_from))


def train(cfg, command: str = "", resume_hint: str | None = None) -> dict:
    """Train from scratch as ``cfg`` says; returns the summary of Trainer.fit(). ``resume_hint``:
    how to continue, for the line a second signal prints (segnet.training.stop)."""
    started = time.monotonic()
    check_model_name(cfg.model.name)
    info, device = distributed.init_distributed(cfg.device)
    created = None  # the first folder of the run directory's path this call creates
    lock = None
    # installed before the run directory exists: a SIGTERM in set-up removes it like any failure
    stop = StopSignals(resume_hint=resume_hint)
    try:
        with stop:
            run_dir = _shared_run_dir(cfg, info).absolute()
            stop.run_dir = run_dir
            if info.is_main:
                missing = _first_missing(run_dir)
                make_run_dir(run_dir)
                # locked before the last.pt check: of two starts at one moment, one trains
                lock = RunLock(run_dir).acquire()
                created = missing  # only the lock holder may remove what it created
                if (run_dir / "last.pt").exists():
                    raise SegnetError(f"{run_dir} already holds a run (last.pt): resume it, or choose another run_dir")
                cfg.run_dir = str(run_dir)
                _absolute_paths(cfg)
                save_config(cfg, run_dir)
            distributed.barrier()
            trainer = Trainer(cfg, run_dir, info, device, command=command, started=started, stop=stop)
            return trainer.fit()
    except BaseException:
        # A run that fails before its first checkpoint (bad data, bad values) leaves nothing behind.
        if created is not None and not (run_dir / "last.pt").exists():
            shutil.rmtree(created, ignore_errors=True)
        raise
    finally:
        if lock is not None:
            lock.release()
        distributed.close_distributed()


def _first_missing(path: Path) -> Path | None:
    missing = None
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing = folder
    return missing


def resume(run_dir: str | Path, overrides: list[str] | None = None, command: str = "",
           resume_hint: str | None = None) -> dict:
    """Continue the run in ``run_dir`` from its last.pt (exactly, in deterministic mode).

    ``overrides`` (key=value) may change things like max_minutes, epochs or num_workers; more
    epochs than a finished stage had continue it.
    """
    started = time.monotonic()
    run_dir = Path(run_dir).absolute()
    ckpt = load_checkpoint(run_dir / "last.pt")
    if "config" not in ckpt or "stage" not in ckpt:
        raise SegnetError(f"{run_dir / 'last.pt'} is not a training checkpoint (no config/stage state)")
    _check_same_network(run_dir, ckpt)
    cfg = config_from_dict(ckpt["config"])
    if overrides:
        cfg = apply_overrides(cfg, overrides)
    cfg.run_dir = str(run_dir)
    _absolute_paths(cfg)
    _reopen_stage_with_more_epochs(cfg, ckpt)
    if ckpt.get("finished") and not _later_stage(cfg, ckpt):
        return {"run_dir": str(run_dir), "stopped": "already finished", "best_miou": ckpt["meta"].get("best_miou"),
                "best": str(run_dir / "best.pt"), "step": ckpt["step"]}
    info, device = distributed.init_distributed(cfg.device)
    lock = None
    try:
        if info.is_main:
            lock = RunLock(run_dir).acquire()
            save_config(cfg, run_dir)
            remove_stale_temporaries(run_dir)  # checkpoint writes a kill cut short
        with StopSignals(run_dir, resume_hint) as stop:
            trainer = Trainer(cfg, run_dir, info, device, resume=ckpt, command=command, started=started, stop=stop)
            return trainer.fit()
    finally:
        if lock is not None:
            lock.release()
        distributed.close_distributed()


def _check_same_network(run_dir: Path, ckpt: dict) -> None:
    """last.pt and best.pt of one run hold one network: a last.pt copied in from another run
    would train its own config here and fail when the stage restores this run's best.pt."""
    best = run_dir / "best.pt"
    if not best.is_file():
        return
    theirs = load_checkpoint(best)
    ours, best_shapes = ({k: tuple(v.shape) for k, v in c["model"].items()} for c in (ckpt, theirs))
    if ours == best_shapes:
        return
    key = (next((k for k in ours if ours[k] != best_shapes.get(k)), None)
           or next(k for k in best_shapes if k not in ours))
    shown = ["x".join(map(str, s[key])) if key in s else "absent" for s in (ours, best_shapes)]
    raise SegnetError(f"{run_dir / 'last.pt'} holds another network ({ckpt['model_name']}) than the run's {best} "
                      f"({theirs['model_name']}; {key}: {shown[0]} vs {shown[1]}): put back the run's own last.pt, "
                      "or resume the run it came from")


def _reopen_stage_with_more_epochs(cfg, ckpt: dict) -> None:
    """A stage that ran all its epochs continues when ``<stage>.epochs`` now allows more (not
    one that early stopping ended, unless its patience now allows more too)."""
    stage, epoch = ckpt["stage"], int(ckpt["epoch"])
    scfg = cfg[stage]
    if not ckpt["stage_done"] or scfg.epochs <= epoch or not scfg.enabled:
        return
    best_epoch = int(ckpt["early_stopping"]["best_epoch"])
    if scfg.patience is not None and epoch - best_epoch >= scfg.patience:
        return
    ckpt.update(stage_done=False, finished=False, final_only_epoch=None)


def _later_stage(cfg, ckpt) -> bool:
    index = STAGES.index(ckpt["stage"])
    return any(cfg[s].enabled and cfg[s].epochs > 0 for s in STAGES[index + 1 :])


__all__ = ["train", "resume", "to_plain"]
