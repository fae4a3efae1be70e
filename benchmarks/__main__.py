"""``python -m benchmarks`` (what ``python -m lenet bench`` runs): prints the results as JSON."""

from __future__ import annotations

import argparse
import json

from benchmarks.suite import run_benchmarks


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m lenet bench", description=__doc__)
    p.add_argument("--json", action="store_true", help="one line of JSON instead of indented")
    p.add_argument("--only", default=None, help="comma-separated subset of benchmarks")
    p.add_argument(
        "--dashboard", action="store_true", help="also measure training behind the dashboard"
    )
    p.add_argument(
        "--paper",
        action="store_true",
        help="also run the 1998 recipes end to end (paper, paper-fast, distorted; ~30 min)",
    )
    p.add_argument(
        "--classroom",
        type=int,
        metavar="N",
        default=0,
        help="also run a class of N students in Chromium through one server (~5 min for 30)",
    )
    p.add_argument(
        "--baseline",
        action="store_true",
        help="also run the training benchmarks with the trainer as it was (LENET_BASELINE=1) "
        "and compare",
    )
    p.add_argument(
        "--ray",
        action="store_true",
        help="also train on a local Ray cluster against a local worker (~3 min; needs unshare)",
    )
    args = p.parse_args()
    only = args.only.split(",") if args.only else None
    results = run_benchmarks(
        only=only,
        dashboard=args.dashboard,
        paper=args.paper,
        classroom=args.classroom,
        baseline=args.baseline,
        ray=args.ray,
    )
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
