"""Loading a training configuration: recipes, their ``base`` chain and command-line overrides.

Schema defaults (segnet.config.schema: the paper recipe) <- a recipe file <- ``key=value``
overrides. A recipe file in ``configs/`` only states what differs; it may name a
``base:`` recipe (path relative to itself) to start from.

    cfg = load_config("configs/fc_densenet103.yaml", ["train.epochs=10", "data.scale=0.5"])

Unknown keys, wrong types and impossible values raise one SegnetError naming the key.
"""

from __future__ import annotations

import os
from pathlib import Path

import yaml
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from segnet.config import messages as config_messages
from segnet.config.checks import validate_config
from segnet.config.schema import TrainConfig
from segnet.errors import SegnetError

__all__ = ["apply_overrides", "config_from_dict", "load_config", "to_plain"]


def _raise(exc: OmegaConfBaseException, source: str) -> None:
    raise config_messages.from_omegaconf(exc, source, OmegaConf.structured(TrainConfig)) from None


def _load_recipe(path: Path, seen: tuple = ()) -> DictConfig:
    if not path.is_file():
        raise SegnetError(f"config file not found: {path}")
    if path.resolve() in seen:
        raise SegnetError(f"{path}: 'base' recipes form a loop")
    try:
        raw = OmegaConf.load(path)
    except yaml.YAMLError as exc:
        raise config_messages.yaml_error(path, exc) from None
    except Exception as exc:
        raise SegnetError(f"cannot read config {path}: {str(exc).splitlines()[0]}") from None
    if not isinstance(raw, DictConfig):
        raise SegnetError(f"{path}: a config must be a mapping of keys to values")
    if not raw:  # not the 750-epoch defaults by accident
        raise SegnetError(f"{path}: empty config (a recipe sets at least one key, e.g. 'base: fc_densenet56.yaml')")
    config_messages.check_sections(raw, str(path), OmegaConf.structured(TrainConfig), override=False)
    base = raw.get("base")
    if base:
        parent = _load_recipe((path.parent / str(base)), seen + (path.resolve(),))
        raw = OmegaConf.merge(parent, raw)
    return raw


def load_config(path: str | os.PathLike | None = None, overrides: list[str] | None = None) -> DictConfig:
    """Schema defaults <- recipe file (and its ``base`` chain) <- ``key=value`` overrides."""
    cfg = OmegaConf.structured(TrainConfig)
    source = "config"
    try:
        if path is not None:
            path = Path(path)
            source = str(path)
            cfg = OmegaConf.merge(cfg, _load_recipe(path))
            if cfg.name is None:
                cfg.name = path.stem
    except OmegaConfBaseException as exc:
        _raise(exc, source)
    cfg = _merge_overrides(cfg, overrides)
    cfg.base = None  # already applied
    if cfg.name is None:
        cfg.name = "train"
    validate_config(cfg)
    return cfg


def apply_overrides(cfg: DictConfig, overrides: list[str] | None) -> DictConfig:
    """``cfg`` with ``key=value`` overrides merged in and its values checked again."""
    cfg = _merge_overrides(cfg, overrides)
    validate_config(cfg)
    return cfg


def _merge_overrides(cfg: DictConfig, overrides: list[str] | None) -> DictConfig:
    if not overrides:
        return cfg
    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise SegnetError(f"override '{bad[0]}' is not of the form key=value")
    try:
        dotlist = OmegaConf.from_dotlist(list(overrides))
        config_messages.check_sections(dotlist, "override", cfg, override=True)
        return OmegaConf.merge(cfg, dotlist)
    except OmegaConfBaseException as exc:
        _raise(exc, "override")


def config_from_dict(d: dict) -> DictConfig:
    """Rebuild a validated config from the plain dict stored in a checkpoint / config.yaml."""
    try:
        cfg = OmegaConf.merge(OmegaConf.structured(TrainConfig), OmegaConf.create(d))
    except OmegaConfBaseException as exc:
        _raise(exc, "stored config")
    validate_config(cfg)
    return cfg


def to_plain(cfg: DictConfig) -> dict:
    return OmegaConf.to_container(cfg, resolve=True)
