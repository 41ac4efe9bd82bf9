import numpy as np
import pytest
import torch

from segnet.data import eval_transform, train_transform
from segnet.errors import SegnetError

# Image colour encodes the label: red channel = 20 * id, so the mask can be read back from the image.
STEP = 20


def _pattern(height=360, width=480, seed=0):
    rng = np.random.default_rng(seed)
    # blocks of 8x8 so that area/bilinear down-scaling by 0.5 keeps block interiors pure
    blocks = rng.integers(0, 12, (height // 8, width // 8)).astype(np.uint8)
    label = np.kron(blocks, np.ones((8, 8), np.uint8))
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = label * STEP
    image[..., 1] = (np.arange(width) // 2).astype(np.uint8)[None, :]  # rises left to right: flips show
    return image, label


@pytest.mark.parametrize("scale", [1.0, 0.5])
def test_image_and_mask_stay_aligned(scale):
    image, label = _pattern()
    transform = train_transform(crop_size=(64, 96), scale=scale)
    transform.set_random_seed(3)
    flipped = 0
    for _ in range(20):
        out = transform(image=image, mask=label)
        x, y = out["image"], out["mask"]
        assert x.shape == (3, 64, 96) and x.dtype == torch.float32
        assert y.shape == (64, 96) and y.dtype == torch.int64
        ids_from_image = torch.round(x[0] * 255 / STEP).long()
        if scale == 1.0:
            assert torch.equal(ids_from_image, y)
        else:  # bilinear blur only at block edges: the mask matches almost everywhere
            assert (ids_from_image == y).float().mean() > 0.9
        flipped += bool((x[1, 0, 1:] < x[1, 0, :-1]).any())
    assert 0 < flipped < 20  # horizontal flips happen, not always


def test_default_is_unit_scaled_224_crop():
    image, label = _pattern()
    out = train_transform()(image=image, mask=label)
    assert out["image"].shape == (3, 224, 224) and out["mask"].dtype == torch.int64
    assert 0.0 <= out["image"].min() and out["image"].max() <= 1.0


def test_no_flip_option():
    image, label = _pattern()
    transform = train_transform(crop_size=32, hflip=False)
    for _ in range(10):
        x = transform(image=image, mask=label)["image"]
        assert (x[1, 0, 1:] >= x[1, 0, :-1]).all()


def test_crop_larger_than_image_names_the_value():
    image, label = _pattern()
    with pytest.raises(SegnetError, match="crop_size 224x224.*180x240"):
        train_transform(crop_size=224, scale=0.5)(image=image, mask=label)


@pytest.mark.parametrize("kwargs", [{"scale": 0.0}, {"scale": 1.5}, {"crop_size": 0}])
def test_bad_arguments(kwargs):
    with pytest.raises(SegnetError):
        train_transform(**kwargs)


def test_eval_transform_full_frame_and_normalisation():
    image, label = _pattern()
    out = eval_transform(mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25))(image=image, mask=label)
    assert out["image"].shape == (3, 360, 480) and torch.equal(out["mask"], torch.from_numpy(label).long())
    expected = (torch.from_numpy(image).permute(2, 0, 1).float() / 255 - 0.5) / 0.25
    assert torch.allclose(out["image"], expected, atol=1e-5)


def test_scale_jitter_varies_the_scale_and_pads_with_void():
    image, label = _pattern(176, 240)
    label = np.minimum(label, 10)  # no void in the frame itself: every void pixel is padding
    image[..., 0] = label * STEP
    transform = train_transform(crop_size=160, scale=1.0, scale_jitter=(0.5, 1.5), hflip=False, void_id=11)
    transform.set_random_seed(0)
    void_fractions = []
    for _ in range(30):
        out = transform(image=image, mask=label)
        assert out["image"].shape == (3, 160, 160) and out["mask"].shape == (160, 160)
        padded = out["mask"] == 11
        # padding is black and void; real pixels keep their red = 20 * id code
        assert torch.all(out["image"][:, padded] == 0)
        void_fractions.append(padded.float().mean().item())
    assert min(void_fractions) < 0.2 < max(void_fractions)  # small scales pad, large ones don't


def test_photometric_changes_colours_not_labels():
    image, label = _pattern(64, 64)
    plain = train_transform(crop_size=64, hflip=False)
    jittered = train_transform(crop_size=64, hflip=False, photometric=True)
    jittered.set_random_seed(1)
    changed = 0
    for _ in range(10):
        out = jittered(image=image, mask=label)
        assert torch.equal(out["mask"], plain(image=image, mask=label)["mask"])
        changed += not torch.equal(out["image"], plain(image=image, mask=label)["image"])
    assert changed >= 5


@pytest.mark.parametrize("jitter", [(0.0, 1.0), (1.5, 1.0)])
def test_bad_scale_jitter_is_one_error(jitter):
    with pytest.raises(SegnetError, match="scale_jitter"):
        train_transform(crop_size=64, scale_jitter=jitter)


def test_sky_repaint_paints_only_sky_and_makes_it_blue():
    image, label = _pattern(64, 64)
    transform = train_transform(crop_size=64, hflip=False, sky_repaint=1.0, sky_id=0)
    transform.set_random_seed(2)
    plain = train_transform(crop_size=64, hflip=False)(image=image, mask=label)
    out = transform(image=image, mask=label)
    sky = out["mask"] == 0
    assert torch.equal(out["mask"], plain["mask"]) and sky.any()
    assert torch.equal(out["image"][:, ~sky], plain["image"][:, ~sky])  # nothing else changes
    red, blue = out["image"][0][sky], out["image"][2][sky]
    assert (blue > red).float().mean() > 0.95


def test_sky_repaint_without_a_sky_class_is_one_error():
    with pytest.raises(SegnetError, match="Sky"):
        train_transform(crop_size=64, sky_repaint=0.5, sky_id=None)
