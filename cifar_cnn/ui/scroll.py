"""Bringing part of a page into view: Streamlit cannot scroll, a component's script can (components v2 run in the
page itself). A projector shows 720 pixels: what a click opens below the fold must come to the viewer."""

from __future__ import annotations

import streamlit as st

_scroller = st.components.v2.component(
    "cifar_cnn_scroll_to", html="<span></span>",
    js="""
export default function ({data}) {
  const scroll = (tries) => {
    const target = document.getElementById(data.target);
    if (target) target.scrollIntoView({behavior: 'smooth', block: data.block || 'start'});
    else if (tries > 0) setTimeout(() => scroll(tries - 1), 100);
  };
  scroll(30);
}
""")


def scroll_to(element_id: str, block: str = "start") -> None:
    """Scroll the page so that the element with this id (a heading's `anchor`) shows, once per call."""
    st.session_state["_scrolls"] = st.session_state.get("_scrolls", 0) + 1  # a new component each time: it runs again
    _scroller(data={"target": element_id, "block": block}, key=f"scroll_{element_id}_{st.session_state['_scrolls']}")
