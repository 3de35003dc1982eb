"""Static security checks (`make security`): bandit finds nothing, and every `# nosec` says why.

bandit scans the code that ships or runs the stack (services/, harness/, scripts/, loadtests/, compose/)
with the settings in pyproject.toml [tool.bandit]. tests/ is not scanned: its findings are test
fixtures by design (assert, fixed passwords of throw-away Redis servers, subprocess calls).
"""

from __future__ import annotations

import json
import re
import subprocess  # nosec B404  # tests/ is not scanned; runs bandit with a fixed argv
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGETS = ("services", "harness", "scripts", "loadtests", "compose")
EXCLUDED = "loadtests/results/tmp"  # as in pyproject.toml: git-ignored scratch of benchmark runs
NOSEC = re.compile(r"#\s*nosec\b(?P<rest>.*)$")
EXPLAINED = re.compile(r"^:?\s*B\d{3}(?:[ ,]+B\d{3})*\s+#\s*\S")  # "# nosec B603 B607  # why"


def test_bandit_finds_nothing():
    run = subprocess.run(  # nosec B603  # this Python, fixed argv
        [sys.executable, "-m", "bandit", "-c", "pyproject.toml", "-r", *TARGETS, "-q", "-f", "json"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    report = json.loads(run.stdout)
    findings = [f"{r['filename']}:{r['line_number']}: {r['test_id']} {r['issue_text']}"
                for r in report["results"]]
    assert not findings, "bandit findings (fix, or mark the line `# nosec BXXX  # why`):\n" + \
        "\n".join(findings)
    assert not report["errors"], report["errors"]
    assert run.returncode == 0, run.stderr


def test_every_nosec_names_the_tests_and_a_reason():
    files = [path for target in TARGETS for path in sorted((ROOT / target).rglob("*.py"))
             if EXCLUDED not in path.relative_to(ROOT).as_posix()]
    assert files
    bare = []
    for path in files:
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
            match = NOSEC.search(line)
            if match and not EXPLAINED.match(match.group("rest")):
                bare.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not bare, "write `# nosec BXXX  # reason` (test ids, then why):\n" + "\n".join(bare)
