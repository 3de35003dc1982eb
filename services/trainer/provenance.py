"""What produced a model version: the training data, the code, the configuration, when and how long
(stored in the version's manifest by publish(); `trainer provenance --version V` prints it with the
version's lineage back to its first ancestor)."""

from __future__ import annotations

import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

from common import served
from common.weightcache import VersionNotFound, WeightStore

ROOT = Path(__file__).resolve().parents[2]


def code_version() -> dict:
    """The git commit of the checkout the code runs from (with "+dirty" for local changes), else the
    installed package's version."""
    git = shutil.which("git")
    if git and (ROOT / ".git").exists():
        try:
            commit = subprocess.run([git, "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True,  # nosec B603  # git, fixed argv
                                    timeout=5, check=True).stdout.strip()
            dirty = subprocess.run([git, "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no"],  # nosec B603  # git, fixed argv
                                   capture_output=True, text=True, timeout=5).stdout.strip()
            return {"git_commit": commit + ("+dirty" if dirty else "")}
        except (OSError, subprocess.SubprocessError):
            pass
    try:
        return {"package": "movie-recommender", "version": metadata.version("movie-recommender")}
    except metadata.PackageNotFoundError:
        return {"package": "movie-recommender", "version": "unknown"}


def data_provenance(source, raw, fingerprint: str) -> dict:
    """The training data: where, which files (count, bytes, the newest names), their fingerprint
    (names, sizes and mtimes), the event window and the counts."""
    files = source.input_files()
    events = [r for r in raw.reports if r.window != (None, None)]
    first = min((r.window[0] for r in events if r.window[0]), default=None)
    last = max((r.window[1] for r in events if r.window[1]), default=None)
    return {
        "kind": source.kind, "path": str(source.path), "fingerprint": fingerprint,
        "files": len(files), "bytes": sum(f.stat().st_size for f in files if f.exists()),
        "newest_files": [f.name for f in sorted(files, key=lambda f: f.stat().st_mtime)[-5:]],
        "event_window": {"first": first, "last": last},
        "counts": {r.source: {"lines": r.lines, "skipped": r.skipped, **r.counts} for r in raw.reports},
    }


def training_provenance(source, raw, config, fingerprint: str, started: float, seconds: float) -> dict:
    return {
        "data": data_provenance(source, raw, fingerprint),
        "code": code_version(),
        "config": config.fingerprint_fields(),
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "training_seconds": round(seconds, 1),
    }


def lineage(store: WeightStore, version: str, limit: int = 100) -> list[tuple[str, dict]]:
    """[(version, manifest metadata)] from `version` back through what each replaced, while the
    versions are still in the store."""
    chain, seen = [], set()
    while version and version not in seen and len(chain) < limit:
        seen.add(version)
        try:
            meta = store.manifest(version).metadata
        except VersionNotFound:
            chain.append((version, {"missing": "no longer in the weight cache (KEEP_VERSIONS)"}))
            break
        chain.append((version, meta))
        version = meta.get("replaced")
    return chain


def describe(version: str, meta: dict) -> list[str]:
    """A version's provenance as lines for the operator."""
    if "missing" in meta:
        return [f"{version}: {meta['missing']}"]
    p = meta.get("provenance", {})
    data, code = p.get("data", {}), p.get("code", {})
    window = data.get("event_window", {})
    metrics = meta.get("metrics", {}).get("model", {})
    lines = [f"{version}: trained {p.get('trained_at', '?')} in {p.get('training_seconds', '?')} s, published "
             f"{time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(meta['published_at'])) if 'published_at' in meta else '?'}"
             f", replaced {meta.get('replaced') or 'nothing'}",
             f"  data: {data.get('kind', '?')} {data.get('path', '?')}: {data.get('files', '?')} files, "
             f"{data.get('bytes', 0) / 1e6:.1f} MB, events {window.get('first')} .. {window.get('last')}, "
             f"fingerprint {data.get('fingerprint', meta.get('fingerprint'))}",
             f"  code: {', '.join(f'{k} {v}' for k, v in code.items()) or '?'}",
             f"  config: {', '.join(f'{k}={v}' for k, v in sorted(p.get('config', {}).items()))}",
             f"  offline: precision@10 {metrics.get('precision@10', 'n/a')}, gate: {meta.get('gate', '?')}"]
    return lines


def find_served(bootstrap: str, topic: str, request_id: str | None = None, user: int | None = None,
                at: float | None = None, timeout: float = 30.0) -> dict | None:
    """The served-answer record (inference/records.py) with this request id, or this user's last
    answer at or before `at` (seconds since the epoch): read from the topic, from `at` minus an hour
    when given (offsets by time), else from the beginning."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "recsys-provenance", "enable.auto.commit": False})
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is None or metadata.error is not None or not metadata.partitions:
            raise ValueError(f"no topic {topic} at {bootstrap} (are the replicas recording? KAFKA_BOOTSTRAP_SERVERS)")
        partitions = [TopicPartition(topic, p, int((at - 3600) * 1000) if at else -2) for p in metadata.partitions]
        if at:
            partitions = consumer.offsets_for_times(partitions, timeout=10)
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in metadata.partitions}
        # offsets_for_times answers -1 for a partition with nothing after that time: start at its end.
        consumer.assign([TopicPartition(topic, tp.partition, ends[tp.partition]) if tp.offset == -1 else tp
                         for tp in partitions])
        best, done, deadline = None, set(), time.monotonic() + timeout
        while len(done) < len(ends) and time.monotonic() < deadline:
            for message in consumer.consume(5000, timeout=0.5):
                if message.error():
                    continue
                if message.offset() + 1 >= ends[message.partition()]:
                    done.add(message.partition())
                for record in served.decode(message.value())[0]:
                    if request_id is not None and record.get("request_id") == request_id:
                        return record
                    if user is not None and record["user_id"] == user and (at is None or record["time"] <= at):
                        if best is None or record["time"] > best["time"]:
                            best = record
            done |= {p for p, end in ends.items() if consumer.position([TopicPartition(topic, p)])[0].offset >= end}
        return best
    except KafkaException as error:
        raise ValueError(f"{bootstrap}: {error}") from None
    finally:
        consumer.close()
