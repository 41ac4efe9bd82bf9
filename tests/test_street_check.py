"""segnet.bench.street (tools/street_check.py): each change alters what it says and nothing else."""

import numpy as np

from segnet.bench import street


def test_blue_sky_repaints_only_sky_pixels_blue():
    rng = np.random.default_rng(0)
    image = np.full((40, 60, 3), 128, np.uint8)
    label = np.full((40, 60), 1, np.uint8)
    label[:15] = 0  # sky on top
    out = street.blue_sky(image, label, 0, rng)
    assert np.array_equal(out[15:], image[15:])
    sky = out[:15].reshape(-1, 3).astype(int)
    assert (sky[:, 2] > sky[:, 0] + 30).all()  # blue dominates red everywhere in the sky


def test_photometric_changes_keep_shape_and_dtype():
    image = np.random.default_rng(1).integers(0, 256, (32, 48, 3), dtype=np.uint8)
    label = np.zeros((32, 48), np.uint8)
    resized = {"hd_camera": (64, 96, 3), "dashcam_1080p": (1080, 1920, 3), "webcam": (240, 320, 3)}
    for name, change in street.CHANGES.items():
        out = change(image, label, 0, np.random.default_rng(0))
        if name == "dashcam_1080p":  # a 16:9 crop: the labels come cropped alike
            out, cropped = out
            assert cropped.shape == (27, 48) and out.shape[1] / out.shape[0] == 16 / 9
        assert out.shape == resized.get(name, image.shape) and out.dtype == np.uint8, name
        assert (name == "none") == (out.shape == image.shape and np.array_equal(out, image)), name


def test_hd_camera_keeps_the_scene_at_twice_the_size():
    image = np.zeros((20, 30, 3), np.uint8)
    image[5:10, 10:20] = 200
    out = street.hd_camera(image)
    assert out.shape == (40, 60, 3) and out[14:16, 25:35].min() > 150 and out[:6].max() < 30
