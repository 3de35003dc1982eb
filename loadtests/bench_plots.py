"""The benchmark's plots (matplotlib, Agg): latency vs offered load, throughput per replica count,
answers by version during the hot swap. Each is written only when its step ran."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from loadtests.bench_config import TARGETS


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> str:
    """Write one plot and free it; returns its file name."""
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    _pyplot().close(fig)
    return path.name


def plots(results: dict, out: Path) -> list[str]:
    """Write the plots of `results` into `out`; their file names."""
    written = []
    if results.get("latency_vs_load"):
        written.append(latency_plot(results, out))
    if results.get("scaling"):
        written.append(scaling_plot(results, out))
    if results.get("swap"):
        written.append(swap_plot(results, out))
    return written


def latency_plot(results: dict, out: Path) -> str:
    plt = _pyplot()
    sweep = results["latency_vs_load"]
    points = sweep["points"]
    offered = [p["offered_rps"] for p in points]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(7.5, 7), sharex=True, gridspec_kw={"height_ratios": [3, 1.3]})
    for key, label, style in (("p50_ms", "p50", "o-"), ("p95_ms", "p95", "s-"), ("p99_ms", "p99", "^-"),
                              ("p99_from_schedule_ms", "p99 from scheduled send (wrk2-style)", "^--")):
        top.plot(offered, [p[key] for p in points], style, label=label)
    top.axhline(TARGETS["p99_at_half_saturation_ms"], color="red", lw=0.8, ls=":", label="target p99 at S/2 (20 ms)")
    top.axvline(sweep["saturation_rps"] / 2, color="grey", lw=0.8, ls=":")
    top.axvline(sweep["saturation_rps"], color="grey", lw=0.8, ls="--")
    top.set_yscale("log")
    for x, label in ((sweep["saturation_rps"] / 2, "S/2"), (sweep["saturation_rps"], "S")):
        top.annotate(label, (x, 1.0), xycoords=("data", "axes fraction"), xytext=(2, -12), textcoords="offset points",
                     color="grey", fontsize=8)
    top.set_ylabel("latency through nginx (ms, log)")
    top.set_title(f"/recommend latency vs offered load ({results['setup']['replicas']} replicas x "
                  f"{results['setup']['workers']} workers; S = {sweep['saturation_rps']:.0f} req/s closed loop)", fontsize=9)
    top.legend(fontsize=8)
    top.grid(True, which="both", alpha=0.3)
    bottom.plot(offered, [p["throughput_rps"] for p in points], "o-", label="answered")
    bottom.plot(offered, offered, ":", color="grey", label="offered")
    bottom.set_xlabel("offered load (requests/s)")
    bottom.set_ylabel("req/s")
    bottom.legend(fontsize=8)
    bottom.grid(True, alpha=0.3)
    return _save(fig, out / "bench-latency.png")


def scaling_plot(results: dict, out: Path) -> str:
    plt = _pyplot()
    scaling = results["scaling"]
    points = scaling["points"]
    x = np.arange(len(points))
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for offset, key, label in ((-0.2, "recommend_rps", "/recommend"), (0.2, "ping_rps", "/ping (ceiling)")):
        values = [p[key] for p in points]
        bars = ax.bar(x + offset, values, 0.4, label=label)
        ax.bar_label(bars, fmt="%.0f", fontsize=8)
    ax.set_xticks(x, [f"{p['replicas']} replica(s)\nx {p['workers_per_replica']} worker" for p in points])
    ax.set_ylabel("throughput, closed loop (req/s)")
    ax.set_title(f"Throughput per replica count on {results['machine']['cores']} cores (load generator on the same cores)", fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    return _save(fig, out / "bench-scaling.png")


def swap_plot(results: dict, out: Path) -> str:
    plt = _pyplot()
    swap = results["swap"]
    line = swap["timeline"]
    t = np.arange(len(line["old"])) * line["bin_s"]
    fig, ax = plt.subplots(figsize=(7, 3.2))
    ax.stackplot(t, np.array(line["old"]) * 10, np.array(line["new"]) * 10, np.array(line["failed"]) * 10,
                 labels=[f"old version {swap['old_version']}", f"new version {swap['new_version']}", "failed"],
                 colors=["#9ab", "#2a7", "#d33"])
    ax.axvline(swap["published_at_s"], color="black", lw=0.8, ls="--", label="pointer moved (notification seen)")
    ax.set_xlabel("seconds into the phase")
    ax.set_ylabel("answers/s (100 ms bins)")
    ax.set_title(f"Hot swap under {swap['offered_rps']:.0f} req/s: {swap['failed_requests']} failed, every replica on the new "
                 f"version {swap['time_until_every_replica_serves_it_s']:.2f} s after publish", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")
    return _save(fig, out / "bench-swap.png")
