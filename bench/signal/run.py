"""Run the Signal benchmark: our implementation and npm libsignal, same modes, same run.

    python -m bench.signal [--steady N] [--ping-pong N] [--new-sessions N]
    python bench/signal/run.py ...

Prints encrypt+decrypt operations per second per mode, without and with persistence, for both
implementations and the ratio (ours / Node). The two implementations run alternately, ``--rounds``
times, and the median of each is reported: on a shared machine this keeps a burst of load from
landing on one side only.
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

from bench.signal.python_bench import MODES  # noqa: E402
from bench.signal.python_bench import run as run_python  # noqa: E402


def ensure_node_modules() -> None:
    node_dir = ROOT / "tests" / "signal" / "node"
    if not (node_dir / "node_modules" / "libsignal").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=node_dir, check=True,
                       stdout=subprocess.DEVNULL)


def run_node(counts: dict[str, int]) -> dict[tuple[str, bool], float]:
    ensure_node_modules()
    out = subprocess.run(
        ["node", str(Path(__file__).with_name("node_bench.js")), str(counts["steady"]),
         str(counts["ping-pong"]), str(counts["new-sessions"])],
        check=True, capture_output=True, text=True)
    raw = json.loads(out.stdout.strip().splitlines()[-1])
    return {(key.split("/")[0], key.split("/")[1] == "true"): value for key, value in raw.items()}


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
    ours = {k: statistics.median(r[k] for r in ours_runs) for k in ours_runs[0]}
    node = {k: statistics.median(r[k] for r in node_runs) for k in node_runs[0]}
    node_version = subprocess.run(["node", "--version"], capture_output=True,
                                  text=True).stdout.strip()
    print(f"Signal encrypt+decrypt operations per second (Python {platform.python_version()}, "
          f"node {node_version}, {counts}, median of {args.rounds} alternating rounds)")
    print(f"{'mode':<14}{'persistence':<13}{'ours':>10}{'libsignal':>12}{'ratio':>9}")
    for mode in MODES:
        for persistent in (False, True):
            a, b = ours[(mode, persistent)], node[(mode, persistent)]
            print(f"{mode:<14}{'on' if persistent else 'off':<13}{a:>10.0f}{b:>12.0f}"
                  f"{a / b:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
