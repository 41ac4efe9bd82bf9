"""``segnet train --config configs/<recipe>.yaml [key=value ...]`` / ``segnet train --resume RUN_DIR``."""

from __future__ import annotations

import shlex
import signal
import sys

from segnet.core.choices import EXIT_INTERRUPTED

RESUME_HINT = "segnet train --resume {run_dir}"  # how the interrupted and time-budget lines say to continue


def add_parser(subparsers) -> None:
    parser = subparsers.add_parser(
        "train",
        help="train a network on CamVid (paper recipe: crops, then full-frame fine-tuning)",
        description="Train from a recipe in configs/, with OmegaConf dotted overrides (train.epochs=10 "
        "data.scale=0.5 ...). Ctrl-C or SIGTERM stops at the next whole step with a resumable last.pt "
        "(exit 130). Multi-GPU: torchrun --nproc_per_node N -m segnet train ...",
    )
    parser.add_argument("--config", help="recipe file, e.g. configs/fc_densenet103.yaml")
    parser.add_argument("--resume", metavar="RUN_DIR", help="continue the run in RUN_DIR from its last.pt")
    parser.add_argument("--device", help="auto, cpu, cuda or cuda:N (the config key 'device')")
    parser.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides")
    parser.set_defaults(func=run)


def run(args) -> int:
    import segnet

    if bool(args.config) == bool(args.resume):
        raise segnet.SegnetError("give exactly one of --config FILE or --resume RUN_DIR")
    command = "segnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    # a bad recipe answers before torch loads (segnet.train and the except clause below load it)
    cfg = None if args.resume else segnet.load_config(args.config, overrides)
    try:
        if args.resume:
            run = segnet.resume(args.resume, overrides, command=command, resume_hint=RESUME_HINT)
        else:
            run = segnet.train(cfg, command=command, resume_hint=RESUME_HINT)
    except segnet.TrainingInterrupted as stop:
        for sig in (signal.SIGINT, signal.SIGTERM):  # state is saved: a late second signal must not add a line
            signal.signal(sig, signal.SIG_IGN)
        if stop.is_main:
            print(stop.message(RESUME_HINT), file=sys.stderr)
        return EXIT_INTERRUPTED
    if not run.is_main:
        return 0
    if run.stopped == "already finished":
        print(f"{run.run_dir}: run already finished; best model {run.best_checkpoint} "
              "(a larger train.epochs or finetune.epochs continues it)")
        return 0
    best = "n/a" if run.best_miou is None else f"{run.best_miou:.4f}"
    print(f"done ({run.stopped}): best val mIoU {best}; model {run.best_checkpoint}")
    if run.stopped == "time budget":
        print(f"continue with: {RESUME_HINT.format(run_dir=run.run_dir)}")
    return 0
