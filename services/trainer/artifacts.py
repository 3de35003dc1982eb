"""The model directory: a saved bundle (.npy, no pickle) and model.json (fingerprint, config, metrics).

Writes go to a temporary sibling directory that replaces the old one by rename, so a trainer
killed while saving never leaves a half-written model behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from common.bundle import ModelBundle

BUNDLE_DIR = "bundle"
META_FILE = "model.json"
METRICS_FILE = "metrics.json"  # the evaluation report alone, next to the model


@dataclass(frozen=True)
class SavedModel:
    bundle: ModelBundle
    meta: dict  # fingerprint, config, report (evaluation), stats, created_at

    @property
    def metrics(self) -> dict:
        return self.meta.get("report", {})


def fingerprint(paths: list[Path], config_fields: dict) -> str:
    """Changes when an input file is added, removed, resized or touched, or when the config changes."""
    digest = hashlib.sha256(json.dumps(config_fields, sort_keys=True).encode())
    for path in sorted(Path(p) for p in paths):
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def save(model_dir: Path, bundle: ModelBundle, meta: dict) -> Path:
    model_dir = Path(model_dir)
    model_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = model_dir.with_name(f".{model_dir.name}.saving-{int(time.time() * 1000)}")
    (staging / BUNDLE_DIR).mkdir(parents=True)
    for name, array in bundle.to_arrays().items():
        np.save(staging / BUNDLE_DIR / f"{name}.npy", array, allow_pickle=False)
    (staging / META_FILE).write_text(json.dumps(dict(meta, created_at=time.time()), indent=2, sort_keys=True))
    (staging / METRICS_FILE).write_text(json.dumps(meta.get("report", {}), indent=2, sort_keys=True))
    old = model_dir.with_name(f".{model_dir.name}.old-{int(time.time() * 1000)}")
    if model_dir.exists():
        model_dir.rename(old)
    staging.rename(model_dir)
    shutil.rmtree(old, ignore_errors=True)
    return model_dir


def load(model_dir: Path) -> SavedModel:
    model_dir = Path(model_dir)
    meta_path = model_dir / META_FILE
    if not meta_path.exists():
        raise FileNotFoundError(f"{model_dir}: no saved model ({META_FILE} missing); run `trainer train` first")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{meta_path}: not valid JSON ({error})") from None
    arrays = {path.stem: np.load(path, allow_pickle=False) for path in sorted((model_dir / BUNDLE_DIR).glob("*.npy"))}
    return SavedModel(ModelBundle.from_arrays(arrays), meta)


def saved_fingerprint(model_dir: Path) -> str | None:
    try:
        return json.loads((Path(model_dir) / META_FILE).read_text()).get("fingerprint")
    except (OSError, ValueError):
        return None
