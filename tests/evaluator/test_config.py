"""The evaluator's settings: defaults, DATA_DIR, and one clear error for a bad value."""

from __future__ import annotations

from pathlib import Path

import pytest

from evaluator.config import EvaluatorConfig


def test_defaults_and_the_state_under_data_dir():
    config = EvaluatorConfig.from_env({"DATA_DIR": "/data/x", "ONLINE_WINDOW": "600"})
    assert config.state_dir == Path("/data/x/online") and config.window == 600 and config.lateness == 300
    assert EvaluatorConfig.from_env({"DATA_DIR": "/d", "ONLINE_STATE_DIR": "/s"}).state_dir == Path("/s")


@pytest.mark.parametrize("env, message", [
    ({"ONLINE_WINDOW": "0"}, "ONLINE_WINDOW=0 must be > 0"),
    ({"ONLINE_LATENESS": "-1"}, "ONLINE_LATENESS=-1 must be >= 0"),
    ({"ONLINE_WINDOW": "soon"}, "ONLINE_WINDOW='soon' is not a valid float"),
    ({"ONLINE_HORIZON": "60"}, "ONLINE_HORIZON=60 must be at least ONLINE_WINDOW=1800"),
    ({"EVENT_PROTOCOL": "2019"}, "EVENT_PROTOCOL='2019': use f2023 or s2026"),
])
def test_a_bad_setting_is_one_clear_error(env, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        EvaluatorConfig.from_env(env)
