"""The one reference to the model a worker serves; swapping it is a single assignment."""

from __future__ import annotations

import threading

from inference.loader import LoadedModel


class ModelHolder:
    def __init__(self):
        self._model: LoadedModel | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> LoadedModel | None:
        return self._model

    @property
    def version(self) -> str | None:
        model = self._model
        return model.version if model else None

    def swap(self, model: LoadedModel) -> LoadedModel | None:
        """Serve `model` from now on; returns the previous one (requests in flight keep using it)."""
        with self._lock:
            previous, self._model = self._model, model
        return previous
