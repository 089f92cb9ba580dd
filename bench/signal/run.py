"""Run the Signal benchmark: our implementation and npm libsignal, same modes, same run.

    python -m bench.signal [--steady N] [--ping-pong N] [--new-sessions N]
    python bench/signal/run.py ...

Prints, per mode, without and with persistence, for both implementations: encrypt+decrypt
operations per second and their ratio (ours / Node), and each process's CPU time per operation
(all its threads) and that ratio (Node's / ours: above 1, ours costs less CPU). The two
implementations run alternately, ``--rounds`` times, and the median of each figure is reported:
on a shared machine this keeps a burst of load from landing on one side only. CPU time moves
less with the machine's load than wall time does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # when run as a script
    sys.path.insert(0, str(ROOT))

from bench.signal.python_bench import MODES, Figures  # noqa: E402
from bench.signal.python_bench import run as run_python  # noqa: E402


def ensure_node_modules() -> None:
    node_dir = ROOT / "tests" / "signal" / "node"
    if not (node_dir / "node_modules" / "libsignal").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir, check=True,
                       stdout=subprocess.DEVNULL)


def run_node(counts: dict[str, int]) -> dict[tuple[str, bool], Figures]:
    ensure_node_modules()
    out = subprocess.run(
        ["node", str(Path(__file__).with_name("node_bench.js")), str(counts["steady"]),
         str(counts["ping-pong"]), str(counts["new-sessions"])],
        check=True, capture_output=True, text=True)
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    return {(key.split("/")[0], key.split("/")[1] == "true"): (rate, cpu)
            for key, (rate, cpu) in raw.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.signal")
    parser.add_argument("--steady", type=int, default=2000)
    parser.add_argument("--ping-pong", type=int, default=1000)
    parser.add_argument("--new-sessions", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    counts = {"steady": args.steady, "ping-pong": args.ping_pong,
              "new-sessions": args.new_sessions}
    ours_runs, node_runs = [], []
    for _ in range(args.rounds):
        ours_runs.append(asyncio.run(run_python(counts)))
        node_runs.append(run_node(counts))
    ours = {k: tuple(statistics.median(r[k][i] for r in ours_runs) for i in (0, 1))
            for k in ours_runs[0]}
    node = {k: tuple(statistics.median(r[k][i] for r in node_runs) for i in (0, 1))
            for k in node_runs[0]}
    node_version = subprocess.run(["node", "--version"], capture_output=True,
                                  text=True).stdout.strip()
    print(f"Signal encrypt+decrypt operations per second (Python {platform.python_version()}, "
          f"node {node_version}, {counts}, median of {args.rounds} alternating rounds)")
    print(f"{'':<27}{'operations/s':^31}{'CPU µs/operation':^31}")
    print(f"{'mode':<14}{'persistence':<13}{'ours':>10}{'libsignal':>12}{'ratio':>9}"
          f"{'ours':>10}{'libsignal':>12}{'ratio':>9}")
    for mode in MODES:
        for persistent in (False, True):
            (a, a_cpu), (b, b_cpu) = ours[(mode, persistent)], node[(mode, persistent)]
            print(f"{mode:<14}{'on' if persistent else 'off':<13}{a:>10.0f}{b:>12.0f}"
                  f"{a / b:>8.2f}x{a_cpu:>10.0f}{b_cpu:>12.0f}{b_cpu / a_cpu:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
