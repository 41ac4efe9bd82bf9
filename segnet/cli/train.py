"""``segnet train --config configs/<recipe>.yaml [key=value ...]`` / ``segnet train --resume RUN_DIR``."""

from __future__ import annotations

import shlex
import signal
import sys


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
    from segnet.errors import SegnetError

    if bool(args.config) == bool(args.resume):
        raise SegnetError("give exactly one of --config FILE or --resume RUN_DIR")
    from segnet.training.distributed import current_rank
    from segnet.training.stop import EXIT_CODE, TrainingInterrupted, interrupted_message
    from segnet.training.train import resume, train

    command = "segnet " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    overrides = list(args.overrides) + ([f"device={args.device}"] if args.device else [])
    try:
        if args.resume:
            summary = resume(args.resume, overrides, command=command)
        else:
            from segnet.config import load_config

            summary = train(load_config(args.config, overrides), command=command)
    except TrainingInterrupted as stop:
        for sig in (signal.SIGINT, signal.SIGTERM):  # state is saved: a late second signal must not add a line
            signal.signal(sig, signal.SIG_IGN)
        if current_rank() == 0:
            print(interrupted_message(stop.run_dir, stop.resumable), file=sys.stderr)
        return EXIT_CODE
    if current_rank() != 0:
        return 0
    if summary.get("stopped") == "already finished":
        print(f"{summary['run_dir']}: run already finished; best model {summary['best']} "
              "(a larger train.epochs or finetune.epochs continues it)")
        return 0
    best = summary.get("best_miou")
    best_txt = f"{best:.4f}" if isinstance(best, float) and best > float("-inf") else "n/a"
    print(f"done ({summary['stopped']}): best val mIoU {best_txt}; model {summary['best']}")
    if summary.get("stopped") == "time budget":
        print(f"continue with: segnet train --resume {summary['run_dir']}")
    return 0
