"""GET /recommend/<userid> through the Flask app, with the model loaded from a real Redis."""

import pytest

from common.bundle import TOP_K
from tests.support.bundles import seen_items


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


def test_readyz_names_the_version_and_metrics_are_exposed(ready_app):
    client = ready_app.test_client()
    assert client.get("/readyz").get_data(as_text=True) == ready_app.config["TEST_FIRST_VERSION"]
    client.get("/recommend/1")
    client.get("/recommend/999999999")
    body = client.get("/metrics").get_data(as_text=True)
    assert 'recsys_requests_total{route="/recommend/<path:raw_id>",status="200"}' in body
    assert 'recsys_recommendations_total{kind="known"}' in body
    assert 'recsys_recommendations_total{kind="popularity"}' in body
    assert "recsys_request_seconds_bucket" in body and 'le="0.001"' in body and 'le="0.8"' in body
    assert "recsys_model_version 1.0" in body
    assert "recsys_model_loads_total" in body
