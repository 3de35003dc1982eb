"""The benchmark's summary (bench.md), its notes and the target rows with their verdicts, all from
the results dict that also goes into bench.json (so `--render-only` can rewrite them)."""

from __future__ import annotations

from pathlib import Path

from loadtests.bench_config import TARGETS


def verdict(ok) -> str:
    return "n/a" if ok is None else ("**PASS**" if ok else "**MISS**")


def fmt(value, digits=1) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def cpu_line(cpu: dict) -> str:
    if not cpu:
        return "–"
    parts = [f"{k} {cpu.get(k, 0):.2f}" for k in ("replicas", "nginx", "locust", "redis", "other_processes")]
    return ", ".join(parts)


def summary_markdown(r: dict) -> str:
    m, s = r["machine"], r["setup"]
    lines = [f"# Serving benchmark ({r['mode']} run, {r['generated_at']})", "",
             f"Machine: {m['cores']} cores, {m['cpu_model']}, {m['memory_mb']:,} MB RAM, {m['platform']}; Python {m['python']}; "
             f"nginx {m['nginx']}; {m['redis']}; " + ", ".join(f"{k} {v}" for k, v in m["packages"].items()) + ".",
             f"Load average before the run: {r['load_before']['loadavg']}, after: {r['load_after']['loadavg']}. "
             f"The load generator (one locust process, FastHttpUser) runs on the same {m['cores']} cores as nginx and the "
             f"replicas: see the CPU columns (average cores used).", "",
             f"Stack: nginx (worker_processes auto) -> {s['replicas']} replicas x {s['workers']} gunicorn gthread workers x "
             f"{s['threads']} threads (as `make up` on this machine) on loopback, model `{s['model']}` "
             f"({s['known_users']} known users, {s['movies']} movies); user ids {s['known_range']} Zipf s={s['zipf_exponent']} plus "
             f"{s['unknown_share']:.0%} unknown ids. Every answer is checked as the load test does (200, one line, <= 20 unique "
             f"catalog ids, <= 800 ms). Whole run: {r['duration_s']:.0f} s.", "",
             "## Targets", "", "| figure | value | target | |", "|---|---|---|---|"]
    for t in r["targets"]:
        lines.append(f"| {t['name']} | {t['value']} | {t['target']} | {verdict(t['pass'])} |")
    c = r.get("ceiling")
    if c:
        lines += ["", "## Ceiling ratio (closed loop, same client, same replicas)", "",
                  f"{c['closed_loop_users']} users back to back, {c['phase_seconds']:g} s per phase, /ping and /recommend alternating.", "",
                  "| phase | req/s | p50 ms | p99 ms | errors | cores: replicas, nginx, locust, redis, other |", "|---|---|---|---|---|---|"]
        for name, p in c["phases"].items():
            lines.append(f"| {name} | {p['throughput_rps']:.0f} | {fmt(p['p50_ms'], 2)} | {fmt(p['p99_ms'], 2)} | {p['errors']} | {cpu_line(p['cpu_cores'])} |")
        lines += ["", f"Ratio /recommend / /ping = **{c['ratio']:.3f}** (rounds: {', '.join(str(x['ratio']) for x in c['rounds'])}).", "",
                  "CPU time per request (µs; process CPU during the phase / answers):", "",
                  "| path | replicas | nginx | locust | redis |", "|---|---|---|---|---|"]
        for path in ("ping", "recommend"):
            per = [p["cpu_us_per_request"] for n, p in c["phases"].items() if n.startswith(path + "-")]
            avg = {k: sum(x.get(k, 0) for x in per) / len(per) for k in ("replicas", "nginx", "locust", "redis")}
            lines.append(f"| /{path} | {avg['replicas']:.0f} | {avg['nginx']:.0f} | {avg['locust']:.0f} | {avg['redis']:.0f} |")
    pr = r.get("pyspy")
    if pr and pr.get("phases"):
        names = sorted({k for ph in pr["phases"].values() for k in ph.get("shares", {})},
                       key=lambda k: -pr["phases"].get("recommend", {}).get("shares", {}).get(k, 0))
        lines += ["", f"## Profile ({pr['tool']}, closed loop)", "",
                  "Share of the samples in which a worker thread held the interpreter lock, by where it was; "
                  "µs = share x the replicas' CPU per request.", "",
                  "| where | /ping share | /ping µs | /recommend share | /recommend µs |", "|---|---|---|---|---|"]
        for name in names:
            cells = []
            for path in ("ping", "recommend"):
                ph = pr["phases"].get(path, {})
                share = ph.get("shares", {}).get(name, 0)
                cells += [f"{share:.1%}", f"{share * ph.get('cpu_us_per_request', {}).get('replicas', 0):.0f}"]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
    elif pr:
        lines += ["", f"Profile skipped: {pr.get('skipped')}."]
    sw = r.get("latency_vs_load")
    if sw:
        lines += ["", "## Latency vs offered load (/recommend)", "",
                  f"Saturation S = {sw['saturation_rps']:.0f} req/s (closed-loop /recommend above). Fixed rates, "
                  f"{sw['open_loop_users']} users each sending on its own schedule, {sw['phase_seconds']:g} s per rate. "
                  "\"p99 sched\" counts from the scheduled send time (includes time a request waited for a busy client).", "",
                  "![latency vs offered load](bench-latency.png)", "",
                  "| offered req/s | of S | answered req/s | p50 ms | p95 ms | p99 ms | p99 sched ms | max ms | errors | late sends | cores: replicas, nginx, locust, redis, other |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for p in sw["points"]:
            lines.append(f"| {p['offered_rps']:.0f} | {p['fraction_of_saturation']:g} | {p['throughput_rps']:.0f} | {fmt(p['p50_ms'], 2)} | "
                         f"{fmt(p['p95_ms'], 2)} | {fmt(p['p99_ms'], 2)} | {fmt(p['p99_from_schedule_ms'], 2)} | {fmt(p['max_ms'], 1)} | "
                         f"{p['errors']} | {p['late_sends']} | {cpu_line(p['cpu_cores'])} |")
    sc = r.get("scaling")
    if sc:
        lines += ["", "## Replica scaling (closed loop)", "", "![throughput per replica count](bench-scaling.png)", "",
                  "| replicas x workers | /recommend req/s | p50 ms | p99 ms | /ping req/s | cores during /recommend: replicas, nginx, locust, redis, other |",
                  "|---|---|---|---|---|---|"]
        for p in sc["points"]:
            rec = p["recommend"]
            lines.append(f"| {p['replicas']} x {p['workers_per_replica']} | {p['recommend_rps']:.0f} | {fmt(rec['p50_ms'], 2)} | "
                         f"{fmt(rec['p99_ms'], 2)} | {p['ping_rps']:.0f} | {cpu_line(rec['cpu_cores'])} |")
    mc = r.get("model_compute")
    if mc:
        cm, rep = mc["compute_ms"], mc["replica"]
        lines += ["", f"## Model compute and replica memory ({mc['scale']['users']:,} users x {mc['scale']['movies']:,} movies)", "",
                  f"From `{mc['command']}` (no HTTP; one replica with {mc['scale']['workers']} workers for memory).", "",
                  "| figure | value |", "|---|---|",
                  f"| known user: lookup + answer string | {cm['known_user_ms']:.4f} ms |",
                  f"| cold start, uncached (scores all movies; then cached per feature combination) | {cm['cold_start_uncached_ms']:.4f} ms |",
                  f"| popularity | {cm['popularity_ms']:.4f} ms |",
                  f"| published version | {rep['published_mb']:.0f} MB, publish {rep['publish_seconds']:.1f} s, first load {rep['first_load_seconds']:.1f} s, swap {rep['swap_seconds']:.1f} s |",
                  f"| replica memory steady: private memory of all processes + model files in tmpfs | {mc['replica_memory_mb']['steady']:.0f} MB (PSS sum {rep['steady']['pss_sum_mb']:.0f} MB) |",
                  f"| replica memory after a hot swap | {mc['replica_memory_mb']['after_swap']:.0f} MB (PSS sum {rep['after_swap']['pss_sum_mb']:.0f} MB) |",
                  "| private memory per process, steady -> after the swap (master, workers) | "
                  + ", ".join(f"{a['uss_mb']:.0f} -> {rep['after_swap']['processes'].get(pid, {}).get('uss_mb', 0):.0f} MB"
                              for pid, a in rep["steady"]["processes"].items()) + " |"]
    sp = r.get("swap")
    if sp:
        lines += ["", "## Hot swap under load", "", "![hot swap](bench-swap.png)", "",
                  f"{sp['offered_rps']:.0f} req/s offered (S/2) for {sp['phase_seconds']:g} s; {sp['new_version']} published "
                  f"(`WeightStore.publish`: {sp['publish_seconds']:.3f} s; the pointer moved — the notification reached a "
                  f"subscriber — {sp['pointer_moved_after_publish_start_s']:.3f} s after it started, {sp['published_at_s']:.2f} s into "
                  f"the phase). Failed requests: **{sp['failed_requests']}** of {sp['requests']}. After the pointer moved: first "
                  f"answer from the new version after {fmt(sp['first_new_answer_after_publish_s'], 3)} s; last answer from the old "
                  f"version (also to requests sent earlier and still in flight) after {sp['time_until_every_replica_serves_it_s']:.3f} s: "
                  f"from then on every worker of every replica answers with the new version; old and new answers were mixed for "
                  f"{fmt(sp['mixed_versions_window_s'], 3)} s ({sp['old_answers_after_publish']} old answers to requests sent after "
                  f"the pointer moved); each replica's /readyz first showed it after "
                  + ", ".join(f"{k} {v:.3f} s" for k, v in sp["readyz_first_new_s"].items())
                  + f". p99 during the phase {fmt(sp['stats']['p99_ms'], 2)} ms, max {fmt(sp['stats']['max_ms'], 1)} ms."]
    if r.get("notes"):
        lines += ["", "## Notes", ""] + [f"- {n}" for n in r["notes"]]
    lines += ["", "How to read these figures: loadtests/README.md.", ""]
    return "\n".join(lines)


def make_notes(r: dict, out: Path) -> list[str]:
    notes = []
    load = r.get("load_before", {})
    busy = load.get("busy_cores_3s")
    if busy is not None and busy > 0.25:
        notes.append(f"the machine was not quiet at the start: {busy} cores busy in the 3 s before (load average "
                     f"{load.get('loadavg')}); other processes' CPU is in the 'other' column of every phase")
    elif load.get("loadavg", [0])[0] >= 0.7:
        notes.append(f"load average {load['loadavg']} at the start reflects the minutes before (the 1-minute figure lags); "
                     f"the machine used {busy} cores in the 3 s before the start")
    disturbed = disturbed_phases(r)
    if disturbed:
        notes.append("phases during which processes outside the benchmark used more than 0.15 cores (their figures are "
                     "pessimistic): " + ", ".join(f"{name} ({cores:.2f})" for name, cores in disturbed))
    else:
        notes.append("no phase was disturbed: processes outside the benchmark used at most 0.15 cores during every phase")
    if (out / "findings.md").exists():
        notes.append("profiles and A/B experiments behind the suggested service changes: [findings.md](findings.md)")
    return notes


def disturbed_phases(r: dict, limit: float = 0.15) -> list[tuple[str, float]]:
    found = []
    for name, p in (r.get("ceiling") or {}).get("phases", {}).items():
        found.append((f"ceiling {name}", p["cpu_cores"].get("other_processes", 0)))
    for p in (r.get("latency_vs_load") or {}).get("points", []):
        found.append((f"rate {p['offered_rps']:.0f}/s", p["cpu_cores"].get("other_processes", 0)))
    if r.get("swap"):
        found.append(("swap", r["swap"]["stats"]["cpu_cores"].get("other_processes", 0)))
    for p in (r.get("scaling") or {}).get("points", []):
        for path in ("recommend", "ping"):
            found.append((f"scaling {p['replicas']} {path}", p[path]["cpu_cores"].get("other_processes", 0)))
    return [(n, c) for n, c in found if c > limit]


def target_rows(r: dict) -> list[dict]:
    rows = []
    if r.get("ceiling"):
        c = r["ceiling"]
        rows.append({"name": "ceiling ratio /recommend vs /ping", "value": f"{c['ratio']:.3f} ({c['recommend_rps']:.0f} / {c['ping_rps']:.0f} req/s)",
                     "target": ">= 0.8", "pass": c["pass"]})
    if r.get("latency_vs_load"):
        h = r["latency_vs_load"]["half_saturation"]
        rows.append({"name": "p99 at half of saturation, errors", "value": f"{fmt(h and h['p99_ms'], 2)} ms at {h and h['offered_rps']:.0f} req/s, "
                     f"{h and h['errors']} errors (all rates: {r['latency_vs_load']['errors']})" if h else "–",
                     "target": "<= 20 ms, 0", "pass": r["latency_vs_load"]["pass"]})
    if r.get("model_compute"):
        mc = r["model_compute"]
        rows.append({"name": f"model compute per request, {mc['scale']['users']:,} users x {mc['scale']['movies']:,} movies",
                     "value": f"{mc['compute_ms']['known_user_ms']:.4f} ms", "target": "<= 0.5 ms", "pass": mc["pass"]["compute"]})
        rows.append({"name": "replica memory at that scale (steady / after swap)",
                     "value": f"{mc['replica_memory_mb']['steady']:.0f} / {mc['replica_memory_mb']['after_swap']:.0f} MB",
                     "target": "<= 400 MB", "pass": mc["pass"]["memory"]})
    if r.get("swap"):
        s = r["swap"]
        rows.append({"name": "hot swap under load: failed requests", "value": str(s["failed_requests"]), "target": "0",
                     "pass": s["failed_requests"] == 0})
        rows.append({"name": "hot swap: time until every replica serves it", "value": f"{s['time_until_every_replica_serves_it_s']:.3f} s",
                     "target": "<= 2 s", "pass": s["time_until_every_replica_serves_it_s"] <= TARGETS["swap_seconds"]})
    if r.get("records"):
        c = r["records"]
        rows.append({"name": "served records on vs off: ceiling ratio, p99 at half of saturation",
                     "value": f"ratio {c['off']['ratio']:.3f} -> {c['on']['ratio']:.3f} ({c['ratio_change']:+.1%}), "
                              f"p99 {fmt(c['off']['p99_half_ms'], 2)} -> {fmt(c['on']['p99_half_ms'], 2)} ms "
                              f"({c['p99_change']:+.1%})" if c["p99_change"] is not None else "–",
                     "target": "within 5%", "pass": c["pass"]})
    if r.get("scaling"):
        pts = r["scaling"]["points"]
        rows.append({"name": "replica scaling /recommend req/s", "value": ", ".join(f"{p['replicas']}: {p['recommend_rps']:.0f}" for p in pts),
                     "target": "(report)", "pass": None})  # nosec B105  # 'pass' is a result column, not a password
    return rows
