"""One session of one user: ask the service for recommendations the way the course's simulator
does, write the recommendation line, choose (choice.py), and schedule the watch lines (one per
minute, at the simulated minute they happen) and maybe a rating."""

from __future__ import annotations

import json
import threading
import time

import numpy as np
import requests

from simulator import choice, lines
from simulator.clock import EventQueue, SimClock
from simulator.config import SimConfig
from simulator.population import Population
from simulator.truth import FOLLOW_WINDOW, Truth

START_DELAY = (5.0, 120.0)   # simulated seconds from the answer to the first minute watched


class Sessions:
    def __init__(self, config: SimConfig, population: Population, clock: SimClock, queue: EventQueue, truth: Truth):
        self.config, self.population, self.clock, self.queue, self.truth = config, population, clock, queue, truth
        self._local = threading.local()
        self._seeds = np.random.SeedSequence([config.run_seed, 7])
        self._seed_lock = threading.Lock()
        self._answers = open(config.answer_log, "a", encoding="utf-8") if config.answer_log else None  # noqa: SIM115  # closed in close()
        self._answers_lock = threading.Lock()

    def _rng(self) -> np.random.Generator:
        rng = getattr(self._local, "rng", None)
        if rng is None:
            with self._seed_lock:
                child = self._seeds.spawn(1)[0]
            rng = self._local.rng = np.random.default_rng(child)
        return rng

    def _http(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def ask(self, user_id: int) -> tuple[int, str, str | None, float]:
        """(status, body or exception text, X-Model-Version, seconds), like the course's client:
        status 0 with a Java exception text when there is no answer in time."""
        started = time.perf_counter()
        try:
            response = self._http().get(f"{self.config.service_url}/recommend/{user_id}", timeout=self.config.timeout)
            return (response.status_code, response.text.strip(), response.headers.get("X-Model-Version"),
                    time.perf_counter() - started)
        except requests.Timeout:
            return 0, "java.net.SocketTimeoutException: Read timed out", None, time.perf_counter() - started
        except requests.RequestException:
            return 0, "java.net.ConnectException: Connection refused", None, time.perf_counter() - started

    def run_one(self) -> None:
        rng = self._rng()
        population = self.population
        index, new = population.next_user()
        user_id = population.user_id(index)
        now = self.clock.now()
        if new and self.config.create_account:
            self.queue.push(now, user_id, lines.create_account(now, user_id), "create_account")
        status, body, version, seconds = self.ask(user_id)
        answered_at = self.clock.now()
        if self._answers:
            self.log_answer(answered_at, user_id, status, version, seconds)
        millis = int(round(seconds * 1000))
        self.queue.push(answered_at, user_id, lines.recommendation(answered_at, user_id, status, body, millis), "recommendation")

        appeal = population.appeal(index, answered_at)
        listed: list[int] = []
        if status == 200 and seconds <= self.config.timeout:
            listed = [population.movie_index[m] for m in body.split(",") if m in population.movie_index]
            outcome = "answered"
        else:
            outcome = "late" if status == 200 else "failed"
        day = int((answered_at - self.clock.start) // 86_400)
        self.truth.session(version if status == 200 else None, outcome, [float(appeal[m]) for m in listed], day)

        movie, _ = choice.choose(rng, self.config.choice, appeal, listed, population.watched_by(index))
        if movie is None:
            return
        start = answered_at + rng.uniform(*START_DELAY)
        followed = None
        if movie in listed and start - answered_at <= FOLLOW_WINDOW:   # also an organic pick that was listed
            rank = listed.index(movie) + 1
            followed = lambda: self.truth.followed(version, rank, day)  # noqa: E731  # counted when the first minute goes out
        self.schedule_watch(rng, index, user_id, movie, appeal, start, followed)

    def log_answer(self, at: float, user_id: int, status: int, version: str | None, seconds: float) -> None:
        """SIM_ANSWER_LOG: what the service answered, with the wall-clock time (the served records')."""
        entry = json.dumps({"wall_time": round(time.time(), 3), "sim_time": round(at, 3), "user_id": user_id,
                            "status": status, "version": version, "seconds": round(seconds, 4)})
        with self._answers_lock:
            self._answers.write(entry + "\n")

    def close(self) -> None:
        if self._answers:
            self._answers.close()

    def schedule_watch(self, rng: np.random.Generator, index: int, user_id: int, movie: int,
                       appeal: np.ndarray, start: float, on_first_minute=None) -> None:
        population = self.population
        population.note_watch(index, movie)
        z = float((appeal[movie] - appeal.mean()) / (appeal.std() or 1.0))
        runtime = int(population.world.runtime[movie])
        slug = population.movie_ids[movie]
        minutes = choice.watch_minutes(rng, runtime, z)
        for minute in range(1, minutes + 1):
            at = start + (minute - 1) * 60.0
            self.queue.push(at, user_id, lines.watch(at, user_id, slug, minute), "watch",
                            on_first_minute if minute == 1 else None)
        stars = choice.rating(rng, self.config.choice, z, self.config.rating_scale)
        if stars is not None:
            at = start + minutes * 60.0 + rng.uniform(5.0, 120.0)
            self.queue.push(at, user_id, lines.rate(at, user_id, slug, stars), "rate")
