"""Pictures of what is inside: feature maps as heat-map tiles, activations as a strip, filters as colour patches.

Plain NumPy and PIL arrays (uint8 RGB), for any page or report to show.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from cifar_cnn.gradcam import overlay

# Viridis at five points: dark blue (lowest) through teal and green to yellow (highest); readable by colour-blind viewers.
_ANCHORS = np.array([[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32)
COLOUR_KEY = "Dark blue: the lowest value in this layer; green, then yellow: the highest."
GAP = 2
LABEL_HEIGHT = 12


def heat_colours(values: np.ndarray) -> np.ndarray:
    """RGB uint8 (`values.shape + (3,)`) for values in [0, 1] (clipped), dark blue to yellow."""
    position = np.clip(np.nan_to_num(values, nan=0.0), 0, 1) * (len(_ANCHORS) - 1)
    low = np.minimum(position.astype(int), len(_ANCHORS) - 2)
    share = (position - low)[..., np.newaxis]
    return np.rint(_ANCHORS[low] * (1 - share) + _ANCHORS[low + 1] * share).astype(np.uint8)


def scale(values: np.ndarray, low: float | None = None, high: float | None = None) -> np.ndarray:
    """`values` mapped to [0, 1] from `low` to `high` (their own minimum and maximum by default); all 0 when flat."""
    low = float(np.min(values)) if low is None else low
    high = float(np.max(values)) if high is None else high
    if not np.isfinite(high - low) or high - low <= 1e-12:
        return np.zeros(np.shape(values), np.float32)
    return ((values - low) / (high - low)).astype(np.float32)


def tile_scale(map_size: int, tile: int) -> int:
    return max(1, tile // max(map_size, 1))


def grid_boxes(map_shape: tuple[int, int], count: int, columns: int = 8, tile: int = 64) -> list[tuple[int, int, int, int]]:
    """(top, left, bottom, right) of each of `count` maps of `map_shape` (height, width) in `feature_grid`'s picture,
    in the order drawn (bottom and right exclusive; the label above a map is not part of its box)."""
    height, width = map_shape
    factor = tile_scale(max(height, width), tile)
    tile_h, tile_w = height * factor, width * factor
    boxes = []
    for position in range(count):
        row, column = divmod(position, columns)
        top, left = row * (tile_h + LABEL_HEIGHT + GAP) + LABEL_HEIGHT, column * (tile_w + GAP)
        boxes.append((top, left, top + tile_h, left + tile_w))
    return boxes


def feature_grid(maps: np.ndarray, channels, columns: int = 8, tile: int = 64) -> np.ndarray:
    """The maps of `channels` (of `maps`, height x width x channels) as a grid of heat-map tiles, each labelled with its
    channel number above it, on one colour scale for the whole layer (so a weak channel looks weak)."""
    channels = [int(channel) for channel in channels]
    height, width = maps.shape[:2]
    factor = tile_scale(max(height, width), tile)
    coloured = heat_colours(scale(maps))
    tile_h, tile_w = height * factor, width * factor
    rows = -(-len(channels) // columns) if channels else 0
    used_columns = min(columns, len(channels))
    grid = np.full((rows * (tile_h + LABEL_HEIGHT + GAP), max(used_columns * (tile_w + GAP) - GAP, 1), 3), 255, np.uint8)
    for channel, (top, left, bottom, right) in zip(channels, grid_boxes((height, width), len(channels), columns, tile)):
        grid[top:bottom, left:right] = np.repeat(np.repeat(coloured[:, :, channel], factor, axis=0), factor, axis=1)
    picture = Image.fromarray(grid)
    draw = ImageDraw.Draw(picture)
    for position, channel in enumerate(channels):
        row, column = divmod(position, columns)
        draw.text((column * (tile_w + GAP) + 1, row * (tile_h + LABEL_HEIGHT + GAP)), f"#{channel}", fill=(60, 60, 60))
    return np.asarray(picture)


def strip(values: np.ndarray, height: int = 24, width: int = 768) -> np.ndarray:
    """A row of coloured cells, one per value (its own scale: lowest dark blue, highest yellow), `width` pixels wide at most."""
    values = np.ravel(values)
    cell = max(1, width // max(len(values), 1))
    row = heat_colours(scale(values))[np.newaxis]
    return np.repeat(np.repeat(row, height, axis=0), cell, axis=1)


def resize_map(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """A 2-D map resized to `size` (height, width), smoothly."""
    picture = Image.fromarray(np.asarray(values, dtype=np.float32))  # mode "F"
    return np.asarray(picture.resize((size[1], size[0]), Image.BILINEAR), dtype=np.float32)


def map_over_image(image: np.ndarray, values: np.ndarray) -> np.ndarray:
    """One channel's map (scaled from 0 to its maximum; negatives count as 0) over `image`, as Grad-CAM's overlay paints it."""
    positive = np.maximum(values, 0)
    return overlay(image, scale(resize_map(positive, image.shape[:2]), low=0.0))


def map_alone(values: np.ndarray, size: int = 256) -> np.ndarray:
    """One channel's map as a heat map (its own scale), `size` pixels across or a little less, every cell a crisp square."""
    factor = tile_scale(max(values.shape), size)
    return np.repeat(np.repeat(heat_colours(scale(values)), factor, axis=0), factor, axis=1)


def filter_patches(kernel: np.ndarray) -> list[np.ndarray]:
    """The filters of a first-layer convolution kernel (height x width x 3 x filters) as colour patches (uint8):
    each filter's weights scaled so that 0 is mid grey and its largest weight, positive or negative, is 0 or 255.
    A patch shows the colour pattern that excites the filter most."""
    patches = []
    for index in range(kernel.shape[-1]):
        weights = kernel[..., index].astype(np.float32)
        peak = float(np.abs(weights).max())
        patch = 128 + 127 * weights / peak if peak > 0 else np.full(weights.shape, 128.0)
        patches.append(np.clip(np.rint(patch), 0, 255).astype(np.uint8))
    return patches
