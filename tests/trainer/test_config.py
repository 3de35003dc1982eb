"""Trainer settings from the environment: every one read with common.envconfig.env_value."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainer.config import ModelConfig, ServiceConfig


def test_service_defaults_and_every_variable():
    assert ServiceConfig.from_env(environ={}) == ServiceConfig()
    config = ServiceConfig.from_env(environ={
        "DATA_DIR": "/d", "DATA_PRESET": "small", "MOVIELENS_DIR": "/ml", "MODEL_DIR": "/m",
        "RETRAIN_INTERVAL": "2.5", "KEEP_VERSIONS": "3", "FORCE_PUBLISH": "1"})
    assert config == ServiceConfig(data_dir=Path("/d"), data_preset="small", movielens_dir=Path("/ml"),
                                   model_dir=Path("/m"), retrain_interval=2.5, keep_versions=3,
                                   force_publish=True)


def test_empty_values_are_the_defaults_except_data_preset_which_means_never_generate():
    empty = {name: "" for name in ("DATA_DIR", "MOVIELENS_DIR", "MODEL_DIR", "RETRAIN_INTERVAL",
                                   "KEEP_VERSIONS", "FORCE_PUBLISH")}
    assert ServiceConfig.from_env(environ=empty) == ServiceConfig()
    assert ServiceConfig.from_env(environ={"DATA_PRESET": ""}).data_preset == ""


@pytest.mark.parametrize("value, expected", [("1", True), ("true", True), ("YES", True), ("True", True),
                                             ("0", False), ("false", False), ("no", False)])
def test_force_publish_is_a_boolean(value, expected):
    assert ServiceConfig.from_env(environ={"FORCE_PUBLISH": value}).force_publish is expected


@pytest.mark.parametrize("name, value, message", [
    ("FORCE_PUBLISH", "on", "FORCE_PUBLISH='on' is not a boolean"),
    ("KEEP_VERSIONS", "five", "KEEP_VERSIONS='five' is not a valid int"),
    ("RETRAIN_INTERVAL", "soon", "RETRAIN_INTERVAL='soon' is not a valid float"),
])
def test_a_bad_value_is_one_clear_error(name, value, message):
    with pytest.raises(ValueError, match=message):
        ServiceConfig.from_env(environ={name: value})


def test_model_config_overrides_and_checks():
    assert ModelConfig.from_env(environ={"TRAIN_EPOCHS": "3"}, epochs=None).epochs == 3
    assert ModelConfig.from_env(environ={"TRAIN_EPOCHS": "3"}, epochs=7).epochs == 7
    assert ModelConfig.from_env(environ={"TRAIN_USE_WEIGHTS": "false"}).use_weights is False
    with pytest.raises(ValueError, match="TRAIN_LOSS='hinge'"):
        ModelConfig.from_env(environ={"TRAIN_LOSS": "hinge"})
