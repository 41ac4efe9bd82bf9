"""Training and validation batches, from a DataLoader or from frames preloaded on the device.

Every epoch's stream depends only on (seed, stage, epoch, rank) (see seeding.epoch_seed), so
a run resumed at an epoch boundary sees the same crops and flips, and a run stopped in the
middle of an epoch can skip the batches it had already trained on.

``data.preload_to_device``: the split is decoded once into a uint8 tensor on the device (down-
scaled there once by ``data.scale``); random crops and flips are indexing operations on it, so
a GPU never waits for the CPU workers. The same code runs on the CPU (that is how it is tested).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Subset
from torch.utils.data.distributed import DistributedSampler

from segnet.core.choices import STAGES
from segnet.data import CamVid, eval_transform, make_loader, read_image, read_pair, train_transform
from segnet.data.check import crop_problem, smallest_frame
from segnet.data.classes import load_classes
from segnet.data.loader import worker_errors_in_one_line
from segnet.errors import SegnetError
from segnet.inference.preprocess import normalize, scaled_size
from segnet.training.distributed import DistInfo
from segnet.training.seeding import epoch_seed


def _limited(dataset, limit: int | None):
    return Subset(dataset, range(min(limit, len(dataset)))) if limit else dataset


def _pairs(dataset) -> list:
    """(image, label) paths of a CamVid, through any Subsets around it."""
    if isinstance(dataset, Subset):
        inner = _pairs(dataset.dataset)
        return [inner[i] for i in dataset.indices]
    return list(dataset.pairs)


def _check_crops(cfg, root: Path, pairs: list) -> None:
    """Every enabled stage's crop fits the smallest training frame at data.scale, checked from the
    image headers before the first batch (a loader worker would stop mid-epoch, with less said)."""
    stages = [s for s in STAGES if cfg[s].enabled and cfg[s].epochs > 0 and cfg[s].crop_size is not None]
    if not stages:
        return
    smallest = smallest_frame(image for image, _ in pairs)
    for stage in stages:
        problem = crop_problem(f"{stage}.crop_size", cfg[stage].crop_size, smallest, cfg.data.scale, root)
        if problem:
            raise SegnetError(problem)


class TrainData:
    """Batches (float images [N,3,h,w] normalised, long masks [N,h,w]) for one epoch at a time."""

    def __init__(self, cfg, root: Path, device: torch.device, dist: DistInfo):
        d = cfg.data
        self.cfg, self.device, self.dist = cfg, device, dist
        self.dataset = _limited(CamVid(root, d.train_split), d.limit_train)
        classes = load_classes(root)
        self.void_id = classes.void_id
        self.sky_id = classes.names.index("Sky") if "Sky" in classes.names else None
        self.pairs = _pairs(self.dataset)
        _check_crops(cfg, root, self.pairs)
        h, w = read_image(self.pairs[0][0]).shape[:2]
        self.frame_size = scaled_size((h, w), d.scale)
        self.preloaded = _Preloaded(self.pairs, device, d.scale) if d.preload_to_device else None

    def __len__(self) -> int:
        return len(self.pairs)

    def label_paths(self) -> list[Path]:
        return [p[1] for p in self.pairs]

    def crop(self, stage_cfg) -> tuple[int, int]:
        return (stage_cfg.crop_size,) * 2 if stage_cfg.crop_size is not None else self.frame_size

    def num_batches(self, stage_cfg) -> int:
        per_rank = math.ceil(len(self.pairs) / self.dist.world_size)
        return math.ceil(per_rank / stage_cfg.batch_size)

    def epoch(self, stage_cfg, stage_index: int, epoch: int) -> Iterator:
        d, seed = self.cfg.data, self.cfg.seed
        crop = self.crop(stage_cfg)
        if self.preloaded is not None:
            return self.preloaded.batches(
                stage_cfg.batch_size, crop, d.hflip, d.mean, d.std, seed, stage_index, epoch, self.dist
            )
        transform = train_transform(crop_size=crop, scale=d.scale, hflip=d.hflip, mean=tuple(d.mean), std=tuple(d.std),
                                    scale_jitter=d.scale_jitter, photometric=d.photometric, void_id=self.void_id,
                                    sky_repaint=d.sky_repaint, sky_id=self.sky_id)
        base = self.dataset.dataset if isinstance(self.dataset, Subset) else self.dataset
        base.transform = transform
        sampler = None
        if self.dist.enabled:
            sampler = DistributedSampler(
                self.dataset, num_replicas=self.dist.world_size, rank=self.dist.rank, shuffle=True, seed=seed
            )
            sampler.set_epoch(stage_index * 100_000 + epoch)
        loader = make_loader(
            self.dataset,
            batch_size=stage_cfg.batch_size,
            shuffle=True,
            num_workers=d.num_workers,
            seed=epoch_seed(seed, stage_index, epoch, self.dist.rank),
            drop_last=False,
            sampler=sampler,
            pin_memory=self.device.type == "cuda",
            persistent_workers=False,
        )
        return worker_errors_in_one_line(loader)


class ValData:
    """Full-resolution validation frames, this rank's share (no padding: nothing counted twice)."""

    def __init__(self, cfg, root: Path, device: torch.device, dist: DistInfo):
        d = cfg.data
        self.cfg, self.device = cfg, device
        dataset = _limited(CamVid(root, d.val_split, transform=eval_transform(tuple(d.mean), tuple(d.std))),
                           d.limit_val)
        self.total = len(dataset)
        self.dataset = Subset(dataset, range(dist.rank, len(dataset), dist.world_size)) if dist.enabled else dataset
        self.preloaded = _Preloaded(_pairs(self.dataset), device, 1.0) if d.preload_to_device else None

    def batches(self) -> Iterator:
        d = self.cfg.data
        if self.preloaded is not None:
            return self.preloaded.in_order(d.val_batch_size, d.mean, d.std)
        loader = make_loader(self.dataset, batch_size=d.val_batch_size, shuffle=False, num_workers=d.num_workers,
                             seed=0, pin_memory=self.device.type == "cuda", persistent_workers=False)
        return worker_errors_in_one_line(loader)

    def __len__(self) -> int:
        return math.ceil(len(self.dataset) / self.cfg.data.val_batch_size)


class _Preloaded:
    """A whole split as uint8 tensors on the device: images [N,3,h,w], labels [N,h,w]."""

    def __init__(self, pairs, device: torch.device, scale: float):
        images, labels = [], []
        for image_path, label_path in pairs:
            image, label = read_pair(image_path, label_path)
            images.append(torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1))
            labels.append(torch.from_numpy(label))
        self.images = torch.stack(images).to(device)
        self.labels = torch.stack(labels).to(device)
        if scale != 1.0:
            h, w = scaled_size(self.labels.shape[-2:], scale)
            # area averaging for images (what albumentations does when it down-scales), nearest for ids
            self.images = (F.interpolate(self.images.float(), size=(h, w), mode="area").round_().clamp_(0, 255)
                           .to(torch.uint8))
            self.labels = F.interpolate(self.labels[:, None].float(), size=(h, w), mode="nearest")[:, 0].to(torch.uint8)

    def batches(self, batch_size, crop, hflip, mean, std, seed, stage_index, epoch, dist: DistInfo) -> Iterator:
        n = self.images.shape[0]
        # One permutation shared by all ranks (as DistributedSampler), padded to a multiple of
        # the world size; crops and flips drawn per rank.
        order = torch.randperm(n, generator=torch.Generator().manual_seed(epoch_seed(seed, stage_index, epoch)))
        per_rank = math.ceil(n / dist.world_size)
        order = torch.cat([order, order[: per_rank * dist.world_size - n]])[dist.rank :: dist.world_size]
        g = torch.Generator().manual_seed(epoch_seed(seed, stage_index, epoch, dist.rank) + 1)
        H, W = self.images.shape[-2:]
        ch, cw = crop
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            ys = torch.randint(0, H - ch + 1, (len(idx),), generator=g).tolist()
            xs = torch.randint(0, W - cw + 1, (len(idx),), generator=g).tolist()
            flips = (torch.rand(len(idx), generator=g) < 0.5).tolist() if hflip else [False] * len(idx)
            images, masks = [], []
            for i, y, x, flip in zip(idx.tolist(), ys, xs, flips):
                im = self.images[i, :, y : y + ch, x : x + cw]
                lb = self.labels[i, y : y + ch, x : x + cw]
                if flip:
                    im, lb = im.flip(-1), lb.flip(-1)
                images.append(im)
                masks.append(lb)
            yield normalize(torch.stack(images), mean, std), torch.stack(masks).long()

    def in_order(self, batch_size, mean, std) -> Iterator:
        for start in range(0, self.images.shape[0], batch_size):
            yield (normalize(self.images[start : start + batch_size], mean, std),
                   self.labels[start : start + batch_size].long())
