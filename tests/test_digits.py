"""lenet.data.digits: drawn and uploaded digits against MNIST's own recipe, safe opening of uploads,
and the robustness probe's perturbations."""

import io
import struct
import zlib

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from lenet.data import load_image_bytes, load_split, perturb, preprocess_digit
from lenet.data.digits import UPLOAD_EXTENSIONS, UPLOAD_FORMATS

STEPS = ["raw", "grayscale", "cropped", "scaled_20px", "centred_28", "padded_32"]


def draw_seven(offset=(0, 0), ink=255, background=0, size=280) -> Image.Image:
    image = Image.new("L", (size, size), background)
    pen = ImageDraw.Draw(image)
    dx, dy = offset
    pen.line(
        [(90 + dx, 70 + dy), (190 + dx, 70 + dy), (120 + dx, 220 + dy)],
        fill=ink,
        width=22,
        joint="curve",
    )
    pen.line([(110 + dx, 145 + dy), (175 + dx, 145 + dy)], fill=ink, width=22)
    return image


def centre_of_mass(image: np.ndarray) -> tuple[float, float]:
    ys, xs = np.mgrid[: image.shape[0], : image.shape[1]]
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
        assert list(result.steps) == STEPS and all(
            v.dtype == np.uint8 for v in result.steps.values()
        )
        assert (
            result.tensor.shape == (1, 1, 32, 32) and max(result.steps["scaled_20px"].shape) == 20
        )
        cy, cx = centre_of_mass(result.steps["centred_28"])
        assert abs(cy - 14) <= 0.5 and abs(cx - 14) <= 0.5  # where MNIST's centres of mass sit
        assert np.array_equal(result.steps["padded_32"][2:30, 2:30], result.steps["centred_28"])


def test_off_centre_digit_gives_the_same_tensor():
    assert torch.equal(
        preprocess_digit(draw_seven((-60, -50))).tensor,
        preprocess_digit(draw_seven((50, 40))).tensor,
    )


def test_polarity_is_detected():
    light_on_dark, dark_on_light = (
        preprocess_digit(draw_seven()),
        preprocess_digit(draw_seven(ink=0, background=255)),
    )
    assert torch.equal(light_on_dark.tensor, dark_on_light.tensor)
    assert not light_on_dark.inverted and dark_on_light.inverted


def test_transparent_pixels_become_background_not_ink():
    reference, stroke = preprocess_digit(draw_seven()), np.asarray(draw_seven())
    for colour in (0, 255):  # dark or white strokes drawn on a clear layer (a canvas's RGBA)
        canvas = np.zeros((280, 280, 4), np.uint8)
        canvas[..., :3], canvas[..., 3] = colour, stroke
        assert same_digit(preprocess_digit(canvas), reference)
    opaque = np.dstack(
        [stroke] * 3 + [np.full_like(stroke, 255)]
    )  # white on an opaque black canvas
    assert same_digit(preprocess_digit(opaque), reference)


def test_16_bit_and_palette_pngs():
    reference, stroke = preprocess_digit(draw_seven()), np.asarray(draw_seven())
    sixteen = load_image_bytes(png_bytes(Image.fromarray(stroke.astype(np.uint16) * 257)))
    assert sixteen.mode.startswith("I") and same_digit(preprocess_digit(sixteen), reference)
    palette = load_image_bytes(
        png_bytes(draw_seven(ink=0, background=255).convert("RGB").convert("P"))
    )
    assert palette.mode == "P" and same_digit(preprocess_digit(palette), reference)


def test_mnist_digits_come_back_almost_unchanged(real_raw):
    # MNIST digits already follow the recipe, so it must leave them (nearly) as they are, even
    # enlarged 10x and inverted like a pen drawing on paper; a 1 px centring difference is allowed.
    raw = load_split("test").raw[:100].numpy()
    same = [
        np.corrcoef(preprocess_digit(r).steps["centred_28"].ravel(), r.ravel())[0, 1] for r in raw
    ]
    big = [
        255 - np.asarray(Image.fromarray(r).resize((280, 280), Image.Resampling.BILINEAR))
        for r in raw[:30]
    ]
    enlarged = [
        np.corrcoef(preprocess_digit(b).steps["centred_28"].ravel(), r.ravel())[0, 1]
        for b, r in zip(big, raw[:30], strict=True)
    ]
    assert np.mean(same) > 0.97 and np.mean(enlarged) > 0.9


def test_blank_pictures_are_refused_in_student_words():
    with pytest.raises(ValueError, match="Draw a digit first"):
        preprocess_digit(np.zeros((280, 280, 4), np.uint8))  # an untouched canvas
    for blank in [
        Image.new("L", (100, 100), 255),
        Image.new("RGB", (50, 80), (40, 90, 200)),
        Image.fromarray(np.random.default_rng(0).integers(100, 110, (64, 64), dtype=np.uint8)),
    ]:
        with pytest.raises(ValueError, match="No digit found"):
            preprocess_digit(blank)


def test_perturb():
    digit = preprocess_digit(draw_seven()).steps["centred_28"]
    assert np.array_equal(perturb(digit), digit)
    moved = perturb(digit, shift=(3, 0))
    assert moved.dtype == np.uint8 and moved.shape == (28, 28)
    assert centre_of_mass(moved)[1] - centre_of_mass(digit)[1] == pytest.approx(3, abs=0.3)
    noisy = perturb(digit, noise=0.3, seed=1)
    assert np.array_equal(noisy, perturb(digit, noise=0.3, seed=1)) and not np.array_equal(
        noisy, digit
    )
    assert perturb(digit, rotate=20, scale=0.8).shape == (28, 28)


# ------------------------------------------------------------------ load_image_bytes
def png_header(width: int, height: int) -> bytes:
    """A PNG that declares width x height but holds almost nothing: a decompression bomb's look."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

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


def test_the_upload_formats_open_and_the_messages_name_them():
    for name, extensions in UPLOAD_FORMATS.items():
        buffer = io.BytesIO()
        draw_seven().save(buffer, name.upper())
        assert load_image_bytes(buffer.getvalue()).size == (280, 280), name
        assert set(extensions) <= set(UPLOAD_EXTENSIONS)
    for data in (b"", b"just some text, not a picture"):
        with pytest.raises(ValueError) as info:
            load_image_bytes(data)
        assert [name for name in UPLOAD_FORMATS if name not in str(info.value)] == []
    ppm = io.BytesIO()
    draw_seven().save(ppm, "PPM")  # Pillow reads it, but it is not one of the upload formats
    with pytest.raises(ValueError, match="not a readable picture"):
        load_image_bytes(ppm.getvalue())


@pytest.mark.parametrize("side", [5_000, 30_000])
def test_huge_images_are_refused_from_the_header(side):
    # The pixel data is a few bytes: had it been decoded first, the message would say "incomplete".
    with pytest.raises(ValueError, match="too large|limit") as info:
        load_image_bytes(png_header(side, side))
    assert f"{side}×{side}" in str(info.value) or f"{side * side}" in str(info.value)
