"""DataSource: the one place that decides between simulator-format data and MovieLens."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.trainer.inputs import good_events, movielens_dir, simulator_dir
from trainer.config import ModelConfig
from trainer.loaders.source import MOVIELENS, SIMULATOR, DataSource


def test_a_movielens_directory_wins_over_the_data_dir(tmp_path):
    assert DataSource.from_dirs(tmp_path / "sim") == DataSource(tmp_path / "sim", SIMULATOR)
    assert DataSource.from_dirs(str(tmp_path / "sim"), None).path == tmp_path / "sim"
    assert DataSource.from_dirs(tmp_path / "sim", tmp_path / "ml") == DataSource(tmp_path / "ml", MOVIELENS)
    assert DataSource.from_dirs(movielens_dir=str(tmp_path / "ml")).kind == MOVIELENS
    with pytest.raises(ValueError, match="no data directory given"):
        DataSource.from_dirs()
    with pytest.raises(ValueError, match="data source kind 'csv'"):
        DataSource(tmp_path, "csv")


def test_input_files_data_and_loader_per_kind(tmp_path):
    events = "\n".join(good_events(6)) + "\n"
    simulator = DataSource.from_dirs(simulator_dir(tmp_path / "sim", events))
    assert [p.relative_to(simulator.path) for p in simulator.input_files()] == [
        Path("users.csv"), Path("movies.csv"), Path("events/events-0001.log")]
    assert simulator.has_data() and len(simulator.load().ratings) == 6

    movielens = DataSource.from_dirs(movielens_dir=movielens_dir(tmp_path / "ml", "1\t10\t5\t1\n",
                                                                 user="1|24|M|writer|1\n"))
    assert [p.name for p in movielens.input_files()] == ["u.data", "u.user"]
    assert movielens.has_data() and len(movielens.load().users) == 1
    assert not DataSource.from_dirs(tmp_path / "nothing").has_data()
    assert not DataSource.from_dirs(movielens_dir=tmp_path / "sim").has_data()


def test_the_fingerprint_follows_the_files_the_kind_and_the_model_config(tmp_path):
    root = simulator_dir(tmp_path / "sim", "\n".join(good_events(6)) + "\n")
    config = ModelConfig.from_env(environ={})
    source = DataSource.from_dirs(root)
    before = source.fingerprint(config)
    assert source.fingerprint(config) == before
    assert source.fingerprint(ModelConfig.from_env(environ={}, epochs=3)) != before
    assert DataSource(root, MOVIELENS).fingerprint(config) != DataSource(root, SIMULATOR).fingerprint(config)
    (root / "events" / "events-0002.log").write_text(good_events(1)[0] + "\n")
    assert source.fingerprint(config) != before
