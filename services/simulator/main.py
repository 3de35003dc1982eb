"""`simulator`: play the course's users against the service for SIM_DURATION wall-clock seconds.

Sessions arrive as a Poisson process (SIM_RATE per wall-clock second, i.e. SIM_RATE / SIM_SPEED
per simulated second); each asks GET /recommend/<id> through nginx, and the event lines go to
the Kafka topic at the simulated time they happen. At the end: the truth report (stdout, and
SIM_TRUTH_JSON). Settings: services/simulator/config.py (README "The simulator").
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import stackenv
from common.daemon import configure_logging, on_stop, settings_or_exit
from simulator import lines
from simulator.api import make_server
from simulator.clock import EventQueue, SimClock
from simulator.config import SimConfig
from simulator.population import Population
from simulator.sessions import Sessions
from simulator.sink import KafkaSink
from simulator.truth import Truth, format_report, write_json
from trainer.synthetic.presets import parse_overrides

log = logging.getLogger("simulator")


def start_time(config: SimConfig, population: Population) -> float:
    """SIM_START, else where the generated data of this world ends (its start + days)."""
    text = config.start or population.world.params["start"]
    moment = dt.datetime.fromisoformat(text)
    if not config.start:
        moment += dt.timedelta(days=float(population.world.params["days"]))
    return (moment - lines.EPOCH).total_seconds()


class Simulator:
    def __init__(self, config: SimConfig):
        self.config = config
        self.truth = Truth()
        log.info("building the world (preset %s, seed %s)", config.preset, config.seed)
        overrides = parse_overrides([item for item in config.generator_set.split(",") if item.strip()])
        self.population = Population(config.preset, config.seed, config.run_seed, config.choice, overrides)
        self.clock = SimClock(start_time(config, self.population), config.speed)
        self.queue = EventQueue()
        self.sessions = Sessions(config, self.population, self.clock, self.queue, self.truth)
        self.sink = KafkaSink(config.kafka_bootstrap, config.kafka_topic, config.sent_log)
        self.corrupt_rng = random.Random(config.run_seed * 7919 + 3)  # nosec B311  # simulated bad data, not security
        self.stop = threading.Event()
        self.server = make_server(config, self.population, self.truth)

    def send_due(self, now: float) -> int:
        due = self.queue.due(now)
        for item in due:
            line, corruption = item.line, None
            if item.kind in ("watch", "rate") and self.corrupt_rng.random() < self.config.bad_share:
                line, corruption = lines.corrupt(line, item.kind, self.corrupt_rng)
            self.sink.send(item.user, line, corruption)
            self.truth.event(item.kind, corruption)
            if item.on_send is not None:
                item.on_send()
        return len(due)

    def sender(self) -> None:
        while not self.stop.is_set():
            if not self.send_due(self.clock.now()):
                self.stop.wait(0.01)

    def run(self) -> dict:
        config = self.config
        threading.Thread(target=self.server.serve_forever, daemon=True, name="sim-api").start()
        sender = threading.Thread(target=self.sender, daemon=True, name="sim-sender")
        sender.start()
        arrivals = random.Random(config.run_seed)  # nosec B311  # simulated arrivals, not security
        started = time.monotonic()
        next_report = started + 10
        log.info("simulating: %.1f sessions/s, %.0fx speed, protocol %s, %s -> %s, topic %s at %s, APIs on %s:%d",
                 config.rate, config.speed, config.protocol, config.service_url, "kafka", config.kafka_topic,
                 config.kafka_bootstrap, config.api_host, config.api_port)
        with ThreadPoolExecutor(max_workers=config.workers, thread_name_prefix="session") as pool:
            due = started
            while not self.stop.is_set() and (not config.duration or time.monotonic() - started < config.duration):
                due += arrivals.expovariate(config.rate)
                delay = due - time.monotonic()
                if delay > 0 and self.stop.wait(delay):
                    break
                pool.submit(self.safe_session)
                if time.monotonic() >= next_report:
                    sessions = sum(v.sessions for v in self.truth.versions.values())
                    log.info("%.0f s: %d sessions, %d lines sent, %d waiting for their simulated time",
                             time.monotonic() - started, sessions, sum(self.truth.events.values()), len(self.queue))
                    next_report += 10
        self.stop.set()
        sender.join(5)
        self.send_due(self.clock.now())   # what is due by now; later watch minutes never happen
        undelivered = self.sink.close()
        self.sessions.close()
        self.server.shutdown()
        summary = self.truth.summary()
        summary["undelivered"] = undelivered
        if config.truth_json:
            write_json(Path(config.truth_json), summary)
        return summary

    def safe_session(self) -> None:
        try:
            self.sessions.run_one()
        except Exception:  # a session must never take the simulator down
            log.exception("session failed")


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    # Beside a running `make up`: its broker, nginx and world, with no settings (common/stackenv.py).
    environ = settings_or_exit("simulator", stackenv.environ)
    simulator = Simulator(settings_or_exit("simulator", lambda: SimConfig.from_env(environ)))
    on_stop(simulator.stop.set)
    summary = simulator.run()
    print(format_report(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
