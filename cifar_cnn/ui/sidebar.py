"""The sidebar every page shares: navigation, the data source and the selected run.

Every page starts with `context = setup_page("Title")`, which draws the
sidebar and returns what it chose.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass

import streamlit as st
from PIL import Image, ImageDraw

from cifar_cnn import run_labels, runs
from cifar_cnn.data import Dataset, DataError
from cifar_cnn.ui import clear_startup_notice
from cifar_cnn.classroom.permissions import Visitor
from cifar_cnn.ui.classroom import queue_holder, survives_engine_stop, you
from cifar_cnn.ui.live_panel import rerun_when_the_queue_changes
from cifar_cnn.ui.resources import load_dataset_with_progress
from cifar_cnn.ui.text import plain, plain_list

DOWNLOAD, LOCAL = "Keras download (needs internet)", "Local path"
_REQUESTED_RUN_KEY = "_requested_run"
_NEWEST_FINISHED_KEY = "_newest_finished_run"
RUN_KEY = "run_id"
NO_PATH_YET = "No local path entered yet."


@dataclass
class AppContext:
    dataset: Dataset | None
    data_error: str | None
    run: runs.Run | None
    runs: list[runs.Run]
    visitor: Visitor


# (script, label, icon) of every page, in the order the sidebar lists them.
PAGES = [
    ("overview.py", "Overview", ":material/home:"),
    ("pages/1_dataset.py", "Dataset", ":material/photo_library:"),
    ("pages/2_train.py", "Train", ":material/model_training:"),
    ("pages/3_runs.py", "Runs", ":material/table_chart:"),
    ("pages/4_evaluate.py", "Evaluate", ":material/grid_on:"),
    ("pages/5_predict.py", "Predict", ":material/image_search:"),
    ("pages/6_inside.py", "Inside the network", ":material/layers:"),
    ("pages/7_class.py", "Class", ":material/groups:"),
]


def setup_page(title: str) -> AppContext:
    """Page config and the shared sidebar; the first thing every page calls."""
    st.set_page_config(page_title=f"{title} · cifar-cnn", page_icon=page_icon(), layout="wide")
    clear_startup_notice()
    context = render()
    if context.data_error and context.data_error != NO_PATH_YET:  # in the main pane too: the sidebar's end is below the fold
        st.warning(plain(f"No data loaded: {context.data_error.rstrip('.')}. Point the app at a local copy of CIFAR-10: "
                         "under Data in the sidebar choose \"Local path\" and type its path, or start the app with "
                         "CIFAR10_DATA=/path/to/cifar10-jpeg.tar.gz (see the README's Data section)."),
                   icon=":material/folder_off:")
    return context


@functools.cache
def page_icon() -> Image.Image:
    """The browser tab's icon, drawn here: a Material icon as page icon is fetched from Google's font server,
    which a classroom without internet cannot reach. A 3x3 grid of image tiles in the app's colours."""
    icon = Image.new("RGBA", (48, 48), (0, 0, 0, 0))
    draw = ImageDraw.Draw(icon)
    colours = [(255, 75, 75), (255, 164, 33), (33, 195, 84), (28, 131, 225), (128, 61, 245), (255, 75, 75),
               (33, 195, 84), (28, 131, 225), (255, 164, 33)]
    for index, colour in enumerate(colours):
        row, col = divmod(index, 3)
        draw.rounded_rectangle((2 + col * 15, 2 + row * 15, 14 + col * 15, 14 + row * 15), radius=3, fill=colour)
    return icon


def select_run(run_id: str) -> None:
    """Make `run_id` the selected run from the next rerun on (a page may call this after the sidebar drew)."""
    st.session_state[_REQUESTED_RUN_KEY] = run_id


def _keep_across_pages(key: str) -> None:
    """Streamlit forgets a widget's value when another page starts; restore it from a copy.

    Call before drawing the widget, and give the widget `on_change=_remember, args=(key,)`.
    """
    copy = f"_kept_{key}"
    if copy in st.session_state:
        st.session_state[key] = st.session_state[copy]


def _remember(key: str) -> None:
    st.session_state[f"_kept_{key}"] = st.session_state[key]


def render() -> AppContext:
    with st.sidebar:
        for script, label, icon in PAGES:
            st.page_link(script, label=label, icon=icon)
        st.divider()
        visitor = you()
        st.divider()
        dataset, data_error = _data_source()
        st.divider()
        found, selected = _run_selector(visitor)
        _rerun_when_a_training_ends(visitor)
    return AppContext(dataset=dataset, data_error=data_error, run=selected, runs=found, visitor=visitor)


def _data_source() -> tuple[Dataset | None, str | None]:
    st.subheader("Data")
    configured = os.environ.get("CIFAR10_DATA", "")
    if "_kept_data_choice" not in st.session_state:
        st.session_state["_kept_data_choice"] = LOCAL if configured else DOWNLOAD
        st.session_state["_kept_data_path"] = configured
    _keep_across_pages("data_choice")
    _keep_across_pages("data_path")
    choice = st.radio("Source", [DOWNLOAD, LOCAL], key="data_choice", label_visibility="collapsed",
                      on_change=_remember, args=("data_choice",))
    source = None
    if choice == LOCAL:
        source = st.text_input(
            "Path to a local copy",
            key="data_path",
            on_change=_remember,
            args=("data_path",),
            placeholder="~/data/cifar-10-python.tar.gz",
            help="cifar-10-python.tar.gz, its cifar-10-batches-py/ folder, a folder with train/<class>/ and "
            "test/<class>/ image folders, or a .tar, .tar.gz or .zip of one.",
        ).strip()
        if not source:
            st.info("Enter the path of a local CIFAR-10 copy, or choose the Keras download.")
            return None, NO_PATH_YET
        source = os.path.expanduser(source)
    try:
        dataset = load_dataset_with_progress(source)
    except DataError as error:
        st.error(plain(error))
        return None, str(error)
    st.caption(
        f"{len(dataset.x_train):,} train and {len(dataset.x_test):,} test images, "
        f"{dataset.num_classes} classes: {plain_list(dataset.class_names)}"
    )
    for note in dataset.notes:
        st.caption(f"Note: {plain(note)}")
    return dataset, None


def _run_selector(visitor: Visitor) -> tuple[list[runs.Run], runs.Run | None]:
    st.subheader("Run")
    try:
        found, problems = runs.list_runs()
    except runs.RunError as error:  # the runs folder itself cannot be read: the rest of every page still works
        st.error(plain(error))
        return [], None
    for problem in problems:
        st.warning(plain(problem))
    if not found:
        st.caption("No runs yet: train one on the Train page.")
        return found, None
    by_id = {run.run_id: run for run in found}
    requested = st.session_state.pop(_REQUESTED_RUN_KEY, None)
    if requested is None and "run" in st.query_params:  # a link like ?run=<id>, honoured once
        requested = st.query_params["run"]
        del st.query_params["run"]
    _keep_across_pages(RUN_KEY)
    newest_finished = _newest_finished(found, visitor)
    if newest_finished != st.session_state.get(_NEWEST_FINISHED_KEY):
        # A training ended since this session last looked (or this is its first look): its run becomes the selected one.
        st.session_state[_NEWEST_FINISHED_KEY] = newest_finished
        if newest_finished is not None and requested is None:
            requested = newest_finished
    if requested in by_id:
        st.session_state[RUN_KEY] = requested
    if st.session_state.get(RUN_KEY) not in by_id:
        usable = [run for run in found if run.state != runs.DAMAGED]
        st.session_state[RUN_KEY] = (usable or found)[0].run_id
    _remember(RUN_KEY)
    labels = dict(zip(by_id, run_labels.describe_all(found)))
    run_id = st.selectbox("Selected run", list(by_id), key=RUN_KEY, format_func=labels.get, on_change=_remember, args=(RUN_KEY,))
    st.caption(plain(labels[run_id]))  # in full: the box cuts long labels off at the sidebar's width
    return found, by_id[run_id]


def _newest_finished(found: list[runs.Run], visitor: Visitor) -> str | None:
    """The newest run with test results, the visitor's own where they gave a name and have one: what a page opened
    during a training shows (not the running run), and what it switches to when the visitor's training ends (not
    when a classmate's does)."""
    finished = [run for run in found if run.metrics and run.has_predictions]
    own = [run for run in finished if visitor.name and run.config.get("owner") == visitor.name]
    return next((run.run_id for run in own or finished), None)


@survives_engine_stop
def _rerun_when_a_training_ends(visitor: Visitor) -> None:
    """While one of the visitor's trainings waits or runs, check whether one ended each time the queue changes (the
    live feed says when), then redraw the page: its run becomes the selected one. Never starts the queue: a page that
    does not train leaves Ray alone."""
    queue = queue_holder().queue
    if queue is None:
        return

    def unfinished() -> set[str]:
        return {job.job_id for job in queue.jobs(owner=visitor.name) if not job.is_finished}

    watched = unfinished()
    if not watched:
        return

    @st.fragment
    @survives_engine_stop
    def watch():
        rerun_when_the_queue_changes("sidebar_queue_watch")
        if watched - unfinished():
            st.rerun()

    watch()


def require_run(context: AppContext, needs: str) -> runs.Run:
    """The selected run; otherwise say why there is nothing to show and stop the page.

    `needs` is "predictions" (Evaluate) or "model" (Predict).
    """
    run = context.run
    if run is None:
        st.info("No run selected. Train one on the Train page, or pick one in the sidebar.")
        st.stop()
    if run.state == runs.DAMAGED:
        st.warning(f"Run {plain(run.run_id)} is damaged: {plain(run.message)}. Pick another run in the sidebar, "
                   "or delete this one on the Runs page.")
        st.stop()
    has_it = run.has_predictions if needs == "predictions" else run.has_model
    if not has_it:
        st.warning(f"Run {plain(run.run_id)} is {plain(run.state)} and has no saved {'test predictions' if needs == 'predictions' else 'model'}. "
                   f"Pick another run in the sidebar. {plain(run.message)}")
        st.stop()
    return run
