"""``python -m lenet data | train | eval | embed | export | ladder | runs | bench``: the parser
and the commands' common exits; the commands themselves live in ``training`` and ``stored``.

Progress goes to stderr; ``--json`` puts one JSON object on the last line of stdout, so scripts
can read results without parsing progress bars. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

from tqdm import tqdm

from lenet.analysis.embed import EMBED_LAYERS, METHODS
from lenet.cli.stored import cmd_embed, cmd_eval, cmd_export, cmd_runs
from lenet.cli.training import cmd_ladder, cmd_train, config_from_args
from lenet.data import MnistUnavailable, ensure_mnist
from lenet.models import INITS, VARIANTS
from lenet.runs import ladder
from lenet.serving.cluster import ClusterUnavailable
from lenet.training import (
    DEVICES,
    OPTIMIZERS,
    PRESETS,
    RECIPES,
    SCHEDULES,
    ConfigError,
    TrainConfig,
)

__all__ = ["main", "build_parser", "config_from_args"]

CHECKOUT = Path(__file__).resolve().parents[2]  # benchmarks/ sits beside the package there


def _positive_int(text: str) -> int:
    v = int(text)
    if v < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of 1 or more, got {text}")
    return v


def _nonneg_int(text: str) -> int:
    v = int(text)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {text}")
    return v


def _positive_float(text: str) -> float:
    v = float(text)
    if not v > 0 or v == float("inf"):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return v


_TYPES = {
    "epochs": _positive_int,
    "batch_size": _positive_int,
    "lr": _positive_float,
    "train_subset": _nonneg_int,
    "threads": _positive_int,
    "log_every": _positive_int,
    "eval_batch_size": _positive_int,
    "seed": int,
    "momentum": float,
    "weight_decay": float,
    "class_share": float,
}
_CHOICES = {
    "optimizer": OPTIMIZERS,
    "schedule": SCHEDULES,
    "init": INITS,
    "recipe": RECIPES,
    "device": DEVICES,
}


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default=None,
        help="start from a named configuration (default: the recipe's own preset, else "
        "'default'); the flags below override it",
    )
    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        if f.name in _CHOICES:
            p.add_argument(flag, choices=_CHOICES[f.name], default=None)
        elif f.type == "bool":  # --distort / --no-distort: a preset's True can be turned off
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif f.name == "variant":
            p.add_argument(flag, default=None, help=f"{', '.join(VARIANTS)}, or one with "
                           "options changed, e.g. paper,output=linear (see README)")  # fmt: skip
        else:
            p.add_argument(flag, type=_TYPES[f.name], default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lenet", description="LeNet-5 Lab command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="find or fetch MNIST and verify its checksums")
    t = sub.add_parser("train", help="train LeNet-5 and store the run")
    _add_config_flags(t)
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    t.add_argument("--no-store", action="store_true", help="don't write a run folder")
    t.add_argument(
        "--ray",
        metavar="HOST:PORT",
        default=os.environ.get("LENET_RAY_ADDRESS") or None,
        help="train on the Ray cluster whose head is at HOST:PORT (default: $LENET_RAY_ADDRESS); "
        "the runs folder must be one every node sees",
    )
    t.add_argument(
        "--resume",
        metavar="RUN_ID",
        default=None,
        help="go on with an interrupted run from its newest checkpoint, with its own settings",
    )
    e = sub.add_parser("eval", help="evaluate a stored run on the test set")
    e.add_argument("--run", required=True, help="run id (see `python -m lenet runs`)")
    e.add_argument("--epoch", type=_nonneg_int, default=None)
    e.add_argument("--json", action="store_true")
    m = sub.add_parser(
        "embed", help="map a run's test digits to 2-D by their F6 (or C5) outputs, kept in the run"
    )
    m.add_argument("--run", required=True, help="run id (see `python -m lenet runs`)")
    m.add_argument("--epoch", type=_nonneg_int, default=None, help="default: the newest")
    m.add_argument("--layer", choices=EMBED_LAYERS, default="F6")
    m.add_argument("--method", choices=METHODS, default="pca")
    m.add_argument("--json", action="store_true", help="print the 10,000 points as JSON")
    m.add_argument("--quiet", action="store_true", help="print nothing (the dashboard's use)")
    x = sub.add_parser(
        "export", help="a checkpoint as ONNX, or the run's curves as TensorBoard event files"
    )
    x.add_argument("--run", required=True, help="run id (see `python -m lenet runs`)")
    x.add_argument("--epoch", type=_nonneg_int, default=None, help="--onnx: default the newest")
    to = x.add_mutually_exclusive_group(required=True)
    to.add_argument("--onnx", metavar="FILE", help="write the ONNX model here (replaced if there)")
    to.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="write event files into DIR/<run id>/ (an earlier export there is replaced); "
        "open them with: tensorboard --logdir DIR",
    )
    la = sub.add_parser(
        "ladder",
        help="1998 -> today one change at a time: train each step, print its test error",
    )
    la.add_argument("--quick", action="store_true",
                    help=f"{ladder.QUICK_EPOCHS} passes per step instead of "
                    f"{ladder.FULL_EPOCHS} (about 6 minutes on two cores)")  # fmt: skip
    la.add_argument("--seeds", type=_positive_int, default=1,
                    help="train every step with seeds 0 … N-1 (default 1)")  # fmt: skip
    la.add_argument("--only", default=None, metavar="KEY,KEY",
                    help="only these steps: " + ", ".join(s.key for s in ladder.STEPS))  # fmt: skip
    la.add_argument("--train-subset", type=_nonneg_int, default=0, metavar="N",
                    help="train every step on N images (a try-out; 0: all 60,000)")  # fmt: skip
    r = sub.add_parser("runs", help="list stored runs")
    r.add_argument("--json", action="store_true")
    b = sub.add_parser(
        "bench", add_help=False, help="measure speed and memory (`bench --help` for its flags)"
    )
    b.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def _cmd_data(args) -> int:
    bar = tqdm(
        total=100, unit="%", file=sys.stderr, leave=False, bar_format="{desc} {bar} {n:.0f}%"
    )

    def progress(message: str, fraction: float | None) -> None:
        bar.set_description_str(message)
        if fraction is not None:
            bar.n = round(100 * fraction)
        bar.refresh()

    root = ensure_mnist(progress=progress)
    bar.close()
    print(f"MNIST ready and verified in {root}", file=sys.stderr)
    return 0


def _cmd_bench(args) -> int:
    """The benchmarks start servers and browsers, so they live in the checkout's benchmarks/,
    outside the package; this runs them there."""
    if not (CHECKOUT / "benchmarks" / "__main__.py").is_file():
        print(
            "error: benchmarks run from a checkout of LeNet-5 Lab (benchmarks/ is not "
            "installed with the package)",
            file=sys.stderr,
        )
        return 2
    return subprocess.call([sys.executable, "-m", "benchmarks", *args.args], cwd=CHECKOUT)


COMMANDS = {
    "data": _cmd_data,
    "train": cmd_train,
    "eval": cmd_eval,
    "embed": cmd_embed,
    "export": cmd_export,
    "ladder": cmd_ladder,
    "runs": cmd_runs,
    "bench": _cmd_bench,
}


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["bench"]:  # the rest is benchmarks/' own: REMAINDER would refuse "--json"
        args = argparse.Namespace(command="bench", args=argv[1:])
    else:
        args = parser.parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except ConfigError as e:
        parser.exit(2, f"python -m lenet: error: {e}\n")
    except MnistUnavailable as e:
        print(str(e), file=sys.stderr)
        return 3
    except ClusterUnavailable as e:
        print(f"python -m lenet: {e}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
