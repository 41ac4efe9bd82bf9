"""Training configuration: the schema (dataclasses), recipe loading with overrides, value checks."""

from segnet.config.load import config_from_dict, load_config, to_plain

__all__ = ["config_from_dict", "load_config", "to_plain"]
