"""One test per kind of awkward upload: each gets a clear message or a correct conversion."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cifar_cnn.uploads import MAX_UPLOAD_BYTES, ImageInputError, prepare_image


def encode(image: Image.Image, format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def red(size=(32, 32), mode="RGB") -> Image.Image:
    return Image.new(mode, size, (200, 10, 10) if mode == "RGB" else None)


@pytest.mark.parametrize("format", ["PNG", "JPEG", "GIF", "BMP", "WEBP"])
def test_every_accepted_format(format):
    prepared = prepare_image(encode(red(), format), f"x.{format.lower()}")
    assert prepared.model_input.shape == (32, 32, 3) and prepared.model_input.dtype == np.uint8
    assert prepared.model_input[..., 0].mean() > 150 and prepared.model_input[..., 2].mean() < 60


def test_not_an_image():
    with pytest.raises(ImageInputError, match="notes.txt is not an image in an accepted format"):
        prepare_image(b"Dear diary, today I trained a CNN.", "notes.txt")


def test_an_unaccepted_format_is_refused_by_name():
    with pytest.raises(ImageInputError, match="PNG, JPEG, GIF, BMP, WEBP"):
        prepare_image(encode(red(), "TIFF"), "scan.tiff")


def test_truncated():
    data = encode(Image.effect_noise((200, 200), 60).convert("RGB"), "JPEG")
    with pytest.raises(ImageInputError, match="truncated or damaged"):
        prepare_image(data[: len(data) // 2], "cut.jpg")


def test_zero_bytes():
    with pytest.raises(ImageInputError, match="empty"):
        prepare_image(b"", "empty.png")


def png_claiming_size(width: int, height: int) -> bytes:
    """A tiny PNG whose header claims a huge image: what a decompression bomb looks like before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def test_decompression_bomb():
    with pytest.raises(ImageInputError, match="decompression bomb"):
        prepare_image(png_claiming_size(100_000, 100_000), "bomb.png")


def test_huge_dimensions():
    with pytest.raises(ImageInputError, match=r"too large to open safely \(60000x1000 pixels\)"):
        prepare_image(png_claiming_size(60_000, 1_000), "panorama.png")


def test_cmyk_is_converted():
    prepared = prepare_image(encode(Image.new("CMYK", (32, 32), (0, 255, 255, 0)), "JPEG"), "print.jpg")
    assert prepared.model_input[..., 0].mean() > 200 and prepared.model_input[..., 1].mean() < 40
    assert any("CMYK" in note for note in prepared.notes)


def test_grayscale_is_converted():
    prepared = prepare_image(encode(Image.new("L", (32, 32), 90), "PNG"), "gray.png")
    assert (prepared.model_input == 90).all()
    assert any("grayscale" in note for note in prepared.notes)


def test_alpha_is_composited_on_white():
    image = Image.new("RGBA", (32, 32), (255, 0, 0, 0))
    image.paste((0, 0, 255, 255), (0, 0, 16, 32))
    prepared = prepare_image(encode(image, "PNG"), "logo.png")
    assert tuple(prepared.model_input[5, 5]) == (0, 0, 255)
    assert tuple(prepared.model_input[5, 25]) == (255, 255, 255)
    assert any("Transparent" in note for note in prepared.notes)


def test_animated_uses_the_first_frame():
    frames = [Image.new("RGB", (32, 32), colour) for colour in ((250, 0, 0), (0, 250, 0), (0, 0, 250))]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100)
    prepared = prepare_image(data, "blink.gif")
    assert prepared.model_input[..., 0].mean() > 200 and prepared.model_input[..., 1].mean() < 50
    assert any("3 frames" in note for note in prepared.notes)


def test_over_the_upload_size_limit():
    with pytest.raises(ImageInputError, match="limit is 10 MB"):
        prepare_image(b"\0" * (MAX_UPLOAD_BYTES + 1), "huge.bmp")


def test_non_square_photos_are_centre_cropped_and_resized():
    image = Image.new("RGB", (300, 100), (0, 0, 255))
    image.paste((255, 0, 0), (100, 0, 200, 100))  # the centre square is red
    prepared = prepare_image(encode(image, "PNG"), "wide.png")
    assert prepared.original_size == (300, 100)
    assert prepared.model_input[..., 0].mean() > 240 and prepared.model_input[..., 2].mean() < 15
    assert any("central 100x100 square" in note for note in prepared.notes)
    assert prepared.original.shape[1] <= 256


def test_a_32x32_image_is_used_as_it_is():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    prepared = prepare_image(encode(Image.fromarray(pixels), "PNG"), "cifar.png")
    np.testing.assert_array_equal(prepared.model_input, pixels)
    assert prepared.notes == []


def red_left_blue_right(size=(300, 100)) -> Image.Image:
    """A wide picture: red at its left end, green in the middle, blue at its right end."""
    width, height = size
    image = Image.new("RGB", size, (0, 200, 0))
    image.paste((255, 0, 0), (0, 0, width // 6, height))
    image.paste((0, 0, 255), (width - width // 6, 0, width, height))
    return image


def has_colour(pixels: np.ndarray, rgb, tolerance: int = 40) -> bool:
    return bool((np.abs(pixels.astype(int) - rgb).max(axis=-1) < tolerance).any())


def test_pad_keeps_both_ends_of_a_wide_picture_and_crop_cuts_them_off():
    data = encode(red_left_blue_right(), "PNG")
    cropped = prepare_image(data, "wide.png", fit="crop").model_input
    padded = prepare_image(data, "wide.png", fit="pad").model_input
    assert not has_colour(cropped, (255, 0, 0)) and not has_colour(cropped, (0, 0, 255))
    assert has_colour(padded, (255, 0, 0)) and has_colour(padded, (0, 0, 255))
    # red on the left, blue on the right, grey bars above and below, the picture's middle row in the middle
    assert tuple(padded[16, 1]) == pytest.approx((255, 0, 0), abs=40) and tuple(padded[16, 30]) == pytest.approx((0, 0, 255), abs=40)
    assert (padded[:5] == 128).all() and (padded[-5:] == 128).all()


def test_pad_works_for_tall_pictures_too_and_says_what_it_did():
    prepared = prepare_image(encode(red_left_blue_right().rotate(90, expand=True), "PNG"), "tall.png", fit="pad")
    assert prepared.original_size == (100, 300)
    assert (prepared.model_input[:, :5] == 128).all() and (prepared.model_input[:, -5:] == 128).all()
    assert has_colour(prepared.model_input, (255, 0, 0)) and has_colour(prepared.model_input, (0, 0, 255))
    assert any("Padded to a 300x300 square" in note for note in prepared.notes)


def test_square_or_not():
    assert prepare_image(encode(red((40, 40)), "PNG")).is_square
    assert not prepare_image(encode(red((40, 41)), "PNG")).is_square


def test_an_unknown_fit_is_refused():
    with pytest.raises(ValueError, match="fit"):
        prepare_image(encode(red(), "PNG"), fit="stretch")


def test_a_1x1_image_is_warned_about():
    prepared = prepare_image(encode(red((1, 1)), "PNG"), "dot.png")
    assert prepared.warnings == [
        "This image is only 1x1 pixels; the model sees 32x32, so it was enlarged and will look like a blur. "
        "Its prediction means little: try a bigger image."
    ]


@pytest.mark.parametrize("size", [(31, 200), (200, 20), (16, 16)])
def test_images_under_32_pixels_on_a_side_are_warned_about(size):
    for fit in ("crop", "pad"):
        (warning,) = prepare_image(encode(red(size), "PNG"), "small.png", fit=fit).warnings
        assert warning.startswith(f"This image is only {size[0]}x{size[1]} pixels; the model sees 32x32")


def test_a_thin_strip_padded_says_how_thin_it_becomes():
    (warning,) = prepare_image(encode(red((200, 20)), "PNG"), "strip.png", fit="pad").warnings
    assert "a strip 3 pixels thick" in warning  # 20 of 200 pixels is 3.2 of the 32


@pytest.mark.parametrize("size", [(32, 32), (32, 500), (64, 64), (1000, 40)])
def test_images_of_32_pixels_or_more_on_each_side_get_no_warning(size):
    assert prepare_image(encode(red(size), "PNG"), "fine.png").warnings == []
