"""gunicorn settings for one inference replica (override with env or command-line flags).

Workers do not preload the app: each starts its own watcher thread after fork. The big arrays
are shared anyway, because every worker maps the same .npy files from MODEL_CACHE_DIR (tmpfs), and
that stays true after a hot swap, which preloading could not give.
"""

import multiprocessing
import os
import shutil
import tempfile

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

_created_dirs = []


def _private_dir(variable: str, prefix: str) -> None:
    """Use $variable if set (emptied), else a fresh directory, in tmpfs when there is one."""
    path = os.environ.get(variable)
    if path:
        if variable == "PROMETHEUS_MULTIPROC_DIR":
            shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path, exist_ok=True)
        return
    base = "/dev/shm" if os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK) else None
    path = tempfile.mkdtemp(prefix=prefix, dir=base)
    os.environ[variable] = path
    _created_dirs.append(path)


def on_starting(server):
    _private_dir("PROMETHEUS_MULTIPROC_DIR", "recsys-metrics-")
    _private_dir("MODEL_CACHE_DIR", "recsys-models-")


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    for path in _created_dirs:
        shutil.rmtree(path, ignore_errors=True)
