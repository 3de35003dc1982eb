"""The generator's parameters: a few presets for the sizes, defaults for the rest, and overrides.

Any parameter can be overridden (``generate(..., n_users=50)``, ``trainer generate-data --set
n_users=50``); an unknown name is refused.
"""

from __future__ import annotations

# Sizes per preset; everything else comes from DEFAULTS. Any key can be overridden.
PRESETS: dict[str, dict] = {
    # Unit tests: generates in well under a second.
    "small": {"n_users": 300, "n_movies": 200, "interactions": 10_000, "days": 7},
    # `make up`: about 2.3 million log lines, about 160 MB.
    "default": {"n_users": 6_000, "n_movies": 2_000, "interactions": 200_000, "days": 30},
    # Course scale: about 60 million log lines, about 4.4 GB in 1 GB files.
    "full": {"n_users": 1_000_000, "n_movies": 27_000, "interactions": 5_500_000, "days": 60},
}

DEFAULTS: dict = {
    "latent_dim": 8,            # size of the hidden user/movie vectors
    "latent_scale": 0.8,        # their per-coordinate standard deviation
    "zipf": 1.1,                # popularity bias = -zipf * log(popularity rank)
    "taste_weight": 3.0,        # weight of the (demographic + individual) genre taste
    "taste_noise": 0.35,        # individual genre taste on top of the demographic one
    "demographic_latent_share": 0.5,  # share of the latent vector's variance set by demographics
    "interaction_sigma": 1.0,   # log-normal spread of the number of movies per user
    "cold_share": 0.05,         # users in users.csv without any event (cold start)
    "max_per_user": 1_000,      # and its cap (also at most half the catalogue)
    "mean_minutes": 10.0,       # mean watched minutes (geometric, capped at the runtime)
    "rating_share": 0.3,        # share of watched movies that get a rating line
    "rerate_share": 0.03,       # share of ratings given twice (the later one counts)
    "resume_share": 0.05,       # share of watches split into two sessions
    "recommendation_share": 0.1,  # share of watches preceded by a recommendation request line
    "start": "2023-10-01T00:00:00",
    "max_file_bytes": 1_000_000_000,  # split the log into files of at most this size
    "block_lines": 4_000_000,   # lines built and written per block (bounds memory)
}


def resolve_params(preset: str, **overrides) -> dict:
    """The full parameter set for a preset, with overrides applied (unknown names are refused)."""
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; choose one of {', '.join(PRESETS)}")
    params = {**DEFAULTS, **PRESETS[preset]}
    unknown = sorted(set(overrides) - set(params))
    if unknown:
        raise TypeError(f"unknown generator parameter(s) {', '.join(unknown)}; "
                        f"known: {', '.join(sorted(params))}")
    wrong = sorted(name for name, value in overrides.items()
                   if isinstance(params[name], (int, float)) and not isinstance(value, (int, float)))
    if wrong:
        raise TypeError("generator parameter(s) " + ", ".join(f"{name}={overrides[name]!r}" for name in wrong)
                        + ": expected a number")
    params.update(overrides)
    if params["n_users"] < 1 or params["n_movies"] < 1:
        raise ValueError("n_users and n_movies must be at least 1")
    return params


def parse_overrides(items: list[str]) -> dict:
    """NAME=VALUE items (`--set`, SIM_GENERATOR_SET) -> {name: value}; a value is an int, else a
    float, else the text. ValueError names a malformed item."""
    overrides = {}
    for item in items:
        name, sep, text = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"--set expects NAME=VALUE, got {item!r}")
        text = text.strip()
        for kind in (int, float, str):
            try:
                overrides[name.strip()] = kind(text)
                break
            except ValueError:
                pass
    return overrides
