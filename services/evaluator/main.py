"""`evaluator`: measure each model version's quality from the stream until stopped.

Settings: services/evaluator/config.py (README "Online evaluation"). SIGTERM/SIGINT commit and
exit; after a kill -9 it continues from the last commit.
"""

from __future__ import annotations

import logging
import os
import sys

from prometheus_client import REGISTRY, start_http_server

from common.daemon import configure_logging, on_stop, settings_or_exit
from evaluator.config import EvaluatorConfig
from evaluator.consumer import Evaluator
from evaluator.metrics import EvaluatorCollector


def main(argv: list[str] | None = None) -> int:
    configure_logging(verbose=os.environ.get("LOG_LEVEL", "").upper() == "DEBUG")
    config = settings_or_exit("evaluator", EvaluatorConfig.from_env)
    evaluator = Evaluator(config)
    try:
        evaluator.recover()
    except ValueError as error:
        print(f"evaluator: {error}", file=sys.stderr)
        return 2
    if config.metrics_port:
        REGISTRY.register(EvaluatorCollector(evaluator))
        start_http_server(config.metrics_port, addr=config.metrics_host)
    on_stop(evaluator.stop)
    logging.getLogger("evaluator").info(
        "evaluating %s + %s from %s (window %gs, lateness %gs; state in %s)", config.topic, config.served_topic,
        config.bootstrap, config.window, config.lateness, config.state_dir)
    evaluator.run(recovered=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
