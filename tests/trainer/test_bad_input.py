"""Malformed input into the trainer: a clear error or a counted skip, never a crash or a quietly
wrong model (issue #6 §2).

Through the pipeline (the malformed-share limit TRAIN_MAX_MALFORMED, --max-malformed, on what the
loaders report) and the `trainer` CLI as a process: a failure exits 1 with one
`trainer <command>: ...` line on stderr that names the file and, where there is one, the line.
The loaders on their own: tests/trainer/loaders/test_bad_input.py.
"""

from __future__ import annotations

import os
import subprocess  # nosec B404  # tests/ is not scanned by bandit; runs the trainer CLI
import sys
from pathlib import Path

import pytest

from tests.trainer.inputs import T, good_events, movielens_dir, simulator_dir
from trainer.config import ModelConfig
from trainer.loaders.report import DataFormatError
from trainer.loaders.source import DataSource
from trainer.pipeline import load_checked, run_evaluation

TRAINER = str(Path(sys.executable).parent / "trainer")


def config(**overrides) -> ModelConfig:
    return ModelConfig.from_env(environ={}, num_threads=1, epochs=1, **overrides)


def trainer(*args, env=None):
    return subprocess.run([TRAINER, *args], capture_output=True, text=True,  # nosec B603  # venv's trainer
                          timeout=120, env=dict(os.environ, **(env or {})))


def one_error_line(run, command: str) -> str:
    """The run failed with exactly one `trainer <command>: ...` line, last on stderr, no traceback."""
    assert run.returncode == 1, (run.returncode, run.stderr)
    assert "Traceback" not in run.stderr, run.stderr
    errors = [line for line in run.stderr.splitlines() if line.startswith(f"trainer {command}: ")]
    assert len(errors) == 1 and run.stderr.rstrip("\n").endswith(errors[0]), run.stderr
    return errors[0]


# --- too much of a file malformed: an error, not a model trained on what is left ----------------

def test_values_lost_in_kept_rows_count_too(tmp_path):
    """Columns in another order than the header says: every gender unusable, not a model without
    genders."""
    root = simulator_dir(tmp_path, "\n".join(good_events(30)) + "\n",
                         users="user_id,age,gender,occupation\n1,24,programmer,M\n2,31,writer,F\n")
    with pytest.raises(DataFormatError, match=(
            r"users\.csv: 2 of 2 genders unusable \(100\.0%\).*first: .*users\.csv:2: "
            r"gender 'programmer' is not M or F")):
        load_checked(DataSource.from_dirs(root), config())


def test_the_limit_comes_from_the_environment_and_never_changes_the_fingerprint():
    assert ModelConfig.from_env(environ={}).max_malformed == 0.05
    assert ModelConfig.from_env(environ={"TRAIN_MAX_MALFORMED": "0.2"}).max_malformed == 0.2
    for bad in ("-0.1", "1.5"):
        with pytest.raises(ValueError, match="TRAIN_MAX_MALFORMED"):
            ModelConfig.from_env(environ={"TRAIN_MAX_MALFORMED": bad})
    with pytest.raises(ValueError, match="TRAIN_MAX_MALFORMED='a lot' is not a valid float"):
        ModelConfig.from_env(environ={"TRAIN_MAX_MALFORMED": "a lot"})
    assert ModelConfig(max_malformed=0.5).fingerprint_fields() == ModelConfig().fingerprint_fields()


def test_a_few_malformed_lines_are_skipped_and_reported(tmp_path, caplog):
    events = good_events(97) + [f"{T},x,GET /rate/a+1999=5", "garbage", f"{T},1,GET /rate/a+1999=9"]
    root = simulator_dir(tmp_path, "\n".join(events) + "\n")
    caplog.set_level("INFO", logger="trainer.pipeline")
    raw = load_checked(DataSource.from_dirs(root), config())
    assert raw.reports[2].skipped == 3 and len(raw.ratings) == 9
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert ("events: 100 lines, 3 malformed skipped (rate 97) (first: events-0001.log:98: user id "
            "'x' is not a non-negative integer") in logged
    assert "events-0001.log:99: not a log line" in logged and "events-0001.log:100: rating '9'" in logged


def test_no_usable_interactions_is_an_error_also_for_evaluate(tmp_path):
    root = simulator_dir(tmp_path, f"{T},1,GET /rate/a+1999=1\n")  # a dislike: seen, not a positive
    with pytest.raises(DataFormatError, match="no usable interactions"):
        run_evaluation(DataSource.from_dirs(root), config())


# --- through the `trainer` CLI ----------------------------------------------------------------

def test_cli_mostly_garbage_log_stops_naming_file_and_line(tmp_path):
    events = good_events(5) + ["garbage"] * 3 + [f"{T},1,GET /rate/a+1999=7"]
    root = simulator_dir(tmp_path / "data", "\n".join(events) + "\n")
    run = trainer("train", "--data-dir", str(root), "--model-dir", str(tmp_path / "model"))
    error = one_error_line(run, "train")
    assert error.startswith("trainer train: events: 4 of 9 lines malformed (44.4%), more than the 5% "
                            "allowed (TRAIN_MAX_MALFORMED, --max-malformed); first: ")
    assert f"{root}/events/events-0001.log:6: not a log line" in error
    assert not (tmp_path / "model").exists()


def test_cli_only_malformed_lines_is_an_error_even_without_the_limit(tmp_path):
    root = simulator_dir(tmp_path / "data", b"\x00garbage\n\xff\xfe\n\n")
    run = trainer("evaluate", "--data-dir", str(root), "--max-malformed", "1")
    assert one_error_line(run, "evaluate") == \
        f"trainer evaluate: {root}: no usable interactions (every line malformed or no positives)"
    run = trainer("train", "--data-dir", str(root), "--model-dir", str(tmp_path / "model"),
                  env={"TRAIN_MAX_MALFORMED": "0.5"})
    assert "2 of 2 lines malformed (100.0%), more than the 50% allowed" in one_error_line(run, "train")


@pytest.mark.parametrize("users, message", [
    (b"", "users.csv: empty file (expected a CSV header with user_id)"),
    (bytes(range(1, 256)), "users.csv: missing column 'user_id' (header: "),
    ("user_id,age\n1,2\n".encode("utf-16"), "users.csv: UTF-16 text; save it as UTF-8 CSV"),
], ids=["empty", "binary", "utf-16"])
def test_cli_unusable_users_file(tmp_path, users, message):
    root = simulator_dir(tmp_path / "data", "\n".join(good_events(10)) + "\n", users=users)
    run = trainer("train", "--data-dir", str(root), "--model-dir", str(tmp_path / "model"))
    assert one_error_line(run, "train").startswith(f"trainer train: {root}/{message}")


def test_cli_movielens_with_the_wrong_separator(tmp_path):
    root = movielens_dir(tmp_path / "ml", "1::10::4::881250949\n2::11::3::881250950\n")
    run = trainer("train", "--movielens", str(root), "--model-dir", str(tmp_path / "model"))
    assert one_error_line(run, "train") == (
        "trainer train: u.data: 2 of 2 lines malformed (100.0%), more than the 5% allowed "
        f"(TRAIN_MAX_MALFORMED, --max-malformed); first: {root}/u.data:1: 1 tab-separated fields "
        "instead of 4: '1::10::4::881250949'")


def test_cli_bad_limit_and_unreadable_log(tmp_path):
    root = simulator_dir(tmp_path / "data", "\n".join(good_events(10)) + "\n")
    run = trainer("train", "--data-dir", str(root), "--model-dir", str(tmp_path / "m"),
                  "--max-malformed", "5")
    assert "--max-malformed 5.0: expected a fraction in [0, 1]" in one_error_line(run, "train")
    (root / "events" / "events-0002.log").symlink_to(tmp_path / "gone.log")
    run = trainer("evaluate", "--data-dir", str(root))
    assert one_error_line(run, "evaluate").endswith(f"No such file or directory: "
                                                    f"'{root}/events/events-0002.log'")
