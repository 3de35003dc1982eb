"""The Redis users of redis/users.acl against a real redis-server: what the services' user may not do,
logins that are refused, and the container's entrypoint rendering the same rules as the local stack."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest
import redis

from common.redisconf import RedisSettings, RedisUnavailable, connect, explain
from harness import redis_acl
from harness.paths import ROOT
from harness.ports import free_port
from harness.redis_server import RedisServer, redis_binary
from harness.waiting import wait_for_port

DENIED_COMMANDS = [
    ("FLUSHALL",), ("FLUSHDB",), ("CONFIG", "GET", "requirepass"), ("CONFIG", "SET", "appendonly", "no"),
    ("KEYS", "*"), ("DEBUG", "SLEEP", "0"), ("SHUTDOWN", "NOSAVE"), ("ACL", "LIST"), ("ACL", "SETUSER", "recsys", "+@all"),
    ("ACL", "GETUSER", "admin"), ("INFO",), ("MONITOR",), ("CLIENT", "KILL", "TYPE", "normal"), ("REPLICAOF", "NO", "ONE"),
    ("SAVE",), ("EVAL", "return 1", "0"), ("FUNCTION", "FLUSH"),
]


@pytest.fixture(scope="module")
def acl_server(tmp_path_factory):
    """Its own server with the production prefix only: a refused SHUTDOWN that was not refused
    would not take the session's server down."""
    server = RedisServer(tmp_path_factory.mktemp("acl-redis"), prefixes=("recsys",)).start()
    yield server
    server.stop()


@pytest.fixture
def service(acl_server):
    acl_server.client().flushall()
    client = acl_server.service_client()
    client.set("recsys:current", "v1")
    yield client
    client.close()


@pytest.mark.parametrize("command", DENIED_COMMANDS, ids=lambda c: " ".join(c[:2]))
def test_service_user_is_refused_dangerous_commands(acl_server, service, command):
    verdict = acl_server.client().execute_command("ACL", "DRYRUN", "recsys", *command).decode()
    assert verdict != "OK" and "no permissions" in verdict
    if command[0] == "DEBUG":   # refused before the ACL too (enable-debug-command is off by default)
        with pytest.raises(redis.ResponseError):
            service.execute_command(*command)
        return
    with pytest.raises(redis.exceptions.NoPermissionError) as info:
        service.execute_command(*command)
    line = explain(info.value, acl_server.settings(), command=command[0])
    assert line.startswith(f"Redis at 127.0.0.1:{acl_server.port}/0: the ACL denies user 'recsys' the command ")
    assert command[0] in line and "\n" not in line
    assert acl_server.client().get("recsys:current") == b"v1"   # nothing flushed, server still up


def test_denied_command_is_named_in_the_one_line_error(acl_server, service):
    with pytest.raises(redis.exceptions.NoPermissionError) as info:
        service.flushall()
    assert explain(info.value, acl_server.settings()) == (
        f"Redis at 127.0.0.1:{acl_server.port}/0: the ACL denies user 'recsys' the command FLUSHALL (NOPERM; see redis/users.acl)")


def test_service_user_keeps_to_its_prefix(acl_server, service):
    service.set("recsys:user:7", "{}", ex=60)       # the replicas' user-info cache
    assert service.publish("recsys:events", "v2") == 0
    assert [k for k in service.scan_iter(match="recsys:*")]   # SCAN is allowed (version clean-up)
    acl_server.client().set("other:key", "x")
    for command in (("GET", "other:key"), ("SET", "other:key", "y"), ("DEL", "other:key"), ("SET", "recsys", "no colon"),
                    ("MGET", "recsys:current", "other:key"), ("RENAME", "recsys:current", "other:moved"),
                    ("PUBLISH", "other:events", "x")):
        with pytest.raises(redis.exceptions.NoPermissionError) as info:
            service.execute_command(*command)
        assert "outside its ACL" in explain(info.value, acl_server.settings())
    pubsub = service.pubsub()
    pubsub.subscribe("other:events")
    with pytest.raises(redis.exceptions.NoPermissionError):
        pubsub.get_message(timeout=1)
    pubsub.close()
    assert acl_server.client().get("other:key") == b"x"


def test_admin_may_do_everything_and_no_password_is_stored_in_plain(acl_server):
    admin = acl_server.client()
    users = admin.acl_list()
    assert any(u.startswith("user default off") and "nopass" not in u and "-@all" in u for u in users)
    assert all(acl_server.password not in u and acl_server.admin_password not in u for u in users)
    assert admin.config_get("appendonly") and admin.dbsize() >= 0


def test_unauthenticated_and_default_user_are_refused(acl_server):
    anonymous = redis.Redis(port=acl_server.port)
    with pytest.raises(redis.AuthenticationError):
        anonymous.get("recsys:current")
    with pytest.raises(RedisUnavailable) as info:
        connect(RedisSettings(port=acl_server.port))
    assert str(info.value) == (f"Redis at 127.0.0.1:{acl_server.port}/0 requires a login: set REDIS_USERNAME and "
                               f"REDIS_PASSWORD_FILE (or REDIS_PASSWORD)")
    # The services' password without the user name is the `default` user's login: off.
    with pytest.raises(RedisUnavailable, match="refused the password: check REDIS_PASSWORD .no REDIS_USERNAME"):
        connect(RedisSettings(port=acl_server.port, password=acl_server.password))


def test_wrong_password_is_one_line_naming_user_and_file(acl_server, tmp_path):
    secret = tmp_path / "redis_password"
    secret.write_text("not-the-password\n")
    settings = RedisSettings.from_env({"REDIS_PORT": str(acl_server.port), "REDIS_USERNAME": "recsys",
                                       "REDIS_PASSWORD_FILE": str(secret)})
    with pytest.raises(RedisUnavailable) as info:
        connect(settings)
    assert str(info.value) == (f"Redis at 127.0.0.1:{acl_server.port}/0 refused user 'recsys' with the password from "
                               f"REDIS_PASSWORD_FILE ({secret}): check REDIS_USERNAME and REDIS_PASSWORD_FILE ({secret})")
    secret.write_text(acl_server.password + "\n")   # the right one, from a file with its newline
    connect(RedisSettings.from_env({"REDIS_PORT": str(acl_server.port), "REDIS_USERNAME": "recsys",
                                    "REDIS_PASSWORD_FILE": str(secret)})).ping()
    with pytest.raises(RedisUnavailable, match="refused user 'admin'"):
        connect(RedisSettings(port=acl_server.port, username="admin", password=acl_server.password))


def test_rendering_hashes_passwords_and_repeats_prefix_patterns():
    text = redis_acl.render_users("service-pw", "admin-pw", ["recsys", "test-*"])
    assert "service-pw" not in text and "admin-pw" not in text and "#" not in text.replace(" #", "")
    service_line = next(line for line in text.splitlines() if line.startswith("user recsys "))
    assert redis_acl.password_hash("service-pw") in service_line
    assert "~recsys:* ~test-*:* &recsys:* &test-*:*" in service_line
    assert service_line.endswith("+@all -@dangerous -@scripting")
    for bad in ("a b", "x*y", "", "p:q"):
        with pytest.raises(redis_acl.AclError):
            redis_acl.render_users("s", "a", [bad])
    with pytest.raises(redis_acl.AclError, match="WEIGHTS_PREFIX='test-\\*'"):
        redis_acl.check_prefix("test-*")


def test_secrets_are_created_once_with_their_modes(tmp_path):
    directory = tmp_path / "secrets"
    created = redis_acl.write_secrets(directory)
    assert sorted(p.name for p in created) == ["redis_admin_password", "redis_exporter_password", "redis_password"]
    assert (directory / "redis_exporter_password").stat().st_mode & 0o777 == 0o644
    assert directory.stat().st_mode & 0o777 == 0o700
    assert (directory / "redis_password").stat().st_mode & 0o777 == 0o644
    assert (directory / "redis_admin_password").stat().st_mode & 0o777 == 0o600
    first = (directory / "redis_password").read_text()
    assert len(first.strip()) >= 40 and first.endswith("\n")
    assert redis_acl.write_secrets(directory) == [] and (directory / "redis_password").read_text() == first


def test_local_stack_config_has_the_users_and_no_plain_password(tmp_path, monkeypatch):
    from harness.stackdef import StackError, StackSettings, programs
    from harness.stackfiles import write_all
    from harness.supervisor import Supervisor

    monkeypatch.delenv("WEIGHTS_PREFIX", raising=False)
    settings = StackSettings.from_env({"STACK_RUN_DIR": str(tmp_path / "run")})
    write_all(settings)
    conf = settings.redis_conf.read_text()
    password = settings.password_file.read_text().strip()
    admin = settings.admin_password_file.read_text().strip()
    assert settings.admin_password_file.stat().st_mode & 0o777 == 0o600
    assert settings.password_file.stat().st_mode & 0o777 == 0o600
    exporter = (settings.run_dir / "redis-exporter.password").read_text().strip()
    assert password not in conf and admin not in conf and exporter not in conf and "requirepass" not in conf
    assert redis_acl.render_users(password, admin, ["recsys"], exporter_password=exporter).rstrip() in conf
    supervisord = Supervisor(settings).render(programs(settings))
    assert 'REDIS_USERNAME="recsys"' in supervisord and password not in supervisord
    assert f'REDIS_PASSWORD_FILE="{settings.password_file}"' in supervisord
    with pytest.raises(StackError, match="WEIGHTS_PREFIX"):
        StackSettings.from_env({"STACK_RUN_DIR": str(tmp_path / "run"), "WEIGHTS_PREFIX": "a b"})


def _fake_image_entrypoint(directory: Path) -> dict[str, str]:
    """PATH with a docker-entrypoint.sh that just runs its arguments (the image's drops to the redis user)."""
    directory.mkdir()
    script = directory / "docker-entrypoint.sh"
    script.write_text('#!/bin/sh\nexec "$@"\n')
    script.chmod(0o755)
    os.symlink(redis_binary(), directory / "redis-server")
    return {"PATH": f"{directory}:/usr/bin:/bin"}


def test_container_entrypoint_starts_redis_with_the_same_users(tmp_path):
    """redis/entrypoint.sh (sh, sed, sha256sum: what the redis image has) renders redis/users.acl like
    harness/redis_acl.py, passes the config on stdin (no password in argv), and the users work."""
    (tmp_path / "run").mkdir()
    service_file, admin_file = tmp_path / "run" / "redis_password", tmp_path / "run" / "redis_admin_password"
    service_file.write_text("svc-Pw_1\n")
    admin_file.write_text("adm-Pw_2\r\n")
    exporter_file = tmp_path / "run" / "redis_exporter_password"
    exporter_file.write_text("exp-Pw_3\n")
    port = free_port()
    env = dict(_fake_image_entrypoint(tmp_path / "bin"), REDIS_PASSWORD_FILE=str(service_file),
               REDIS_ADMIN_PASSWORD_FILE=str(admin_file), REDIS_EXPORTER_PASSWORD_FILE=str(exporter_file),
               WEIGHTS_PREFIX="recsys")
    process = subprocess.Popen(
        ["sh", str(ROOT / "redis" / "entrypoint.sh"), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(tmp_path), "--logfile", str(tmp_path / "redis.log")], env=env,
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, proc=process)
        cmdline = Path(f"/proc/{process.pid}/cmdline").read_bytes().decode()
        assert "Pw_" not in cmdline and "redis-server" in cmdline
        admin = redis.Redis(port=port, username="admin", password="adm-Pw_2")
        expected = redis_acl.render_users("svc-Pw_1", "adm-Pw_2", ["recsys"], exporter_password="exp-Pw_3")
        rendered = {line.split()[1]: set(line.split()[2:]) for line in expected.splitlines()}
        for line in admin.acl_list():   # compared as Redis normalizes them
            name = line.split()[1]
            assert set(line.split()[2:]) >= rendered[name] - {"reset", "resetchannels", "resetkeys"}, name
        service = redis.Redis(port=port, username="recsys", password="svc-Pw_1")
        service.set("recsys:x", "1")
        with pytest.raises(redis.exceptions.NoPermissionError):
            service.flushall()
        with pytest.raises(redis.exceptions.NoPermissionError):
            service.set("other:x", "1")
        with pytest.raises(redis.AuthenticationError):
            redis.Redis(port=port).ping()
    finally:
        process.kill()
        process.wait(10)


@pytest.mark.parametrize("problem,message", [
    ("missing", "cannot read the password file {file} (create the secrets: make compose-secrets)"),
    ("empty", "the password file {file} is empty"),
    ("prefix", "WEIGHTS_PREFIX='a b': use letters, digits, '.', '_' or '-'"),
])
def test_container_entrypoint_refuses_to_start_with_one_line(tmp_path, problem, message):
    service_file, admin_file = tmp_path / "redis_password", tmp_path / "redis_admin_password"
    admin_file.write_text("adm\n")
    if problem != "missing":
        service_file.write_text("" if problem == "empty" else "svc\n")
    env = dict(_fake_image_entrypoint(tmp_path / "bin"), REDIS_PASSWORD_FILE=str(service_file),
               REDIS_ADMIN_PASSWORD_FILE=str(admin_file), WEIGHTS_PREFIX="a b" if problem == "prefix" else "recsys")
    started = time.monotonic()
    result = subprocess.run(["sh", str(ROOT / "redis" / "entrypoint.sh")], env=env, capture_output=True, text=True, timeout=20)
    assert result.returncode == 1 and time.monotonic() - started < 10
    assert result.stderr.strip() == "redis entrypoint: " + message.format(file=service_file)
