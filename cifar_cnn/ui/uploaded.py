"""The image a person last uploaded on Predict, kept in their session so the Inside page can follow it through the
network. Only an upload that became a model input is kept: a file that is not an image leaves nothing behind.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import streamlit as st

KEY = "uploaded_image"  # session state: the Uploaded below
CHOICE = "Uploaded on Predict"  # the Inside page's image choice that shows it
PICK_KEY = "inside_pick"  # the Inside page's image choice (its radio's key)


@dataclass(frozen=True)
class Uploaded:
    name: str  # the file's name as uploaded: user text, shown through `text.plain`
    image: np.ndarray  # the 32x32x3 uint8 model input Predict made of it (cropped or padded as chosen there)


def keep(name: str, image: np.ndarray) -> None:
    image = np.array(image, dtype=np.uint8)  # a copy: the session keeps it after the upload is gone
    image.setflags(write=False)
    st.session_state[KEY] = Uploaded(str(name), image)


def forget() -> None:
    st.session_state.pop(KEY, None)


def latest(shape: tuple[int, ...]) -> Uploaded | None:
    """The kept upload when it fits a model input of `shape` (height, width, channels), else None."""
    kept = st.session_state.get(KEY)
    if isinstance(kept, Uploaded) and kept.image.shape == tuple(shape):
        return kept
    return None


def look_inside() -> None:
    """Open the Inside page with the kept upload chosen."""
    st.session_state[PICK_KEY] = CHOICE
    st.switch_page("pages/6_inside.py")
