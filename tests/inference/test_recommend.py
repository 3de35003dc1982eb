"""GET /recommend/<userid> through the Flask app, with the model loaded from a real Redis."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from common.bundle import TOP_K
from harness.bundles import seen_items
from harness.waiting import wait_until


def ids_of(response):
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    body = response.get_data(as_text=True)
    assert "\n" not in body and " " not in body
    return body.split(",")


def test_known_user_gets_twenty_unique_catalog_ids_without_seen_items(ready_app, bundle):
    client = ready_app.test_client()
    catalog = set(bundle.movie_ids.tolist())
    for user_id in (1, 57, 200):
        response = client.get(f"/recommend/{user_id}")
        ids = ids_of(response)
        assert len(ids) == TOP_K == len(set(ids))
        assert set(ids) <= catalog
        seen = {bundle.movie_ids[i] for i in seen_items(200, bundle.n_items)[user_id - 1]}
        assert not seen & set(ids)
        assert response.headers["X-Model-Version"] == ready_app.config["TEST_FIRST_VERSION"]
        assert response.headers["X-Served-By"] == "test-replica"


def test_known_users_are_personalized(ready_app, bundle):
    client = ready_app.test_client()
    popular = ",".join(bundle.movie_ids[bundle.popular[:TOP_K]])
    answers = [client.get(f"/recommend/{u}").get_data(as_text=True) for u in range(1, 101)]
    assert sum(answer != popular for answer in answers) >= 90
    assert len(set(answers)) > 90


def test_table_user_is_scored_from_demographics_and_unknown_user_gets_popularity(ready_app, bundle):
    client = ready_app.test_client()
    table_user = ids_of(client.get("/recommend/230"))  # in the user table, not a known user
    unknown = ids_of(client.get("/recommend/999999999999"))
    assert len(table_user) == len(unknown) == TOP_K
    assert unknown == bundle.movie_ids[bundle.popular[:TOP_K]].tolist()
    assert table_user != unknown


@pytest.mark.parametrize(
    "raw",
    ["-1", "abc", "1.5", "1e5", "0x10", "1234567890123", "%20", "1%2F2", "../../etc/passwd", "１２３", "12 3", "+5"],
)
def test_invalid_ids_get_a_one_line_400(ready_app, raw):
    response = ready_app.test_client().get(f"/recommend/{raw}")
    assert response.status_code == 400
    body = response.get_data(as_text=True)
    assert body.startswith("invalid user id") and "\n" not in body


def test_zero_and_twelve_digit_ids_are_valid(ready_app):
    client = ready_app.test_client()
    assert len(ids_of(client.get("/recommend/0"))) == TOP_K
    assert len(ids_of(client.get("/recommend/999999999999"))) == TOP_K


def test_other_errors_are_plain_one_liners(ready_app):
    client = ready_app.test_client()
    missing = client.get("/nope")
    assert missing.status_code == 404 and missing.mimetype == "text/plain"
    post = client.post("/recommend/1")
    assert post.status_code == 405 and "GET" in post.headers["Allow"]
    assert "\n" not in post.get_data(as_text=True)


def test_not_ready_before_any_version_is_published(make_app):
    client = make_app().test_client()
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 503
    response = client.get("/recommend/1")
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"


def scrape(client) -> dict[tuple, float]:
    """GET /metrics as {(sample name, sorted label pairs): value}."""
    response = client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True)) for sample in family.samples}


def test_readyz_names_the_version(ready_app):
    response = ready_app.test_client().get("/readyz")
    assert response.get_data(as_text=True) == response.headers["X-Model-Version"] == ready_app.config["TEST_FIRST_VERSION"]


def test_metrics_count_what_happened(make_app, store, bundle):
    """Compared before and after: every app of the test process shares one registry."""
    before_load = scrape(make_app(start_watcher=False).test_client())
    version = store.publish(bundle.to_arrays())
    app = make_app()
    wait_until(lambda: app.extensions["model_holder"].version == version, 10.0, "the first model load")
    client = app.test_client()
    before = scrape(client)
    assert before[("recsys_model_loads_total", ())] == before_load.get(("recsys_model_loads_total", ()), 0) + 1
    assert before[("recsys_model_version", ())] == 1
    client.get("/recommend/1")
    client.get("/recommend/999999999")
    client.get("/recommend/x")
    after = scrape(client)

    def delta(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    route = "/recommend/<path:raw_id>"
    assert delta("recsys_requests_total", route=route, status="200") == 2
    assert delta("recsys_requests_total", route=route, status="400") == 1
    assert delta("recsys_recommendations_total", kind="known") == 1
    assert delta("recsys_recommendations_total", kind="popularity") == 1
    assert delta("recsys_recommendations_total", kind="table") == 0
    assert delta("recsys_request_seconds_count", route=route) == 3
    assert delta("recsys_request_seconds_bucket", route=route, le="0.8") == 3  # answered within the budget
    assert ("recsys_request_seconds_bucket", (("le", "0.001"), ("route", route))) in after
    assert delta("recsys_model_loads_total") == 0 and after[("recsys_model_version", ())] == 1
