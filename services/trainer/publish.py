"""The quality gate and publication of a saved model into the Redis weight cache."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from common.weightcache import VersionNotFound, WeightStore
from trainer.artifacts import SavedModel

log = logging.getLogger(__name__)
GATE_METRIC = "precision@10"
MAX_DROP = 0.05


class GateRejected(RuntimeError):
    """The model is not good enough to publish (override with --force)."""


@dataclass(frozen=True)
class GateDecision:
    accepted: bool
    reason: str


def gate(saved: SavedModel, store: WeightStore) -> GateDecision:
    """Beat popularity, and stay within 5% of the current published version's precision@10."""
    report = saved.metrics
    if not report:
        return GateDecision(False, "the model has no evaluation (trained with --skip-evaluation); use --force to publish anyway")
    ours, popularity = report["model"][GATE_METRIC], report["popularity"][GATE_METRIC]
    if ours <= popularity:
        return GateDecision(False, f"{GATE_METRIC} {ours:.4f} does not beat popularity {popularity:.4f}")
    current = store.current_version()
    if current is None:
        return GateDecision(True, f"{GATE_METRIC} {ours:.4f} beats popularity {popularity:.4f}; no current version")
    try:
        theirs = store.manifest(current).metadata.get("metrics", {}).get("model", {}).get(GATE_METRIC)
    except VersionNotFound:
        theirs = None
    if theirs is not None and ours < (1 - MAX_DROP) * theirs:
        return GateDecision(False, f"{GATE_METRIC} {ours:.4f} is more than {MAX_DROP:.0%} below current {current} ({theirs:.4f})")
    return GateDecision(True, f"{GATE_METRIC} {ours:.4f} beats popularity {popularity:.4f} and current {current} ({theirs})")


def publish(saved: SavedModel, store: WeightStore, force: bool = False) -> str:
    decision = gate(saved, store)
    if not decision.accepted and not force:
        raise GateRejected(decision.reason)
    log.info("gate: %s%s", decision.reason, " (forced)" if not decision.accepted else "")
    started = time.monotonic()
    metadata = {
        "fingerprint": saved.meta.get("fingerprint"),
        "provenance": saved.meta.get("provenance", {}),
        "replaced": store.current_version(),
        "published_at": time.time(),
        "metrics": saved.metrics,
        "stats": saved.meta.get("stats", {}),
        "gate": decision.reason,
        "forced": bool(force and not decision.accepted),
    }
    version = store.publish(saved.bundle.to_arrays(), metadata)
    log.info("published %s in %.1f s", version, time.monotonic() - started)
    return version


def published_fingerprints(store: WeightStore) -> set[str]:
    """The data fingerprints of every version the store still holds."""
    found = set()
    for version in store.versions():
        try:
            fingerprint = store.manifest(version).metadata.get("fingerprint")
        except VersionNotFound:
            continue
        if fingerprint:
            found.add(fingerprint)
    return found
