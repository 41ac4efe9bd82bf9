"""DataLoader with reproducible, per-worker-distinct augmentation.

albumentations 2.x keeps its own numpy/python generators inside each Compose; a forked worker
inherits the parent's copy, so without reseeding every worker would draw the same crops.
``worker_init_fn`` reseeds the dataset's transform, numpy and random from torch's per-worker seed
(which derives from the loader's generator, itself seeded by ``seed``).
"""

from __future__ import annotations

import contextlib
import random
import signal
import warnings
from collections.abc import Iterable, Iterator

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from segnet.errors import SegnetError


def _transforms_of(dataset) -> list:
    """Every object with set_random_seed reachable as .transform through Subset/ConcatDataset wrappers."""
    found, stack, seen = [], [dataset], set()
    while stack:
        ds = stack.pop()
        if id(ds) in seen:
            continue
        seen.add(id(ds))
        transform = getattr(ds, "transform", None)
        if hasattr(transform, "set_random_seed"):
            found.append(transform)
        if hasattr(ds, "dataset"):
            stack.append(ds.dataset)
        stack.extend(getattr(ds, "datasets", []))
    return found


def seed_worker(worker_id: int) -> None:
    """worker_init_fn: reseed albumentations, numpy and random from torch's per-worker seed."""
    cv2.setNumThreads(0)  # workers are the parallelism; OpenCV's own threads only contend
    # Ctrl-C, `timeout` and schedulers signal the whole process group; a worker killed mid-batch
    # turns a clean stop into a crash. The main process decides when to stop and shuts workers down.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)
    seed = torch.initial_seed() % 2**32
    np.random.seed(seed)
    random.seed(seed)
    info = torch.utils.data.get_worker_info()
    if info is not None:
        for transform in _transforms_of(info.dataset):
            transform.set_random_seed(seed)


@contextlib.contextmanager
def _no_worker_count_advice():
    """data.num_workers is the user's choice; PyTorch's advice against it (whenever the CPU affinity
    allows fewer cores, e.g. under taskset or a scheduler) would add lines to every command's output."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="This DataLoader will create", category=UserWarning)
        yield


def worker_errors_in_one_line(batches: Iterable) -> Iterator:
    """The batches of ``batches`` (a DataLoader or its iterator), a worker's failure re-raised as
    its own one-line message. The iterator is made here, at once: a DataLoader starts its workers
    when it is."""
    with _no_worker_count_advice():
        return _one_line_errors(iter(batches))


def _one_line_errors(batches: Iterator) -> Iterator:
    """PyTorch re-raises a worker's exception in the main process with the worker's whole traceback
    in the message ("Caught SegnetError in DataLoader worker process 0 ... Original Traceback");
    the user needs its last line: the SegnetError's message, or the library's error."""
    try:
        yield from batches
    except Exception as exc:
        text = str(exc)
        if not text.startswith("Caught ") or "DataLoader worker process" not in text:
            raise
        last = [line.strip() for line in text.splitlines() if line.strip()][-1]
        name, _, message = last.partition(": ")
        if name.rsplit(".", 1)[-1] == "SegnetError":
            raise SegnetError(message) from None
        raise SegnetError(f"a data loader worker failed: {last[:300]}") from None


def make_loader(
    dataset: Dataset,
    batch_size: int,
    shuffle: bool,
    num_workers: int = 2,
    seed: int = 0,
    drop_last: bool = False,
    sampler: Sampler | None = None,
    pin_memory: bool = False,
    persistent_workers: bool | None = None,
) -> DataLoader:
    """A DataLoader whose shuffling and augmentation depend only on ``seed``.

    ``persistent_workers`` defaults to True when there are workers (no re-fork per epoch; the
    workers' augmentation streams continue across epochs). With ``num_workers=0`` the main-process
    transform is seeded here from ``seed``.
    """
    generator = torch.Generator()
    generator.manual_seed(seed)
    if num_workers == 0:
        for transform in _transforms_of(dataset):
            transform.set_random_seed(seed)
    if persistent_workers is None:
        persistent_workers = num_workers > 0
    with _no_worker_count_advice():
        return DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle if sampler is None else False,
            sampler=sampler,
            num_workers=num_workers,
            drop_last=drop_last,
            pin_memory=pin_memory,
            persistent_workers=persistent_workers and num_workers > 0,
            worker_init_fn=seed_worker if num_workers > 0 else None,
            generator=generator,
            prefetch_factor=4 if num_workers > 0 else None,
        )
