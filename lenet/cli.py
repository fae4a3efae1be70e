"""``python -m lenet data | train | eval | embed | export | runs | bench``.

Progress goes to stderr; ``--json`` puts one JSON object on the last line of stdout, so scripts
can read results without parsing progress bars. Bad arguments exit with status 2 and one line.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, fields
from pathlib import Path

from tqdm import tqdm

from lenet.analysis.embed import EMBED_LAYERS, METHODS, Embedding, cached_embedding, embedding
from lenet.analysis.metrics import evaluate_classification
from lenet.data import MnistUnavailable, ensure_mnist, load_split
from lenet.models import INITS, VARIANTS, normalization_of
from lenet.runs import (
    CheckpointError,
    MissingPackage,
    RunStore,
    export_onnx,
    export_tensorboard,
    ladder,
)
from lenet.serving.cluster import ClusterUnavailable, connect
from lenet.serving.embeddings import compute_in_background_process, embedding_path
from lenet.training import (
    DEVICES,
    OPTIMIZERS,
    PRESETS,
    RECIPES,
    SCHEDULES,
    ConfigError,
    TrainConfig,
    configure_threads,
    make_config,
    train,
)
from lenet.training import events as ev

__all__ = ["main", "build_parser", "config_from_args"]

CHECKOUT = Path(__file__).resolve().parents[1]  # benchmarks/ sits beside the package there


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


def _progress_printer():
    """An ``on_event`` that draws a progress bar and one line per epoch on stderr."""
    bar = None

    def on_event(e: dict) -> None:
        nonlocal bar
        if e["type"] in ("start", "resume"):
            bar = tqdm(
                total=e["total_steps"],
                initial=e.get("step", 0),
                unit="step",
                file=sys.stderr,
                dynamic_ncols=True,
            )
        elif e["type"] == "batch" and bar is not None:
            bar.update(e["step"] - bar.n)
            bar.set_postfix(
                epoch=e["epoch"], loss=f"{e['loss']:.3f}", img_s=f"{e['images_per_s']:.0f}"
            )
        elif e["type"] == "epoch":
            tqdm.write(
                f"epoch {e['epoch']}: train loss {e['train_loss']:.4f} "
                f"acc {e['train_acc']:.2f}% | test loss {e['test_loss']:.4f} "
                f"top-1 {e['test_acc']:.2f}% top-3 {e['test_top3']:.2f}%",
                file=sys.stderr,
            )
        elif e["type"] in ev.END_EVENTS and bar is not None:
            bar.close()

    return on_event


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The configuration ``train``'s flags describe: the preset (or the recipe's own) with
    every flag given on top; ``ConfigError`` if it can't train."""
    given = {f.name: getattr(args, f.name) for f in fields(TrainConfig)}
    return make_config(args.preset, **{k: v for k, v in given.items() if v is not None})


def _resumed_run(args):
    """(config, run) of the interrupted run ``--resume`` names; ConfigError when it can't."""
    given = [f.name for f in fields(TrainConfig) if getattr(args, f.name, None) is not None]
    if given or args.preset or args.no_store:
        flags = ", ".join("--" + g.replace("_", "-") for g in given) or "--preset/--no-store"
        raise ConfigError(f"--resume goes on with the run's own settings; drop {flags}")
    try:
        run = RunStore().get(args.resume)
    except KeyError:
        raise ConfigError(f"--resume {args.resume}: there is no such run") from None
    info = run.info()
    if not info.resumable:
        raise ConfigError(f"--resume {args.resume}: the run is {info.status} with "
                          f"{info.epochs_done} finished epoch(s); only an interrupted run "
                          "with epochs left can go on")  # fmt: skip
    run.set_state(ev.RUNNING, pid=os.getpid(), started=time.time(), message="")
    return TrainConfig.from_dict(run.config).validate(), run


def _train_on_cluster(args, cfg: TrainConfig, run):
    """``train --ray``: the same run, trained by an actor on the cluster and followed here."""
    if args.no_store:
        raise ConfigError("--ray trains into the runs folder every node shares; drop --no-store")
    connect(args.ray)  # ClusterUnavailable: the address and the reason
    from lenet.serving.ray_runner import train_on_cluster  # imports Ray: only with --ray

    resume = run is not None
    run = run or RunStore().create(asdict(cfg))
    print(f"training run {run.id} on the Ray cluster at {args.ray}", file=sys.stderr)
    return train_on_cluster(cfg, run, resume, _progress_printer())


def _cmd_train(args) -> int:
    run = None
    if args.resume:
        cfg, run = _resumed_run(args)
    else:
        cfg = config_from_args(args)
    print("config: " + json.dumps(asdict(cfg)), file=sys.stderr)
    t0 = time.perf_counter()
    if args.ray:
        result = _train_on_cluster(args, cfg, run)
    else:
        store = None if args.no_store or run is not None else RunStore()
        result = train(cfg, store=store, run=run, resume=run is not None,
                       on_event=_progress_printer())  # fmt: skip
    if result.status != ev.FINISHED:
        print(f"{result.status}: {result.message}", file=sys.stderr)
    final, end = result.final, ev.end_event(result.history)
    summary = {
        "run_id": result.run_id,
        "status": result.status,
        "variant": cfg.variant,
        "epochs": final.get("epoch", 0),
        "test_accuracy": final.get("test_acc"),
        "test_top3_accuracy": final.get("test_top3"),
        "test_loss": final.get("test_loss"),
        "train_seconds": round(end["train_seconds"], 3),
        "images_per_second": round(final.get("images_per_s", 0.0), 1),
        "wall_seconds": round(time.perf_counter() - t0, 3),
    }
    if args.json:
        print(json.dumps(summary))
    else:
        acc = summary["test_accuracy"]
        print(f"run {result.run_id}: {result.status}, test accuracy {acc if acc else '-'} %")
    return 0 if result.status in (ev.FINISHED, ev.STOPPED) else 1


def _cmd_eval(args) -> int:
    try:
        run = RunStore().get(args.run)
        model = run.load_model(args.epoch)
    except (KeyError, CheckpointError) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    test = load_split("test", normalization_of(model.variant))
    m = evaluate_classification(model, test, topk=(1, 3))
    out = {
        "run_id": run.id,
        "epoch": args.epoch if args.epoch is not None else run.epochs()[-1],
        "test_accuracy": m["top1"],
        "test_top3_accuracy": m["top3"],
        "test_loss": m["loss"],
    }
    if args.json:
        print(json.dumps(out))
    else:
        print(
            f"run {run.id} epoch {out['epoch']}: top-1 {m['top1']:.2f}%  "
            f"top-3 {m['top3']:.2f}%  loss {m['loss']:.4f}"
        )
    return 0


def _cmd_embed(args) -> int:
    try:
        run = RunStore().get(args.run)
        epoch = run.epochs()[-1] if args.epoch is None else args.epoch
        model = run.load_model(epoch)
    except (KeyError, IndexError, CheckpointError) as e:
        message = e.args[0] if e.args else f"run {args.run} has no checkpoint yet"
        print(f"error: {message}", file=sys.stderr)
        return 2
    configure_threads(TrainConfig().threads)
    test = load_split("test", normalization_of(model.variant))
    started = time.perf_counter()

    def compute() -> bytes:
        return embedding(
            model, test, args.layer, args.method, threads=TrainConfig().threads
        ).to_bytes()

    if args.method == "tsne":  # the dashboard's background maps go through the same path
        compute_in_background_process(run, epoch, args.layer, compute)
        result = Embedding.from_file(embedding_path(run, epoch, args.layer, "tsne"))
    else:
        result = cached_embedding(
            model, test, embedding_path(run, epoch, args.layer, "pca"), args.layer, "pca"
        )
    seconds = time.perf_counter() - started
    if args.json:
        print(json.dumps({"run_id": run.id, "epoch": epoch, "layer": args.layer,
                          "method": args.method, "seconds": round(seconds, 2),
                          "points": result.points.round(4).tolist()}))  # fmt: skip
    elif not args.quiet:
        print(
            f"run {run.id} epoch {epoch}: {len(result.points):,} test digits mapped by "
            f"{args.layer} with {args.method} in {seconds:.1f} s"
        )
    return 0


def _cmd_export(args) -> int:
    if args.tensorboard is not None and args.epoch is not None:
        print("error: --epoch is for --onnx; --tensorboard exports every epoch", file=sys.stderr)
        return 2
    target = args.onnx if args.onnx is not None else args.tensorboard
    try:
        run = RunStore().get(args.run)
        if args.onnx is not None:
            epoch = run.epochs()[-1] if args.epoch is None and run.epochs() else args.epoch
            written = export_onnx(run, epoch, args.onnx)
        else:
            written = export_tensorboard(run, args.tensorboard)
    except (KeyError, CheckpointError, ValueError, MissingPackage) as e:
        print(f"error: {e.args[0]}", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: can't write {target}: {e.strerror or e}", file=sys.stderr)
        return 2
    if args.onnx is not None:
        print(
            f"run {run.id} epoch {epoch}: wrote {written} ({written.stat().st_size / 1024:.0f} "
            "KB): input 'image' (N, 1, 32, 32), output 'scores' (N, 10); the file's metadata "
            "names the input's normalisation"
        )
    else:
        print(f"run {run.id}: scalars in {written}; open with: tensorboard --logdir {target}")
    return 0


def _cmd_ladder(args) -> int:
    only = [k.strip() for k in args.only.split(",") if k.strip()] if args.only else None
    started = time.perf_counter()

    def on_run(row: dict) -> None:
        error = row["test_error"][-1]
        print(f"step {row['step']} {row['key']:<9} seed {row['seed']}: "
              f"{'-' if error is None else f'{error:.2f} %'} test error "
              f"({row['change']}; run {row['run']}, {row['seconds'][-1]:.0f} s)",
              file=sys.stderr)  # fmt: skip

    try:
        record = ladder.climb(args.quick, args.seeds, only, on_run=on_run,
                              train_subset=args.train_subset)  # fmt: skip
    except ValueError as e:
        raise ConfigError(str(e)) from None
    steps = [{k: row[k] for k in ("step", "key", "change", "variant", "test_error",
                                   "mean_error", "spread", "runs")}
             for row in record["steps"]]  # fmt: skip
    print(json.dumps({"ladder": record["ladder"], "quick": args.quick, "epochs": record["epochs"],
                      "seeds": args.seeds, "finished": record["finished"], "steps": steps,
                      "wall_seconds": round(time.perf_counter() - started, 1)}))  # fmt: skip
    return 0 if record["finished"] else 1


def _cmd_runs(args) -> int:
    infos = RunStore().list()
    if args.json:
        print(json.dumps([asdict(i) for i in infos]))
        return 0
    if not infos:
        print("no runs yet: python -m lenet train")
    for i in infos:
        acc = f"{i.best_test_acc:.2f}%" if i.best_test_acc is not None else "-"
        print(
            f"{i.id}  {i.status:<11} {i.variant:<8} epochs {i.epochs_done:<3} best {acc}  "
            f"{i.message}"
        )
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
    "train": _cmd_train,
    "eval": _cmd_eval,
    "embed": _cmd_embed,
    "export": _cmd_export,
    "ladder": _cmd_ladder,
    "runs": _cmd_runs,
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
