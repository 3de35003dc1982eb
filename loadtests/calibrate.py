"""Calibration of the simulator's choice model (README "The simulator"): the followed share and
the mean rank of the watched listed movie for three kinds of list, each shown to the same users.

    .venv/bin/python -m loadtests.calibrate --model-dir .run/models/default [--preset default] [--sessions 3000]

- popularity: the 20 most popular movies the user has not watched (the course team's lists were
  "mostly popular titles": 0.69-0.75 followed, mean rank about 3.5 — the only public figure);
- random: 20 random unwatched movies;
- trained model: what the service answers (the saved bundle through Recommender.resolve, the same
  code as the replicas).
The users' choices go through simulator/choice.py exactly as in a live run (without the network).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from common.recommend import Recommender
from common.stats import wilson
from simulator.choice import choose
from simulator.config import ChoiceParams, SimConfig
from simulator.population import Population
from trainer import artifacts


def proportion_interval(k: int, n: int) -> tuple[float, float]:
    """Wilson 95% interval (common/stats.py)."""
    return wilson(k, n) or (0.0, 1.0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--preset", default="default")
    parser.add_argument("--sessions", type=int, default=3000)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    params: ChoiceParams = SimConfig.from_env().choice
    population = Population(args.preset, 42, run_seed=5, params=params)
    recommender = Recommender(artifacts.load(args.model_dir).bundle)
    ranked = np.argsort(-population.world.popularity_bias)
    rng = np.random.default_rng(0)
    counts = {name: {"followed": 0, "ranks": []} for name in ("popularity", "random", "trained model")}
    for _ in range(args.sessions):
        index, _ = population.next_user()
        watched = population.watched_by(index)
        appeal = population.appeal(index, 0.0)
        model_ids, _ = recommender.resolve(population.user_id(index))
        lists = {
            "popularity": [int(m) for m in ranked if int(m) not in watched][:20],
            "random": [int(m) for m in rng.permutation(len(appeal)) if int(m) not in watched][:20],
            "trained model": [population.movie_index[m] for m in recommender.movie_list(model_ids)],
        }
        for name, listed in lists.items():
            movie, _ = choose(rng, params, appeal, listed, watched)
            if movie is not None and movie in listed:
                counts[name]["followed"] += 1
                counts[name]["ranks"].append(listed.index(movie) + 1)
    rows = {}
    print(f"{'list':<14} {'followed':>9} {'95% interval':>15} {'mean rank':>10}   ({args.sessions} sessions each)")
    for name, c in counts.items():
        low, high = proportion_interval(c["followed"], args.sessions)
        rank = float(np.mean(c["ranks"])) if c["ranks"] else float("nan")
        rows[name] = {"followed_share": c["followed"] / args.sessions, "interval": [low, high], "mean_rank": rank}
        print(f"{name:<14} {c['followed'] / args.sessions:>9.3f} {f'{low:.3f}-{high:.3f}':>15} {rank:>10.2f}")
    if args.json:
        args.json.write_text(json.dumps({"sessions": args.sessions, "params": vars(params), "lists": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
