#!/usr/bin/env python3
"""The whole service on this machine without Docker, supervised by supervisord.

    python scripts/localstack.py up | down | status | logs      (make up / down / status / logs)

Programs (each with autorestart, stopped as a process group):
    redis         redis-server on 127.0.0.1:$REDIS_PORT, password, append-only file in .run/redis
    trainer       .venv/bin/trainer serve  (generates data, trains or reuses, publishes, retrains)
    inference-N   gunicorn on 127.0.0.1:$INFERENCE_BASE_PORT+N, N = 1..$REPLICAS
    nginx         nginx in the foreground on $PORT, in front of the replicas

Everything at run time lives in .run/ (git-ignored): supervisord.conf, supervisor.sock,
logs/*.log (one file per program, plus supervisord's and nginx's own), redis/, nginx/, models/,
redis.password and redis-admin.password (random on the first `up`, mode 0600, reused;
REDIS_PASSWORD / REDIS_ADMIN_PASSWORD override). Redis gets the users of redis/users.acl: the
trainer and the replicas log in as `recsys` (keys and channels under WEIGHTS_PREFIX only, no
dangerous command), operators as `admin`
(`REDISCLI_AUTH=$(cat .run/redis-admin.password) redis-cli -p 6390 --user admin`).

Environment: PORT (8082), REPLICAS (2), REDIS_PORT (6390), DATA_PRESET (default),
INFERENCE_BASE_PORT (8100), NGINX_STATUS_PORT (8089), UP_TIMEOUT (180 s), LINES (logs, 50),
STACK_RUN_DIR (.run), STACK_DATA_DIR (data/generated), NGINX_MAX_INFLIGHT / NGINX_CLIENT_RATE /
NGINX_CLIENT_BURST (nginx's overload limits, scripts/render_nginx.py),
REDIS_PASSWORD, REDIS_ADMIN_PASSWORD. The trainer's and the replicas' own settings (TRAIN_*, INFERENCE_*, GUNICORN_*,
FORCE_PUBLISH, RETRAIN_INTERVAL, MODEL_POLL_INTERVAL, USER_API_URL, WEB_CONCURRENCY, ... see
PASSTHROUGH_* below) are handed to the programs as they are.

`up` is idempotent: while the stack runs it rewrites the configuration and applies only what
changed (`supervisorctl update` adds or removes replicas, nginx is reloaded with the new
upstream list), then waits for readiness again. Stdlib only; shells out to .venv/bin/supervisord
and supervisorctl.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import render_nginx  # noqa: E402  (scripts/render_nginx.py)
import redis_acl  # noqa: E402  (scripts/redis_acl.py: redis/users.acl rendered)

ROOT = Path(__file__).resolve().parents[1]
# STACK_RUN_DIR / STACK_DATA_DIR: another run dir and generated-data dir (the tests run whole stacks
# of their own this way, next to a developer's `make up`).
RUN = Path(os.environ.get("STACK_RUN_DIR") or ROOT / ".run").resolve()
DATA_ROOT = Path(os.environ.get("STACK_DATA_DIR") or ROOT / "data" / "generated").resolve()
LOGS = RUN / "logs"
BIN = ROOT / ".venv" / "bin"
SUPERVISORD_CONF = RUN / "supervisord.conf"
SUPERVISORD_PID = RUN / "supervisord.pid"
SESSION_FILE = RUN / "stack.sid"
PASSWORD_FILE = RUN / "redis.password"
REDIS_CONF = RUN / "redis" / "redis.conf"
STATE_FILE = RUN / "stack.json"  # the settings of the last `up`, for status

# Knobs of the trainer (services/trainer/config.py) and the replicas (services/inference/config.py,
# gunicorn.conf.py) handed through from the caller's environment to every program.
PASSTHROUGH_PREFIXES = ("TRAIN_", "TRAINER_", "INFERENCE_", "GUNICORN_")
PASSTHROUGH_NAMES = ("WEIGHTS_PREFIX", "LOG_LEVEL", "WEB_CONCURRENCY", "RETRAIN_INTERVAL", "KEEP_VERSIONS",
                     "FORCE_PUBLISH", "MOVIELENS_DIR", "MODEL_POLL_INTERVAL", "MODEL_CACHE_DIR",
                     "USER_API_URL", "USER_API_TIMEOUT", "USER_CACHE_TTL")
NOT_PASSED = {"INFERENCE_BASE_PORT", "INFERENCE_REPLICA_NAME"}
PASSWORD_CHARS = re.compile(r"[A-Za-z0-9._~+=/:@-]{8,256}")

# No proxy for our own loopback requests, whatever http_proxy says.
_HTTP = urllib.request.build_opener(urllib.request.ProxyHandler({}))


class StackError(RuntimeError):
    pass


def say(message: str = "") -> None:
    print(message, flush=True)


def shown(path: Path) -> Path:
    """A path as the user would type it: relative to the checkout when inside it."""
    return path.relative_to(ROOT) if path.is_relative_to(ROOT) else path


# --------------------------------------------------------------------------- settings

def _int_env(name: str, default: int, low: int = 1, high: int = 65535) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise StackError(f"{name}={raw!r} is not a number") from None
    if not low <= value <= high:
        raise StackError(f"{name}={value} is outside {low}..{high}")
    return value


@dataclass(frozen=True)
class Settings:
    port: int
    replicas: int
    redis_port: int
    data_preset: str
    inference_base_port: int
    status_port: int
    up_timeout: int

    @classmethod
    def from_env(cls) -> "Settings":
        preset = os.environ.get("DATA_PRESET", "").strip() or "default"
        if not re.fullmatch(r"[A-Za-z0-9._-]+", preset):
            raise StackError(f"DATA_PRESET={preset!r}: use letters, digits, '.', '_' or '-'")
        s = cls(
            port=_int_env("PORT", 8082),
            replicas=_int_env("REPLICAS", 2, 1, 64),
            redis_port=_int_env("REDIS_PORT", 6390),
            data_preset=preset,
            inference_base_port=_int_env("INFERENCE_BASE_PORT", 8100, 1, 65535 - 64),
            status_port=_int_env("NGINX_STATUS_PORT", 8089),
            up_timeout=_int_env("UP_TIMEOUT", 180, 1, 24 * 3600),
        )
        named = {"PORT": s.port, "REDIS_PORT": s.redis_port, "NGINX_STATUS_PORT": s.status_port}
        named.update({f"inference-{n}": p for n, p in enumerate(s.replica_ports, 1)})
        seen: dict[int, str] = {}
        for name, port in named.items():
            if port in seen:
                raise StackError(f"port {port} is used twice ({seen[port]} and {name}); "
                                 f"change PORT, REDIS_PORT, NGINX_STATUS_PORT or INFERENCE_BASE_PORT")
            seen[port] = name
        return s

    @classmethod
    def of_running_stack(cls) -> "Settings":
        """The settings the stack was last brought up with (falls back to the environment)."""
        try:
            return cls(**json.loads(STATE_FILE.read_text()))
        except (OSError, ValueError, TypeError):
            return cls.from_env()

    def save(self) -> None:
        STATE_FILE.write_text(json.dumps(self.__dict__, indent=1) + "\n")

    @property
    def replica_ports(self) -> list[int]:
        return [self.inference_base_port + n for n in range(1, self.replicas + 1)]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


# --------------------------------------------------------------------------- secrets and config files

def redis_password() -> str:
    """The services' password (user `recsys`): REDIS_PASSWORD if set, else .run/redis.password."""
    return _generated_password("REDIS_PASSWORD", PASSWORD_FILE)


def redis_admin_password() -> str:
    """The operators' password (user `admin`): REDIS_ADMIN_PASSWORD if set, else .run/redis-admin.password."""
    return _generated_password("REDIS_ADMIN_PASSWORD", PASSWORD_FILE.with_name("redis-admin.password"))


def _generated_password(variable: str, path: Path) -> str:
    """`variable` if set, else the password in `path` (created once, random, mode 0600)."""
    override = os.environ.get(variable, "")
    if override:
        if not PASSWORD_CHARS.fullmatch(override):
            raise StackError(f"{variable} must be 8-256 characters of letters, digits and ._~+=/:@-")
        return override
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        os.chmod(path, 0o600)
        password = path.read_text().strip()
        if not PASSWORD_CHARS.fullmatch(password):
            raise StackError(f"{path} does not hold a usable password; delete it to get a new one")
        return password
    password = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as f:
        f.write(password + "\n")
    return password


def weights_prefix() -> str:
    try:
        return redis_acl.check_prefix(os.environ.get("WEIGHTS_PREFIX") or "recsys")
    except redis_acl.AclError as error:
        raise StackError(str(error)) from None


def write_private(path: Path, text: str) -> bool:
    """Write a 0600 file atomically; True when the content changed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    old = path.read_text() if path.exists() else None
    if old == text:
        os.chmod(path, 0o600)
        return False
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


def redis_config(s: Settings, password: str) -> str:
    data = RUN / "redis"
    users = redis_acl.render_users(password, redis_admin_password(), [weights_prefix()])
    return f"""# Written by scripts/localstack.py on every `make up`; edits are overwritten.
bind 127.0.0.1
protected-mode yes
port {s.redis_port}
# Users of redis/users.acl (passwords as SHA-256: .run/redis.password, .run/redis-admin.password)
{users.rstrip()}
daemonize no
supervised no
pidfile "{data / 'redis.pid'}"
logfile ""
dir "{data}"
appendonly yes
appendfsync everysec
save 3600 1 300 100 60 10000
"""


def _sv_value(value: str) -> str:
    """A value for supervisord's environment= (its lexer cannot escape quotes)."""
    if "\n" in value or "\r" in value:
        raise StackError(f"environment value with a newline: {value[:40]!r}")
    quote = '"' if '"' not in value else "'"
    if quote in value:
        raise StackError(f"environment value with both quote characters: {value[:40]!r}")
    return (quote + value + quote).replace("%", "%%")


def _sv_environment(env: dict[str, str]) -> str:
    # supervisord keeps the quotes of a 2-character value: leave empty values out.
    return ",".join(f"{k}={_sv_value(v)}" for k, v in env.items() if v != "")


def _sv_command(argv: list[str]) -> str:
    return shlex.join(argv).replace("%", "%%")


def _passthrough_env() -> dict[str, str]:
    return {k: v for k, v in sorted(os.environ.items())
            if (k.startswith(PASSTHROUGH_PREFIXES) or k in PASSTHROUGH_NAMES) and k not in NOT_PASSED and v}


def _socket_path() -> Path:
    path = RUN / "supervisor.sock"
    if len(str(path)) < 100:  # AF_UNIX path limit is 108 bytes
        return path
    import hashlib
    return Path("/tmp") / f"recsys-supervisor-{hashlib.sha1(str(RUN).encode(), usedforsecurity=False).hexdigest()[:12]}.sock"  # nosec B108  # only when .run/ is too long for AF_UNIX; socket mode 0700


def supervisor_config(s: Settings, password: str) -> str:
    sock = _socket_path()
    redis_env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(s.redis_port),
                 "REDIS_USERNAME": redis_acl.SERVICE_USER, "REDIS_PASSWORD": password,
                 "PYTHONUNBUFFERED": "1", **_passthrough_env()}
    common = """directory={root}
autostart=true
autorestart=true
startretries=10
stopasgroup=true
killasgroup=true
redirect_stderr=true
stdout_logfile={logs}/{name}.log
stdout_logfile_maxbytes=20MB
stdout_logfile_backups=2
"""

    def program(name: str, argv: list[str], priority: int, startsecs: int, stopwaitsecs: int,
                env: dict[str, str] | None = None, stopsignal: str = "TERM") -> str:
        text = (f"[program:{name}]\ncommand={_sv_command(argv)}\npriority={priority}\nstartsecs={startsecs}\n"
                f"stopsignal={stopsignal}\nstopwaitsecs={stopwaitsecs}\n")
        text += common.format(root=ROOT, logs=LOGS, name=name)
        if env:
            text += f"environment={_sv_environment(env)}\n"
        return text + "\n"

    out = f"""; Written by scripts/localstack.py on every `make up` (mode 0600: holds the Redis password).
[unix_http_server]
file={sock}
chmod=0700

[supervisord]
logfile={LOGS}/supervisord.log
logfile_maxbytes=10MB
logfile_backups=2
loglevel=info
pidfile={SUPERVISORD_PID}
childlogdir={LOGS}
directory={ROOT}
identifier=recsys-local
nodaemon=false
umask=022

[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface

[supervisorctl]
serverurl=unix://{sock}

"""
    out += program("redis", [redis_binary(), str(REDIS_CONF)], 10, 1, 20)
    out += program("trainer", [str(BIN / "trainer"), "serve"], 20, 3, 30, {
        **redis_env,
        "DATA_PRESET": s.data_preset,
        "DATA_DIR": str(DATA_ROOT / s.data_preset),
        "MODEL_DIR": str(RUN / "models" / s.data_preset),
    })
    # As many worker processes in all as cores (a worker is one core at most, because of the GIL):
    # more only compete for them (loadtests/results/findings.md). WEB_CONCURRENCY overrides.
    workers = str(workers_per_replica(s))
    for n, port in enumerate(s.replica_ports, 1):
        out += program(f"inference-{n}", [
            str(BIN / "gunicorn"), "-c", "services/inference/gunicorn.conf.py",
            "--bind", f"127.0.0.1:{port}", "inference.app:create_app()",
        ], 30, 1, 20, {**redis_env, "INFERENCE_REPLICA_NAME": f"inference-{n}", "WEB_CONCURRENCY": workers})
    out += program("nginx", [render_nginx.nginx_binary(), "-c", str(RUN / "nginx" / "nginx.conf"),
                             "-e", str(LOGS / "nginx-error.log")], 40, 1, 10, stopsignal="QUIT")
    return out


def workers_per_replica(s: Settings) -> int:
    """WEB_CONCURRENCY, else as many worker processes in all as cores."""
    raw = os.environ.get("WEB_CONCURRENCY", "").strip()
    return _int_env("WEB_CONCURRENCY", 1, 1, 256) if raw else max(1, (os.cpu_count() or 1) // max(1, len(s.replica_ports)))


def redis_binary() -> str:
    for candidate in ("/usr/bin/redis-server", "/usr/local/bin/redis-server"):
        if os.access(candidate, os.X_OK):
            return candidate
    from shutil import which
    found = which("redis-server")
    if not found:
        raise StackError("redis-server not installed: run `make install` (scripts/install-system-deps.sh)")
    return found


# --------------------------------------------------------------------------- processes

def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return ""


def supervisord_pid() -> int | None:
    """The pid of this checkout's supervisord, if it runs."""
    pid = _read_int(SUPERVISORD_PID)
    if pid and "supervisord" in _cmdline(pid) and str(SUPERVISORD_CONF) in _cmdline(pid):
        return pid
    return None


def stack_processes() -> list[int]:
    """Every live process of our supervisord's session (supervisord itself, its programs and their
    children, even after supervisord died): same session id AND working directory in this checkout."""
    sid = _read_int(SESSION_FILE)
    if not sid:
        return []
    # Linux does not hand out a pid while it is still some process's session id: if pid `sid`
    # runs and is not our supervisord, that number was reused by somebody else's session.
    leader = _cmdline(sid)
    if leader and not ("supervisord" in leader and str(SUPERVISORD_CONF) in leader):
        return []
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        pid = int(entry.name)
        try:
            if os.getsid(pid) != sid:
                continue
            stat = (entry / "stat").read_text()
            if stat.rsplit(")", 1)[1].split()[0] == "Z":
                continue
            cwd = os.readlink(entry / "cwd")
        except (OSError, IndexError):
            continue
        if cwd == str(ROOT) or cwd.startswith(str(ROOT) + os.sep):
            found.append(pid)
    return sorted(found)


def _describe(pids: list[int]) -> str:
    return ", ".join(f"{pid} ({_cmdline(pid)[:60] or '?'})" for pid in pids)


def terminate(pids: list[int], grace: float = 10.0) -> list[int]:
    """SIGTERM the given processes, SIGKILL what is left after `grace` seconds; returns survivors."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + grace
    alive = list(pids)
    while time.monotonic() < deadline:
        alive = [p for p in pids if p in set(stack_processes())]
        if not alive:
            return []
        time.sleep(0.2)
    for pid in alive:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    time.sleep(0.5)
    return [p for p in pids if p in set(stack_processes())]


def ctl(*args: str, check: bool = False, timeout: float = 120) -> subprocess.CompletedProcess:
    result = subprocess.run([str(BIN / "supervisorctl"), "-c", str(SUPERVISORD_CONF), *args],  # nosec B603  # the venv's supervisorctl
                            capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and result.returncode != 0:
        raise StackError(f"supervisorctl {' '.join(args)} failed: {(result.stdout + result.stderr).strip()}")
    return result


def program_states() -> dict[str, tuple[str, str]]:
    """{name: (STATE, details)} from `supervisorctl status`."""
    states = {}
    for line in ctl("status").stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) >= 2 and parts[1].isupper():
            states[parts[0]] = (parts[1], parts[2] if len(parts) > 2 else "")
    return states


def port_in_use(port: int, host: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def http_get_full(url: str, timeout: float = 2.0) -> tuple[int, str, dict[str, str]]:
    """(status, body, headers); status 0 with the error text when there is no HTTP answer."""
    try:
        with _HTTP.open(url, timeout=timeout) as resp:
            return resp.status, resp.read(4096).decode(errors="replace"), dict(resp.headers.items())
    except urllib.error.HTTPError as error:
        return error.code, error.read(4096).decode(errors="replace"), dict(error.headers.items())
    except (OSError, urllib.error.URLError) as error:
        reason = getattr(error, "reason", error)
        return 0, f"{reason.__class__.__name__}: {reason}", {}


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    status, body, _ = http_get_full(url, timeout)
    return status, body


def model_version(status: int, body: str, headers: dict[str, str]) -> str | None:
    """The model version from a /readyz answer: X-Model-Version, a JSON field, or the text."""
    if status != 200:
        return None
    for name, value in headers.items():
        if name.lower() == "x-model-version" and value:
            return value
    try:
        doc = json.loads(body)
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        found = next((doc[k] for k in ("version", "model_version") if k in doc), None)
        return None if found is None else str(found)
    first = body.strip().splitlines()[0] if body.strip() else ""
    return first[:80] or None


# --------------------------------------------------------------------------- logs

def tail(path: Path, lines: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            block, data = 8192, b""
            while size > 0 and data.count(b"\n") <= lines:
                step = min(block, size)
                size -= step
                f.seek(size)
                data = f.read(step) + data
    except OSError:
        return []
    return data.decode(errors="replace").splitlines()[-lines:]


def _last_line_since(path: Path, offset: int) -> str:
    """The last non-empty line written to `path` after byte `offset` ('' if none)."""
    try:
        with open(path, "rb") as f:
            size = f.seek(0, os.SEEK_END)
            if size < offset:  # rotated
                offset = 0
            f.seek(max(offset, size - 8192))
            data = f.read().decode(errors="replace")
    except OSError:
        return ""
    return next((ln for ln in reversed(data.splitlines()) if ln.strip()), "")


def log_files() -> list[Path]:
    return sorted(LOGS.glob("*.log")) if LOGS.is_dir() else []


def print_tails(names: list[str], lines: int = 20) -> None:
    for name in names:
        path = LOGS / f"{name}.log"
        if not path.exists():
            continue
        say(f"==> {shown(path)} (last {lines} lines) <==")
        for line in tail(path, lines):
            say("    " + line)


# --------------------------------------------------------------------------- commands

def write_configs(s: Settings) -> dict[str, bool]:
    for d in (RUN, LOGS, RUN / "redis", RUN / "nginx", RUN / "models"):
        d.mkdir(parents=True, exist_ok=True)
    password = redis_password()
    nginx_conf = RUN / "nginx" / "nginx.conf"
    recsys_conf = RUN / "nginx" / "recsys.conf"
    before = {p: p.read_text() if p.exists() else None for p in (nginx_conf, recsys_conf)}
    render_nginx.render_local_config(RUN, s.port, s.replica_ports, s.status_port, workers=workers_per_replica(s))
    nginx_changed = any((p.read_text() if p.exists() else None) != text for p, text in before.items())
    return {
        "redis": write_private(REDIS_CONF, redis_config(s, password)),
        "nginx": nginx_changed,
        "supervisord": write_private(SUPERVISORD_CONF, supervisor_config(s, password)),
    }


def _programs_in(conf_text: str) -> set[str]:
    return set(re.findall(r"^\[program:([^\]]+)\]", conf_text, re.M))


def start_supervisord(s: Settings) -> None:
    leftovers = stack_processes()
    if leftovers:
        say(f"stopping leftovers of an earlier run: {_describe(leftovers)}")
        survivors = terminate(leftovers)
        if survivors:
            raise StackError(f"could not stop {_describe(survivors)}")
    busy = [f"{name} {port}" for name, port, host in
            [("PORT", s.port, "0.0.0.0"), ("NGINX_STATUS_PORT", s.status_port, "127.0.0.1"),  # nosec B104  # probe only: is nginx's port free
             ("REDIS_PORT", s.redis_port, "127.0.0.1")]
            + [(f"inference-{n}", p, "127.0.0.1") for n, p in enumerate(s.replica_ports, 1)]
            if port_in_use(port, host)]
    if busy:
        raise StackError(f"ports already in use by another program: {', '.join(busy)} "
                         f"(set PORT / NGINX_STATUS_PORT / REDIS_PORT / INFERENCE_BASE_PORT, or stop it)")
    env = {
        "PATH": f"{BIN}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "LANG": os.environ.get("LANG", "C.UTF-8"),
    }
    for name in ("TZ", "TMPDIR", "LC_ALL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    SUPERVISORD_PID.unlink(missing_ok=True)
    result = subprocess.run([str(BIN / "supervisord"), "-c", str(SUPERVISORD_CONF)], env=env, cwd=ROOT,  # nosec B603  # the venv's supervisord
                            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise StackError(f"supervisord did not start: {(result.stdout + result.stderr).strip()}")
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pid = supervisord_pid()
        if pid and ctl("pid").returncode == 0:
            SESSION_FILE.write_text(f"{os.getsid(pid)}\n")
            say(f"supervisord started (pid {pid}, config {shown(SUPERVISORD_CONF)})")
            return
        time.sleep(0.2)
    print_tails(["supervisord"])
    raise StackError("supervisord did not come up within 15 s")


def apply_changes(s: Settings, changed: dict[str, bool], old_conf: str) -> None:
    new_programs = _programs_in(SUPERVISORD_CONF.read_text())
    removed = _programs_in(old_conf) - new_programs
    if changed["nginx"] and removed:
        ctl("signal", "HUP", "nginx")  # stop routing to replicas before they go away
    if changed["redis"]:
        say("redis configuration changed: restarting redis")
        ctl("restart", "redis", check=True)
    if changed["supervisord"]:
        out = ctl("update", check=True).stdout.strip()
        say("supervisorctl update: " + ("; ".join(out.splitlines()) or "nothing to do"))
    if changed["nginx"]:
        ctl("signal", "HUP", "nginx", check=True)
        say(f"nginx reloaded: upstream 127.0.0.1:{{{','.join(map(str, s.replica_ports))}}}")


def wait_ready(s: Settings) -> bool:
    url = f"{s.base_url}/recommend/1"
    started = time.monotonic()
    deadline = started + s.up_timeout
    next_report = started
    trainer_log = LOGS / "trainer.log"
    trainer_offset = trainer_log.stat().st_size if trainer_log.exists() else 0
    while True:
        status, body = http_get(url)
        elapsed = time.monotonic() - started
        if status == 200:
            say(f"ready after {elapsed:.0f}s")
            say(f"  curl -s {url}")
            say(f"  -> {body.strip()[:300]}")
            return True
        states = program_states()
        fatal = [n for n, (state, _) in states.items() if state == "FATAL"]
        if fatal:
            say(f"gave up: {', '.join(fatal)} could not be started (FATAL)")
            return False
        if time.monotonic() >= deadline:
            say(f"not ready after {s.up_timeout}s (GET {url} -> {status or body})")
            return False
        if time.monotonic() >= next_report:
            summary = " ".join(f"{n}={st}" for n, (st, _) in states.items())
            trainer_line = _last_line_since(trainer_log, trainer_offset)
            say(f"[{elapsed:4.0f}s] waiting for GET /recommend/1 -> 200 (now {status or body[:60]}); {summary}")
            if trainer_line:
                say(f"        trainer: {trainer_line.strip()[:140]}")
            next_report = time.monotonic() + 5
        time.sleep(1)


def cmd_up() -> int:
    s = Settings.from_env()
    for tool in ("supervisord", "supervisorctl"):
        if not (BIN / tool).exists():
            raise StackError(f"{BIN / tool} missing: run `make install`")
    old_conf = SUPERVISORD_CONF.read_text() if SUPERVISORD_CONF.exists() else ""
    running = supervisord_pid() is not None
    changed = write_configs(s)
    s.save()
    if running:
        if any(changed.values()):
            say("stack already running; applying changed configuration: "
                + ", ".join(k for k, v in changed.items() if v))
            apply_changes(s, changed, old_conf)
        else:
            say("stack already running; configuration unchanged")
    else:
        start_supervisord(s)
    say(f"replicas: {s.replicas} on 127.0.0.1:{','.join(map(str, s.replica_ports))}, nginx on :{s.port}, "
        f"redis on 127.0.0.1:{s.redis_port}")
    ready = wait_ready(s)
    say(ctl("status").stdout.rstrip())
    if not ready:
        not_running = [n for n, (state, _) in program_states().items() if state != "RUNNING"]
        names = ["trainer", *not_running, *(f"inference-{n}" for n in range(1, s.replicas + 1)), "nginx-error"]
        print_tails(list(dict.fromkeys(names)), lines=20)
        say("the stack is left running for inspection: `make logs`, `make status`, `make down`")
        return 1
    say(f"logs: {shown(LOGS)}/*.log (make logs); status: make status; stop: make down")
    return 0


def cmd_down() -> int:
    pid = supervisord_pid()
    if pid is None:
        leftovers = stack_processes()
        if not leftovers:
            say("stack not running")
            return 0
        say(f"supervisord is gone but these are left: {_describe(leftovers)}; stopping them")
        survivors = terminate(leftovers)
    else:
        say(f"stopping supervisord (pid {pid}) and its programs")
        result = ctl("shutdown")
        if result.returncode != 0:
            say(f"supervisorctl shutdown: {(result.stdout + result.stderr).strip()}; sending SIGTERM")
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 90  # the programs' stopwaitsecs are at most 30 s
        next_report = time.monotonic() + 5
        while stack_processes() and time.monotonic() < deadline:
            if time.monotonic() >= next_report:
                say(f"  still stopping: {_describe(stack_processes())}")
                next_report += 5
            time.sleep(0.2)
        survivors = terminate(stack_processes()) if stack_processes() else []
    if survivors:
        say(f"could not stop: {_describe(survivors)}")
        return 1
    say("stopped")
    return 0


def cmd_status() -> int:
    s = Settings.of_running_stack()
    if supervisord_pid() is None:
        leftovers = stack_processes()
        say("stack not running" + (f" (leftover processes: {_describe(leftovers)}; run `make down`)" if leftovers else ""))
        return 0
    say(ctl("status").stdout.rstrip())
    status, body, headers = http_get_full(f"{s.base_url}/readyz")
    version = model_version(status, body, headers)
    if version is not None:
        say(f"GET {s.base_url}/readyz -> {status}, model version {version}")
    else:
        say(f"GET {s.base_url}/readyz -> {status or ''} {body.strip()[:200]}")
    for n, port in enumerate(s.replica_ports, 1):
        rstatus, rbody, rheaders = http_get_full(f"http://127.0.0.1:{port}/readyz", timeout=1)
        rversion = model_version(rstatus, rbody, rheaders)
        detail = f"version {rversion}" if rversion is not None else rbody.strip()[:120]
        say(f"  inference-{n} 127.0.0.1:{port}/readyz -> {rstatus or ''} {detail}")
    sstatus, sbody = http_get(f"http://127.0.0.1:{s.status_port}/nginx_status", timeout=1)
    if sstatus == 200:
        say("nginx: " + " | ".join(line.strip() for line in sbody.strip().splitlines()))
    return 0


def cmd_logs() -> int:
    lines = _int_env("LINES", 50, 1, 100000)
    files = log_files()
    if not files:
        say(f"no logs in {LOGS}")
        return 0
    for path in files:
        say(f"==> {shown(path)} <==")
        for line in tail(path, lines):
            say(line)
        say()
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = {"up": cmd_up, "down": cmd_down, "status": cmd_status, "logs": cmd_logs}
    if len(argv) != 1 or argv[0] not in commands:
        print(f"usage: {Path(sys.argv[0]).name} {{{'|'.join(commands)}}}", file=sys.stderr)
        return 2
    try:
        return commands[argv[0]]()
    except (StackError, render_nginx.NginxConfigError) as error:
        print(f"localstack: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # `make logs | head`
        sys.stdout = open(os.devnull, "w")
        return 0
    except KeyboardInterrupt:
        print("localstack: interrupted (the stack keeps running; `make down` stops it)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
