"""The synthetic data generator: determinism, the simulator's exact formats, learnable structure."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from trainer.loaders.eventlog import load_events
from trainer.loaders.tables import load_simulator_dir
from trainer.synthetic import samplers
from trainer.synthetic.generate import generate
from trainer.synthetic.presets import PRESETS, resolve_params
from trainer.synthetic.world import OCCUPATIONS

# The protocol's three line kinds (/work/shared/protocol.md), written exactly.
TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d"
SLUG = r"[a-z0-9'_.&-]+(?:\+[a-z0-9'_.&-]+)*\+\d{4}"
WATCH_LINE = re.compile(rf"^({TIME}),(\d+),GET /data/m/({SLUG})/(\d+)\.mpg$")
RATE_LINE = re.compile(rf"^({TIME}),(\d+),GET /rate/({SLUG})=([1-5])$")
RECOMMENDATION_LINE = re.compile(
    rf"^({TIME}\.\d{{3}}),(\d+),recommendation request 17645-team07\.lti\.cs\.cmu\.edu:8082, "
    rf"status 200, result: {SLUG}(?:, {SLUG}){{19}}, \d+ ms$")


def log_lines(directory):
    return [line for path in sorted((directory / "events").glob("*.log"))
            for line in path.read_text(encoding="utf-8").split("\n")[:-1]]


def files(directory):
    return {path.relative_to(directory): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("small")
    return out, generate("small", out, seed=42)


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(small, tmp_path):
    out, _ = small
    generate("small", tmp_path / "again", seed=42)
    generate("small", tmp_path / "other", seed=43)
    assert files(tmp_path / "again") == files(out)
    other, first = files(tmp_path / "other"), files(out)
    assert other.keys() == first.keys()
    for name in ("users.csv", "movies.csv", "events/events-0001.log"):
        assert other[Path(name)] != first[Path(name)]


def test_small_preset_has_the_advertised_size(small):
    _, summary = small
    assert (summary["users"], summary["movies"]) == (300, 200)
    assert 9_000 <= summary["interactions"] <= 10_000
    assert summary["seconds"] < 2
    assert 8 <= summary["watch_lines"] / summary["interactions"] <= 12  # mean minutes watched


def test_every_log_line_is_in_the_protocol_format_and_times_never_decrease(small):
    out, summary = small
    lines = log_lines(out)
    kinds = {"watch": 0, "rate": 0, "recommendation": 0}
    times = []
    for line in lines:
        for kind, pattern in (("watch", WATCH_LINE), ("rate", RATE_LINE),
                              ("recommendation", RECOMMENDATION_LINE)):
            match = pattern.match(line)
            if match:
                kinds[kind] += 1
                times.append(match.group(1)[:19])
                break
        else:
            pytest.fail(f"line not in the protocol format: {line!r}")
    assert kinds == {"watch": summary["watch_lines"], "rate": summary["rate_lines"],
                     "recommendation": summary["recommendation_lines"]}
    assert times == sorted(times)
    assert summary["log_bytes"] == sum(len(line) + 1 for line in lines)


def test_tables_have_the_simulator_columns_and_values(small):
    out, summary = small
    users = pd.read_csv(out / "users.csv")
    movies = pd.read_csv(out / "movies.csv", keep_default_na=False)
    assert list(users.columns) == ["user_id", "age", "occupation", "gender"]
    assert users["user_id"].tolist() == list(range(1, summary["users"] + 1))
    assert set(users["gender"]) == {"M", "F"}
    assert set(users["occupation"]) <= set(OCCUPATIONS)
    assert users["age"].between(1, 100).all()
    assert list(movies.columns) == ["movie_id", "title", "year", "genres", "tmdb_id",
                                    "popularity", "vote_average", "vote_count", "runtime",
                                    "original_language"]
    assert movies["movie_id"].is_unique and movies["tmdb_id"].is_unique
    for slug, title, year in movies[["movie_id", "title", "year"]].itertuples(index=False):
        assert re.fullmatch(SLUG, slug) and slug.endswith(f"+{year}")
        assert slug.split("+")[0] == title.lower().split()[0].replace(",", "_").replace(":", "")
    assert (movies["genres"].str.len() > 0).all()


def test_round_trip_through_the_parser_matches_the_generator(small):
    out, summary = small
    raw = load_simulator_dir(out)
    events = raw.reports[-1]
    assert len(raw.watches) == summary["interactions"]
    assert len(raw.ratings) == summary["ratings"]
    assert summary["rate_lines"] > summary["ratings"]  # some ratings were changed later
    assert events.lines == summary["lines"] and events.skipped == 0
    assert events.counts["recommendation"] == summary["recommendation_lines"]
    assert events.counts["unknown_users"] == 0 and events.counts["unknown_movies"] == 0
    assert len(raw.users) == summary["users"] and len(raw.movies) == summary["movies"]

    # The same answer as the obvious line-by-line reading of the log.
    watched, rated = {}, {}
    for line in log_lines(out):
        if match := WATCH_LINE.match(line):
            key = (int(match.group(2)), match.group(3))
            watched[key] = max(watched.get(key, 0), int(match.group(4)))
        elif match := RATE_LINE.match(line):
            rated[(int(match.group(2)), match.group(3))] = int(match.group(4))
    assert dict(zip(zip(raw.watches["user_id"], raw.watches["movie_id"]),
                    raw.watches["max_minute"])) == watched
    assert dict(zip(zip(raw.ratings["user_id"], raw.ratings["movie_id"]),
                    raw.ratings["rating"])) == rated


def test_popularity_is_long_tailed_and_some_users_are_heavy(tmp_path):
    # Sparse like the real data (the small preset is dense: 17% of all pairs).
    summary = generate("small", tmp_path, seed=1, n_users=3_000, n_movies=500,
                       interactions=15_000)
    watches, _, _ = load_events(tmp_path / "events")
    per_movie = watches["movie_id"].value_counts()
    top = per_movie.iloc[: summary["movies"] // 10].sum()
    assert top / len(watches) > 0.4
    per_user = watches["user_id"].value_counts()
    assert per_user.max() > 8 * per_user.median()
    assert watches["user_id"].nunique() < summary["users"]  # cold-start users exist


def test_demographics_shift_genre_tastes(tmp_path):
    generate("small", tmp_path, seed=3, n_users=2_000, n_movies=1_000, interactions=30_000)
    raw = load_simulator_dir(tmp_path)
    genres = raw.movies.set_index("movie_id")["genres"].str.split("|")
    watched = raw.watches.merge(raw.users, on="user_id")
    watched["genre"] = watched["movie_id"].map(genres)
    watched = watched.explode("genre")

    def share(mask, genre):
        group = watched[mask]
        return (group["genre"] == genre).mean()

    assert share(watched["gender"] == "F", "Romance") > 1.5 * share(watched["gender"] == "M",
                                                                     "Romance")
    assert share(watched["gender"] == "M", "War") > 1.5 * share(watched["gender"] == "F", "War")
    young, old = watched["age"] < 25, watched["age"] >= 50
    assert share(old, "History") > 1.5 * share(young, "History")
    assert share(young, "Horror") > 1.5 * share(old, "Horror")


def test_ratings_are_higher_for_longer_watches(small):
    out, _ = small
    raw = load_simulator_dir(out)
    both = raw.ratings.merge(raw.watches, on=["user_id", "movie_id"])
    assert both["rating"].between(1, 5).all()
    high, low = both[both["rating"] >= 4], both[both["rating"] <= 2]
    assert high["max_minute"].mean() > low["max_minute"].mean()


def test_big_logs_are_split_between_lines_into_files_under_the_limit(tmp_path):
    summary = generate("small", tmp_path, seed=5, n_users=100, interactions=2_000,
                       max_file_bytes=150_000, block_lines=5_000)
    paths = sorted((tmp_path / "events").glob("*.log"))
    assert len(paths) == len(summary["files"]) > 3
    assert [p.name for p in paths[:2]] == ["events-0001.log", "events-0002.log"]
    for path in paths:
        data = path.read_bytes()
        assert len(data) <= 150_000 and data.endswith(b"\n")
    assert len(log_lines(tmp_path)) == summary["lines"]
    watches, _, report = load_events(tmp_path / "events")
    assert len(watches) == summary["interactions"] and report.skipped == 0


def test_presets_and_overrides():
    assert set(PRESETS) == {"small", "default", "full"}
    full = resolve_params("full")
    assert (full["n_users"], full["n_movies"]) == (1_000_000, 27_000)
    assert full["interactions"] >= 5_000_000
    assert resolve_params("small", n_users=7)["n_users"] == 7
    with pytest.raises(TypeError, match="n_user"):
        resolve_params("small", n_user=7)
    with pytest.raises(ValueError, match="unknown preset"):
        resolve_params("huge")


def test_tiny_catalogue_still_works(tmp_path):
    summary = generate("small", tmp_path, seed=0, n_users=5, n_movies=3, interactions=6)
    watches, ratings, report = load_events(tmp_path / "events")
    assert len(watches) == summary["interactions"] <= 5 * 1
    assert report.skipped == 0
    assert np.all(watches["max_minute"] >= 1)


def test_big_catalogue_sampler_draws_the_same_distribution(tmp_path, monkeypatch):
    # Catalogues over EXACT_MAX_MOVIES are sampled kind-first; both samplers are exact, so on
    # the same world they must agree (up to sampling noise).
    sizes = dict(n_users=2_000, n_movies=400, interactions=20_000)
    generate("small", tmp_path / "exact", seed=4, **sizes)
    monkeypatch.setattr(samplers, "EXACT_MAX_MOVIES", 0)
    summary = generate("small", tmp_path / "staged", seed=4, **sizes)
    assert summary["interactions"] >= 0.99 * sizes["interactions"]
    counts = [load_events(tmp_path / name / "events")[0]["movie_id"].value_counts()
              for name in ("exact", "staged")]
    both = pd.concat(counts, axis=1).fillna(0).to_numpy()
    assert np.corrcoef(both.T)[0, 1] > 0.95


def test_committed_sample_is_what_the_readme_command_makes(tmp_path):
    sample = Path(__file__).resolve().parents[3] / "data" / "sample"
    generate("small", tmp_path, seed=42, n_users=15, n_movies=25, interactions=40,
             mean_minutes=4, days=1)
    assert files(tmp_path) == files(sample), \
        "data/sample is stale: regenerate it with the command in data/README.md"
    assert load_simulator_dir(sample).reports[-1].skipped == 0
