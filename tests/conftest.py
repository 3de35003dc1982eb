"""Fixtures shared by every test package: a real redis-server per test session (the production
ACL, harness/redis_server.py), and no reach into a developer's running `make up` stack."""

from __future__ import annotations

import os

import pytest

from harness.redis_server import RedisServer


@pytest.fixture(scope="session", autouse=True)
def no_local_stack_settings(tmp_path_factory):
    """Tools started by the tests must not find `.run/stack.env` of a stack that happens to run
    beside the suite (common/stackenv.py): point STACK_RUN_DIR at an empty directory."""
    previous = os.environ.get("STACK_RUN_DIR")
    os.environ["STACK_RUN_DIR"] = str(tmp_path_factory.mktemp("no-stack"))
    yield
    if previous is None:
        os.environ.pop("STACK_RUN_DIR", None)
    else:
        os.environ["STACK_RUN_DIR"] = previous


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_client(redis_server):
    """A client on the session's server, with the database emptied before each test."""
    client = redis_server.client()
    client.flushall()
    yield client
    client.close()
