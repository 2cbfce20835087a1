"""Turn any image file a person uploads into the 32x32 RGB input the models take.

    prepared = prepare_image(data, "photo.jpg")
    prepared.model_input   # (32, 32, 3) uint8
    prepared.notes         # what was done to it, in words

Bad files raise `ImageInputError` with a message that says what is wrong and
what to do; odd but valid files (CMYK, grayscale, transparency, animation,
any size) are converted, and the notes say how.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

ACCEPTED_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
ACCEPTED_SUFFIXES = ("png", "jpg", "jpeg", "gif", "bmp", "webp")
MAX_UPLOAD_BYTES = 10 * 1024 * 1024  # matches server.maxUploadSize in .streamlit/config.toml
MAX_PIXELS = 40_000_000  # 40 megapixels: bigger than any camera photo, small enough to decode safely
DISPLAY_SIZE = 256
MODEL_SIZE = (32, 32)


class ImageInputError(ValueError):
    """An uploaded file that cannot be used; the message says why and what to do."""


@dataclass
class PreparedImage:
    original: np.ndarray  # RGB uint8, at most DISPLAY_SIZE pixels on its longer side, for showing
    model_input: np.ndarray  # RGB uint8, 32x32
    original_size: tuple[int, int]  # width, height as uploaded
    notes: list[str] = field(default_factory=list)


def prepare_image(data: bytes, name: str = "the file") -> PreparedImage:
    if len(data) == 0:
        raise ImageInputError(f"{name} is empty (0 bytes). Choose an image file: {', '.join(ACCEPTED_FORMATS)}.")
    if len(data) > MAX_UPLOAD_BYTES:
        raise ImageInputError(
            f"{name} is {len(data) / 1024 / 1024:.1f} MB; the limit is {MAX_UPLOAD_BYTES // 1024 // 1024} MB. "
            "Choose a smaller image (the model only sees 32x32 pixels anyway)."
        )
    image = _open(data, name)
    notes: list[str] = []
    frames = getattr(image, "n_frames", 1)
    if frames > 1:
        notes.append(f"{name} is animated ({frames} frames); using the first frame.")
    image = _decoded_first_frame(image, name)
    original_size = image.size
    image = _to_rgb(image, notes)
    display = image.copy()
    display.thumbnail((DISPLAY_SIZE, DISPLAY_SIZE), Image.Resampling.LANCZOS)
    model_input = _square_32(image, notes)
    return PreparedImage(np.asarray(display), np.asarray(model_input), original_size, notes)


def _open(data: bytes, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ACCEPTED_FORMATS)
    except UnidentifiedImageError:
        raise ImageInputError(
            f"{name} is not an image in an accepted format ({', '.join(ACCEPTED_FORMATS)}). Choose a photo or picture file."
        ) from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(_too_many_pixels_message(name)) from None
    width, height = image.size
    if width * height > MAX_PIXELS or width == 0 or height == 0:
        raise ImageInputError(_too_many_pixels_message(name, width, height))
    return image


def _too_many_pixels_message(name: str, width: int | None = None, height: int | None = None) -> str:
    size = f" ({width}x{height} pixels)" if width is not None else ""
    return (
        f"{name} is too large to open safely{size}; the limit is {MAX_PIXELS // 1_000_000} megapixels. "
        "It may be a decompression bomb. Choose a smaller image."
    )


def _decoded_first_frame(image: Image.Image, name: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
            return ImageOps.exif_transpose(image) or image
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageInputError(_too_many_pixels_message(name, *image.size)) from None
    except (OSError, SyntaxError, ValueError, EOFError) as error:
        raise ImageInputError(f"{name} is truncated or damaged and cannot be decoded ({error}). Try saving or exporting it again.") from None


def _to_rgb(image: Image.Image, notes: list[str]) -> Image.Image:
    has_alpha = image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info)
    if has_alpha:
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        notes.append("Transparent areas were filled with white.")
        return Image.alpha_composite(white, rgba).convert("RGB")
    if image.mode == "CMYK":
        notes.append("Converted from CMYK (print) colours to RGB.")
    elif image.mode in ("L", "1", "I", "I;16", "F"):
        notes.append("A grayscale image: its gray copied to all three colour channels.")
    return image.convert("RGB")


def _square_32(image: Image.Image, notes: list[str]) -> Image.Image:
    width, height = image.size
    if (width, height) == MODEL_SIZE:
        return image
    if width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        notes.append(f"Cropped the central {side}x{side} square (CIFAR images are square) and resized it to 32x32.")
    else:
        notes.append(f"Resized from {width}x{height} to 32x32, the size the model sees.")
    return image.resize(MODEL_SIZE, Image.Resampling.LANCZOS)
