"""Movie titles drawn from word lists, and the simulator's movie ids (slugs) made from them."""

from __future__ import annotations

import numpy as np

from trainer.synthetic.arrays import normalized

_ADJECTIVES = """
dark silent last lost hidden broken golden crimson frozen burning wild quiet secret final
endless distant forgotten savage gentle bitter sweet electric iron silver scarlet hollow
midnight eternal fallen rising wicked lonely brave strange little big long deep cold hot
blue black white red green grey royal sacred cursed lucky crazy perfect dangerous deadly
fatal invisible mysterious northern southern eastern western ancient modern urban rural
happy sad restless reckless fearless shattered twisted savage velvet neon atomic cosmic
""".split()
_NOUNS = """
road river night city heart storm shadow dream kingdom empire garden house mountain ocean
island desert forest valley star moon sun sky fire ice rain wind thunder stone glass
mirror door window bridge tower castle prison station harbor highway street alley
soldier detective stranger lover thief hunter ghost angel devil king queen prince princess
knight doctor teacher child mother father brother sister daughter son family friend
enemy witness killer driver pilot captain sailor gambler dancer singer writer painter
promise secret lie truth game war peace journey escape return revenge mission heist
memory summer winter autumn spring morning evening hour day year century legend story
song letter diary map key crown sword gun machine engine robot planet galaxy signal code
""".split()
_NAMES = """
jack mary charlie lucy harry emma max sophie leo alice oscar grace victor rose frank
hannah sam julia nick clara
""".split()
_PLACES = """
paris tokyo berlin rome london chicago brooklyn texas alaska cairo havana vienna
casablanca memphis montana vegas
""".split()


def slugify(title: str, year: int) -> str:
    """The simulator's movie id: lowercase title words joined by '+', ending in the year."""
    words = title.lower().replace(":", "").replace(",", "_").split()
    return "+".join([*words, str(year)])


def make_titles(rng: np.random.Generator, years: np.ndarray) -> tuple[list[str], list[str]]:
    """Unique (title, slug) pairs drawn from word lists; a collision is drawn again."""
    adjectives, nouns, names, places = _ADJECTIVES, _NOUNS, _NAMES, _PLACES
    patterns = (
        lambda a, n, m, x, p: f"The {a.title()} {n.title()}",
        lambda a, n, m, x, p: f"{a.title()} {n.title()}",
        lambda a, n, m, x, p: f"{n.title()} of the {m.title()}",
        lambda a, n, m, x, p: f"The {n.title()}",
        lambda a, n, m, x, p: f"{x.title()}'s {n.title()}",
        lambda a, n, m, x, p: f"{n.title()} in {p.title()}",
        lambda a, n, m, x, p: f"{a.title()} {n.title()}: The {m.title()}",
        lambda a, n, m, x, p: f"{m.title()} Makers, Inc.",
        lambda a, n, m, x, p: f"The {a.title()} {n.title()} {int(rng.integers(2, 5))}",
        lambda a, n, m, x, p: f"{a.title()} {m.title()} in {p.title()}",
    )
    pattern_weights = (14, 14, 10, 5, 6, 6, 6, 2, 3, 4)
    n = len(years)
    titles: list[str | None] = [None] * n
    slugs: list[str | None] = [None] * n
    taken: set[str] = set()
    todo = np.arange(n)
    while len(todo):
        pattern = rng.choice(len(patterns), size=len(todo), p=normalized(pattern_weights))
        words = [rng.integers(len(pool), size=len(todo))
                 for pool in (adjectives, nouns, nouns, names, places)]
        retry = []
        for j, i in enumerate(todo):
            title = patterns[pattern[j]](adjectives[words[0][j]], nouns[words[1][j]],
                                      nouns[words[2][j]], names[words[3][j]], places[words[4][j]])
            slug = slugify(title, int(years[i]))
            if slug in taken:
                retry.append(i)
                continue
            taken.add(slug)
            titles[i], slugs[i] = title, slug
        todo = np.array(retry, dtype=np.int64)
    return titles, slugs
