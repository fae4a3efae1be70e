"""The commands that train: ``train`` (here, resumed, or on a Ray cluster) and ``ladder``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, fields

from tqdm import tqdm

from lenet.runs import RunStore, ladder
from lenet.serving.cluster import connect
from lenet.training import ConfigError, TrainConfig, make_config, train
from lenet.training import events as ev

__all__ = ["cmd_train", "cmd_ladder", "config_from_args"]


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


def cmd_train(args) -> int:
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


def cmd_ladder(args) -> int:
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
