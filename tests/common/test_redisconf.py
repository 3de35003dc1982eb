"""Redis connection settings (common/redisconf.py): user, password file, URL, one-line errors."""

import pytest
import redis

from common.redisconf import RedisConfigError, RedisSettings, explain


def test_username_and_password_file_with_its_newline_stripped(tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text("s3cret-from-a-file\n")
    settings = RedisSettings.from_env({"REDIS_USERNAME": "recsys", "REDIS_PASSWORD_FILE": str(secret)})
    assert (settings.username, settings.password) == ("recsys", "s3cret-from-a-file")
    assert settings.password_source == f"REDIS_PASSWORD_FILE ({secret})"
    secret.write_text("windows-editor\r\n")
    assert RedisSettings.from_env({"REDIS_PASSWORD_FILE": str(secret)}).password == "windows-editor"


def test_password_file_wins_over_password(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("from-file")
    settings = RedisSettings.from_env({"REDIS_PASSWORD": "from-env", "REDIS_PASSWORD_FILE": str(secret)})
    assert settings.password == "from-file"
    assert RedisSettings.from_env({"REDIS_PASSWORD": "from-env"}).password == "from-env"
    assert RedisSettings.from_env({}).username is None   # Redis's `default` user


@pytest.mark.parametrize("content,reason", [(None, "cannot read it (No such file or directory)"), ("", "the file is empty"),
                                            ("\n", "the file is empty"), ("one\ntwo\n", "holds more than one line")])
def test_unusable_password_file_is_one_line_naming_the_file(tmp_path, content, reason):
    secret = tmp_path / "redis_password"
    if content is not None:
        secret.write_text(content)
    with pytest.raises(RedisConfigError) as info:
        RedisSettings.from_env({"REDIS_PASSWORD": "ignored", "REDIS_PASSWORD_FILE": str(secret)})
    assert str(info.value) == f"REDIS_PASSWORD_FILE={secret}: {reason}"
    assert isinstance(info.value, ValueError)   # the trainer CLI prints ValueErrors as one line


def test_unreadable_password_file(tmp_path):
    directory = tmp_path / "dir"
    directory.mkdir()
    with pytest.raises(RedisConfigError, match=f"REDIS_PASSWORD_FILE={directory}: cannot read it"):
        RedisSettings.from_env({"REDIS_PASSWORD_FILE": str(directory)})


def test_client_logs_in_as_the_user():
    settings = RedisSettings(port=6390, username="recsys", password="pw")
    kwargs = settings.client().connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"], kwargs["port"]) == ("recsys", "pw", 6390)


def test_url_wins_for_the_address_and_its_own_credentials_else_the_variables_fill_in(tmp_path):
    secret = tmp_path / "pw"
    secret.write_text("file-pw\n")
    env = {"REDIS_URL": "redis://redis.example:6400/2", "REDIS_USERNAME": "recsys", "REDIS_PASSWORD_FILE": str(secret),
           "REDIS_HOST": "ignored"}
    settings = RedisSettings.from_env(env)
    kwargs = settings.client().connection_pool.connection_kwargs
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == ("redis.example", 6400, 2)
    assert (kwargs["username"], kwargs["password"]) == ("recsys", "file-pw")
    assert settings.describe() == "redis.example:6400/2"

    own = RedisSettings.from_env(dict(env, REDIS_URL="redis://ops:url-pw@redis.example:6400/2"))
    kwargs = own.client().connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("ops", "url-pw")
    assert (own.effective_username, own.effective_password_source) == ("ops", "REDIS_URL")
    assert own.describe() == "redis.example:6400/2"   # no credentials in messages

    password_only = RedisSettings.from_env(dict(env, REDIS_URL="redis://:url-pw@redis.example:6400/2"))
    kwargs = password_only.client().connection_pool.connection_kwargs
    assert (kwargs["username"], kwargs["password"]) == ("recsys", "url-pw")


def test_explain_names_the_user_the_password_source_and_the_denied_command(tmp_path):
    user = RedisSettings(port=6390, username="recsys", password="pw", prefix="recsys")
    wrong = redis.AuthenticationError("invalid username-password pair or user is disabled.")
    assert explain(wrong, user) == ("Redis at 127.0.0.1:6390/0 refused user 'recsys' with the password from "
                                    "REDIS_PASSWORD: check REDIS_USERNAME and REDIS_PASSWORD")
    from_file = RedisSettings(username="recsys", password="pw", password_source="REDIS_PASSWORD_FILE (/run/secrets/x)")
    assert "password from REDIS_PASSWORD_FILE (/run/secrets/x): check REDIS_USERNAME and REDIS_PASSWORD_FILE" in explain(wrong, from_file)
    assert "no REDIS_USERNAME" in explain(wrong, RedisSettings(password="pw"))

    command = redis.exceptions.NoPermissionError("this user has no permissions to run the 'flushall' command")
    assert explain(command, user) == ("Redis at 127.0.0.1:6390/0: the ACL denies user 'recsys' the command FLUSHALL "
                                      "(NOPERM; see redis/users.acl)")
    key = redis.exceptions.NoPermissionError("this user has no permissions to access one of the keys used as arguments")
    assert "a key outside its ACL key patterns (WEIGHTS_PREFIX is 'recsys')" in explain(key, user)
    assert "the command GET" in explain(key, user, command="get")
    channel = redis.exceptions.NoPermissionError("this user has no permissions to access one of the channels used as arguments")
    assert "pub/sub channel outside" in explain(channel, user)

    noauth = redis.AuthenticationError("Authentication required.")
    assert explain(noauth, RedisSettings()) == ("Redis at 127.0.0.1:6379/0 requires a login: set REDIS_USERNAME and "
                                                "REDIS_PASSWORD_FILE (or REDIS_PASSWORD)")
