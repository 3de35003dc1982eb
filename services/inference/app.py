"""The Flask app factory. Under gunicorn each worker calls create_app() and starts its own watcher.

A model version flows one way through a worker: the watcher (source) reports the version the
pointer names -> the manager decides whether to load it -> the loader loads it from the cache
directory -> the manager swaps it into the holder -> the routes read the holder.
"""

from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, request
from werkzeug.exceptions import HTTPException

from common.weightcache import WeightStore
from inference import cachedir, metrics
from inference.config import InferenceConfig
from inference.holder import ModelHolder
from inference.loader import ModelLoader
from inference.manager import ModelManager
from inference.routes import bp
from inference.users import UserDirectory
from inference.watcher import Watcher


def create_app(config: InferenceConfig | None = None) -> Flask:
    config = config or InferenceConfig.from_env()
    cache = cachedir.open_cache(config.cache_dir)  # a cache dir others can write to fails here, at start
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s")
    app = Flask(__name__)
    # Never redirect (a 308 with an HTML body) for "//" in a path: such an id is simply invalid.
    app.url_map.merge_slashes = False
    app.url_map.strict_slashes = False
    app.config["INFERENCE"] = config

    holder = ModelHolder()
    # Big reads: a version arrives in few recv() calls, each of which has to win the GIL back from
    # busy request threads.
    weights = config.redis.client(socket_timeout=max(5.0, config.poll_interval * 2), socket_read_size=4 * 1024 * 1024)
    manager = ModelManager(ModelLoader(WeightStore(weights, prefix=config.redis.prefix), cache), holder)
    watcher = Watcher(config.redis, manager.aspire, config.poll_interval)
    user_cache = config.redis.client(socket_timeout=0.05, retries=0)
    directory = UserDirectory(config.user_api_url, config.user_api_timeout, user_cache, config.redis.prefix, config.user_cache_ttl)
    app.extensions["model_holder"] = holder
    app.extensions["model_manager"] = manager
    app.extensions["model_watcher"] = watcher
    app.extensions["user_directory"] = directory
    if config.kafka_bootstrap:
        from inference.records import ServedRecords

        app.extensions["served_records"] = ServedRecords(config.kafka_bootstrap, config.served_topic,
                                                         config.replica_name, timeout=config.served_timeout)
    app.register_blueprint(bp)
    if config.start_watcher:
        watcher.start()

    @app.before_request
    def start_timer():
        g.started = time.perf_counter()

    @app.after_request
    def observe(response: Response):
        route = request.url_rule.rule if request.url_rule else "unmatched"
        metrics.REQUESTS.labels(route=route, status=str(response.status_code)).inc()
        metrics.LATENCY.labels(route=route).observe(time.perf_counter() - g.get("started", time.perf_counter()))
        response.headers["X-Served-By"] = config.replica_name
        return response

    @app.errorhandler(HTTPException)
    def plain_error(error: HTTPException):
        response = Response(f"{error.code} {error.name}: {error.description}".split("\n")[0], status=error.code, mimetype="text/plain")
        if error.code == 405 and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
        return response

    return app
