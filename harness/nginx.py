"""Render the nginx templates the way the official image's entrypoint does, and check them.

The official nginx image runs ``envsubst`` over ``/etc/nginx/templates/*.template``, replacing
only the variables that are defined; nginx's own ``$variables`` stay untouched. This script does
the same for the local stack and the tests (stdlib only), then runs ``nginx -t`` on the result.

    python -m harness.nginx local --run-dir .run --port 8082 \\
        --upstream-port 8101 --upstream-port 8102 --status-port 8089
    python -m harness.nginx template nginx/templates/recsys.conf.template \\
        NGINX_PORT=8082 ... > out.conf

From Python: ``render_local_config(run_dir, port, upstream_ports, status_port)`` returns the
path of the main config (``<run_dir>/nginx/nginx.conf``), to start with ``nginx -c``.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NGINX_DIR = ROOT / "nginx"
RECSYS_TEMPLATE = NGINX_DIR / "templates" / "recsys.conf.template"
LOCAL_MAIN_TEMPLATE = NGINX_DIR / "nginx.local.conf.template"

# What a template may name: envsubst-style upper-case variables. nginx's own are lower-case.
_PLACEHOLDER = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


class NginxConfigError(RuntimeError):
    """A template could not be rendered or nginx -t rejected the result."""


def render(text: str, variables: dict[str, str]) -> str:
    """envsubst with an explicit variable list: ``${NAME}`` and ``$NAME`` for the names given.

    Any ``${UPPER_CASE}`` placeholder left afterwards is an error (the official image would
    leave it in place too, and nginx would then fail with an unknown-variable message).
    """
    for name, value in variables.items():
        if not re.fullmatch(r"[A-Z_][A-Z0-9_]*", name):
            raise NginxConfigError(f"not a template variable name: {name!r}")
        text = text.replace("${" + name + "}", str(value))
        text = re.sub(r"\$" + name + r"(?![A-Za-z0-9_])", lambda _m: str(value), text)
    left = sorted(set(_PLACEHOLDER.findall(text)))
    if left:
        raise NginxConfigError(f"template variables without a value: {', '.join(left)}")
    return text


def render_file(template: Path, variables: dict[str, str]) -> str:
    return render(Path(template).read_text(), variables)


def upstream_servers(ports: list[int], host: str = "127.0.0.1", max_fails: int = 2,
                     fail_timeout: str = "2s") -> str:
    """The ``server ...;`` lines for NGINX_UPSTREAM_SERVERS (one per replica port)."""
    if not ports:
        raise NginxConfigError("at least one upstream port is needed")
    return "\n    ".join(f"server {host}:{int(p)} max_fails={max_fails} fail_timeout={fail_timeout};" for p in ports)


# Overload protection knobs of the template (README "Overload, faults and recovery"), with their
# defaults. NGINX_MAX_INFLIGHT defaults to INFLIGHT_PER_WORKER per gunicorn worker of all replicas
# when those are known (else 128, as compose). A worker (4 threads, at most one core because of the
# GIL) is fully busy with a few requests; the rest wait. 32 waiting at 700-900 req/s per worker is
# 35-45 ms: room for the short stalls of a hot swap (every worker loads the new version at once)
# without shedding, and well inside nginx's 250 ms read timeout under sustained overload, even when
# nginx's own shedding takes a share of the replicas' cores (then 100 ms or so).
INFLIGHT_PER_WORKER = 32
TRAFFIC_LIMITS = {"NGINX_MAX_INFLIGHT": 128, "NGINX_CLIENT_RATE": 1000, "NGINX_CLIENT_BURST": 2000}


def traffic_limits(environ: dict[str, str] | None = None, replicas: int | None = None, workers: int = 1,
                   **overrides: int) -> dict[str, str]:
    """NGINX_MAX_INFLIGHT / NGINX_CLIENT_RATE / NGINX_CLIENT_BURST from the environment (or the
    keyword overrides), each a whole number >= 1; NginxConfigError names a bad one. With
    ``replicas`` (of ``workers`` gunicorn workers each) the in-flight default is
    INFLIGHT_PER_WORKER per worker."""
    env = os.environ if environ is None else environ
    defaults = dict(TRAFFIC_LIMITS)
    if replicas:
        defaults["NGINX_MAX_INFLIGHT"] = INFLIGHT_PER_WORKER * replicas * max(1, workers)
    values = {}
    for name, default in defaults.items():
        raw = overrides.get(name.lower().removeprefix("nginx_"), env.get(name, "") or default)
        try:
            value = int(str(raw).strip())
        except ValueError:
            raise NginxConfigError(f"{name}={raw!r} is not a whole number") from None
        if value < 1:
            raise NginxConfigError(f"{name}={value} must be at least 1")
        values[name] = str(value)
    return values


def nginx_binary() -> str:
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK) else None)
    if not found:
        raise NginxConfigError("nginx not installed: run `make install` (scripts/install-system-deps.sh)")
    return found


def check_config(conf: Path, error_log: Path | None = None, nginx_bin: str | None = None) -> None:
    """``nginx -t`` on a main config; NginxConfigError with nginx's own message when it fails."""
    cmd = [nginx_bin or nginx_binary(), "-t", "-q", "-c", str(conf)]
    if error_log is not None:
        # -e: where nginx logs before it has read error_log from the config (not /var/log).
        cmd += ["-e", str(error_log)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=30)  # nosec B603  # nginx -t, argv built here
    if result.returncode != 0:
        message = (result.stderr or result.stdout).strip()
        raise NginxConfigError(f"nginx -t failed for {conf}:\n{message}")


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def render_local_config(run_dir: Path, port: int, upstream_ports: list[int], status_port: int, *,
                        access_log: str | None = None, resolver: str = "127.0.0.1",
                        limits: dict[str, str] | None = None, workers: int = 1,
                        validate: bool = True, nginx_bin: str | None = None) -> Path:
    """Render both templates into ``<run_dir>/nginx/`` and return the main config path.

    Creates ``<run_dir>/logs`` and ``<run_dir>/nginx-tmp``. The access log defaults to
    ``<run_dir>/logs/nginx-access.log``. With ``validate`` (default) the result is checked
    with ``nginx -t``; when that fails the previous files are put back and NginxConfigError
    is raised, so a running nginx never gets reloaded onto a broken config. ``limits``: the
    overload knobs (``traffic_limits()``), read from the environment when not given (``workers``:
    gunicorn workers per replica, for the in-flight default).
    """
    run_dir = Path(run_dir).resolve()
    nginx_dir = run_dir / "nginx"
    logs_dir = run_dir / "logs"
    for d in (nginx_dir, logs_dir, run_dir / "nginx-tmp"):
        d.mkdir(parents=True, exist_ok=True)

    recsys = render_file(RECSYS_TEMPLATE, {
        "NGINX_PORT": str(int(port)),
        "NGINX_UPSTREAM_SERVERS": upstream_servers(list(upstream_ports)),
        "NGINX_LOCAL_RESOLVERS": resolver,
        "NGINX_STATUS_PORT": str(int(status_port)),
        "NGINX_ACCESS_LOG": access_log or str(logs_dir / "nginx-access.log"),
        **(limits if limits is not None else traffic_limits(replicas=len(upstream_ports), workers=workers)),
    })
    main = render_file(LOCAL_MAIN_TEMPLATE, {"RUN_DIR": str(run_dir)})

    recsys_path = nginx_dir / "recsys.conf"
    main_path = nginx_dir / "nginx.conf"
    previous = {p: p.read_text() for p in (recsys_path, main_path) if p.exists()}
    _write_atomic(recsys_path, recsys)
    _write_atomic(main_path, main)
    if validate:
        try:
            check_config(main_path, error_log=logs_dir / "nginx-error.log", nginx_bin=nginx_bin)
        except NginxConfigError:
            for p in (recsys_path, main_path):
                if p in previous:
                    _write_atomic(p, previous[p])
                else:
                    p.unlink(missing_ok=True)
            raise
    return main_path


def _main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    local = sub.add_parser("local", help="render the local main config + recsys.conf into RUN_DIR/nginx and nginx -t")
    local.add_argument("--run-dir", type=Path, default=ROOT / ".run")
    local.add_argument("--port", type=int, default=int(os.environ.get("PORT", 8082)))
    local.add_argument("--upstream-port", type=int, action="append", dest="upstream_ports",
                       help="a replica port on 127.0.0.1 (repeat; default 8101 8102)")
    local.add_argument("--status-port", type=int, default=int(os.environ.get("NGINX_STATUS_PORT", 8089)))
    local.add_argument("--access-log", default=None, help="default RUN_DIR/logs/nginx-access.log")
    local.add_argument("--no-validate", action="store_true", help="skip nginx -t")

    tpl = sub.add_parser("template", help="render one template to stdout with NAME=VALUE pairs (like envsubst)")
    tpl.add_argument("template", type=Path)
    tpl.add_argument("assignments", nargs="*", metavar="NAME=VALUE")

    args = parser.parse_args(argv)
    try:
        if args.command == "local":
            conf = render_local_config(args.run_dir, args.port, args.upstream_ports or [8101, 8102],
                                       args.status_port, access_log=args.access_log,
                                       validate=not args.no_validate)
            print(conf)
        else:
            variables = {}
            for item in args.assignments:
                name, sep, value = item.partition("=")
                if not sep:
                    parser.error(f"expected NAME=VALUE, got {item!r}")
                variables[name] = value
            sys.stdout.write(render_file(args.template, variables))
    except NginxConfigError as error:
        print(f"harness.nginx: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(_main())
