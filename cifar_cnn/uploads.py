"""Turn any image file a person uploads into the 32x32 RGB input the models take.

    prepared = prepare_image(data, "photo.jpg")              # a photo that is not square: its centre square
    prepared = prepare_image(data, "photo.jpg", fit="pad")   # ...or all of it, with grey bars above and below
    prepared.model_input   # (32, 32, 3) uint8
    prepared.notes         # what was done to it, in words
    prepared.warnings      # what makes its prediction doubtful (a tiny image), in words

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
CROP, PAD = "crop", "pad"  # how a picture that is not square becomes square: cut its ends off, or add bars
FITS = (CROP, PAD)
PAD_COLOUR = (128, 128, 128)  # a neutral grey: neither a colour a class is known by, nor black or white


class ImageInputError(ValueError):
    """An uploaded file that cannot be used; the message says why and what to do."""


@dataclass
class PreparedImage:
    original: np.ndarray  # RGB uint8, at most DISPLAY_SIZE pixels on its longer side, for showing
    model_input: np.ndarray  # RGB uint8, 32x32
    original_size: tuple[int, int]  # width, height as uploaded
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def is_square(self) -> bool:
        return self.original_size[0] == self.original_size[1]


def prepare_image(data: bytes, name: str = "the file", fit: str = CROP) -> PreparedImage:
    """The 32x32 RGB input for the image file `data`; `fit` (CROP or PAD) says how a picture that is not square
    becomes square. Raises ImageInputError for a file that cannot be used."""
    if fit not in FITS:
        raise ValueError(f"fit must be one of {FITS}, not {fit!r}")
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
    model_input = _square_32(image, notes, fit)
    warning = small_image_warning(*image.size, fit)
    return PreparedImage(np.asarray(display), np.asarray(model_input), original_size, notes, [warning] if warning else [])


def small_image_warning(width: int, height: int, fit: str = CROP) -> str | None:
    """What a person should know about an image with fewer than 32 pixels on a side, or None for a bigger one."""
    side = 32
    if min(width, height) >= side:
        return None
    if fit == PAD and max(width, height) >= side:
        thin = max(1, round(min(width, height) * side / max(width, height)))
        return (f"This image is only {width}x{height} pixels; the model sees {side}x{side}, so padded to a square "
                f"it is a strip {thin} pixel{'s' if thin > 1 else ''} thick. Its prediction means little: try a bigger image.")
    if width == height or fit == PAD:
        what = "it was"
    else:
        what = f"its central {min(width, height)}x{min(width, height)} square was"
    return (f"This image is only {width}x{height} pixels; the model sees {side}x{side}, so {what} enlarged and will look "
            "like a blur. Its prediction means little: try a bigger image.")


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


def _square_32(image: Image.Image, notes: list[str], fit: str = CROP) -> Image.Image:
    width, height = image.size
    if (width, height) == MODEL_SIZE:
        return image
    if width != height and fit == PAD:
        side = max(width, height)
        square = Image.new("RGB", (side, side), PAD_COLOUR)
        square.paste(image, ((side - width) // 2, (side - height) // 2))
        image = square
        notes.append(f"Padded to a {side}x{side} square with grey bars, keeping the whole picture, and resized it to 32x32.")
    elif width != height:
        side = min(width, height)
        left, top = (width - side) // 2, (height - side) // 2
        image = image.crop((left, top, left + side, top + side))
        notes.append(f"Cropped the central {side}x{side} square (CIFAR images are square) and resized it to 32x32.")
    else:
        notes.append(f"Resized from {width}x{height} to 32x32, the size the model sees.")
    return image.resize(MODEL_SIZE, Image.Resampling.LANCZOS)
