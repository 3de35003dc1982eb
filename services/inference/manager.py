"""Decides which model version a worker serves (the manager of TF Serving's source/loader/manager).

The source (inference/watcher.py) reports the version it aspires to; the loader
(inference/loader.py) loads one version; this module decides what to do with the report:

- the version serves already, or was refused before: nothing (versions are immutable, so a
  refused version stays refused);
- otherwise load it while the current one keeps serving. A corrupt version (reason "integrity")
  or one that is not a valid model ("invalid") is refused for good; one whose files could not be
  written or mapped ("io") is tried again at the next report. Either way the failure is counted
  and logged, and the last good version keeps serving: nothing is ever unloaded before its
  successor is ready;
- on success: swap it into the holder, count the load, set the version gauge, then drop the files
  of every other version (requests still running on the old one keep its mapped pages).
"""

from __future__ import annotations

import logging
import threading

from common.bundle import BundleError
from common.weightcache import WeightCacheError, WeightIntegrityError, version_number
from inference import metrics
from inference.holder import ModelHolder
from inference.loader import LoadedModel, ModelLoader

log = logging.getLogger(__name__)


class ModelManager:
    def __init__(self, loader: ModelLoader, holder: ModelHolder):
        self.loader = loader
        self.holder = holder
        self._refused: set[str] = set()
        self._lock = threading.Lock()  # one load at a time

    @property
    def refused(self) -> frozenset[str]:
        """Versions that will never serve here."""
        return frozenset(self._refused)

    def aspire(self, version: str) -> None:
        """Serve `version` if it can serve. redis.RedisError (Redis went away while fetching) is the
        caller's to handle: nothing changed, and the next report tries again."""
        with self._lock:
            if version == self.holder.version or version in self._refused:
                return
            model = self._load(version)
            if model is not None:
                self._serve(model)

    def _load(self, version: str) -> LoadedModel | None:
        serving = self.holder.version or "nothing"
        try:
            return self.loader.load(version)
        except (WeightCacheError, BundleError) as error:
            reason = "integrity" if isinstance(error, WeightIntegrityError) else "invalid"
            self._refused.add(version)
            metrics.MODEL_LOAD_FAILURES.labels(reason=reason).inc()
            log.error("version %s refused (%s), still serving %s: %s; publish a good version or move the "
                      "pointer back (`trainer rollback`)", version, reason, serving, error)
        except (OSError, ValueError) as error:  # BundleError is a ValueError too: caught above
            metrics.MODEL_LOAD_FAILURES.labels(reason="io").inc()
            log.error("version %s could not be written to or mapped from the cache directory, still "
                      "serving %s; trying again at the next report: %s", version, serving, error)
        return None

    def _serve(self, model: LoadedModel) -> None:
        previous = self.holder.swap(model)
        metrics.MODEL_LOADS.inc()
        metrics.MODEL_VERSION.set(version_number(model.version))
        log.info("now serving %s (was %s)", model.version, previous.version if previous else "nothing")
        try:
            self.loader.discard_except({model.version})
        except OSError as error:  # only memory is lost: the next swap tries again
            log.warning("could not remove the files of versions other than %s: %s", model.version, error)
