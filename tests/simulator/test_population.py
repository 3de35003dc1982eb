"""The live population is the generator's world: the same users, movies and day-0 history as the
files `trainer generate-data` wrote for that preset and seed."""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulator.config import ChoiceParams
from simulator.population import Population
from trainer.loaders.tables import load_simulator_dir
from trainer.synthetic.generate import generate


def test_users_movies_and_day_zero_history_are_those_of_the_generated_files(tmp_path):
    generate("small", tmp_path, seed=11)
    population = Population("small", 11, run_seed=1, params=ChoiceParams())
    users = pd.read_csv(tmp_path / "users.csv")
    assert [population.user_record(int(u)) for u in users["user_id"][:20]] == users.head(20).to_dict("records")
    assert population.movie_ids == pd.read_csv(tmp_path / "movies.csv")["movie_id"].tolist()
    watched = load_simulator_dir(tmp_path).watches
    movie_index = {m: i for i, m in enumerate(population.movie_ids)}
    for user_id, group in watched.groupby("user_id"):
        assert population.watched_by(population.user_index[int(user_id)]) == {movie_index[m] for m in group["movie_id"]}


def test_new_users_appear_with_demographics_and_tastes_drift():
    population = Population("small", 11, run_seed=3, params=ChoiceParams(new_user_share=1.0, drift_per_day=0.5))
    index, new = population.next_user()
    assert new and index == population.n_known
    record = population.user_record(population.user_id(index))
    assert set(record) == {"user_id", "age", "occupation", "gender"} and record["user_id"] > population.n_known
    before = population.appeal(index, 0.0)
    assert np.allclose(population.appeal(index, 0.0), before)          # no time passed: no drift
    assert not np.allclose(population.appeal(index, 10 * 86_400.0), before)
    assert population.user_record(10**11) is None
