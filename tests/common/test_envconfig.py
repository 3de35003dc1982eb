import pytest

from common.envconfig import env_value
from common.redisconf import RedisSettings


def test_values_are_cast_and_defaults_apply_when_unset_or_empty():
    env = {"N": "3", "X": "0.5", "B": "yes", "EMPTY": ""}
    assert env_value(env, "N", 1, int) == 3
    assert env_value(env, "X", 1.0, float) == 0.5
    assert env_value(env, "B", False, bool) is True
    assert env_value(env, "EMPTY", 7, int) == 7
    assert env_value(env, "MISSING", "d") == "d"


@pytest.mark.parametrize("name,value,cast", [("N", "three", int), ("B", "maybe", bool)])
def test_bad_values_name_the_variable(name, value, cast):
    with pytest.raises(ValueError, match=f"environment variable {name}={value!r}"):
        env_value({name: value}, name, None, cast)


def test_redis_settings_from_env():
    settings = RedisSettings.from_env({"REDIS_PORT": "6390", "REDIS_PASSWORD": "pw", "WEIGHTS_PREFIX": "p"})
    assert (settings.host, settings.port, settings.password, settings.prefix) == ("127.0.0.1", 6390, "pw", "p")
    with pytest.raises(ValueError, match="REDIS_PORT"):
        RedisSettings.from_env({"REDIS_PORT": "x"})
