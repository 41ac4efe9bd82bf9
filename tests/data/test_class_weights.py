import json

import numpy as np
import pytest
import torch

import segnet.data.class_weights as cw
from segnet.data import CamVid, class_frequencies, median_frequency_weights
from segnet.errors import SegnetError

from .conftest import write_label

# /work/shared/data/CamVid/README.md: train split, SegNet's median-frequency rule.
REFERENCE_FREQ = [0.1689, 0.2339, 0.0099, 0.3166, 0.0472, 0.1119, 0.0123, 0.0239, 0.0598, 0.0074, 0.0053]
REFERENCE_WEIGHTS = [0.2793, 0.2017, 4.7865, 0.1490, 1.0000, 0.4217, 3.8467, 1.9736, 0.7889, 6.3747, 8.8587]


@pytest.fixture(scope="module")
def train_labels(camvid_root):
    return [label for _, label in CamVid(camvid_root, "train").pairs]


def test_matches_reference_table(train_labels, tmp_path):
    weights = median_frequency_weights(train_labels, cache_dir=tmp_path)
    assert weights.dtype == torch.float32 and weights.shape == (11,)
    np.testing.assert_allclose(weights.numpy(), REFERENCE_WEIGHTS, atol=1e-3)
    assert json.loads(next(tmp_path.glob("*.json")).read_text())["files"] == 367


def test_frequencies_match_reference(train_labels):
    np.testing.assert_allclose(class_frequencies(train_labels), REFERENCE_FREQ, atol=1e-4)


def test_rule_on_small_maps(tmp_path):
    # map a: 6 px of class 0, 2 px of class 1 ; map b: 4 px class 1, 4 px void
    a = np.array([[0, 0, 0, 0], [0, 0, 1, 1]], np.uint8)
    b = np.array([[1, 1, 1, 1], [11, 11, 11, 11]], np.uint8)
    paths = [write_label(tmp_path / "a.png", a), write_label(tmp_path / "b.png", b)]
    freq = class_frequencies(paths, num_classes=3)
    np.testing.assert_allclose(freq, [6 / 8, 6 / 16, 0.0])  # void pixels count in the totals
    weights = median_frequency_weights(paths, num_classes=3)
    median = np.median([6 / 8, 6 / 16])  # classes that never appear are left out and weigh 0
    np.testing.assert_allclose(weights.numpy(), [median / (6 / 8), median / (6 / 16), 0.0], rtol=1e-6)


def test_cache_used_then_invalidated(tmp_path, monkeypatch):
    paths = [write_label(tmp_path / f"{i}.png", np.full((4, 4), i % 3, np.uint8)) for i in range(4)]
    cache = tmp_path / "cache"
    first = median_frequency_weights(paths, cache_dir=cache)
    assert len(list(cache.glob("*.json"))) == 1

    calls = []
    real = cw.class_frequencies
    monkeypatch.setattr(cw, "class_frequencies", lambda *a, **k: calls.append(1) or real(*a, **k))
    assert torch.equal(median_frequency_weights(paths, cache_dir=cache), first)
    assert calls == []  # second call: read from the JSON cache

    median_frequency_weights(paths[:3], cache_dir=cache)  # a different file list
    assert calls == [1]
    write_label(paths[0], np.full((4, 4), 2, np.uint8))  # same list, file changed (size/mtime)
    import os

    os.utime(paths[0], ns=(1, 1))
    median_frequency_weights(paths, cache_dir=cache)
    assert calls == [1, 1]


def test_damaged_cache_recomputed(tmp_path):
    paths = [write_label(tmp_path / "a.png", np.array([[0, 1], [1, 1]], np.uint8))]
    expected = median_frequency_weights(paths)
    target = cw.cache_path(paths, tmp_path / "c")
    target.parent.mkdir()
    target.write_text("{not json")
    assert torch.equal(median_frequency_weights(paths, cache_dir=tmp_path / "c"), expected)


def test_no_labels():
    with pytest.raises(SegnetError):
        median_frequency_weights([])


# The official FC-Log-DenseNet code's table (EchoWho/AnytimeNeuralNetwork_public,
# tensorpack/dataflow/dataset/camvid.py:48-50): global shares of 11 classes + void.
CODE_FREQ = [0.16845114, 0.23258652, 0.00982927, 0.31658215, 0.0448627, 0.09724055,
             0.01172954, 0.01126809, 0.05865686, 0.00639231, 0.00291665, 0.03948423]


def test_global_rule_gives_the_code_weights():
    weights = cw.weights_from_global_frequencies(np.array(CODE_FREQ))
    assert weights.shape == (11,)  # void's own weight is dropped (class_weight[:-1])
    np.testing.assert_allclose(weights, 0.0448627 / np.array(CODE_FREQ[:-1]), rtol=1e-9)
    assert round(weights[7], 2) == 3.98 and round(weights[10], 2) == 15.38  # Fence, Bicyclist


def test_global_definition_on_the_train_split_reproduces_the_code_table(train_labels, tmp_path):
    freq = class_frequencies(train_labels, definition="median_frequency_global")
    np.testing.assert_allclose(freq, CODE_FREQ, atol=1e-6)
    weights = median_frequency_weights(train_labels, cache_dir=tmp_path, definition="median_frequency_global")
    assert weights[7].item() == pytest.approx(3.98, abs=0.005) and weights[10].item() == pytest.approx(15.38, abs=0.005)
    # Eigen & Fergus's per-image-presence definition differs (the default)
    assert median_frequency_weights(train_labels, cache_dir=tmp_path)[10].item() == pytest.approx(8.8587, abs=1e-3)
    assert len(list(tmp_path.glob("*.json"))) == 2  # one cache per definition


def test_global_rule_on_small_maps(tmp_path):
    # 16 px: class 0 x6, class 1 x6, void x4 -> shares 6/16, 6/16, 0 (class 2), 4/16 (void)
    a = np.array([[0, 0, 0, 0], [0, 0, 1, 1]], np.uint8)
    b = np.array([[1, 1, 1, 1], [11, 11, 11, 11]], np.uint8)
    paths = [write_label(tmp_path / "a.png", a), write_label(tmp_path / "b.png", b)]
    freq = class_frequencies(paths, num_classes=3, definition="median_frequency_global")
    np.testing.assert_allclose(freq, [6 / 16, 6 / 16, 0.0, 4 / 16])
    weights = median_frequency_weights(paths, num_classes=3, definition="median_frequency_global")
    # sorted shares 0, 4/16, 6/16, 6/16: upper median (index 2) is 6/16; the absent class weighs 0
    np.testing.assert_allclose(weights.numpy(), [1.0, 1.0, 0.0])


def test_unknown_definition():
    with pytest.raises(SegnetError, match="median_freq"):
        median_frequency_weights([], definition="median_freq")
