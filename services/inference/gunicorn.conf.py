"""gunicorn settings for one inference replica (override with env or command-line flags).

Workers do not preload the app: each starts its own watcher thread after fork. The big arrays
are shared anyway, because every worker maps the same .npy files from MODEL_CACHE_DIR (tmpfs), and
that stays true after a hot swap, which preloading could not give.
"""

import ctypes
import multiprocessing
import os
import shutil
import signal
import socket

bind = os.environ.get("INFERENCE_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count()))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
keepalive = 30          # longer than nginx's upstream keepalive_timeout, so nginx closes first
timeout = 30
graceful_timeout = 10
backlog = 256
accesslog = None        # nginx keeps the access log
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info")
limit_request_line = 1024
limit_request_fields = 50
limit_request_field_size = 4096
control_socket_disable = True  # replicas on one host would otherwise share ~/.gunicorn/gunicorn.ctl


def on_starting(server):
    """Before the workers fork: the directories they share, exported through the environment.
    PROMETHEUS_MULTIPROC_DIR must be empty at start; MODEL_CACHE_DIR belongs to inference/cachedir.py
    (checked if set, else a fresh one in tmpfs), which also removes both kinds when the master exits
    and those of masters killed with SIGKILL."""
    from inference import cachedir

    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        shutil.rmtree(metrics_dir, ignore_errors=True)
        os.makedirs(metrics_dir, exist_ok=True)
    else:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(cachedir.fresh("recsys-metrics-"))
    cachedir.export_for_workers(os.environ)


def post_fork(server, worker):
    """A worker dies with its master: after a `kill -9` of the master, an orphaned worker would
    keep the listening socket (and a restarted master could not bind it) while it drains."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # not Linux
        return
    if os.getppid() != server.pid:  # the master died before prctl took effect
        os._exit(1)


def _cork(req, on: int) -> None:
    sock = getattr(getattr(req, "unreader", None), "sock", None)
    if sock is not None and hasattr(socket, "TCP_CORK"):
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, on)
        except OSError:  # the client is gone; gunicorn handles that
            pass


def pre_request(worker, req):
    """Cork the connection for the response (uncorked in post_request), so that the status line and
    headers leave together with the body: gunicorn sends them with two calls, and a worker that is
    descheduled between the two (a starved core under overload) left nginx holding headers without
    a body past its 250 ms read timeout. nginx cannot retry a response it has begun to read: it drops
    the client's connection. (Linux sends corked data after 200 ms at the latest.)"""
    _cork(req, 1)


def post_request(worker, req, environ, resp):
    _cork(req, 0)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    from inference import cachedir

    cachedir.remove_created()
