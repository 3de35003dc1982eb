"""Fixtures shared by every test package: a real redis-server per test session."""

from __future__ import annotations

import pytest

from tests.support.processes import RedisServer


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
