"""The training run end to end: load -> interactions -> evaluate on a split -> fit on all -> bundle."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from common.bundle import ModelBundle
from trainer import artifacts
from trainer.config import ModelConfig
from trainer.evaluate import evaluate, format_report
from trainer.features import build_feature_space
from trainer.fit import fit
from trainer.interactions import Interactions, build_interactions
from trainer.loaders.frames import RawData
from trainer.loaders.report import DataFormatError, check_malformed
from trainer.loaders.source import DataSource
from trainer.provenance import training_provenance

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainingResult:
    bundle: ModelBundle
    meta: dict


def load_checked(source: DataSource, config: ModelConfig) -> RawData:
    """Load, log what each file held and skipped, and stop (DataFormatError) on a file with more
    malformed lines than config.max_malformed allows."""
    raw = source.load(config)
    for report in raw.reports:
        log.info("%s", report.summary())
    check_malformed(raw.reports, config.max_malformed)
    return raw


def usable_interactions(source: DataSource, raw: RawData) -> Interactions:
    interactions = build_interactions(raw.watches, raw.ratings)
    if len(interactions.positives) == 0:
        raise DataFormatError(f"{source.path}: no usable interactions (every line malformed or no positives)")
    return interactions


def run_evaluation(source: DataSource, config: ModelConfig) -> dict:
    raw = load_checked(source, config)
    interactions = usable_interactions(source, raw)
    return evaluate(interactions.frame, raw.users, raw.movies, config)


def train(source: DataSource, config: ModelConfig, skip_evaluation: bool = False) -> TrainingResult:
    """Evaluate on a held-out split, then fit the saved model on all the data with the same settings."""
    started, wall_started = time.monotonic(), time.time()
    fingerprint = source.fingerprint(config)
    raw = load_checked(source, config)
    parse_reports = [report.summary() for report in raw.reports]
    loaded = time.monotonic()
    interactions = usable_interactions(source, raw)
    report = {} if skip_evaluation else evaluate(interactions.frame, raw.users, raw.movies, config)
    if report:
        log.info("evaluation:\n%s", format_report(report))
    evaluated = time.monotonic()

    from trainer.export import export_bundle

    positives = interactions.positives
    space = build_feature_space(positives, raw.users, raw.movies, config.identity_weight)
    model = fit(space, positives, config, label="final fit")
    bundle = export_bundle(model, space, interactions.frame, config)
    finished = time.monotonic()
    meta = {
        "fingerprint": fingerprint,
        "provenance": training_provenance(source, raw, config, fingerprint, wall_started, finished - started),
        "source": {"kind": source.kind, "path": str(source.path)},
        "config": config.fingerprint_fields(),
        "report": report,
        "parse": parse_reports,
        "stats": {
            "users": int(space.n_users), "items": int(space.n_items), "interactions": int(len(interactions)),
            "positives": int(len(positives)), "table_users": int(len(space.table_user_ids)),
            "seconds": {"load": round(loaded - started, 1), "evaluate": round(evaluated - loaded, 1),
                        "fit_and_export": round(finished - evaluated, 1), "total": round(finished - started, 1)},
        },
    }
    return TrainingResult(bundle, meta)


def train_and_save(source: DataSource, config: ModelConfig, model_dir: Path, skip_evaluation: bool = False) -> TrainingResult:
    result = train(source, config, skip_evaluation)
    artifacts.save(model_dir, result.bundle, result.meta)
    log.info("saved model to %s", model_dir)
    return result
