"""The live population: the generator's world (trainer/synthetic/world.py, the same preset and
seed as `trainer generate-data`), plus what happens after day 0.

- who comes: known users in proportion to a fixed, long-tailed activity; a share of sessions by
  users nobody has seen (cold start), drawn from the same demographic model, who then stay;
- tastes drift: each user's vector takes a random walk, drift_per_day standard deviation per
  simulated day, applied when the user next comes (so retraining on fresh data matters);
- what each user watched, on day 0 (the generator's own draw, made again from the same seed: the
  data the service trained on) and in the simulation: not watched again.
"""

from __future__ import annotations

import threading

import numpy as np

from simulator.config import ChoiceParams
from trainer.synthetic.presets import resolve_params
from trainer.synthetic.samplers import choose_movies, interactions_per_user
from trainer.synthetic.world import World, make_users, random_streams

NEW_USER_POOL = 100_000
DAY = 86_400.0


class Population:
    def __init__(self, preset: str, seed: int, run_seed: int, params: ChoiceParams, overrides: dict | None = None):
        streams = random_streams(seed)
        self.world = World.create(resolve_params(preset, **(overrides or {})), streams)
        self.params = params
        # Day 0: what generate() drew for every user (same streams, same order), as CSR arrays.
        per_user = interactions_per_user(streams["choices"], self.world.params)
        users, movies, _ = choose_movies(streams["choices"], self.world, per_user)
        order = np.lexsort((movies, users))
        self.history_movies = movies[order]
        self.history_offsets = np.searchsorted(users[order], np.arange(len(self.world.users) + 1))
        self.rng = np.random.default_rng([run_seed, 1])
        world = self.world
        self.n_known = len(world.users)
        new_users, new_vectors = make_users(np.random.default_rng([seed, run_seed, 2]),
                                            {**world.params, "n_users": NEW_USER_POOL})
        new_users["user_id"] += int(world.users["user_id"].max())
        self.users = np.concatenate([world.users.to_records(index=False), new_users.to_records(index=False)])
        self.user_index = {int(uid): i for i, uid in enumerate(self.users["user_id"])}
        self.vectors = np.vstack([world.user_vectors, new_vectors]).astype(np.float64)
        self.activity = np.exp(self.rng.normal(0.0, params.activity_sigma, size=len(self.users)))
        self.joined = self.n_known           # users 0..joined-1 exist; the rest are still to come
        self.last_seen = np.full(len(self.users), np.nan)
        self.watched: dict[int, set[int]] = {}
        self.movie_vectors = world.movie_vectors.astype(np.float64)
        self.movie_ids: list[str] = world.movies["movie_id"].tolist()
        self.movie_index = {m: i for i, m in enumerate(self.movie_ids)}
        self._cumulative = np.cumsum(self.activity[: self.joined])
        self.lock = threading.Lock()

    # -- who comes --------------------------------------------------------------------------
    def next_user(self) -> tuple[int, bool]:
        """(user index, whether the user is new) of the next session."""
        with self.lock:
            if self.joined < len(self.users) and self.rng.random() < self.params.new_user_share:
                index = self.joined
                self.joined += 1
                self._cumulative = np.append(self._cumulative, self._cumulative[-1] + self.activity[index])
                return index, True
            target = self.rng.random() * self._cumulative[-1]
            return int(np.searchsorted(self._cumulative, target, side="right")), False

    def user_id(self, index: int) -> int:
        return int(self.users["user_id"][index])

    # -- what they like -----------------------------------------------------------------------
    def appeal(self, index: int, now: float) -> np.ndarray:
        """appeal(u, m) for every movie, after the drift since the user was last seen."""
        with self.lock:
            last = self.last_seen[index]
            if np.isfinite(last) and now > last and self.params.drift_per_day > 0:
                days = (now - last) / DAY
                self.vectors[index] += self.rng.normal(0.0, self.params.drift_per_day * np.sqrt(days),
                                                       size=self.vectors.shape[1])
            self.last_seen[index] = now
            vector = self.vectors[index].copy()
        return self.world.popularity_bias + self.movie_vectors @ vector

    def watched_by(self, index: int) -> set[int]:
        """Movies the user watched on day 0 and since."""
        day0 = set()
        if index < len(self.history_offsets) - 1:
            day0 = set(self.history_movies[self.history_offsets[index]:self.history_offsets[index + 1]].tolist())
        with self.lock:
            return day0 | self.watched.get(index, set())

    def note_watch(self, index: int, movie: int) -> None:
        with self.lock:
            self.watched.setdefault(index, set()).add(movie)

    # -- what the course's APIs answer ------------------------------------------------------
    def user_record(self, user_id: int) -> dict | None:
        index = self.user_index.get(user_id)
        if index is None or index >= self.joined:
            return None
        row = self.users[index]
        return {"user_id": int(row["user_id"]), "age": int(row["age"]), "occupation": str(row["occupation"]),
                "gender": str(row["gender"])}

    def movie_record(self, movie_id: str) -> dict | None:
        index = self.movie_index.get(movie_id)
        if index is None:
            return None
        row = self.world.movies.iloc[index]
        genres = [{"id": 1000 + i, "name": name} for i, name in enumerate(str(row["genres"]).split("|"))]
        # As the course sends them: several numbers as strings.
        return {
            "id": movie_id, "tmdb_id": int(row["tmdb_id"]), "imdb_id": f"tt{int(row['tmdb_id']):07d}",
            "title": str(row["title"]), "original_title": str(row["title"]), "adult": "False",
            "belongs_to_collection": {}, "budget": "0", "genres": genres, "homepage": "null",
            "original_language": str(row["original_language"]), "overview": "",
            "popularity": f"{float(row['popularity']):.6f}", "poster_path": "", "production_companies": [],
            "production_countries": [], "release_date": f"{int(row['year'])}-01-01", "revenue": "0",
            "runtime": int(row["runtime"]), "spoken_languages": [], "status": "Released",
            "vote_average": f"{float(row['vote_average']):.1f}", "vote_count": str(int(row["vote_count"])),
        }
