"""The container engine: `docker compose` where a Docker engine answers, else podman-compose
(prepared by ../shared/container-rig/setup-container-rig), and the commands the suite runs with it.

Every compose command names the project, compose.yaml, the suite's override file and an env file
holding only values of compose.yaml's own variables (`Settings.compose_values`); those variables
(and COMPOSE_PROFILES) are removed from the commands' environment, so an exported DATA_PRESET or
WEIGHTS_PREFIX (or a compose/.env) cannot change what the suite runs. Services behind a profile
(the simulator's `sim`) start only when a step names the profile.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import yaml

from harness.files import write_private

from compose.checks import SuiteFailure, check
from compose.report import log
from compose.settings import Settings


def run(cmd: list[str], *, check_rc: bool = True, timeout: float = 600, env: Mapping[str, str] | None = None,
        log_to: Path | None = None) -> subprocess.CompletedProcess:
    """Run `cmd`; its output captured (or appended to `log_to`); SuiteFailure when it fails."""
    if log_to is None:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)  # nosec B603  # argv lists built by the suite, no shell
        if check_rc and proc.returncode != 0:
            raise SuiteFailure(f"`{' '.join(cmd)}` exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-1500:]}")
        return proc
    with open(log_to, "ab") as out:
        out.write(f"\n$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, env=env)  # nosec B603  # argv lists built by the suite, no shell
    if check_rc and proc.returncode != 0:
        tail = log_to.read_text(errors="replace").splitlines()[-25:]
        raise SuiteFailure(f"`{' '.join(cmd)}` exited {proc.returncode}; last lines of {log_to}:\n" + "\n".join(tail))
    return proc


def compose_variables(compose_file: Path) -> set[str]:
    """Every variable `compose_file` interpolates."""
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)", compose_file.read_text()))


def compose_profiles(compose_file: Path) -> list[str]:
    """Every profile a service of `compose_file` names, sorted."""
    services = (yaml.safe_load(compose_file.read_text()) or {}).get("services") or {}
    return sorted({profile for spec in services.values() for profile in (spec or {}).get("profiles") or []})


def docker_engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        info = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=20)  # nosec B603 B607  # fixed argv; docker from PATH on purpose
        plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, text=True, timeout=20)  # nosec B603 B607  # fixed argv; docker from PATH on purpose
    except (OSError, subprocess.TimeoutExpired):
        return False
    return info.returncode == 0 and bool(info.stdout.strip()) and plugin.returncode == 0


def choose_kind(settings: Settings) -> str:
    """docker or podman; runs the container rig (idempotent) before podman is used."""
    if settings.engine != "podman" and docker_engine_answers():
        return "docker"
    if settings.engine == "docker":
        raise SuiteFailure("E2E_ENGINE=docker but `docker info` / `docker compose version` fail")
    rig = settings.rig
    if rig is None or not rig.exists():
        raise SuiteFailure(f"no Docker engine answers and the container rig is missing at {rig} (set CONTAINER_RIG)")
    log(f"no Docker engine: preparing podman with {rig}")
    argv = [str(rig)]   # not inline: bandit warns about a nosec on a line that holds other calls
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=900)  # nosec B603  # the shared container-rig script (CONTAINER_RIG), no shell
    (settings.log_dir / "rig.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SuiteFailure(f"{rig} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    for tool in ("podman", "podman-compose"):
        check(shutil.which(tool) is not None, f"{tool} not on PATH after {rig}")
    return "podman"


@dataclass
class Engine:
    kind: str                 # docker | podman
    settings: Settings
    env_file: Path
    env: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, settings: Settings, values: dict[str, str], environ: Mapping[str, str]) -> "Engine":
        """The engine for this run, with `values` (compose.yaml variables only) in its env file."""
        variables = compose_variables(settings.compose_file)
        kind = choose_kind(settings)
        foreign = variables | compose_variables(settings.override_file) | {"COMPOSE_PROJECT_NAME", "COMPOSE_FILE", "COMPOSE_PROFILES"}
        env = {k: v for k, v in environ.items() if k not in foreign}
        if kind == "podman":
            env["BUILDAH_FORMAT"] = "docker"   # keep HEALTHCHECK and STOPSIGNAL in the image
            # No intermediate images: buildah never reuses layers built on the rig's imported
            # stand-in images (their config lists the tarball's digest, not the layer's), so
            # kept layers would only pile up, about 1.5 GB per run.
            env["BUILDAH_LAYERS"] = "false"
        engine = cls(kind, settings, settings.log_dir / "e2e.env", env)
        engine.set_values(values)
        return engine

    def set_values(self, values: dict[str, str]) -> None:
        """The env file of the compose commands from now on: values of compose.yaml's variables only."""
        variables = compose_variables(self.settings.compose_file)
        check(set(values) <= variables, f"not variables of compose.yaml: {sorted(set(values) - variables)}")
        write_private(self.env_file, "".join(f"{k}={v}\n" for k, v in sorted(values.items())))

    @property
    def label(self) -> str:
        """The project's containers, networks and volumes (docker compose and podman-compose)."""
        return f"label=com.docker.compose.project={self.settings.project}"

    def compose_command(self, *args: str) -> list[str]:
        s = self.settings
        base = ["docker", "compose"] if self.kind == "docker" else ["podman-compose"]
        return [*base, "-p", s.project, "-f", str(s.compose_file), "-f", str(s.override_file),
                "--env-file", str(self.env_file), *args]

    def compose(self, *args: str, check_rc: bool = True, timeout: float = 600, log_to: Path | None = None):
        return run(self.compose_command(*args), check_rc=check_rc, timeout=timeout, env=self.env, log_to=log_to)

    def every_profile(self) -> list[str]:
        """`--profile P` for every profile of compose.yaml: a `down` that also covers their services."""
        return [arg for profile in compose_profiles(self.settings.compose_file) for arg in ("--profile", profile)]

    def versions(self) -> str:
        engine = run([self.kind, "--version"]).stdout.strip()
        tool = run(["docker", "compose", "version"] if self.kind == "docker" else ["podman-compose", "--version"])
        return f"{engine}; {tool.stdout.strip().splitlines()[0]}"

    def docker(self, *args: str, check_rc: bool = True, timeout: float = 120) -> str:
        return run([self.kind, *args], check_rc=check_rc, timeout=timeout, env=self.env).stdout

    def containers(self, service: str | None = None, running_only: bool = True) -> list[str]:
        args = ["ps", "-q", "--no-trunc", "--filter", self.label]
        if not running_only:
            args.insert(1, "-a")
        if service:
            args += ["--filter", f"label=com.docker.compose.service={service}"]
        if running_only:
            args += ["--filter", "status=running"]
        return self.docker(*args).split()

    def container(self, service: str) -> str:
        """The one running container of `service`."""
        found = self.containers(service)
        check(len(found) == 1, f"{len(found)} running {service} containers, expected 1")
        return found[0]

    def inspect(self, container: str, template: str) -> str:
        return self.docker("inspect", "-f", template, container).strip()

    def exec(self, container: str, *cmd: str, timeout: float = 60) -> str:
        return self.docker("exec", container, *cmd, timeout=timeout)

    def logs(self, container: str) -> str:
        out = run([self.kind, "logs", container], check_rc=False, env=self.env)
        return out.stdout + out.stderr

    def image_id(self, image: str) -> str:
        return self.docker("image", "inspect", "-f", "{{.Id}}", image, check_rc=False).strip()

    def volumes(self) -> set[str]:
        return set(self.docker("volume", "ls", "-q").split())

    def _networks(self) -> set[str]:
        named = {n for n in self.docker("network", "ls", "--format", "{{.Name}}").split()
                 if n == f"{self.settings.project}_default"}
        return set(self.docker("network", "ls", "-q", "--filter", self.label).split()) | named

    def _volumes(self) -> set[str]:
        named = {v for v in self.docker("volume", "ls", "--format", "{{.Name}}").split()
                 if v.startswith(f"{self.settings.project}_")}
        return set(self.docker("volume", "ls", "-q", "--filter", self.label).split()) | named

    def leftovers(self) -> dict[str, list[str]]:
        """The project's containers, networks, volumes (and podman pod) that exist now."""
        found = {"containers": self.docker("ps", "-aq", "--filter", self.label).split(),
                 "networks": sorted(self._networks()), "volumes": sorted(self._volumes())}
        if self.kind == "podman":
            found["pods"] = self.docker("pod", "ls", "-q", "--filter", f"name=^pod_{self.settings.project}$").split()
        return {kind: items for kind, items in found.items() if items}

    def clean(self) -> None:
        """What `down -v` should do, done by label: also after a run that died half-way."""
        self.compose(*self.every_profile(), "down", "--remove-orphans", "-v", "-t", "5", check_rc=False, timeout=180,
                     log_to=self.settings.log_dir / "clean.log")
        ids = self.docker("ps", "-aq", "--filter", self.label).split()
        if ids:
            self.docker("rm", "-f", "-v", *ids, check_rc=False)
        if self.kind == "podman":
            self.docker("pod", "rm", "-f", f"pod_{self.settings.project}", check_rc=False)
        for network in self._networks():
            self.docker("network", "rm", network, check_rc=False)
        for volume in self._volumes():
            self.docker("volume", "rm", "-f", volume, check_rc=False)
