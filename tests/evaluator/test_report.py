"""`trainer online-report`: the evaluator's report as a table, a JSON file and a PNG plot."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from evaluator import checkpoint
from evaluator.events import Event
from evaluator.summary import series, summarize
from evaluator.tally import Tally

TRAINER = str(Path(sys.executable).parent / "trainer")
T0 = 1_700_000_000.0


def report_dir(tmp_path: Path) -> Path:
    tally = Tally()
    for i in range(200):
        version = "v1" if i % 2 else "v2"
        tally.apply("0", Event("recommendation", T0 + 60 * i, i, None, 200, ("a+1", "b+2")), version)
        if i % 3 and version == "v1" or i % 5 == 0:
            tally.apply("0", Event("watch", T0 + 60 * i + 30, i, "b+2", 1), None)
    tally.apply("0", Event("watch", T0 + 60 * 400, 9999, "q", 1), None)   # moves the watermark on
    checkpoint.save(tmp_path, {"tally": tally.state()}, {**summarize(tally), "series": series(tally)})
    return tmp_path


def test_the_report_prints_a_table_per_version_and_writes_json_and_a_plot(tmp_path):
    state = report_dir(tmp_path / "online")
    out = subprocess.run([TRAINER, "online-report", "--state-dir", str(state), "--json", str(tmp_path / "r.json"),
                          "--plot", str(tmp_path / "r.png")], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "v1" in rows and "v2" in rows and "hit rate" in out.stdout
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["versions"]["v1"]["life"]["hit_rate"] > data["versions"]["v2"]["life"]["hit_rate"]
    assert (tmp_path / "r.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_report_is_one_clear_line(tmp_path):
    out = subprocess.run([TRAINER, "online-report", "--state-dir", str(tmp_path / "nothing")], capture_output=True, text=True)
    assert out.returncode != 0 and "no online report yet" in out.stderr and len(out.stderr.strip().splitlines()) == 1
