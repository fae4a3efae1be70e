"""Digits from outside MNIST, made to look like it: `load_image_bytes` opens an upload safely,
`preprocess_digit` applies MNIST's own recipe (ink bright on black, longest side 20 px, centre
of mass at the centre of 28×28) to a drawing or a photo and keeps a picture of every step, and
`perturb` moves, turns, resizes or adds noise to a digit for robustness probes."""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image, ImageOps

from lenet.data.mnist import to_model_input

__all__ = [
    "UPLOAD_FORMATS",
    "UPLOAD_EXTENSIONS",
    "UPLOAD_FORMAT_WORDS",
    "Preprocessed",
    "load_image_bytes",
    "preprocess_digit",
    "perturb",
]

# The picture formats an upload may be (Pillow's names), never EPS & co., which run external
# programs; the upload widget offers their file name extensions and nothing else.
UPLOAD_FORMATS: dict[str, tuple[str, ...]] = {
    "PNG": ("png",),
    "JPEG": ("jpg", "jpeg"),
    "BMP": ("bmp",),
    "GIF": ("gif",),
    "WebP": ("webp",),
    "TIFF": ("tif", "tiff"),
}
UPLOAD_EXTENSIONS: tuple[str, ...] = tuple(e for exts in UPLOAD_FORMATS.values() for e in exts)
UPLOAD_FORMAT_WORDS = ", ".join(list(UPLOAD_FORMATS)[:-1]) + f" or {list(UPLOAD_FORMATS)[-1]}"
_DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    struct.error,
)  # what Pillow raises on bad bytes
MIN_CONTRAST = 32.0  # grey levels (of 255) between ink and background below which there is no digit
NOISE_FLOOR = (
    0.10  # fraction of the ink range treated as background speckle (paper grain, JPEG noise)
)
BOX_THRESHOLD = 0.25  # fraction of the ink range that counts as ink for the bounding box
WORK_SIZE = (
    1024  # larger inputs are reduced first: a 20 px digit needs no more, and memory stays small
)
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # ITU-R 601, the weights of PIL's convert("L")


def load_image_bytes(
    data: bytes, max_pixels: int = 4096 * 4096, filename: str | None = None
) -> Image.Image:
    """Open an uploaded image safely; every problem becomes a ValueError a student can act on."""
    if not data:
        raise ValueError(
            f"The file is empty (0 bytes). Choose a picture of a digit ({UPLOAD_FORMAT_WORDS})."
        )
    try:
        image = Image.open(
            io.BytesIO(data), formats=[f.upper() for f in UPLOAD_FORMATS]
        )  # lazy: reads the header only
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(
            f"The image is far too large to open safely ({exc}) A digit needs only about "
            "28×28 pixels: upload a smaller picture."
        ) from None
    except _DECODE_ERRORS:
        known = data.startswith(
            (b"\x89PNG", b"\xff\xd8\xff", b"GIF8", b"RIFF")
        )  # the magic bytes of an image
        detail = (
            "looks like an image but is damaged or incomplete"
            if known
            else "is not a readable picture"
        )
        named = f" '{filename}'" if filename else ""
        raise ValueError(
            f"The file{named} {detail}. Upload a {UPLOAD_FORMAT_WORDS} image."
        ) from None
    if (
        pixels := image.width * image.height
    ) > max_pixels:  # refused before a single pixel is decoded
        raise ValueError(
            f"The image is {image.width}×{image.height} pixels ({pixels / 1e6:.1f} megapixels), "
            f"over the {max_pixels / 1e6:.1f}-megapixel limit. A digit needs only 28×28: upload a "
            "smaller one."
        )
    try:
        image.load()
    except _DECODE_ERRORS as exc:
        raise ValueError(
            f"The image file is incomplete or damaged ({exc}). It may have been cut off while "
            "saving or uploading: save it again and retry."
        ) from None
    return ImageOps.exif_transpose(image)  # phone photos keep their rotation in EXIF


@dataclass(frozen=True, eq=False)
class Preprocessed:
    """A digit in model format plus a picture of each step, to show how MNIST was made."""

    tensor: torch.Tensor  # (1, 1, 32, 32) normalised
    steps: dict[
        str, np.ndarray
    ]  # uint8: raw, grayscale, cropped, scaled_20px, centred_28, padded_32
    inverted: bool  # True when the input was dark ink on a light background


def _flatten(image: Image.Image) -> tuple[np.ndarray, np.ndarray]:
    """(raw RGB/L uint8, gray float32 in [0, 255]), transparent pixels over the background."""
    if image.mode.startswith("I") or image.mode == "F":  # 16- and 32-bit grayscale PNG/TIFF
        gray = np.asarray(image, dtype=np.float32)
        gray = np.clip(
            gray / 257.0 if image.mode.startswith("I;16") or gray.max() > 255 else gray, 0, 255
        )
        return gray.round().astype(np.uint8), gray
    if image.mode not in ("RGBA", "LA", "PA", "RGBa", "La") and "transparency" not in image.info:
        raw = np.asarray(image.convert("L" if image.mode in ("L", "1") else "RGB"))
        return raw, np.asarray(image.convert("L"), np.float32)
    rgba = np.asarray(image.convert("RGBA"), dtype=np.float32)
    alpha = rgba[..., 3:] / 255.0
    opaque = (rgba[..., :3] @ LUMA)[alpha[..., 0] > 0.5]
    median = float(np.median(opaque)) if opaque.size else 0.0
    # Opaque part with its own paper colour (a scan with clear margins): extend it. Strokes alone
    # on a clear layer (a drawing): put them on the opposite grey, so they stay ink whatever their
    # colour.
    own_paper = opaque.size and np.mean(np.abs(opaque - median) > 64) > 0.02
    background = median if own_paper else (255.0 if median < 128 else 0.0)
    rgb = rgba[..., :3] * alpha + background * (1.0 - alpha)
    return rgb.round().astype(np.uint8), rgb @ LUMA


def _ink(gray: np.ndarray, blank_message: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """(ink, its bounding box, inverted): ink bright on black, background 0, range stretched to
    255 like MNIST."""
    border = np.concatenate([gray[0], gray[-1], gray[1:-1, 0], gray[1:-1, -1]])
    background = float(np.median(border))  # a digit rarely covers most of the border
    inverted = (
        background - gray.min() > gray.max() - background
    )  # the ink is the extreme farther from it
    ink = np.clip(background - gray if inverted else gray - background, 0, None)
    if ink.max() < MIN_CONTRAST:
        raise ValueError(blank_message)
    ink *= 255.0 / ink.max()
    ink[ink < NOISE_FLOOR * 255] = 0
    ys, xs = np.nonzero(ink >= BOX_THRESHOLD * 255)
    return ink, ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], bool(inverted)


def _fit_and_centre(cropped: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Longest side to 20 px (aspect kept), then into 28×28 with the centre of mass at (14, 14),
    like MNIST."""
    h, w = cropped.shape
    size = (
        max(1, round(w * 20 / max(h, w))),
        max(1, round(h * 20 / max(h, w))),
    )  # PIL wants (w, h)
    # BOX averages the pixels under each target pixel (MNIST's anti-aliasing); bilinear avoids
    # blocks when enlarging
    resample = Image.Resampling.BOX if max(h, w) >= 20 else Image.Resampling.BILINEAR
    mass = np.asarray(Image.fromarray(cropped.astype(np.float32)).resize(size, resample))
    scaled = np.clip(mass * (255.0 / mass.max()), 0, 255).round().astype(np.uint8)  # (<=20, <=20)
    (h, w), mass = scaled.shape, scaled.astype(np.float64)
    cy, cx = mass.sum(1) @ np.arange(h) / mass.sum(), mass.sum(0) @ np.arange(w) / mass.sum()
    top = int(np.clip(np.round(14 - cy), 0, 28 - h))  # clamped: the frame never cuts the digit
    left = int(np.clip(np.round(14 - cx), 0, 28 - w))
    centred = np.zeros((28, 28), np.uint8)
    centred[top : top + h, left : left + w] = scaled
    return scaled, centred


def preprocess_digit(image: Image.Image | np.ndarray, normalization: str = "mnist") -> Preprocessed:
    """Turn a drawing (array, e.g. a canvas's RGBA) or an upload (PIL image) into an MNIST digit.

    Handles gray, RGB, RGBA (transparent pixels become background), palette, 16-bit and either
    polarity. Raises ValueError with a student-facing message when there is no ink."""
    from_canvas = isinstance(image, np.ndarray)
    if from_canvas:  # (H, W), (H, W, 3) or (H, W, 4); floats in [0, 1] from notebooks are scaled
        array = (
            image
            if image.dtype == np.uint8
            else np.clip(image * (255 if image.max() <= 1 else 1), 0, 255)
        )
        image = Image.fromarray(array.astype(np.uint8))
    blank = (
        "Draw a digit first — the canvas is empty."
        if from_canvas
        else "No digit found: the picture is one "
        "flat colour, with no contrast between ink and background. Upload a photo or scan of one "
        "digit."
    )
    if max(image.size) > 2 * WORK_SIZE:  # shrink in PIL before any float copy: a 4096² photo
        image = image.reduce(max(image.size) // WORK_SIZE)  # would otherwise cost ~1 GB
    raw, gray = _flatten(image)
    if max(gray.shape) > WORK_SIZE:  # area-average big photos down first
        size = tuple(max(1, round(n * WORK_SIZE / max(gray.shape))) for n in gray.shape[::-1])
        raw, gray = (
            np.asarray(Image.fromarray(a).resize(size, Image.Resampling.BOX)) for a in (raw, gray)
        )
    ink, cropped, inverted = _ink(gray, blank)
    scaled, centred = _fit_and_centre(cropped)  # (<=20, <=20), (28, 28)
    steps = {
        "raw": raw,
        "grayscale": ink.round().astype(np.uint8),
        "cropped": cropped.round().astype(np.uint8),
        "scaled_20px": scaled,
        "centred_28": centred,
        "padded_32": np.pad(centred, 2),
    }
    return Preprocessed(to_model_input(centred, normalization), steps, inverted)


def perturb(
    raw28,
    shift: tuple[float, float] = (0, 0),
    rotate: float = 0.0,
    scale: float = 1.0,
    noise: float = 0.0,
    seed: int = 0,
) -> np.ndarray:
    """A moved, turned, resized and/or noisy copy of a uint8 (28, 28) digit, for robustness probes.

    shift: (dx right, dy down) pixels; rotate: degrees counter-clockwise; noise: seeded Gaussian
    standard deviation as a fraction of the 0..255 range (0.2 = 51 grey levels)."""
    from torchvision.transforms import InterpolationMode  # importing it takes a second:
    from torchvision.transforms import functional as TF  # only for a perturbed digit

    x = torch.as_tensor(np.asarray(raw28), dtype=torch.float32).reshape(1, 28, 28)
    x = TF.affine(
        x,
        angle=float(rotate),
        translate=[float(shift[0]), float(shift[1])],
        scale=float(scale),
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
        fill=[0.0],
    )
    x = x + torch.randn(x.shape, generator=torch.Generator().manual_seed(seed)) * (noise * 255.0)
    return x.clamp(0, 255).round().to(torch.uint8).reshape(28, 28).numpy()
