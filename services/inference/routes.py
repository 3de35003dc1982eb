"""HTTP endpoints. Views are thin: parse, ask the model holder, format one plain-text line."""

from __future__ import annotations

import re

from flask import Blueprint, Response, current_app, request

from inference import metrics

bp = Blueprint("inference", __name__)
USER_ID = re.compile(r"[0-9]{1,12}")


def text(body: str, status: int = 200, **headers) -> Response:
    response = Response(body, status=status, mimetype="text/plain")
    response.headers.update(headers)
    return response


def recommend_for(user_id: int, model, directory) -> tuple[list[str], str]:
    """(movie ids, how the user was resolved) — never raises for a valid id."""
    recommender = model.recommender
    indices, kind = recommender.resolve(user_id, directory.attributes if directory is not None else None)
    return recommender.movie_list(indices), kind


@bp.get("/recommend/<path:raw_id>")
def recommend(raw_id: str):
    if not USER_ID.fullmatch(raw_id):
        shown = raw_id[:40].encode("unicode_escape").decode("ascii")
        return text(f"invalid user id '{shown}': expected a non-negative integer of at most 12 digits", 400)
    model = current_app.extensions["model_holder"].model
    if model is None:
        return text("model not loaded yet", 503, **{"Retry-After": "1"})
    movies, kind = recommend_for(int(raw_id), model, current_app.extensions["user_directory"])
    records = current_app.extensions.get("served_records")
    if records is not None:
        records.record(request.headers.get("X-Request-ID", ""), int(raw_id), model.version, kind, movies)
    metrics.RECOMMENDATIONS.labels(kind=kind).inc()
    return text(",".join(movies), 200, **{"X-Model-Version": model.version})


@bp.get("/healthz")
def healthz():
    return text("ok")


@bp.get("/readyz")
def readyz():
    model = current_app.extensions["model_holder"].model
    if model is None:
        return text("not ready: no model loaded yet", 503)
    return text(model.version, 200, **{"X-Model-Version": model.version})


@bp.get("/ping")
def ping():
    """A trivial endpoint through the same stack: the ceiling /recommend is measured against."""
    return text("pong")


@bp.get("/metrics")
def prometheus_metrics():
    rendered = metrics.render()
    if rendered is None:
        return text("metrics temporarily unavailable (a worker is starting); try again", 503)
    body, content_type = rendered
    return Response(body, mimetype=content_type.split(";")[0], content_type=content_type)
