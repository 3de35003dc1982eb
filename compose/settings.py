"""The suite's settings: read once from the environment into `Settings`, handed to every step.

  E2E_PORT      host port of nginx (default 8082; a free port if 8082 is taken and E2E_PORT is unset)
  E2E_PROJECT   compose project name (default recsys-e2e)
  E2E_PRESET    data preset the trainer generates (default small: trains in seconds)
  E2E_ENGINE    docker or podman (default: docker if `docker info` answers, else podman)
  E2E_KEEP=1    leave the stack up when a step fails (to look around; `down -v` it yourself)
  CONTAINER_RIG path of setup-container-rig (default ../shared/container-rig/setup-container-rig)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping

from harness.paths import ROOT

from compose.checks import SuiteFailure

ENGINES = ("docker", "podman")


@dataclass(frozen=True)
class Settings:
    compose_file: Path               # compose/compose.yaml
    override_file: Path              # compose/e2e.override.yaml: the suite's changes (a second `-f`)
    log_dir: Path                    # .run/compose-e2e: build and compose output, container logs of a failed run
    project: str = "recsys-e2e"
    preset: str = "small"
    port: int | None = None          # E2E_PORT; None: 8082, or a free port when 8082 is taken
    engine: str | None = None        # E2E_ENGINE; None: docker when its engine answers, else podman
    keep: bool = False               # E2E_KEEP=1
    rig: Path | None = None          # CONTAINER_RIG
    budget: float = 15 * 60          # seconds for the whole suite
    # A request slower than this fails. Above the simulator's budget on purpose: the suite shares
    # 2 cores with the containers' builds and whatever else runs here, so answers slower than
    # `slow` are counted and reported in every step, not failed.
    client_timeout: float = 2.0
    slow: float = 0.8                # the simulator's budget (600 ms from fall 2025)
    image_tag: str = "e2e"           # the suite's images: recsys-inference:e2e, recsys-trainer:e2e

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ, root: Path = ROOT) -> "Settings":
        engine = env.get("E2E_ENGINE") or None
        if engine not in (None, *ENGINES):
            raise SuiteFailure(f"E2E_ENGINE={engine!r}: expected docker or podman")
        port = env.get("E2E_PORT") or None
        if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
            raise SuiteFailure(f"E2E_PORT={port!r}: expected a TCP port number")
        rig = env.get("CONTAINER_RIG") or root.parent / "shared" / "container-rig" / "setup-container-rig"
        return cls(compose_file=root / "compose" / "compose.yaml",
                   override_file=root / "compose" / "e2e.override.yaml", log_dir=root / ".run" / "compose-e2e",
                   project=env.get("E2E_PROJECT") or cls.project, preset=env.get("E2E_PRESET") or cls.preset,
                   port=int(port) if port else None, engine=engine, keep=env.get("E2E_KEEP") == "1", rig=Path(rig))

    def image(self, service: str) -> str:
        return f"recsys-{service}:{self.image_tag}"

    def compose_values(self, port: int) -> dict[str, str]:
        """The run's values of compose.yaml's own variables (the env file of every compose command)."""
        return {"DATA_PRESET": self.preset, "RECSYS_HTTP_PORT": str(port),
                "RECSYS_IMAGE_PREFIX": "recsys", "RECSYS_TAG": self.image_tag}
