"""The commands that read stored runs: ``eval``, ``embed``, ``export`` and ``runs``."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict

from lenet.analysis.embed import Embedding, cached_embedding, embedding
from lenet.analysis.metrics import evaluate_classification
from lenet.data import load_split
from lenet.models import normalization_of
from lenet.runs import CheckpointError, MissingPackage, RunStore, export_onnx, export_tensorboard
from lenet.serving.embeddings import compute_in_background_process, embedding_path
from lenet.training import TrainConfig, configure_threads

__all__ = ["cmd_eval", "cmd_embed", "cmd_export", "cmd_runs"]


def cmd_eval(args) -> int:
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


def cmd_embed(args) -> int:
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


def cmd_export(args) -> int:
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


def cmd_runs(args) -> int:
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
