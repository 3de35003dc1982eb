"""User demographic features, named the same way by the trainer and by the inference replicas.

A cold-start user is represented by the features their attributes switch on, so the names must
match between training (which learns one embedding per name) and serving (which looks them up).
"""

from __future__ import annotations

# Upper bounds (exclusive) of the age buckets, MovieLens-1M style; the last bucket is open.
AGE_EDGES = (18, 25, 35, 45, 50, 56)
# The one age rule: an age outside MIN_AGE..MAX_AGE years is unknown, for the trainer's loaders
# (the row is kept, its age NA and counted as bad_age) and for the replicas (no age feature).
MIN_AGE, MAX_AGE = 1, 120


def valid_age(years):
    """True where `years` (a float, or a numpy/pandas array of them) is a usable age: MIN_AGE to
    MAX_AGE inclusive. NaN never is."""
    return (years >= MIN_AGE) & (years <= MAX_AGE)


def age_bucket(age) -> str | None:
    try:
        value = float(age)
    except (TypeError, ValueError):
        return None
    if not valid_age(value):
        return None
    low = 0
    for edge in AGE_EDGES:
        if value < edge:
            return f"{low}-{edge - 1}"
        low = edge
    return f"{low}+"


def normalize_gender(gender) -> str | None:
    if not isinstance(gender, str):
        return None
    value = gender.strip().upper()[:1]
    return value if value in ("M", "F") else None


def normalize_occupation(occupation) -> str | None:
    if not isinstance(occupation, str):
        return None
    value = " ".join(occupation.strip().lower().split())
    return value or None


def user_feature_names(age, gender, occupation) -> list[str]:
    """The demographic feature names a user's attributes switch on (missing ones are left out)."""
    names = []
    bucket = age_bucket(age)
    if bucket is not None:
        names.append(f"age:{bucket}")
    gender = normalize_gender(gender)
    if gender is not None:
        names.append(f"gender:{gender}")
    occupation = normalize_occupation(occupation)
    if occupation is not None:
        names.append(f"occupation:{occupation}")
    return names
