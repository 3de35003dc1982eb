"""Trainer fixtures: the `small` preset generated once, and a model trained on it once."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def small_data(tmp_path_factory):
    from trainer.synthetic.generate import generate

    out = tmp_path_factory.mktemp("small-data")
    generate("small", out, seed=42)
    return out


@pytest.fixture(scope="session")
def small_model(small_data, tmp_path_factory):
    from trainer.config import ModelConfig
    from trainer.loaders.source import DataSource
    from trainer.pipeline import train_and_save

    model_dir = tmp_path_factory.mktemp("small-model") / "model"
    config = ModelConfig.from_env(environ={}, num_threads=2)
    result = train_and_save(DataSource.from_dirs(small_data), config, model_dir)
    return model_dir, result
