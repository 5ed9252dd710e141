#!/usr/bin/env python3
"""Every benchmark in one go, then one table of figures against the issue's goals.

    .venv/bin/python bench/run_all.py [--quick] [--only NAME ...] [--markdown]

Runs each bench/*.py script in its own process, one after the other (they would compete for
the 2 cores otherwise), shows each script's own output as it comes, and ends with a table:
benchmark, figure, measured, goal, verdict, with the date and the machine. --markdown prints the
table as the Markdown rows docs/benchmarks.md holds. --quick runs smaller sizes (not for the
published figures). A script that fails or whose figures cannot be read shows as such in the
table; the exit status is 1 if any goal was missed or any script failed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from sandbox_env import machine  # noqa: E402


@dataclass
class Figure:
    bench: str
    name: str
    value: str
    goal: str
    met: bool | None  # None: shown for information, no goal


def _num(pattern: str, text: str, group: int = 1) -> float | None:
    m = re.search(pattern, text, re.M)
    return float(m.group(group).replace(",", "")) if m else None


def _last_json(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        if line.startswith("{"):
            try:
                return json.loads(line)
            except ValueError:
                return None
    return None


def read_ssh(out: str) -> list[Figure]:
    persistent = _num(r"^persistent true\s+([\d.]+)", out)
    fresh = _num(r"^fresh paramiko true\s+([\d.]+)", out)
    ratio = _num(r"^fresh paramiko / persistent\s+true:\s+([\d.]+)x", out)
    per_s = _num(r"^one channel, commands/s\s+([\d.]+)", out)
    return [
        Figure("ssh_roundtrip", "persistent shell, median `true`", f"{persistent:.3f} ms", "< 1 ms",
               persistent < 1.0),
        Figure("ssh_roundtrip", "fresh connection per command, median", f"{fresh:.1f} ms", "", None),
        Figure("ssh_roundtrip", "fresh / persistent", f"{ratio:.0f}x", ">= 100x", ratio >= 100),
        Figure("ssh_roundtrip", "commands/s through one channel", f"{per_s:,.0f}", "", None),
    ]


def read_classify(out: str) -> list[Figure]:
    # the slim rows: what the tracker parses (tracker.handle_line passes slim=True)
    rate = _num(r"^slim parse: seed-sized pods.*?([\d,]+) events/CPU-s", out)
    small = _num(r"^slim parse: fixture pods.*?([\d,]+) events/CPU-s", out)
    return [
        Figure("classify", "pod events/s, one core, seed-sized pod JSON", f"{rate:,.0f}", ">= 20,000", rate >= 20000),
        Figure("classify", "pod events/s, one core, fixture pods", f"{small:,.0f}", ">= 20,000", small >= 20000),
    ]


def read_allocator(out: str) -> list[Figure]:
    rate = _num(r"^rate: ([\d.]+) allocations/s", out)
    dupes = _num(r"^duplicates: (\d+)", out)
    return [
        Figure("allocator", "allocations/s, 2 processes x 16 threads", f"{rate:,.0f}", ">= 500", rate >= 500),
        Figure("allocator", "duplicate ids", f"{dupes:.0f}", "0", dupes == 0),
    ]


def read_launch(out: str) -> list[Figure]:
    doc = _last_json(out)
    n, bulk, single = doc["n"], doc["results"]["bulk"], doc["results"]["one_by_one"]
    grouped = doc["results"]["grouped"]
    return [
        Figure("launch", f"{n} islands applied, bulk apply", f"{bulk['applied_s']:.1f} s",
               "< 10 s for 200", bulk["applied_s"] * 200 / n < 10),
        *([Figure("launch", f"{n} islands applied, bulk apply, side containers starting on the same cores",
                  f"{doc['results']['bulk+side']['applied_s']:.1f} s", "", None)]
          if "bulk+side" in doc["results"] else []),
        Figure("launch", f"{n} islands applied, one apply each", f"{single['applied_s']:.1f} s", "", None),
        Figure("launch", f"{n} islands applied, concurrent launches, group commit",
               f"{grouped['applied_s']:.1f} s ({grouped['applies']} applies)", "", None),
        Figure("launch", "bulk vs one by one", f"{doc['ratio']:.1f}x", "", None),
        Figure("launch", "group commit vs one by one", f"{doc['grouped_ratio']:.1f}x", "", None),
        Figure("launch", "service CPU per launch (bulk / one by one)",
               f"{bulk['cpu_per_launch_ms']:.0f} / {single['cpu_per_launch_ms']:.0f} ms", "", None),
    ]


def read_tracker(out: str) -> list[Figure]:
    doc = _last_json(out)
    one, burst = doc["results"]["one_at_a_time"], doc["results"]["bursts"]
    return [
        Figure("tracker_latency", "API change -> row updated, p50 / p99",
               f"{one['row']['p50_ms']:.0f} / {one['row']['p99_ms']:.0f} ms", "", None),
        Figure("tracker_latency", "API change -> live event, p50 / p99",
               f"{one['event']['p50_ms']:.0f} / {one['event']['p99_ms']:.0f} ms", "p99 < 250 ms",
               one["event"]["p99_ms"] < 250),
        Figure("tracker_latency", f"same, bursts of {doc['islands']} changes, p50 / p99",
               f"{burst['event']['p50_ms']:.0f} / {burst['event']['p99_ms']:.0f} ms", "", None),
    ] + read_tracker_bursts(doc)


def read_tracker_bursts(doc: dict) -> list[Figure]:
    """The launch bursts (bench/tracker_burst.py): each size, the ratio, the switch interval compared."""
    bursts, figures = doc.get("launch_bursts") or [], []
    for b in bursts:
        e = b["to_event"]
        last = b is bursts[-1]
        figures.append(Figure("tracker_latency", f"launch burst of {b['n']}: API change -> live event, p50 / p99",
                              f"{e['p50_ms']:.0f} / {e['p99_ms']:.0f} ms", "p50 < 50, p99 < 250 ms" if last else "",
                              (e["p50_ms"] < 50 and e["p99_ms"] < 250) if last else None))
    if len(bursts) >= 2:
        small, big = bursts[0], bursts[-1]
        figures.append(Figure("tracker_latency", f"launch burst {big['n']} / {small['n']} p99 (islands "
                              f"{big['n'] / small['n']:.1f}x)",
                              f"{big['to_event']['p99_ms'] / small['to_event']['p99_ms']:.2f}x", "", None))
    for c in doc.get("switch_compared") or []:
        figures.append(Figure("tracker_latency", f"same burst of {c['n']} at switch interval {c['switch_interval_ms']:g} ms",
                              f"{c['to_event']['p50_ms']:.0f} / {c['to_event']['p99_ms']:.0f} ms", "", None))
    return figures


def read_recover(out: str) -> list[Figure]:
    doc = _last_json(out)
    if not doc or "sizes" not in doc:
        raise ValueError("no figures found")
    small, big = doc["sizes"]
    real = [s["real"] for s in (small, big)]
    return [
        Figure("recover", f"recover run, {small['size']} / {big['size']} pods in the namespace "
                          f"({small['islands']} / {big['islands']} islands): ours wall (CPU)",
               f"{real[0]['ours_wall_s']:.2f} ({real[0]['ours_cpu_s']:.2f}) / "
               f"{real[1]['ours_wall_s']:.2f} ({real[1]['ours_cpu_s']:.2f}) s", f"< {doc['goal_s']:g} s",
               doc["meets_goal"]),
        Figure("recover", "same, the remote kubectl lists (not ours)",
               f"{real[0]['kubectl_s']:.2f} / {real[1]['kubectl_s']:.2f} s", "", None),
        Figure("recover", f"same, ours {big['size']} / {small['size']} pods, wall / CPU "
                          f"(sizes {doc['size_ratio']:.1f}x)",
               f"{doc['real_ours_ratio']:.2f}x / {doc.get('real_ours_cpu_ratio', float('nan')):.2f}x",
               "linear or better",
               max(doc["real_ours_ratio"], doc.get("real_ours_cpu_ratio", 0)) <= doc["size_ratio"] * 1.1),
        Figure("recover", f"drift run (every row synced), ours at {small['size']} / {big['size']} pods",
               f"{small['drift']['ours_wall_s']:.2f} / {big['drift']['ours_wall_s']:.2f} s", "", None),
    ]


def read_clock(out: str) -> list[Figure]:
    doc = _last_json(out)
    one, par = doc["single"], doc["parallel"]
    return [
        Figure("clock", f"clock change -> island reads it, p50 / p99 ({doc['changes']} changes)",
               f"{one['p50_s']:.2f} / {one['p99_s']:.2f} s", f"p99 <= {doc['goal_s']:g} s",
               one["p99_s"] <= doc["goal_s"]),
        Figure("clock", "same, p99 / goal", f"{doc['ratio']:.2f}", "<= 1", doc["ratio"] <= 1),
        *([Figure("clock", "same, p99 / libfaketime's re-read bound (cache duration + 1 s)",
                  f"{doc['bound_ratio']:.2f}", "<= 1", doc["bound_ratio"] <= 1)] if "bound_ratio" in doc else []),
        Figure("clock", f"{par['islands']} islands changed at once: all read it (wall)", f"{par['wall_s']:.2f} s",
               "", None),
        Figure("clock", f"{par['islands']} at once, per island p50 / p99",
               f"{par['latency']['p50_s']:.2f} / {par['latency']['p99_s']:.2f} s", "", None),
        Figure("clock", f"{par['islands']} at once, changes that failed", f"{par['errors']}", "0", par["errors"] == 0),
    ]


def read_metrics(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big = doc["sizes"][str(doc["small"])], doc["sizes"][str(doc["big"])]
    return [
        Figure("metrics", f"/metrics scrape p50 at {doc['small']} / {doc['big']} islands (one GROUP BY)",
               f"{small['scrape_p50_ms']:.1f} / {big['scrape_p50_ms']:.1f} ms", f"< {doc['goal_ms']:g} ms",
               big["scrape_p50_ms"] < doc["goal_ms"]),
        Figure("metrics", f"same, {doc['big']} / {doc['small']} islands", f"{doc['ratio']:.2f}x", "", None),
    ]


def read_usage(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big = doc["results"][0], doc["results"][-1]
    one_call = all(r["poll_calls"] == 1 and r["page_calls"] <= 1 for r in doc["results"])
    return [
        Figure("usage", f"kubectl calls per usage poll at {small['islands']} / {big['islands']} islands "
                        f"(and for {big['page_reads']} page reads)",
               f"{small['poll_calls']} / {big['poll_calls']} ({big['page_calls']})", "1, not 1 per island", one_call),
        Figure("usage", f"usage poll at {small['islands']} / {big['islands']} islands",
               f"{small['poll_seconds']:.2f} / {big['poll_seconds']:.2f} s", f"< {doc['goal_poll_seconds']:g} s",
               big["poll_seconds"] < doc["goal_poll_seconds"]),
        Figure("usage", f"one kubectl call per island instead, {big['islands']} islands",
               f"{big['per_island_calls']} calls, {big['per_island_seconds']:.1f} s", "", None),
    ]


def read_islands_page(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big, r = doc["sizes"][str(doc["small"])], doc["sizes"][str(doc["big"])], doc["ratios"]
    page = f"GET /api/islands?limit={doc['per_page']}"
    figures = [
        Figure("islands_page", f"{page} p50 / p95 at {doc['big']} islands ({big['api_page']['queries']} SQL)",
               f"{big['api_page']['p50_ms']:.1f} / {big['api_page']['p95_ms']:.1f} ms", f"< {doc['goal_ms']:g} ms",
               big["api_page"]["p50_ms"] < doc["goal_ms"]),
        Figure("islands_page", f"same, {doc['big']} / {doc['small']} islands", f"{r['api_page']:.2f}x", "", None),
        Figure("islands_page", f"GET /api/islands unpaged at {doc['small']} / {doc['big']}",
               f"{small['api_all']['p50_ms']:.0f} / {big['api_all']['p50_ms']:.0f} ms", "", None),
    ]
    if "browser" in big:
        b, s = big["browser"], small["browser"]
        figures += [
            Figure("islands_page", f"Chromium: first table at {doc['small']} / {doc['big']} islands",
                   f"{s['first_table_ms']:.0f} / {b['first_table_ms']:.0f} ms", "", None),
            Figure("islands_page", f"Chromium: 100 live updates applied at {doc['small']} / {doc['big']} (script)",
                   f"{s['updates_ms']:.0f} / {b['updates_ms']:.0f} ms ({s['apply_script_ms']:.0f} / "
                   f"{b['apply_script_ms']:.0f} ms)", "", None),
        ]
    return figures


def read_rest_burst(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big = doc["results"]
    goal = next((r for r in doc["results"] if r["n"] == doc["goal_n"]), None)
    figures = [Figure("rest_burst", f"{small['n']} / {big['n']} islands POSTed at once: all ready (every island checked)",
                      f"{small['ready_s']:.1f} / {big['ready_s']:.1f} s", "", None),
               Figure("rest_burst", f"same, {big['n']} / {small['n']} islands", f"{doc['ratio']:.2f}x", "", None)]
    if goal:
        figures.insert(0, Figure("rest_burst", f"{goal['n']} islands through the REST API at once: all ready",
                                 f"{goal['ready_s']:.1f} s", f"< {doc['goal_s']:g} s", goal["ready_s"] < doc["goal_s"]))
    return figures


def read_live_pages(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big = doc["sizes"][str(doc["small"])], doc["sizes"][str(doc["big"])]
    return [
        Figure("live_pages", f"{doc['big']} open pages, {big['events']} transitions of {doc['islands']} islands: "
                             "store -> page p50 / p99",
               f"{big['p50_ms']:.0f} / {big['p99_ms']:.0f} ms", f"p99 < {doc['goal_p99_ms']:g} ms",
               big["p99_ms"] < doc["goal_p99_ms"]),
        Figure("live_pages", f"transitions missed by a page, pages refused a stream ({doc['small']} / {doc['big']})",
               f"{small['missing_total']}, {small['refused']} / {big['missing_total']}, {big['refused']}", "0, 0",
               small["missing_total"] + big["missing_total"] + small["refused"] + big["refused"] == 0),
        Figure("live_pages", f"same, p99 at {doc['small']} pages; {doc['big']} / {doc['small']}",
               f"{small['p99_ms']:.0f} ms; {doc['p99_ratio']:.2f}x", "", None),
        Figure("live_pages", f"server RSS per open page ({doc['small']} / {doc['big']} pages)",
               f"{small['rss_per_page_kib']:.0f} / {big['rss_per_page_kib']:.0f} KiB", "", None),
    ]


def read_idle_check(out: str) -> list[Figure]:
    doc = _last_json(out)
    small, big = doc["results"][0], doc["results"][-1]
    cpu = lambda run: run["cpu_master"] + run["cpu_sandbox"] + run["cpu_ours"]  # noqa: E731
    capped = all(r["steady"]["probed"] <= r["cap"] and r["backlog"]["probed"] <= r["cap"] and
                 r["after_launch"]["probed"] == 0 for r in doc["results"])
    return [
        Figure("idle_check", f"islands probed per run at {small['islands']} / {big['islands']} islands, "
                             "every island (before) -> due ones (steady)",
               f"{small['all']['probed']} / {big['all']['probed']} -> "
               f"{small['steady']['probed']} / {big['steady']['probed']}",
               "N x 1m / 10m, <= the cap", capped),
        Figure("idle_check", f"CPU per run (a run a minute) at {big['islands']} islands, before -> steady",
               f"{cpu(big['all']):.1f} -> {cpu(big['steady']):.1f} s", "5x less or better",
               cpu(big["steady"]) * 5 <= cpu(big["all"])),
        Figure("idle_check", f"overdue backlog at {big['islands']} islands (the run's cap)",
               f"{big['backlog']['probed']} probed, {big['backlog']['seconds']:.1f} s", "", None),
    ]


BENCHES = [
    # name, script, args, quick args, reader, timeout (s)
    ("ssh_roundtrip", "ssh_roundtrip.py", [], ["--n", "200"], read_ssh, 600),
    ("classify", "classify.py", [], ["--seconds", "1"], read_classify, 300),
    ("allocator", "allocator.py", [], [], read_allocator, 600),
    ("launch", "launch.py", ["--json"], ["--json", "--n", "50"], read_launch, 1800),
    ("tracker_latency", "tracker_latency.py", ["--json"], ["--json", "--changes", "60", "--bursts", "20", "50"],
     read_tracker, 3600),
    ("recover", "recover.py", ["--json"], ["--json", "--sizes", "200", "1000"], read_recover, 2400),
    ("clock", "clock.py", ["--json"], ["--json", "--changes", "10", "--islands", "5"], read_clock, 1200),
    ("metrics", "metrics.py", ["--json"], ["--json", "--scrapes", "50"], read_metrics, 600),
    ("usage", "usage.py", ["--json"], ["--json", "--sizes", "5", "20"], read_usage, 1500),
    ("islands_page", "islands_page.py", ["--json"], ["--json", "--requests", "10", "--rounds", "1"],
     read_islands_page, 1500),
    ("rest_burst", "rest_burst.py", ["--json"], ["--json", "--sizes", "50", "100"], read_rest_burst, 3600),
    ("idle_check", "idle_check.py", ["--json"], ["--json", "--sizes", "10", "50"], read_idle_check, 2400),
    ("live_pages", "live_pages.py", ["--json"], ["--json", "--pages", "10", "50", "--islands", "50"],
     read_live_pages, 900),
]


def run_one(name: str, script: str, args: list[str], reader, timeout: float) -> tuple[list[Figure], float]:
    path = HERE / script
    if not path.exists():
        return [Figure(name, "script missing", script, "", False)], 0.0
    print(f"\n=== {name}: {script} {' '.join(args)}", flush=True)
    started = time.monotonic()
    lines = []
    try:
        proc = subprocess.Popen([sys.executable, str(path), *args], stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, cwd=HERE.parent)
        try:
            deadline = started + timeout
            for line in proc.stdout:
                lines.append(line)
                if not line.startswith("{"):
                    print("   " + line, end="", flush=True)
                if time.monotonic() > deadline:
                    raise subprocess.TimeoutExpired(script, timeout)
            proc.wait(timeout=max(1.0, deadline - time.monotonic()))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(30)
    except subprocess.TimeoutExpired:
        return [Figure(name, "did not finish", f"> {timeout:.0f} s", "", False)], time.monotonic() - started
    seconds = time.monotonic() - started
    try:
        return reader("".join(lines)), seconds
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        return [Figure(name, f"figures unreadable (exit {proc.returncode}: {exc})", "-", "", False)], seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes, for a smoke run")
    parser.add_argument("--only", nargs="*", help="run only these benchmarks")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown rows")
    args = parser.parse_args()
    date = time.strftime("%Y-%m-%d %H:%M %Z")
    box = machine()
    figures: list[Figure] = []
    took = {}
    for name, script, full, quick, reader, timeout in BENCHES:
        if args.only and name not in args.only:
            continue
        got, took[name] = run_one(name, script, quick if args.quick else full, reader, timeout)
        figures += got
    print(f"\n{date}  {box}{'  (--quick sizes)' if args.quick else ''}")
    if args.markdown:
        print("| benchmark | figure | measured | goal | verdict |\n|---|---|---|---|---|")
        for f in figures:
            verdict = "" if f.met is None else ("met" if f.met else "**missed**")
            print(f"| {f.bench} | {f.name} | {f.value} | {f.goal} | {verdict} |")
    else:
        width = max(len(f.name) for f in figures)
        print(f"{'benchmark':<16} {'figure':<{width}} {'measured':>18}  {'goal':<14} verdict")
        for f in figures:
            verdict = "" if f.met is None else ("met" if f.met else "MISSED")
            print(f"{f.bench:<16} {f.name:<{width}} {f.value:>18}  {f.goal:<14} {verdict}")
    print("seconds per script: " + ", ".join(f"{k} {v:.0f}" for k, v in took.items()))
    return 1 if any(f.met is False for f in figures) else 0


if __name__ == "__main__":
    raise SystemExit(main())
