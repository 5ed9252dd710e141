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
    ]


def read_recover(out: str) -> list[Figure]:
    m = re.search(r"^real run: (\d+) islands.*?median ([\d.]+) s total = kubectl list over SSH ([\d.]+) s", out, re.M)
    plan = _num(r"^planning, synthetic: .*?([\d.]+) ms", out)
    figures = []
    if m:
        n, total, kube = int(m.group(1)), float(m.group(2)), float(m.group(3))
        figures.append(Figure("recover", f"recover run at {n} islands (kubectl part)",
                              f"{total:.2f} s ({kube:.2f} s)", "< 5 s", total < 5))
    if plan is not None:
        figures.append(Figure("recover", "planning alone, synthetic", f"{plan:.0f} ms", "", None))
    if not figures:
        raise ValueError("no figures found")
    return figures


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


BENCHES = [
    # name, script, args, quick args, reader, timeout (s)
    ("ssh_roundtrip", "ssh_roundtrip.py", [], ["--n", "200"], read_ssh, 600),
    ("classify", "classify.py", [], ["--seconds", "1"], read_classify, 300),
    ("allocator", "allocator.py", [], [], read_allocator, 600),
    ("launch", "launch.py", ["--json"], ["--json", "--n", "50"], read_launch, 1800),
    ("tracker_latency", "tracker_latency.py", ["--json"], ["--json", "--changes", "60"], read_tracker, 900),
    ("recover", "recover.py", [], ["--islands", "300"], read_recover, 2400),
    ("clock", "clock.py", ["--json"], ["--json", "--changes", "10", "--islands", "5"], read_clock, 1200),
    ("metrics", "metrics.py", ["--json"], ["--json", "--scrapes", "50"], read_metrics, 600),
    ("usage", "usage.py", ["--json"], ["--json", "--sizes", "5", "20"], read_usage, 1500),
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
