"""The data a model is trained on: simulator-format data or a MovieLens-100K directory.

:meth:`DataSource.from_dirs` is the one place that decides which (the CLI's ``--data-dir`` /
``--movielens``, and ``trainer serve``'s DATA_DIR / MOVIELENS_DIR, both go through it). A
source knows its input files (for the fingerprint that tells whether a saved model is still
current), whether it holds any data, and which loader reads it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from trainer import artifacts
from trainer.config import ModelConfig
from trainer.loaders.frames import RawData

SIMULATOR, MOVIELENS = "simulator", "movielens"
MOVIELENS_FILES = ("u.data", "u.user", "u.item", "u.genre")
SIMULATOR_TABLES = ("users.csv", "movies.csv")


@dataclass(frozen=True)
class DataSource:
    """Simulator-format data (users.csv, movies.csv, events/*.log) or a MovieLens-100K directory."""

    path: Path
    kind: str  # SIMULATOR | MOVIELENS

    @classmethod
    def from_dirs(cls, data_dir: Path | str | None = None,
                  movielens_dir: Path | str | None = None) -> "DataSource":
        """The MovieLens directory when one is given, else the simulator-format data in data_dir."""
        if movielens_dir:
            return cls(Path(movielens_dir), MOVIELENS)
        if not data_dir:
            raise ValueError("no data directory given (simulator-format data or a MovieLens directory)")
        return cls(Path(data_dir), SIMULATOR)

    def __post_init__(self):
        if self.kind not in (SIMULATOR, MOVIELENS):
            raise ValueError(f"data source kind {self.kind!r}: expected {SIMULATOR} or {MOVIELENS}")

    def input_files(self) -> list[Path]:
        if self.kind == MOVIELENS:
            return [self.path / n for n in MOVIELENS_FILES if (self.path / n).exists()]
        files = [self.path / n for n in SIMULATOR_TABLES if (self.path / n).exists()]
        return files + sorted((self.path / "events").glob("*.log"))

    def has_data(self) -> bool:
        if self.kind == MOVIELENS:
            return (self.path / "u.data").exists()
        return any((self.path / "events").glob("*.log"))

    def load(self, config: ModelConfig | None = None) -> RawData:
        """The data; simulator-format events of config's EVENT_PROTOCOL, within TRAIN_WINDOW_DAYS."""
        if self.kind == MOVIELENS:
            from trainer.loaders.movielens import load_movielens

            return load_movielens(self.path)
        from trainer.loaders.tables import load_simulator_dir

        config = config or ModelConfig()
        return load_simulator_dir(self.path, config.event_protocol, config.window_days)

    def fingerprint(self, config: ModelConfig) -> str:
        return artifacts.fingerprint(self.input_files(), dict(config.fingerprint_fields(), source=self.kind))
