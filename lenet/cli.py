"""``python -m lenet data | train | eval | runs | bench``.

Progress goes to stderr; ``--json`` puts one JSON object on the last line of stdout, so scripts
can read results without parsing progress bars. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, fields, replace

__all__ = ["main", "build_parser"]


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


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    from lenet.model import INITS, VARIANTS
    from lenet.train import OPTIMIZERS, PRESETS, RECIPES, SCHEDULES

    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="default",
        help="start from a named configuration; flags below override it",
    )
    types = {
        "epochs": _positive_int,
        "batch_size": _positive_int,
        "lr": _positive_float,
        "train_subset": _nonneg_int,
        "threads": _positive_int,
        "log_every": _positive_int,
        "eval_batch_size": _positive_int,
    }
    choices = {
        "variant": VARIANTS,
        "optimizer": OPTIMIZERS,
        "schedule": SCHEDULES,
        "init": INITS,
        "recipe": RECIPES,
    }
    from lenet.train import TrainConfig

    for f in fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = types.get(f.name, f.type if f.type in ("int", "float") else None)
        kind = {"int": int, "float": float}.get(kind, kind) if isinstance(kind, str) else kind
        if f.type == "bool":
            p.add_argument(flag, action="store_true", default=None)
        elif f.name in choices:
            p.add_argument(flag, choices=choices[f.name], default=None)
        else:
            p.add_argument(flag, type=kind or float, default=None)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m lenet", description="LeNet-5 Lab command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="find or fetch MNIST and verify its checksums")
    t = sub.add_parser("train", help="train LeNet-5 and store the run")
    _add_config_flags(t)
    t.add_argument("--json", action="store_true", help="print a JSON summary as the last line")
    t.add_argument("--no-store", action="store_true", help="don't write a run folder")
    e = sub.add_parser("eval", help="evaluate a stored run on the test set")
    e.add_argument("--run", required=True, help="run id (see `python -m lenet runs`)")
    e.add_argument("--epoch", type=_nonneg_int, default=None)
    e.add_argument("--json", action="store_true")
    r = sub.add_parser("runs", help="list stored runs")
    r.add_argument("--json", action="store_true")
    b = sub.add_parser("bench", help="measure speed and memory (see README)")
    b.add_argument("--json", action="store_true")
    b.add_argument("--only", default=None, help="comma-separated subset of benchmarks")
    b.add_argument(
        "--dashboard", action="store_true", help="also measure training behind the dashboard"
    )
    b.add_argument(
        "--paper",
        action="store_true",
        help="also run the 1998 recipes end to end (paper, paper-fast, paper with distortions; ~30 min)",
    )
    return parser


def _config_from_args(args) -> TrainConfig:
    from lenet.train import PRESETS, TrainConfig

    overrides = {
        f.name: getattr(args, f.name)
        for f in fields(TrainConfig)
        if getattr(args, f.name, None) is not None
    }
    return replace(PRESETS[args.preset], **overrides)


def _cmd_data(args) -> int:
    from tqdm import tqdm

    from lenet.data import ensure_mnist

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


def _cmd_train(args) -> int:
    import time

    from tqdm import tqdm

    from lenet.runs import RunStore
    from lenet.train import train

    cfg = _config_from_args(args)
    cfg.validate()
    print("config: " + json.dumps(asdict(cfg)), file=sys.stderr)
    bar = None

    def on_event(ev: dict) -> None:
        nonlocal bar
        if ev["type"] == "start":
            bar = tqdm(total=ev["total_steps"], unit="batch", file=sys.stderr, dynamic_ncols=True)
        elif ev["type"] == "batch" and bar is not None:
            bar.update(ev["step"] - bar.n)
            bar.set_postfix(
                epoch=ev["epoch"], loss=f"{ev['loss']:.3f}", img_s=f"{ev['images_per_s']:.0f}"
            )
        elif ev["type"] == "epoch":
            tqdm.write(
                f"epoch {ev['epoch']}: train loss {ev['train_loss']:.4f} acc {ev['train_acc']:.2f}% | "
                f"test loss {ev['test_loss']:.4f} top-1 {ev['test_acc']:.2f}% top-3 {ev['test_top3']:.2f}%",
                file=sys.stderr,
            )

    t0 = time.perf_counter()
    result = train(cfg, store=None if args.no_store else RunStore(), on_event=on_event)
    if bar is not None:
        bar.close()
    if result.status != "finished":
        print(f"{result.status}: {result.message}", file=sys.stderr)
    final = result.final
    done = next(e for e in reversed(result.history) if e["type"] in ("done", "stopped", "diverged"))
    summary = {
        "run_id": result.run_id,
        "status": result.status,
        "variant": cfg.variant,
        "epochs": final.get("epoch", 0),
        "test_accuracy": final.get("test_acc"),
        "test_top3_accuracy": final.get("test_top3"),
        "test_loss": final.get("test_loss"),
        "train_seconds": round(done["train_seconds"], 3),
        "images_per_second": round(final.get("images_per_s", 0.0), 1),
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"run {result.run_id}: {result.status}, test accuracy "
            f"{summary['test_accuracy'] if summary['test_accuracy'] is not None else '-'} %"
        )
    return 0 if result.status in ("finished", "stopped") else 1


def _cmd_eval(args) -> int:
    from lenet.data import load_split
    from lenet.metrics import evaluate_classification
    from lenet.runs import CheckpointError, RunStore

    try:
        run = RunStore().get(args.run)
        model = run.load_model(args.epoch)
    except (KeyError, CheckpointError) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    test = load_split("test", "paper" if model.variant == "paper" else "mnist")
    m = evaluate_classification(model, test, topk=(1, 3))
    out = {
        "run_id": run.id,
        "epoch": args.epoch if args.epoch is not None else run.epochs()[-1],
        "test_accuracy": m["top1"],
        "test_top3_accuracy": m["top3"],
        "test_loss": m["loss"],
    }
    print(
        json.dumps(out)
        if args.json
        else f"run {run.id} epoch {out['epoch']}: top-1 {m['top1']:.2f}%  top-3 {m['top3']:.2f}%  loss {m['loss']:.4f}"
    )
    return 0


def _cmd_runs(args) -> int:
    from lenet.runs import RunStore

    infos = RunStore().list()
    if args.json:
        print(json.dumps([asdict(i) for i in infos]))
        return 0
    if not infos:
        print("no runs yet: python -m lenet train")
    for i in infos:
        acc = f"{i.best_test_acc:.2f}%" if i.best_test_acc is not None else "-"
        print(
            f"{i.id}  {i.status:<11} {i.variant:<8} epochs {i.epochs_done:<3} best {acc}  {i.message}"
        )
    return 0


def _cmd_bench(args) -> int:
    from lenet.bench import run_benchmarks

    results = run_benchmarks(
        only=args.only.split(",") if args.only else None, dashboard=args.dashboard, paper=args.paper
    )
    print(json.dumps(results, indent=None if args.json else 2))
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from lenet.data import MnistUnavailable
    from lenet.train import ConfigError

    try:
        return {
            "data": _cmd_data,
            "train": _cmd_train,
            "eval": _cmd_eval,
            "runs": _cmd_runs,
            "bench": _cmd_bench,
        }[args.command](args)
    except ConfigError as e:
        parser.exit(2, f"python -m lenet: error: {e}\n")
    except MnistUnavailable as e:
        print(str(e), file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
