"""`trainer online-report`: the evaluator's report.json (evaluator/summary.py) as a table per
version, a JSON file, and a PNG plot of hit rate over event time, one line per version with its
95% band."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

COLUMNS = ("answers", "hit_rate", "mean_rank", "minutes_per_answer", "recommended_watch_share", "mean_rating")


def _when(seconds: float) -> str:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc).strftime("%Y-%m-%d %H:%M") if seconds else "-"


def _figure(f: dict, name: str) -> str:
    value = f.get(name)
    if value is None:
        return "-"
    if name == "answers":
        return str(value)
    ci = f.get(f"{name}_ci")
    if name in ("hit_rate", "recommended_watch_share"):
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{value:.3f}"
    return f"{value:.2f} ± {(ci[1] - ci[0]) / 2:.2f}" if ci else f"{value:.2f}"


def format_table(report: dict, window: str = "life") -> str:
    lines = [f"online evaluation, window {window!r} (settled answers: event time up to {_when(report['settled_until'])}; "
             f"watermark {_when(report['watermark'])}; a hit is a listed movie started within {report['window'] / 60:g} min)",
             f"{'version':<22} {'answers':>8} {'hit rate [95% CI]':>22} {'mean rank':>12} {'minutes/answer':>15} "
             f"{'recommended share':>22} {'mean rating':>12}"]
    for version, windows in report["versions"].items():
        f = windows[window]
        if not f["answers"] and not f["starts"]:
            continue
        cells = [_figure(f, c) for c in COLUMNS]
        lines.append(f"{version:<22} {cells[0]:>8} {cells[1]:>22} {cells[2]:>12} {cells[3]:>15} {cells[4]:>22} {cells[5]:>12}")
    late = ", ".join(f"{k} {n}" for k, n in sorted(report.get("late", {}).items())) or "none"
    counts = report.get("counts", {})
    lines.append(f"late events (not counted): {late}; answers without a served record: {counts.get('unattributed', 0)}; "
                 f"failed answers: {counts.get('failed_answers', 0)}")
    return "\n".join(lines)


def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(report, indent=1) + "\n")


def plot(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.5))
    for version, points in report.get("series", {}).items():
        times = [dt.datetime.fromtimestamp(p["time"], dt.timezone.utc) for p in points]
        line, = ax.plot(times, [p["hit_rate"] for p in points], marker=".", label=version)
        ax.fill_between(times, [p["low"] for p in points], [p["high"] for p in points], color=line.get_color(), alpha=0.2)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"hit rate (listed movie started within {report['window'] / 60:g} min)")
    ax.set_xlabel("event time (UTC)")
    ax.set_title("Online hit rate per model version, 95% Wilson bands")
    ax.grid(alpha=0.3)
    if report.get("series"):
        ax.legend(loc="lower right", fontsize=8)
    fig.autofmt_xdate()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
