"""The weight-cache contract: how model versions are written to and read from Redis.

The trainer publishes with :meth:`WeightStore.publish`; every inference replica reads with
:meth:`WeightStore.fetch`. Nothing else in the project touches these keys.

Key layout (``P`` is the prefix, ``V`` a version such as ``v12-3fa9c1``)::

    P:seq                     INCR counter that names new versions
    P:versions                sorted set of complete versions, score = sequence number
    P:pending                 hash of versions being written -> start time (cleaned up by the next publish)
    P:current                 the version replicas should serve (the pointer)
    P:v:V:manifest            JSON: arrays with dtype, shape, byte size and SHA-256 of every chunk; metadata
    P:v:V:a:NAME:I            chunk I of array NAME: raw little-endian bytes, at most ``chunk_size`` bytes
    channel P:events          PUBLISH of the new current version after the pointer moves

Arrays travel as raw little-endian bytes with dtype and shape in the manifest; text arrays
(``numpy`` unicode) as UTF-8 lines. No pickle anywhere: only plain numeric dtypes are accepted.

Publishing writes and verifies every chunk, then the manifest, and only then adds the version
to ``P:versions`` and moves ``P:current`` in one transaction. A publisher killed half-way leaves
the pointer where it was and its partial version listed in ``P:pending`` only; the next publish
deletes it. Published versions are immutable; rollback moves the pointer back.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import secrets
import time
from dataclasses import dataclass
import numpy as np
import redis

FORMAT = 1
DEFAULT_CHUNK_SIZE = 8 * 1024 * 1024
TEXT_DTYPE = "utf8-lines"
# Numeric dtypes a manifest may name; anything else (objects, structured types) is refused.
ALLOWED_DTYPES = {"<f4", "<f8", "<i4", "<i8", "<i2", "|i1", "|u1", "<u2", "<u4", "<u8", "|b1"}


class WeightCacheError(RuntimeError):
    """Base class: a version could not be written or read."""


class WeightIntegrityError(WeightCacheError):
    """A stored version is incomplete or corrupted (missing chunk, checksum, size or shape mismatch)."""


class VersionNotFound(WeightCacheError):
    """No such version, or no current version yet."""


@dataclass(frozen=True)
class ArrayEntry:
    name: str
    dtype: str
    shape: tuple[int, ...]
    nbytes: int
    chunks: tuple[str, ...]  # SHA-256 hex digest of each chunk, in order

    def to_json(self) -> dict:
        return {"dtype": self.dtype, "shape": list(self.shape), "nbytes": self.nbytes, "sha256": list(self.chunks)}

    @classmethod
    def from_json(cls, name: str, raw: dict) -> "ArrayEntry":
        try:
            entry = cls(
                name=name,
                dtype=str(raw["dtype"]),
                shape=tuple(int(n) for n in raw["shape"]),
                nbytes=int(raw["nbytes"]),
                chunks=tuple(str(c) for c in raw["sha256"]),
            )
        except (KeyError, TypeError, ValueError) as error:
            raise WeightIntegrityError(f"manifest entry for array {name!r} is malformed: {error}") from None
        entry.check_declared_size()
        return entry

    def check_declared_size(self) -> None:
        if any(n < 0 for n in self.shape):
            raise WeightIntegrityError(f"array {self.name!r}: negative dimension in shape {self.shape}")
        if self.dtype == TEXT_DTYPE:
            if len(self.shape) != 1:
                raise WeightIntegrityError(f"array {self.name!r}: text arrays are one-dimensional, got {self.shape}")
            return
        if self.dtype not in ALLOWED_DTYPES:
            raise WeightIntegrityError(f"array {self.name!r}: dtype {self.dtype!r} is not allowed")
        expected = np.dtype(self.dtype).itemsize * math.prod(self.shape)
        if expected != self.nbytes:
            raise WeightIntegrityError(
                f"array {self.name!r}: shape {self.shape} of {self.dtype} needs {expected} bytes, manifest says {self.nbytes}"
            )


@dataclass(frozen=True)
class Manifest:
    version: str
    created_at: float
    arrays: dict[str, ArrayEntry]
    metadata: dict

    def to_bytes(self) -> bytes:
        return json.dumps(
            {
                "format": FORMAT,
                "version": self.version,
                "created_at": self.created_at,
                "arrays": {name: entry.to_json() for name, entry in self.arrays.items()},
                "metadata": self.metadata,
            },
            sort_keys=True,
        ).encode()

    @classmethod
    def from_bytes(cls, version: str, raw: bytes) -> "Manifest":
        try:
            doc = json.loads(raw)
            if doc.get("format") != FORMAT:
                raise WeightIntegrityError(f"version {version}: manifest format {doc.get('format')!r}, expected {FORMAT}")
            if doc.get("version") != version:
                raise WeightIntegrityError(f"version {version}: manifest names version {doc.get('version')!r}")
            arrays = {name: ArrayEntry.from_json(name, entry) for name, entry in doc["arrays"].items()}
            return cls(version=version, created_at=float(doc["created_at"]), arrays=arrays, metadata=dict(doc["metadata"]))
        except WeightIntegrityError:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise WeightIntegrityError(f"version {version}: manifest is not valid JSON of the expected form: {error}") from None

    @property
    def total_bytes(self) -> int:
        return sum(entry.nbytes for entry in self.arrays.values())


def encode_array(array: np.ndarray) -> tuple[str, tuple[int, ...], bytes]:
    """(dtype name, shape, bytes) for one array, without pickle."""
    if array.dtype.kind == "U":
        items = [str(item) for item in array.ravel()]
        if any("\n" in item for item in items):
            raise ValueError("text arrays must not contain newlines")
        return TEXT_DTYPE, (len(items),), "\n".join(items).encode("utf-8")
    little = array.astype(array.dtype.newbyteorder("<"), copy=False)
    dtype = little.dtype.str
    if dtype not in ALLOWED_DTYPES:
        raise ValueError(f"dtype {array.dtype} cannot be published (allowed: {sorted(ALLOWED_DTYPES)})")
    return dtype, tuple(array.shape), np.ascontiguousarray(little).tobytes()


def decode_array(entry: ArrayEntry, data: bytes) -> np.ndarray:
    if entry.dtype == TEXT_DTYPE:
        items = data.decode("utf-8").split("\n") if data else []
        if len(items) != entry.shape[0]:
            raise WeightIntegrityError(f"array {entry.name!r}: {len(items)} text items, manifest says {entry.shape[0]}")
        return np.array(items, dtype=str)
    return np.frombuffer(data, dtype=np.dtype(entry.dtype)).reshape(entry.shape)


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


VERSION_NAME = re.compile(r"v([0-9]{1,12})-([0-9a-f]{6})")


def version_number(version: str) -> int:
    """The sequence number in a version name such as ``v12-3fa9c1``."""
    match = VERSION_NAME.fullmatch(version or "")
    if not match:
        raise VersionNotFound(f"{version!r} is not a version name (expected v<number>-<6 hex digits>)")
    return int(match.group(1))


def new_version_name(sequence: int) -> str:
    """Sequence number for people, random suffix so that a Redis that lost its data (and its
    counter) never hands out a name a replica already holds with other weights."""
    return f"v{sequence}-{secrets.token_hex(3)}"


def _verified(version: str, entry: ArrayEntry, chunks: list[bytes | None]) -> bytes:
    for index, (data, expected) in enumerate(zip(chunks, entry.chunks)):
        if data is None:
            raise WeightIntegrityError(f"version {version}: chunk {index} of array {entry.name!r} is missing")
        if _sha256(data) != expected:
            raise WeightIntegrityError(f"version {version}: chunk {index} of array {entry.name!r} fails its SHA-256 check")
    data = b"".join(chunks)
    if len(data) != entry.nbytes:
        raise WeightIntegrityError(f"version {version}: array {entry.name!r} has {len(data)} bytes, manifest says {entry.nbytes}")
    return data


class WeightStore:
    """Versioned model weights in Redis. One instance per client; cheap to create."""

    def __init__(self, client: redis.Redis, prefix: str = "recsys", keep: int = 5, chunk_size: int = DEFAULT_CHUNK_SIZE):
        if keep < 1:
            raise ValueError("keep must be at least 1")
        if not 0 < chunk_size <= DEFAULT_CHUNK_SIZE:
            raise ValueError(f"chunk_size must be in 1..{DEFAULT_CHUNK_SIZE}")
        self.client = client
        self.prefix = prefix
        self.keep = keep
        self.chunk_size = chunk_size

    # -- key names ---------------------------------------------------------------------------
    @property
    def channel(self) -> str:
        return f"{self.prefix}:events"

    def _key(self, *parts: str) -> str:
        return ":".join((self.prefix, *parts))

    def _manifest_key(self, version: str) -> str:
        return self._key("v", version, "manifest")

    def _chunk_key(self, version: str, name: str, index: int) -> str:
        return self._key("v", version, "a", name, str(index))

    # -- reading -----------------------------------------------------------------------------
    def current_version(self) -> str | None:
        raw = self.client.get(self._key("current"))
        return raw.decode() if raw is not None else None

    def versions(self) -> list[str]:
        """Complete versions, oldest first."""
        return [v.decode() for v in self.client.zrange(self._key("versions"), 0, -1)]

    def pending_versions(self) -> list[str]:
        return sorted(v.decode() for v in self.client.hkeys(self._key("pending")))

    def manifest(self, version: str) -> Manifest:
        raw = self.client.get(self._manifest_key(version))
        if raw is None:
            raise VersionNotFound(f"version {version} has no manifest in Redis (prefix {self.prefix!r})")
        return Manifest.from_bytes(version, raw)

    def fetch(self, version: str | None = None) -> tuple[Manifest, dict[str, np.ndarray]]:
        """Read and verify one version (the current one by default).

        Every chunk's SHA-256 and every array's size are checked; any mismatch raises
        WeightIntegrityError and nothing half-read is returned.
        """
        if version is None:
            version = self.current_version()
            if version is None:
                raise VersionNotFound(f"no current version under prefix {self.prefix!r}")
        manifest = self.manifest(version)
        keys = [self._chunk_key(version, name, i) for name, entry in manifest.arrays.items() for i in range(len(entry.chunks))]
        chunks = iter(self.client.mget(keys) if keys else [])  # one round trip for the whole version
        arrays = {}
        for name, entry in manifest.arrays.items():
            arrays[name] = decode_array(entry, _verified(version, entry, [next(chunks) for _ in entry.chunks]))
        return manifest, arrays


    # -- writing -----------------------------------------------------------------------------
    # -- writing -----------------------------------------------------------------------------
    def publish(self, arrays: dict[str, np.ndarray], metadata: dict | None = None, make_current: bool = True) -> str:
        """Write a new immutable version; move the pointer to it only once it is complete and verified."""
        removed = self.cleanup_partial()
        version = new_version_name(int(self.client.incr(self._key("seq"))))
        self.client.hset(self._key("pending"), version, str(time.time()))
        entries = {}
        for name, array in arrays.items():
            if ":" in name:
                raise ValueError(f"array name {name!r} must not contain ':'")
            dtype, shape, data = encode_array(np.asarray(array))
            digests = []
            with self.client.pipeline(transaction=False) as pipe:
                for index, start in enumerate(range(0, len(data), self.chunk_size)):
                    chunk = data[start : start + self.chunk_size]
                    pipe.set(self._chunk_key(version, name, index), chunk)
                    digests.append(_sha256(chunk))
                pipe.execute()
            entries[name] = ArrayEntry(name, dtype, shape, len(data), tuple(digests))
        manifest = Manifest(version, time.time(), entries, dict(metadata or {}, cleaned_partial_versions=removed))
        self.client.set(self._manifest_key(version), manifest.to_bytes())
        # Read everything back through the same path the replicas use before anyone may see it.
        self.fetch(version)
        with self.client.pipeline(transaction=True) as pipe:
            pipe.zadd(self._key("versions"), {version: version_number(version)})
            pipe.hdel(self._key("pending"), version)
            if make_current:
                pipe.set(self._key("current"), version)
            pipe.execute()
        if make_current:
            self.client.publish(self.channel, version)
        self.prune()
        return version

    def set_current(self, version: str) -> None:
        if self.client.zscore(self._key("versions"), version) is None:
            raise VersionNotFound(f"version {version} is not a complete published version (known: {', '.join(self.versions()) or 'none'})")
        self.manifest(version)
        self.client.set(self._key("current"), version)
        self.client.publish(self.channel, version)

    def rollback(self, to: str | None = None, usable=None) -> str:
        """Move the pointer to `to`, or to the newest version published before the current one for
        which `usable(version)` (when given) is true: a replica would refuse the others."""
        if to is None:
            current = self.current_version()
            older = [v for v in self.versions() if current is None or version_number(v) < version_number(current)]
            skipped = []
            while older and usable is not None and not usable(older[-1]):
                skipped.append(older.pop())
            if not older:
                also = f" (skipped {', '.join(skipped)}: not loadable)" if skipped else ""
                raise VersionNotFound(f"no version older than {current} to roll back to{also}")
            to = older[-1]
        self.set_current(to)
        return to

    def prune(self) -> list[str]:
        """Delete complete versions beyond the newest `keep`; the current version is never deleted."""
        current = self.current_version()
        doomed = [v for v in self.versions()[: -self.keep] if v != current]
        for version in doomed:
            self.client.zrem(self._key("versions"), version)
            self._delete_version_keys(version)
        return doomed

    def cleanup_partial(self) -> list[str]:
        """Delete versions a killed publisher left half-written. One publisher at a time is assumed."""
        removed = []
        for version in self.pending_versions():
            self._delete_version_keys(version)
            self.client.hdel(self._key("pending"), version)
            removed.append(version)
        return removed

    def _delete_version_keys(self, version: str) -> None:
        keys = list(self.client.scan_iter(match=self._key("v", version, "*"), count=1000))
        for start in range(0, len(keys), 500):
            self.client.delete(*keys[start : start + 500])

    # -- notifications -----------------------------------------------------------------------
    def subscribe(self) -> redis.client.PubSub:
        pubsub = self.client.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.channel)
        return pubsub

    def status(self) -> dict:
        current = self.current_version()
        listing = []
        for version in self.versions():
            try:
                manifest = self.manifest(version)
                listing.append(
                    {"version": version, "created_at": manifest.created_at, "bytes": manifest.total_bytes,
                     "metrics": manifest.metadata.get("metrics", {}), "current": version == current}
                )
            except WeightCacheError as error:
                listing.append({"version": version, "error": str(error), "current": version == current})
        return {"prefix": self.prefix, "current": current, "versions": listing, "pending": self.pending_versions()}

