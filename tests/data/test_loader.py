import numpy as np
import torch

from segnet.data import CamVid, make_loader, train_transform

from .conftest import write_label, write_rgb


def _identical_frames(root, count=4, height=48, width=64):
    """Frames with the same content: crops can only differ through the random stream."""
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    label = rng.integers(0, 12, (height, width), dtype=np.uint8)
    for i in range(count):
        write_rgb(root / "train" / f"f{i}.png", image)
        write_label(root / "trainannot" / f"f{i}.png", label)
    return CamVid(root, "train", train_transform(crop_size=16, hflip=False))


def test_workers_draw_different_crops(tmp_path):
    dataset = _identical_frames(tmp_path)
    # batch 1, no shuffle: item 0 comes from worker 0, item 1 from worker 1 (each worker's first draw)
    loader = make_loader(dataset, batch_size=1, shuffle=False, num_workers=2, persistent_workers=False)
    batches = [images for images, _ in loader]
    assert not torch.equal(batches[0], batches[1])


def test_same_seed_same_first_batch(tmp_path):
    dataset = _identical_frames(tmp_path, count=6)

    def first_batch(seed):
        loader = make_loader(dataset, batch_size=2, shuffle=True, num_workers=2, seed=seed, persistent_workers=False)
        images, masks = next(iter(loader))
        return images, masks

    a, b, c = first_batch(5), first_batch(5), first_batch(6)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    assert a[1].dtype == torch.int64 and a[0].shape == (2, 3, 16, 16)


def test_main_process_seeded(tmp_path):
    dataset = _identical_frames(tmp_path, count=3)

    def run():
        return [x for x, _ in make_loader(dataset, batch_size=3, shuffle=True, num_workers=0, seed=1)]

    assert torch.equal(run()[0], run()[0])


def test_sampler_replaces_shuffle(tmp_path):
    dataset = _identical_frames(tmp_path, count=3)
    sampler = torch.utils.data.SequentialSampler(dataset)
    loader = make_loader(dataset, batch_size=1, shuffle=True, num_workers=0, sampler=sampler, drop_last=True)
    assert loader.sampler is sampler and len(loader) == 3
