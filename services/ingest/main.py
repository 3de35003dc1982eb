"""`ingest`: consume the event topic into the trainer's event directory until stopped.

Settings: services/ingest/config.py (README "The event stream"). SIGTERM/SIGINT write what is
pending and commit, then exit; a kill -9 loses nothing either (the files are the truth).
"""

from __future__ import annotations

import logging
import sys

from prometheus_client import start_http_server

from common.daemon import configure_logging, on_stop, settings_or_exit
from ingest.config import IngestConfig
from ingest.consumer import Ingester


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    config = settings_or_exit("ingest", IngestConfig.from_env)
    if config.metrics_port:
        start_http_server(config.metrics_port, addr=config.metrics_host)
    ingester = Ingester(config)
    on_stop(ingester.stop)
    logging.getLogger("ingest").info("ingesting %s from %s into %s (quarantine %s)", config.topic, config.bootstrap,
                                     config.events_dir, config.quarantine)
    ingester.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
