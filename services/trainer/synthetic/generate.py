"""Deterministic synthetic data in the simulator's formats: users.csv, movies.csv, events/*.log.

The data has structure a recommender can learn, and that the trainer's evaluation can check: a
hidden :class:`~trainer.synthetic.world.World` of users and movies, what the users watch and rate
(:mod:`trainer.synthetic.samplers`), written as the event log (:mod:`trainer.synthetic.logwriter`).
Everything is vectorized, and the output is byte-identical for a given preset, seed and
overrides. From the command line::

    trainer generate-data --preset default                  # -> data/generated/default/
    trainer generate-data --preset small --out /tmp/x --seed 7 --set n_users=50
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

from trainer.synthetic.logwriter import write_log
from trainer.synthetic.presets import resolve_params
from trainer.synthetic.samplers import choose_movies, interactions_per_user, sample_events
from trainer.synthetic.world import World, random_streams


def generate(preset: str, out_dir: Path, seed: int = 42, *,
             progress: Callable[[str], None] | None = None, **overrides) -> dict:
    """Write users.csv, movies.csv and events/events-NNNN.log under out_dir; return a summary.

    The summary has the counts (users, movies, interactions = distinct user-movie watches,
    ratings = distinct rated pairs, line counts per kind), the files and bytes written, and the
    seconds taken. The same preset, seed and overrides always give byte-identical files.
    """
    started = time.perf_counter()
    params = resolve_params(preset, **overrides)
    say = progress or (lambda message: None)
    out_dir = Path(out_dir)
    streams = random_streams(seed)

    world = World.create(params, streams)
    users, movies = world.users, world.movies
    say(f"{len(users):,} users, {len(movies):,} movies; choosing what each user watches")
    per_user = interactions_per_user(streams["choices"], params)
    chosen_users, chosen_movies, affinity = choose_movies(streams["choices"], world, per_user)
    say(f"{len(chosen_users):,} interactions; writing the event log")
    events = sample_events(streams["sessions"], world, chosen_users, chosen_movies, affinity)

    out_dir.mkdir(parents=True, exist_ok=True)
    users.to_csv(out_dir / "users.csv", index=False, lineterminator="\n")
    movies.to_csv(out_dir / "movies.csv", index=False, lineterminator="\n")
    log = write_log(streams["lines"], events, movies["movie_id"].to_numpy(), world.popularity_bias,
                    params, out_dir / "events", say)

    summary = {
        "preset": preset,
        "seed": seed,
        "params": params,
        "users": len(users),
        "movies": len(movies),
        "interactions": len(chosen_users),
        "ratings": int(events["rated"].sum()),
        **log,
    }
    (out_dir / "manifest.json").write_text(json.dumps(summary, indent=2) + "\n")
    summary["bytes"] = log["log_bytes"] + sum(
        (out_dir / name).stat().st_size for name in ("users.csv", "movies.csv"))
    summary["seconds"] = round(time.perf_counter() - started, 3)
    say(f"done in {summary['seconds']:.1f} s: {summary['lines']:,} log lines, "
        f"{summary['bytes'] / 1e6:,.1f} MB in {out_dir}")
    return summary
