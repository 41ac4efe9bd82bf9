"""The training config: recipes load, overrides apply, and every mistake is one SegnetError
that names the key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from segnet.cli import main as cli_main
from segnet.config.load import load_config
from segnet.errors import SegnetError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
# every recipe in configs/, the study's and the campaign's too (a campaign's plan.yaml is not one)
RECIPES = sorted(p.relative_to(CONFIGS) for p in CONFIGS.rglob("*.yaml") if p.name != "plan.yaml")


@pytest.mark.parametrize("recipe", RECIPES, ids=str)
def test_recipes_load(recipe):
    cfg = load_config(CONFIGS / recipe)
    assert cfg.name == recipe.stem and cfg.base is None


def test_defaults_are_the_paper_recipe():
    cfg = load_config(CONFIGS / "fc_densenet103.yaml")
    assert cfg.optim.name == "rmsprop" and cfg.optim.weight_decay == 1e-4
    assert (cfg.train.lr, cfg.train.lr_decay, cfg.train.crop_size, cfg.train.batch_size) == (1e-3, 0.995, 224, 3)
    assert (cfg.train.epochs, cfg.train.patience) == (750, 100)
    assert cfg.finetune.enabled and (cfg.finetune.lr, cfg.finetune.patience, cfg.finetune.crop_size) == (1e-4, 50, None)
    assert cfg.loss.class_weights == "none" and cfg.data.hflip  # the official code: unweighted
    assert (cfg.val_bn, cfg.data.val_batch_size) == ("batch", 3)  # its validation: batch statistics


def test_quick_cpu_inherits_and_overrides():
    cfg = load_config(CONFIGS / "quick_cpu.yaml", ["train.epochs=3", "amp=off"])
    assert cfg.model.name == "fc_densenet56"  # from base: fc_densenet56.yaml
    assert (cfg.data.scale, cfg.train.crop_size, cfg.max_minutes, cfg.channels_last) == (0.5, 160, 60, True)
    assert cfg.train.epochs == 3 and cfg.amp == "off"  # YAML's bare off is a boolean


@pytest.mark.parametrize(
    "override, words",
    [
        ("nosuchkey=1", ["unknown config key 'nosuchkey'"]),
        ("data.nosuch=1", ["unknown config key 'data.nosuch'"]),
        ("train.epochs=many", ["train.epochs", "many"]),
        ("train.lr=-0.001", ["train.lr", "-0.001"]),
        ("finetune.lr=0", ["finetune.lr"]),
        ("train.batch_size=0", ["train.batch_size", "0"]),
        ("train.crop_size=4", ["train.crop_size", "4", ">= 8"]),
        ("data.scale=1.5", ["data.scale", "1.5"]),
        ("model.name=smp/unet", ["model.name", "smp/<arch>/<encoder>"]),
        ("amp=fp32", ["amp", "fp32"]),
        ("loss.class_weights=inverse", ["loss.class_weights", "inverse"]),
        ("optim.name=lbfgs", ["optim.name", "lbfgs"]),
        ("train.schedule=step", ["train.schedule", "step", "cosine"]),
        ("finetune.warmup_epochs=-1", ["finetune.warmup_epochs", "-1"]),
        ("val_every=0", ["val_every"]),
        ("ema_decay=1.5", ["ema_decay", "1.5"]),
        ("loss.final_only_last_epoch=true", ["loss.final_only_last_epoch", "deep_supervision"]),
        ("epochs", ["key=value"]),
        ("model.options.num_classes=3", ["model.options.num_classes", "classes.yaml at data.root"]),
    ],
)
def test_bad_values_name_the_key(override, words):
    with pytest.raises(SegnetError) as err:
        load_config(CONFIGS / "fc_densenet56.yaml", [override])
    assert "\n" not in str(err.value)
    for w in words:
        assert w in str(err.value), (w, str(err.value))


def test_unknown_model_name_is_refused_before_training_starts(tmp_path):
    # the config layer sits below the model registry: training checks the name, before any folder is made
    from segnet.training.train import train

    cfg = load_config(CONFIGS / "fc_densenet56.yaml", ["model.name=fc_densenet999", f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(SegnetError) as err:
        train(cfg)
    assert "model.name" in str(err.value) and "fc_densenet999" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "run").exists()


def test_crop_must_fit_the_frames_of_the_data_it_meets(tmp_path, camvid_root):
    """A config does not know its data: a 300-pixel crop at data.scale=0.5 is fine for 1080p frames
    of one's own and refused, before any folder is made, for CamVid's 360x480 (180x240 at 0.5)."""
    from segnet.training.train import train

    load_config(CONFIGS / "fc_densenet56.yaml", ["data.scale=0.5", "train.crop_size=300"])
    cfg = load_config(CONFIGS / "fc_densenet56.yaml", ["data.scale=0.5", "train.crop_size=300",
                                                       f"data.root={camvid_root}", f"run_dir={tmp_path / 'run'}"])
    with pytest.raises(SegnetError, match=r"train.crop_size.*300.*180x240.*data.scale=0.5") as err:
        train(cfg)
    assert "\n" not in str(err.value) and not (tmp_path / "run").exists()


def test_bad_recipe_files(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  lr: -1\n")
    with pytest.raises(SegnetError, match="train.lr"):
        load_config(bad)
    bad.write_text("trian:\n  lr: 1\n")
    with pytest.raises(SegnetError, match=r"bad.yaml.*trian"):
        load_config(bad)
    loop = tmp_path / "loop.yaml"
    loop.write_text("base: loop.yaml\n")
    with pytest.raises(SegnetError, match="loop"):
        load_config(loop)
    with pytest.raises(SegnetError, match="not found"):
        load_config(tmp_path / "missing.yaml")


def test_cli_reports_config_errors_in_one_line(capsys):
    assert cli_main(["train", "--config", str(CONFIGS / "fc_densenet56.yaml"), "train.batch_size=0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("segnet: error:") and "train.batch_size" in err and "\n" not in err
    assert cli_main(["train"]) == 2


@pytest.mark.parametrize("override, message", [
    ("train.epochz=3", r"unknown config key 'train.epochz' \(keys of train: enabled, epochs, lr.*\); "
                       r"did you mean 'train.epochs'\?"),
    ("trian.lr=1", r"unknown config key 'trian' \(top-level keys: name, .*model, data, .*\); did you mean 'train'\?"),
    ("model=fc_densenet56", r"model is a section: use model.name=fc_densenet56 \(keys of model: name, options\)"),
    ("train=3", r"train is a section: use train.<key>=3 \(keys of train: enabled, epochs"),
])
def test_override_messages_show_the_way(override, message):
    with pytest.raises(SegnetError, match=message):
        load_config(CONFIGS / "fc_densenet56.yaml", [override])


def test_no_stage_to_run_names_the_epochs_key():
    with pytest.raises(SegnetError, match=r"config key 'train.epochs' = 0: no stage to run"):
        load_config(CONFIGS / "quick_cpu.yaml", ["train.epochs=0"])
    with pytest.raises(SegnetError, match=r"config key 'finetune.epochs' = 0: no stage to run"):
        load_config(CONFIGS / "fc_densenet56.yaml", ["train.enabled=false", "finetune.epochs=0"])
    assert load_config(CONFIGS / "fc_densenet56.yaml", ["train.epochs=0"]).finetune.enabled  # fine-tuning alone


@pytest.mark.parametrize("text, message", [
    ("", r"empty.yaml: empty config"),
    ("# only a comment\n", r"empty.yaml: empty config"),
    ("train:\n  lr: 1\n  epochs: [1\nmodel:\n  name: x\n",
     r"empty.yaml, line 4, column 6: invalid YAML \(.*flow sequence started at line 3, column 11\)"),
    ("model: fc_densenet56\n", r"model is a section: use 'model:' followed by indented 'name: fc_densenet56'"),
    ("train:\n  epohcs: 3\n", r"unknown config key 'train.epohcs' .*did you mean 'train.epochs'"),
])
def test_recipe_file_messages(tmp_path, text, message):
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(SegnetError, match=message) as err:
        load_config(path)
    assert "\n" not in str(err.value)


def test_version_flag(capsys):
    import segnet

    with pytest.raises(SystemExit) as exit_:
        cli_main(["--version"])
    assert exit_.value.code == 0 and capsys.readouterr().out.strip() == f"segnet {segnet.__version__}"
