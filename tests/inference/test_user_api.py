"""Cold-start users resolved through the simulator's user API (a real local HTTP server)."""

import time

from common.bundle import TOP_K
from harness.ports import free_port
from harness.user_api import FakeUserAPI
from harness.waiting import wait_until


def answer(client, user_id):
    started = time.perf_counter()
    response = client.get(f"/recommend/{user_id}")
    elapsed = time.perf_counter() - started
    assert response.status_code == 200
    return response.get_data(as_text=True).split(","), elapsed


def ready(make_app, **overrides):
    app = make_app(**overrides)
    wait_until(lambda: app.extensions["model_holder"].model is not None, 10.0, "the first model load")
    return app


def test_attributes_from_the_api_personalize_and_are_cached_in_redis(make_app, store, bundle, redis_client, settings):
    store.publish(bundle.to_arrays())
    with FakeUserAPI() as api:
        app = ready(make_app, user_api_url=api.url)
        client = app.test_client()
        popular = bundle.movie_ids[bundle.popular[:TOP_K]].tolist()
        ids, _ = answer(client, 5001)
        assert len(ids) == TOP_K and ids != popular
        assert redis_client.ttl(f"{settings.prefix}:user:5001") > 0
        calls = api.calls
        assert answer(client, 5001)[0] == ids
        assert api.calls == calls  # second answer came from the Redis cache
        unknown, _ = answer(client, 777777)  # the API says "invalid userID": popularity
        assert unknown == popular
        answer(client, 777777)
        assert api.calls == calls + 1  # the negative answer is cached too


def test_slow_hanging_or_garbage_api_falls_back_within_300ms(make_app, store, bundle):
    store.publish(bundle.to_arrays())
    with FakeUserAPI(delay=1.0) as api:
        app = ready(make_app, user_api_url=api.url, user_api_timeout=0.15)
        client = app.test_client()
        popular = bundle.movie_ids[bundle.popular[:TOP_K]].tolist()
        for mode, first_id in (("slow", 5010), ("hang", 5020), ("garbage", 5030)):
            api.mode = mode
            for user_id in range(first_id, first_id + 3):
                ids, elapsed = answer(client, user_id)
                assert ids == popular, mode
                assert elapsed < 0.3, f"{mode}: {elapsed:.3f}s"


def test_api_down_opens_the_circuit_breaker(make_app, store, bundle):
    store.publish(bundle.to_arrays())
    app = ready(make_app, user_api_url=f"http://127.0.0.1:{free_port()}")
    client = app.test_client()
    for user_id in range(6000, 6020):
        ids, elapsed = answer(client, user_id)
        assert len(ids) == TOP_K and elapsed < 0.3
    assert not app.extensions["user_directory"].breaker.allow()


def test_a_stalled_name_lookup_is_inside_the_deadline_too(make_app, store, bundle, monkeypatch):
    """requests' timeout does not cover DNS: a lookup that stalls (injected here into this
    process's resolver, the part outside our system) must still cost at most USER_API_TIMEOUT."""
    import socket

    real = socket.getaddrinfo

    def stalled(host, *args, **kwargs):
        if host == "user-api.invalid":
            time.sleep(2)
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    store.publish(bundle.to_arrays())
    app = ready(make_app, user_api_url="http://user-api.invalid:8095", user_api_timeout=0.15)
    client = app.test_client()
    slowest = max(answer(client, 900_000 + n)[1] for n in range(12))
    assert slowest < 0.25, f"slowest answer {slowest * 1000:.0f} ms"
