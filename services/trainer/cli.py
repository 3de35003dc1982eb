"""`trainer`: generate data, train, evaluate, publish, roll back, inspect, recommend, serve.

Every failure ends in one line on stderr that says what failed and where, and a non-zero exit.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import os
import sys
from pathlib import Path

from common import stackenv
from common.bundle import TOP_K
from common.recommend import Recommender
from common.redisconf import RedisSettings, RedisUnavailable, connect
from common.weightcache import WeightCacheError, WeightStore
from trainer import artifacts
from trainer.config import ModelConfig, ServiceConfig
from trainer.evaluate import format_report
from trainer.loaders.source import DataSource
from trainer.pipeline import run_evaluation, train_and_save
from trainer.publish import GateRejected, publish
from trainer.synthetic.presets import DEFAULTS, PRESETS, parse_overrides, resolve_params

log = logging.getLogger("trainer")


class UsageError(ValueError):
    """Bad input from the command line or an input file."""


def _source(args) -> DataSource:
    return DataSource.from_dirs(args.data_dir, args.movielens)


def _model_config(args) -> ModelConfig:
    return ModelConfig.from_env(epochs=args.epochs, no_components=args.components, seed=args.seed,
                                max_malformed=args.max_malformed)


def _store(keep: int | None = None) -> WeightStore:
    settings = RedisSettings.from_env()
    client = connect(settings)
    return WeightStore(client, prefix=settings.prefix, keep=keep or ServiceConfig.from_env().keep_versions)


def cmd_generate(args) -> int:
    from trainer.synthetic.generate import generate

    try:
        overrides = parse_overrides(args.set)
    except ValueError as error:
        raise UsageError(str(error)) from None
    try:
        resolve_params(args.preset, **overrides)  # an unknown preset or parameter, before any work
    except TypeError as error:
        raise UsageError(str(error)) from None
    out = Path(args.out) if args.out else Path("data/generated") / args.preset
    summary = generate(args.preset, out, seed=args.seed, progress=log.info, **overrides)
    print(json.dumps(summary, indent=2, default=str))
    return 0


def cmd_train(args) -> int:
    source = _source(args)
    if not source.has_data():
        raise UsageError(f"{source.path}: no {source.kind} data there")
    result = train_and_save(source, _model_config(args), Path(args.model_dir), skip_evaluation=args.skip_evaluation)
    if result.meta["report"]:
        print(format_report(result.meta["report"]))
    print(f"saved model to {args.model_dir} ({result.meta['stats']['items']} items, {result.meta['stats']['users']} known users)")
    return 0


def cmd_evaluate(args) -> int:
    source = _source(args)
    if not source.has_data():
        raise UsageError(f"{source.path}: no {source.kind} data there")
    report = run_evaluation(source, _model_config(args))
    print(format_report(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def cmd_publish(args) -> int:
    saved = artifacts.load(Path(args.model_dir))
    version = publish(saved, _store(args.keep), force=args.force)
    print(f"published {version}")
    return 0


def loadable(store: WeightStore, version: str) -> bool:
    """Whether a replica would load `version`: every chunk's checksum and the bundle's checks."""
    from common.bundle import BundleError, ModelBundle

    try:
        ModelBundle.from_arrays(store.fetch(version)[1])
    except (WeightCacheError, BundleError) as error:
        log.warning("skipping %s: %s", version, error)
        return False
    return True


def cmd_rollback(args) -> int:
    store = _store()
    version = store.rollback(args.to, usable=lambda v: loadable(store, v))
    print(f"current version is now {version}")
    return 0


def cmd_status(args) -> int:
    status = _store().status()
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    print(f"prefix {status['prefix']}: current version {status['current'] or 'none'}")
    for entry in status["versions"]:
        if "error" in entry:
            print(f"  {entry['version']}: {entry['error']}")
            continue
        p10 = entry["metrics"].get("model", {}).get("precision@10")
        marker = "*" if entry["current"] else " "
        p10_text = f"{p10:.4f}" if p10 is not None else "n/a"
        print(f"{marker} {entry['version']}: {entry['bytes'] / 1e6:.1f} MB, precision@10 {p10_text}")
    if status["pending"]:
        print(f"  partial (cleaned by the next publish): {', '.join(status['pending'])}")
    return 0


def read_user_ids(path: Path) -> list[int]:
    users = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            if not text.isdigit():
                raise UsageError(f"{path}:{number}: {text[:40]!r} is not a user id (a non-negative integer)")
            users.append(int(text))
    return users


def cmd_recommend(args) -> int:
    if not 1 <= args.k <= TOP_K:
        raise UsageError(f"-k must be between 1 and {TOP_K}")
    saved = artifacts.load(Path(args.model_dir))
    recommender = Recommender(saved.bundle, k=args.k)
    users = read_user_ids(Path(args.users))
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    try:
        writer = csv.writer(out)
        writer.writerow(["user_id", "rank", "movie_id"])
        for user in users:
            indices, _ = recommender.resolve(user)
            for rank, movie in enumerate(recommender.movie_list(indices[: args.k]), start=1):
                writer.writerow([user, rank, movie])
    finally:
        if out is not sys.stdout:
            out.close()
    if args.out != "-":
        print(f"wrote {len(users)} users x up to {args.k} movies to {args.out}")
    return 0


def cmd_provenance(args) -> int:
    import datetime as dt

    from trainer.provenance import describe, find_served, lineage

    store = _store()
    version = args.version
    if args.request_id or args.user is not None:
        at = dt.datetime.fromisoformat(args.at).replace(tzinfo=dt.timezone.utc).timestamp() if args.at else None
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or "127.0.0.1:9092"
        record = find_served(bootstrap, os.environ.get("SERVED_TOPIC") or "recsys-served", args.request_id, args.user, at)
        if record is None:
            raise UsageError("no such served answer in the records (" + (f"request id {args.request_id}" if args.request_id
                             else f"user {args.user}" + (f" at or before {args.at}" if args.at else "")) + ")")
        when = dt.datetime.fromtimestamp(record["time"], dt.timezone.utc).isoformat(timespec="milliseconds")
        print(f"request {record['request_id'] or '-'} at {when}: user {record['user_id']} ({record['resolved']}) answered "
              f"by {record['version']} on {record['replica']}: {','.join(record['movies'][:5])}, ...")
        version = record["version"]
    version = version or store.current_version()
    if version is None:
        raise UsageError("no version published yet (and no --version given)")
    chain = lineage(store, version)
    if args.json:
        print(json.dumps([{"version": v, **meta} for v, meta in chain], indent=2, default=str))
        return 0
    print(f"{version} and its lineage ({len(chain)} version{'s' if len(chain) != 1 else ''}, newest first):")
    for v, meta in chain:
        print("\n".join(describe(v, meta)))
    return 0


def cmd_online_report(args) -> int:
    from evaluator.checkpoint import read_report
    from evaluator.config import EvaluatorConfig
    from evaluator.report import format_table, plot, write_json

    state_dir = Path(args.state_dir) if args.state_dir else EvaluatorConfig.from_env().state_dir
    report = read_report(state_dir)
    print(format_table(report, args.window))
    if args.json:
        write_json(report, Path(args.json))
        print(f"wrote {args.json}")
    if args.plot:
        plot(report, Path(args.plot))
        print(f"wrote {args.plot}")
    return 0


def cmd_serve(args) -> int:
    from trainer.service import run_forever

    run_forever()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trainer", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    def data_args(p):
        group = p.add_mutually_exclusive_group()
        group.add_argument("--data-dir", default=str(ServiceConfig.data_dir), help="simulator-format data (users.csv, movies.csv, events/*.log)")
        group.add_argument("--movielens", metavar="DIR", help="a MovieLens-100K directory (u.data, u.user, u.item)")
        p.add_argument("--epochs", type=int, help="override TRAIN_EPOCHS")
        p.add_argument("--components", type=int, help="override TRAIN_NO_COMPONENTS")
        p.add_argument("--seed", type=int, help="override TRAIN_SEED")
        p.add_argument("--max-malformed", type=float, metavar="FRACTION",
                       help="stop when more than this share of a file's lines is malformed "
                            "(TRAIN_MAX_MALFORMED, default 0.05)")

    p = commands.add_parser("generate-data", help="write a synthetic data set in the simulator's formats")
    p.add_argument("--preset", default="default", help=f"{', '.join(PRESETS)} (default: default)")
    p.add_argument("--out", help="output directory (default: data/generated/<preset>)")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--set", action="append", default=[], metavar="NAME=VALUE",
                   help=f"override a generator parameter ({', '.join(sorted({**DEFAULTS, **PRESETS['small']}))})")
    p.set_defaults(func=cmd_generate)

    p = commands.add_parser("train", help="evaluate on a held-out split, fit on all data, save the model")
    data_args(p)
    p.add_argument("--model-dir", required=True)
    p.add_argument("--skip-evaluation", action="store_true", help="no held-out evaluation (the gate then refuses to publish without --force)")
    p.set_defaults(func=cmd_train)

    p = commands.add_parser("evaluate", help="print model vs popularity metrics on a held-out split")
    data_args(p)
    p.add_argument("--json", help="also write the report as JSON here")
    p.set_defaults(func=cmd_evaluate)

    p = commands.add_parser("publish", help="publish a saved model into Redis (quality gate applies)")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--force", action="store_true", help="publish even if the quality gate rejects the model")
    p.add_argument("--keep", type=int, help="versions to keep (KEEP_VERSIONS, default 5)")
    p.set_defaults(func=cmd_publish)

    p = commands.add_parser("rollback", help="move the current pointer back to the previous (or a given) version")
    p.add_argument("--to", help="version to serve, e.g. v3")
    p.set_defaults(func=cmd_rollback)

    p = commands.add_parser("status", help="published versions, the current one and their metrics")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = commands.add_parser("recommend", help="write top-k recommendations for a list of users from a saved model")
    p.add_argument("--model-dir", required=True)
    p.add_argument("--users", required=True, help="file with one user id per line")
    p.add_argument("-k", type=int, default=10)
    p.add_argument("--out", default="-", help="CSV file (user_id,rank,movie_id); - for stdout")
    p.set_defaults(func=cmd_recommend)

    p = commands.add_parser("provenance", help="what produced a version (data, code, config, metrics) and its lineage")
    p.add_argument("--version", help="the version (default: the current one)")
    p.add_argument("--request-id", help="the version that answered this request (X-Request-ID), from the served records")
    p.add_argument("--user", type=int, help="the version that answered this user's last request (at or before --at)")
    p.add_argument("--at", help="with --user: a UTC time, e.g. 2026-12-01T10:15:00")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_provenance)

    p = commands.add_parser("online-report", help="each version's quality measured online (the evaluator's report)")
    p.add_argument("--state-dir", help="the evaluator's state directory (default: ONLINE_STATE_DIR, or <DATA_DIR>/online)")
    p.add_argument("--window", choices=("hour", "day", "life", "all"), default="life",
                   help="hour, day, life: settled answers; all: every answer so far, settled or not")
    p.add_argument("--json", metavar="PATH", help="also write the whole report as JSON here")
    p.add_argument("--plot", metavar="PATH", help="also write a PNG of hit rate over time per version here")
    p.set_defaults(func=cmd_online_report)

    p = commands.add_parser("serve", help="service mode: train or reuse, publish, watch for new data")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:  # beside a running `make up`, reach its Redis with no settings (common/stackenv.py)
        os.environ.update({k: v for k, v in stackenv.environ().items() if k not in os.environ})
    except (OSError, ValueError) as error:
        print(f"trainer: {error}", file=sys.stderr)
        return 1
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return args.func(args)
    except (UsageError, GateRejected, RedisUnavailable, WeightCacheError, OSError, ValueError) as error:
        print(f"trainer {args.command}: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
