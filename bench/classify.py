"""Classification throughput: watch-event lines parsed and classified per second, one thread (one core).

Run: .venv/bin/python bench/classify.py [--seconds 3]

The lines are the pod fixtures of tests/unit/pods (kubectl 1.35 -o json shapes, managedFields
hidden as kubectl does by default, last-applied annotation present as client-side apply leaves
it), printed as ``kubectl get pods -w --output-watch-events -o json`` would: one compact event
per line. A second run gives every pod the seed's full hostAliases list (the largest pods we
expect). Goal: >= 20,000 events/s, so one tracker keeps up with bursts of hundreds of islands.
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from island_ssh.podstate import classify  # noqa: E402
from island_ssh.watch import JSON_PARSER, parse_watch_line  # noqa: E402

GOAL = 20_000
PODS = ROOT / "tests" / "unit" / "pods"
SEED_ALIASES = [
    ("10.18.1.203", 5), ("10.17.1.113", 15), ("10.18.1.6", 6), ("10.17.1.76", 5), ("10.17.1.223", 3), ("10.17.1.95", 2),
]


def fixture_lines(seed_sized: bool) -> list[bytes]:
    lines = []
    for path in sorted(PODS.glob("*.json")):
        pod = json.loads(path.read_text(encoding="utf-8"))
        if seed_sized:
            pod = copy.deepcopy(pod)
            pod["spec"]["hostAliases"] = [
                {"ip": ip, "hostnames": [f"host{i}.{ip.replace('.', '-')}.example.com" for i in range(n)]}
                for ip, n in SEED_ALIASES
            ]
        for kind in ("ADDED", "MODIFIED", "MODIFIED"):
            event = {"type": kind, "object": pod}
            lines.append(json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    return lines


def measure(lines: list[bytes], seconds: float) -> tuple[float, float]:
    """(events per CPU second, events per wall second), best of five rounds sharing ``seconds``.

    CPU time is what one core gives the tracker; wall time also counts whatever else the
    machine runs meanwhile (other test suites), so it is shown but not judged.
    """
    best_cpu = best_wall = 0.0
    for _ in range(5):
        count = 0
        wall0, cpu0 = time.perf_counter(), time.process_time()
        deadline = wall0 + seconds / 5
        while True:
            for line in lines:
                event = parse_watch_line(line)
                classify(event.object, "altraserver")
            count += len(lines)
            wall = time.perf_counter()
            if wall >= deadline:
                break
        cpu = time.process_time() - cpu0
        best_cpu = max(best_cpu, count / cpu if cpu > 0 else 0.0)
        best_wall = max(best_wall, count / (wall - wall0))
    return best_cpu, best_wall


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="wall time per measurement")
    args = parser.parse_args()
    print(f"python {platform.python_version()}, JSON parser: {JSON_PARSER}, goal >= {GOAL:,} events/s")
    ok = True
    for label, seed_sized in (("fixture pods", False), ("seed-sized pods (6 hostAliases, 36 names)", True)):
        lines = fixture_lines(seed_sized)
        size = sum(map(len, lines)) // len(lines)
        rate, wall_rate = measure(lines, args.seconds)
        verdict = "OK" if rate >= GOAL else "BELOW GOAL"
        ok = ok and rate >= GOAL
        print(f"{label:44s} avg line {size:5,d} B  {rate:8,.0f} events/CPU-s  "
              f"({wall_rate:,.0f}/wall-s)  {verdict}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
