"""Videos: per-frame label maps that equal the model's output on each decoded frame, overlays
in colours that show every class with a legend, a browser-playable codec when the wheel has
one, --max-frames, tiny frames, and a summary line when stderr is not a terminal."""

import cv2
import numpy as np
import pytest

from segnet.checkpoints.checkpoint import load_checkpoint
from segnet.cli import main
from segnet.data.classes import CLASS_NAMES, PALETTE
from segnet.deploy.loading import load_predictor
from segnet.jobs.visualize import draw_legend, overlay_palette


def _predict(ckpt, *argv) -> int:
    return main(["predict", "--checkpoint", str(ckpt), *map(str, argv), "--device", "cpu", "--amp", "off"])


def _overlay_video(out):
    return next(p for p in out.iterdir() if p.name.startswith("clip_overlay."))


def test_save_frames_writes_the_labels_of_every_frame(tiny_model_ckpt, clip, tmp_path, video_helpers):
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--save-frames", "--batch-size", 3) == 0
    decoded = video_helpers.read(clip)
    frames = out / "clip_frames"
    assert (sorted(p.name for p in frames.iterdir())
            == [f"{i:06d}_{k}.png" for i in range(7) for k in ("color", "labels")])
    predictor = load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off")
    expected = predictor.predict(decoded)
    for i, ids in enumerate(expected):
        labels = cv2.imread(str(frames / f"{i:06d}_labels.png"), cv2.IMREAD_UNCHANGED)
        assert labels.dtype == np.uint8 and labels.shape == (48, 64)
        assert (labels == ids).mean() > 0.999  # batch of 3 vs 7: rounding at near-ties only
        color = cv2.cvtColor(cv2.imread(str(frames / f"{i:06d}_color.png")), cv2.COLOR_BGR2RGB)
        assert np.array_equal(color, PALETTE[labels])  # dataset palette, no legend: ready to evaluate


def test_rerun_replaces_the_frame_folder(tiny_model_ckpt, clip, tmp_path):
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--save-frames") == 0
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--save-frames", "--max-frames", 2) == 0
    assert len(list((out / "clip_frames").glob("*_labels.png"))) == 2  # no frames left from the longer run
    assert not [p for p in out.iterdir() if ".old-" in p.name]


def test_max_frames_and_browser_codec(tiny_model_ckpt, clip, tmp_path, video_helpers, capsys):
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--max-frames", 4) == 0
    video = _overlay_video(out)
    assert len(video_helpers.read(video)) == 4
    capture = cv2.VideoCapture(str(video))
    assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(10.0)
    printed = capsys.readouterr()
    # not a terminal here: no bar, one summary line with the rate
    assert "4 frames at" in printed.out and "frames/s" in printed.out and "\r" not in printed.err
    vp8 = cv2.VideoWriter(str(tmp_path / "probe.webm"), cv2.VideoWriter_fourcc(*"VP80"), 5.0, (32, 32))
    if vp8.isOpened():  # the pip wheel carries libvpx: WebM, which browsers play
        assert video.suffix == ".webm" and "note:" not in printed.err
    else:
        assert "no encoder browsers play" in printed.err
    vp8.release()


def test_fallback_codec_is_said_once(tiny_model_ckpt, clip, tmp_path, capsys, monkeypatch):
    import segnet.jobs.video as video

    monkeypatch.setattr(video, "WRITER_CODECS", (("NOPE", ".webm"), ("MJPG", ".avi")))
    other = tmp_path / "other.avi"
    other.write_bytes(clip.read_bytes())
    assert _predict(tiny_model_ckpt, clip, other, "--out", tmp_path / "out") == 0
    err = capsys.readouterr().err
    assert err.count("no encoder browsers play") == 1 and "MJPG" in err
    assert (tmp_path / "out" / "clip_overlay.avi").is_file()


def test_overlay_palette_shows_every_class():
    bright = overlay_palette(CLASS_NAMES, PALETTE)
    hsv = cv2.cvtColor(bright[None, : len(CLASS_NAMES)], cv2.COLOR_RGB2HSV)[0].astype(int)
    assert (hsv[:, 1] > 100).all() and (hsv[:, 2] > 150).all()  # saturated and bright: no grey sky, no dark car
    distances = np.linalg.norm(bright[:11, None].astype(int) - bright[None, :11].astype(int), axis=2)
    assert distances[~np.eye(11, dtype=bool)].min() > 60
    assert np.array_equal(bright[11:], PALETTE[11:])  # void keeps its row
    # classes of one's own dataset get distinct colours too
    own = overlay_palette(["background", "crack", "Road"], np.zeros((4, 3), np.uint8))
    assert len({tuple(c) for c in own[:3]}) == 3 and tuple(own[2]) == tuple(bright[3])


def test_legend_writes_names_on_their_colours():
    image = np.full((360, 480, 3), 90, np.uint8)
    drawn = draw_legend(image, CLASS_NAMES, PALETTE)
    assert drawn.shape == image.shape and np.array_equal(image, np.full_like(image, 90))  # a copy
    changed = np.any(drawn != image, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() > 360 * 2 // 3 and rows.max() == 359  # along the bottom, not over the middle
    colours = {tuple(c) for c in drawn[changed].reshape(-1, 3)}
    assert all(tuple(int(v) for v in PALETTE[i]) in colours for i in range(11))  # every class's swatch
    tiny = np.zeros((30, 40, 3), np.uint8)
    assert np.array_equal(draw_legend(tiny, CLASS_NAMES, PALETTE), tiny)  # no room: left alone


def test_video_overlay_has_a_legend_unless_asked_not_to(tiny_model_ckpt, tmp_path, video_helpers):
    clip = video_helpers.write(tmp_path / "clip.avi", video_helpers.frames(2, size=(320, 240)))
    for flag, folder in (("--legend", "with"), ("--no-legend", "without")):
        assert _predict(tiny_model_ckpt, clip, "--out", tmp_path / folder, flag, "--opacity", 1.0) == 0
    with_legend = video_helpers.read(_overlay_video(tmp_path / "with"))[0]
    without = video_helpers.read(_overlay_video(tmp_path / "without"))[0]
    assert with_legend.shape == without.shape == (240, 320, 3)
    diff = np.abs(with_legend.astype(int) - without.astype(int)).max(axis=2) > 40
    assert diff[200:].mean() > 0.05 and diff[:120].mean() < 0.01  # legend at the bottom only


def test_image_legend_is_opt_in(tiny_model_ckpt, tmp_path, video_helpers):
    image = tmp_path / "in" / "a.png"
    image.parent.mkdir()
    cv2.imwrite(str(image), video_helpers.frames(1, size=(320, 240))[0])
    assert _predict(tiny_model_ckpt, image, "--out", tmp_path / "plain") == 0
    assert _predict(tiny_model_ckpt, image, "--out", tmp_path / "legend", "--legend") == 0
    labels = cv2.imread(str(tmp_path / "plain" / "a_labels.png"), cv2.IMREAD_UNCHANGED)
    plain = cv2.cvtColor(cv2.imread(str(tmp_path / "plain" / "a_color.png")), cv2.COLOR_BGR2RGB)
    assert np.array_equal(plain, PALETTE[labels])
    for name in ("a_color.png", "a_overlay.png"):
        assert not np.array_equal(cv2.imread(str(tmp_path / "plain" / name)),
                                  cv2.imread(str(tmp_path / "legend" / name)))


def test_a_40x30_video_works(tiny_model_ckpt, tmp_path, video_helpers):
    clip = video_helpers.write(tmp_path / "small.avi", video_helpers.frames(3, size=(40, 30)))
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--save-frames") == 0
    labels = cv2.imread(str(out / "small_frames" / "000002_labels.png"), cv2.IMREAD_UNCHANGED)
    assert labels.shape == (30, 40)
    assert len(video_helpers.read(next(out.glob("small_overlay.*")))) == 3


@pytest.mark.parametrize("argv, message", [
    (["--opacity", "5"], "--opacity: opacity must be in [0, 1], got 5"),
    (["--max-frames", "0"], "--max-frames: max frames must be >= 1, got 0"),
    (["--batch-size", "0"], "--batch-size: batch size must be >= 1, got 0"),
])
def test_bad_values_are_one_line(argv, message, tiny_model_ckpt, clip, tmp_path, capsys):
    assert _predict(tiny_model_ckpt, clip, "--out", tmp_path / "out", *argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"segnet: error: {message}"]
    assert not (tmp_path / "out").exists()


def test_demo_refuses_a_bad_opacity_before_any_work(tmp_path, capsys):
    assert main(["demo", "--opacity", "5", "--out", str(tmp_path / "demo"), "--data-root", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "segnet: error: --opacity: opacity must be in [0, 1], got 5"]
    assert not (tmp_path / "demo").exists()


def test_show_without_a_window_system_is_one_line(clip, tmp_path, capsys, monkeypatch):
    import segnet.jobs.predict as predict

    monkeypatch.setattr(predict, "gui_problem", lambda: "no display to show frames on (DISPLAY is not set)")
    assert main(["predict", str(clip), "--out", str(tmp_path / "out"), "--show"]) == 2
    assert capsys.readouterr().err.strip().splitlines() == [
        "segnet: error: --show: cannot show frames: no display to show frames on (DISPLAY is not set)"]


def test_progress_bars_show_the_rate(tiny_model_ckpt, clip, tmp_path, capsys):
    from segnet.jobs.predict import OutputOptions, collect_inputs, run_predict

    image = tmp_path / "in" / "a.png"
    image.parent.mkdir()
    cv2.imwrite(str(image), np.zeros((32, 32, 3), np.uint8))
    predictor = load_predictor(load_checkpoint(tiny_model_ckpt), device="cpu", amp="off")
    run_predict(predictor, collect_inputs([str(image), str(clip)]), tmp_path / "out", OutputOptions(), progress=True)
    err = capsys.readouterr().err
    assert "images: 100%" in err and "clip.avi" not in err and "clip: 100%" in err and "7/7" in err
    assert "frame/s" in err or "s/frame" in err  # tqdm turns the unit round below 1 frame/s


def test_show_displays_each_overlay_and_q_stops(tiny_model_ckpt, clip, tmp_path, capsys, monkeypatch):
    """A window system stood in for (the wheel here is headless): every overlay is shown, and q
    ends the run keeping the frames made so far."""
    import segnet.jobs.predict as predict

    shown, keys = [], iter([-1, -1, ord("q")])
    monkeypatch.setattr(predict, "gui_problem", lambda: None)
    monkeypatch.setattr(cv2, "imshow", lambda name, frame: shown.append(frame.shape))
    monkeypatch.setattr(cv2, "waitKey", lambda delay: next(keys))
    monkeypatch.setattr(cv2, "getWindowProperty", lambda name, prop: 1.0)
    monkeypatch.setattr(cv2, "destroyAllWindows", lambda: None)
    out = tmp_path / "out"
    assert _predict(tiny_model_ckpt, clip, "--out", out, "--show", "--save-frames") == 0
    assert shown == [(48, 64, 3)] * 3
    assert "3 frames at" in capsys.readouterr().out
    assert len(list((out / "clip_frames").glob("*_labels.png"))) == 3
