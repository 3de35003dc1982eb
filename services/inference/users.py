"""Attributes of users the model has never seen: Redis cache first, then the simulator's user API.

The API is outside our system: every call has a hard deadline (USER_API_TIMEOUT, 150 ms by
default) for all of it, the name lookup included (requests' own timeout does not bound DNS: a
stalled lookup held replicas past nginx's 250 ms in compose), answers (including "unknown user")
are cached in Redis with a TTL, and after repeated failures a circuit breaker skips the API for a
while so that a dead API costs nothing. Calls run on a few threads of their own; when all are
busy (a hung API), the API is skipped for that request.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as DeadlinePassed
import time

import redis
import requests

from inference import metrics

log = logging.getLogger(__name__)


class CircuitBreaker:
    def __init__(self, failures: int = 5, reset_after: float = 10.0):
        self.failures_to_open = failures
        self.reset_after = reset_after
        self._failures = 0
        self._opened_at = 0.0
        self._lock = threading.Lock()

    def allow(self) -> bool:
        with self._lock:
            return self._failures < self.failures_to_open or time.monotonic() - self._opened_at >= self.reset_after

    def record(self, success: bool) -> None:
        with self._lock:
            if success:
                self._failures = 0
                return
            self._failures += 1
            if self._failures >= self.failures_to_open:
                self._opened_at = time.monotonic()


class UserDirectory:
    def __init__(self, api_url: str | None, timeout: float, cache: redis.Redis | None, cache_prefix: str, ttl: int):
        self.api_url = api_url
        self.timeout = timeout
        self.cache = cache
        self.cache_prefix = cache_prefix
        self.ttl = ttl
        self.breaker = CircuitBreaker()
        self._local = threading.local()
        self._calls = ThreadPoolExecutor(max_workers=self.CALL_THREADS, thread_name_prefix="user-api")
        self._slots = threading.BoundedSemaphore(self.CALL_THREADS)

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def attributes(self, user_id: int) -> dict | None:
        """{"age", "gender", "occupation"} or None when nobody knows this user."""
        if not self.api_url:
            return None  # only API answers are ever cached: without an API there is nothing to look up
        key = f"{self.cache_prefix}:user:{user_id}"
        cached = self._cache_get(key)
        if cached is not None:
            return cached or None
        if not self.breaker.allow():
            return None
        answer = self._ask_within_deadline(user_id)
        if answer is not None:
            self._cache_set(key, answer)
        return answer or None

    CALL_THREADS = 8

    def _ask_within_deadline(self, user_id: int) -> dict | None:
        """_ask_api() within `timeout` seconds in all, or None (the call may finish later, unseen)."""
        if not self._slots.acquire(blocking=False):
            metrics.USER_API_CALLS.labels(outcome="busy").inc()
            return None
        future = self._calls.submit(self._ask_and_free, user_id)
        try:
            return future.result(timeout=self.timeout)
        except DeadlinePassed:
            self.breaker.record(False)
            metrics.USER_API_CALLS.labels(outcome="deadline").inc()
            return None

    def _ask_and_free(self, user_id: int) -> dict | None:
        try:
            return self._ask_api(user_id)
        finally:
            self._slots.release()

    def _ask_api(self, user_id: int) -> dict | None:
        """The API's answer ({} for an unknown user), or None when it failed (not cached)."""
        try:
            response = self._session().get(f"{self.api_url}/user/{user_id}", timeout=self.timeout)
            body = response.json() if response.status_code == 200 else None
        except (requests.RequestException, ValueError) as error:
            self.breaker.record(False)
            metrics.USER_API_CALLS.labels(outcome="error").inc()
            log.debug("user API failed for %s: %s", user_id, error)
            return None
        if not isinstance(body, dict):
            self.breaker.record(False)
            metrics.USER_API_CALLS.labels(outcome="bad_answer").inc()
            return None
        self.breaker.record(True)
        if "message" in body or not any(k in body for k in ("age", "gender", "occupation")):
            metrics.USER_API_CALLS.labels(outcome="unknown_user").inc()
            return {}
        metrics.USER_API_CALLS.labels(outcome="ok").inc()
        return {k: body.get(k) for k in ("age", "gender", "occupation")}

    def _cache_get(self, key: str) -> dict | None:
        if self.cache is None:
            return None
        try:
            raw = self.cache.get(key)
        except redis.RedisError:
            return None
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def _cache_set(self, key: str, value: dict) -> None:
        if self.cache is None:
            return
        try:
            self.cache.set(key, json.dumps(value), ex=self.ttl)
        except redis.RedisError:
            pass
