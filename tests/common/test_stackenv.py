"""The settings file a running stack leaves for the tools beside it (common/stackenv.py)."""

from __future__ import annotations

import pytest

from common import stackenv


def test_values_fill_in_what_the_environment_does_not_say(tmp_path):
    stackenv.write(tmp_path, {"REDIS_PORT": "6390", "REDIS_USERNAME": "recsys", "WEIGHTS_PREFIX": "recsys"})
    env = stackenv.environ({"STACK_RUN_DIR": str(tmp_path), "HOME": "/root"})
    assert env["REDIS_PORT"] == "6390" and env["REDIS_USERNAME"] == "recsys" and env["HOME"] == "/root"


def test_one_variable_of_a_group_given_by_hand_keeps_the_whole_group_from_the_file(tmp_path):
    stackenv.write(tmp_path, {"REDIS_PORT": "6390", "REDIS_PASSWORD_FILE": "/x", "WEIGHTS_PREFIX": "recsys"})
    env = stackenv.environ({"STACK_RUN_DIR": str(tmp_path), "REDIS_PASSWORD": "given", "WEIGHTS_PREFIX": "mine"})
    assert "REDIS_PORT" not in env and "REDIS_PASSWORD_FILE" not in env
    assert env["REDIS_PASSWORD"] == "given" and env["WEIGHTS_PREFIX"] == "mine"


def test_no_file_no_change(tmp_path):
    assert stackenv.environ({"STACK_RUN_DIR": str(tmp_path)}) == {"STACK_RUN_DIR": str(tmp_path)}


def test_a_bad_line_names_the_file_and_line(tmp_path):
    (tmp_path / "stack.env").write_text("# comment\nREDIS_PORT=1\nnot a setting\n")
    with pytest.raises(ValueError, match=r"stack.env:3: expected KEY=VALUE"):
        stackenv.environ({"STACK_RUN_DIR": str(tmp_path)})
