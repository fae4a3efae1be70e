"""Run zips: a round trip keeps everything, and every kind of bad zip is refused with a message
and leaves the store exactly as it was."""

import io
import json
import stat
import zipfile
from dataclasses import asdict

import pytest
import torch

from lenet.models import build_model
from lenet.runs import MAX_TOTAL_BYTES, RunStore, export_run, import_run
from lenet.training import TrainConfig


@pytest.fixture
def store(tmp_path):
    return RunStore(tmp_path / "runs")


@pytest.fixture
def run(store):
    """A small finished run written through the store's own API (no training needed)."""
    cfg = TrainConfig(epochs=1, train_subset=512)
    r = store.create(asdict(cfg))
    model = build_model("classic", seed=0)
    r.save_epoch(0, model, None, cfg, None)
    r.append({"type": "start", "steps_per_epoch": 4, "total_steps": 4, "train_images": 512})
    r.append(
        {
            "type": "batch",
            "epoch": 1,
            "step": 4,
            "loss": 1.5,
            "acc": 40.0,
            "lr": 0.01,
            "images_per_s": 900.0,
            "train_seconds": 0.5,
        }
    )
    event = {
        "type": "epoch",
        "epoch": 1,
        "step": 4,
        "train_loss": 1.6,
        "train_acc": 38.0,
        "test_loss": 1.2,
        "test_acc": 61.5,
        "test_top3": 84.0,
        "lr": 0.01,
        "train_seconds": 0.5,
        "images_per_s": 1000.0,
    }
    r.save_epoch(1, model, None, cfg, event)
    r.append(event)
    r.append({"type": "done", "step": 4, "train_seconds": 0.5})
    r.finish("finished")
    return r


def _zip(members: dict[str, bytes], symlinks: tuple[str, ...] = ()) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name)
            if name in symlinks:
                info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _members(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i) for i in zf.infolist()}


def _store_entries(store) -> list[str]:
    return sorted(p.name for p in store.root.iterdir())


def test_round_trip_keeps_config_metrics_and_weights(store, run):
    data = export_run(run)
    names = set(_members(data))
    assert {
        f"{run.id}/config.json",
        f"{run.id}/metrics.jsonl",
        f"{run.id}/status.json",
        f"{run.id}/checkpoints/epoch_001.pt",
        f"{run.id}/snapshots/epoch_000.pt",
    } <= names

    imported = import_run(store, data)
    assert imported.id != run.id and RunStore.valid_id(imported.id)
    assert imported.config == run.config
    assert imported.events() == run.events()
    assert imported.epochs() == [0, 1]
    a, b = run.load_model(1).state_dict(), imported.load_model(1).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    info = imported.info()
    assert info.status == "finished" and info.best_test_acc == 61.5 and info.epochs_done == 1
    assert imported.status()["imported_from"] == run.id
    assert "pid" not in imported.status()  # a pid from another machine means nothing here


def test_flat_zip_without_folder_is_accepted(store, run):
    flat = {name.split("/", 1)[1]: data for name, data in _members(export_run(run)).items()}
    assert import_run(store, _zip(flat)).epochs() == [0, 1]


def test_unfinished_run_is_imported_as_interrupted(store, run):
    members = _members(export_run(run))
    members[f"{run.id}/status.json"] = json.dumps({"state": "running", "pid": 1}).encode()
    members[f"{run.id}/metrics.jsonl"] = b"\n".join(
        line for line in members[f"{run.id}/metrics.jsonl"].splitlines() if b'"done"' not in line
    )
    imported = import_run(store, _zip(members))
    assert imported.info().status == "interrupted"


def _good(run) -> dict[str, bytes]:
    return _members(export_run(run))


class Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _evil_checkpoint() -> bytes:
    buf = io.BytesIO()
    torch.save({"model": Evil()}, buf)
    return buf.getvalue()


BAD = {
    "not a zip": (lambda run: b"PK but not really a zip file", "not a zip archive"),
    "empty": (lambda run: b"", "empty"),
    "parent path": (lambda run: _zip({**_good(run), "../evil.txt": b"x"}), "climbs out"),
    "nested parent path": (
        lambda run: _zip({"r/config.json": b"{}", "r/../../x": b"x"}),
        "climbs out",
    ),
    "absolute path": (lambda run: _zip({**_good(run), "/etc/evil": b"x"}), "absolute"),
    "windows path": (lambda run: _zip({**_good(run), "C:\\evil": b"x"}), "absolute"),
    "symlink": (
        lambda run: _zip(
            {**_good(run), f"{run.id}/checkpoints/epoch_009.pt": b"/etc/passwd"},
            symlinks=(f"{run.id}/checkpoints/epoch_009.pt",),
        ),
        "link",
    ),
    "stray file": (lambda run: _zip({**_good(run), f"{run.id}/notes.exe": b"x"}), "not part of"),
    "no config": (
        lambda run: _zip({k: v for k, v in _good(run).items() if not k.endswith("config.json")}),
        "lacks config.json",
    ),
    "no metrics": (
        lambda run: _zip({k: v for k, v in _good(run).items() if not k.endswith("metrics.jsonl")}),
        "lacks metrics.jsonl",
    ),
    "config not json": (
        lambda run: _zip({**_good(run), f"{run.id}/config.json": b"{nope"}),
        "not valid JSON",
    ),
    "config unusable": (
        lambda run: _zip({**_good(run), f"{run.id}/config.json": b'{"variant": "vgg"}'}),
        "variant",
    ),
    "config of the wrong type": (  # JSON has one number type: 2.5 passes a range check
        lambda run: _zip(
            {**_good(run), f"{run.id}/config.json": _config_with(run, batch_size=2.5)}
        ),
        "batch_size = 2.5: must be a whole number",
    ),
    "config not a mapping": (
        lambda run: _zip({**_good(run), f"{run.id}/config.json": b"[1, 2]"}),
        "not a training configuration",
    ),
    "checkpoint garbage": (
        lambda run: _zip({**_good(run), f"{run.id}/checkpoints/epoch_001.pt": b"junk"}),
        "not a loadable weights file",
    ),
    "checkpoint with code": (
        lambda run: _zip({**_good(run), f"{run.id}/checkpoints/epoch_001.pt": _evil_checkpoint()}),
        "not a loadable weights file",
    ),
    "checkpoint wrong shapes": (
        lambda run: _zip(
            {
                **_good(run),
                f"{run.id}/checkpoints/epoch_001.pt": _tensor_file(
                    {"model": {"C1.weight": torch.zeros(2)}}
                ),
            }
        ),
        "does not fit",
    ),
}


def _config_with(run, **fields) -> bytes:
    return json.dumps({**run.config, **fields}).encode()


def _tensor_file(obj) -> bytes:
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_zip_is_refused_and_nothing_is_written(store, run, case):
    make, message = BAD[case]
    data = make(run)
    before = _store_entries(store)
    with pytest.raises(ValueError, match=message):
        import_run(store, data)
    assert _store_entries(store) == before  # no new run and no leftover temporary folder


def test_a_hundred_epochs_of_real_checkpoints_round_trip(store):
    """The most epochs Train offers fits the import cap: only the newest checkpoint keeps the
    optimizer's state (Adam's two moments would triple every checkpoint)."""
    cfg = TrainConfig(epochs=100)
    run = store.create(asdict(cfg))
    model = build_model("classic", seed=0)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.zeros(2, 1, 32, 32)).sum().backward()
    optimizer.step()  # now it has state, as after any real epoch
    for epoch in range(101):  # epoch 0 is the untrained network
        run.save_epoch(epoch, model, optimizer, cfg, None)
    run.append({"type": "done", "step": 0, "train_seconds": 0.0})
    run.finish("finished")
    data = export_run(run)
    assert len(data) < MAX_TOTAL_BYTES
    imported = import_run(store, data)
    assert imported.epochs() == list(range(101))
    newest = imported.load_checkpoint(100)["optimizer"]
    assert newest is not None and len(newest["state"]) == len(list(model.parameters()))
    assert all(imported.load_checkpoint(e)["optimizer"] is None for e in range(100))
    a, b = model.state_dict(), imported.load_model(100).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_too_large_is_refused(store, run):
    data = export_run(run)
    with pytest.raises(ValueError, match="accepted"):
        import_run(store, data, max_total=len(data) // 2)
    assert MAX_TOTAL_BYTES >= 50 * 2**20


def test_zip_bomb_is_refused_before_unpacking(store, run):
    bomb = _zip(
        {**_good(run), f"{run.id}/metrics.jsonl": b"\n" * (20 * 2**20)}
    )  # 20 MB of newlines
    with pytest.raises(ValueError, match="zip bomb"):
        import_run(store, bomb)
    huge = _zip({**_good(run), f"{run.id}/metrics.jsonl": b"0" * (60 * 2**20)})
    with pytest.raises(ValueError, match="at most 50 MB|zip bomb"):
        import_run(store, huge)


def _declare_size(data: bytes, name: str, size: int) -> bytes:
    """Rewrite the uncompressed size that both zip headers of ``name`` declare."""
    out, raw = bytearray(data), name.encode()
    for sig, size_at, name_len_at, name_at in (
        (b"PK\x03\x04", 22, 26, 30),
        (b"PK\x01\x02", 24, 28, 46),
    ):
        at = out.find(sig)
        while at != -1:
            n = int.from_bytes(out[at + name_len_at : at + name_len_at + 2], "little")
            if bytes(out[at + name_at : at + name_at + n]) == raw:
                out[at + size_at : at + size_at + 4] = size.to_bytes(4, "little")
            at = out.find(sig, at + 4)
    return bytes(out)


def test_lying_size_header_is_caught_while_unpacking(store, run):
    name = f"{run.id}/status.json"
    data = _declare_size(_zip({**_good(run), name: b"{}" * 5000}), name, 10)
    before = _store_entries(store)
    with pytest.raises(ValueError, match="larger when unpacked|damaged"):
        import_run(store, data)
    assert _store_entries(store) == before


def test_export_skips_stray_and_temporary_files(run):
    (run.path / "checkpoints" / ".epoch_002.pt.abcd.tmp").write_bytes(b"half written")
    (run.path / "notes.txt").write_text("not part of a run")
    names = set(_members(export_run(run)))
    assert not any("tmp" in n or "notes" in n for n in names)


def test_evil_pickle_never_runs(store, run, capsys):
    data = _zip({**_good(run), f"{run.id}/checkpoints/epoch_001.pt": _evil_checkpoint()})
    with pytest.raises(ValueError):
        import_run(store, data)
    assert "must never run" not in capsys.readouterr().out
