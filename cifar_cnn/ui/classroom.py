"""The class's side of the app: who this browser session is (name, teacher), and the training queue it uses.

The queue (`cifar_cnn.classroom.TrainingQueue`) and Ray behind it are started once per server process, on the first
page that needs them (Train, Class), from a cached resource: never from a page's script thread, where `ray.init` cannot
install its signal handler; they are shut down when the server exits. If Ray cannot start, or the cluster in
`RAY_ADDRESS` cannot be reached, those pages say why and how to fix it, and every other page works as before.
"""

from __future__ import annotations

import atexit
import dataclasses
import threading
import time

import streamlit as st

from cifar_cnn import live_feed
from cifar_cnn.classroom import QueueError, TrainingQueue, describe_cluster, start_ray, stop_ray
from cifar_cnn.classroom.permissions import KEY_VARIABLE, Visitor, configured_key, key_matches
from cifar_cnn.paths import default_artifacts_dir, default_runs_dir
from cifar_cnn.training import MAX_NAME_LENGTH, ConfigError, TrainConfig, label_problem
from cifar_cnn.ui.text import plain

NAME_KEY, TEACHER_KEY_INPUT, IS_TEACHER = "student_name", "teacher_key_entered", "_is_teacher"
CLUSTER_CHECK_S = 10.0
NAME_PARAMETER = "name"  # in the page's address, so that a reload or a bookmark keeps the name


class QueueHolder:
    """The server's one training queue, started on first use. A start that failed is remembered (with its message)
    until someone asks to try again: a cluster that cannot be reached costs seconds per try, and every rerun asks."""

    def __init__(self):
        self._lock = threading.Lock()
        self._queue: TrainingQueue | None = None
        self.error: str | None = None
        self._cluster = ("", 0.0)  # what the cluster holds, and when that was asked
        atexit.register(self.close)

    @property
    def cluster(self) -> str:
        """"Ray on this machine: 2 CPUs", or the cluster's machines, CPUs and GPUs (asked again every 10 s: machines
        join and leave while the app runs)."""
        described, when = self._cluster
        if self._queue is not None and time.monotonic() - when > CLUSTER_CHECK_S:
            try:
                described = describe_cluster()
            except Exception:  # noqa: BLE001 - Ray is shutting down: keep the last description
                pass
            self._cluster = (described, time.monotonic())
        return described

    @property
    def queue(self) -> TrainingQueue | None:
        """The queue if it was started; never starts it."""
        return self._queue

    def get(self, retry: bool = False) -> TrainingQueue:
        """The queue, starting Ray and the queue the first time. Raises QueueError, saying what to do, if Ray cannot start."""
        with self._lock:
            if self._queue is not None:
                return self._queue
            if self.error and not retry:
                raise QueueError(self.error)
            try:
                self._cluster = (start_ray(), time.monotonic())
                self._queue = TrainingQueue(default_runs_dir(), state_file=default_artifacts_dir() / "queue.json")
            except QueueError as error:
                self.error = str(error)
                raise
            self.error = None
            live_feed.FEED.attach(self._queue)
            return self._queue

    def close_queue(self) -> None:
        """End the queue (waiting jobs cancelled, running ones ended); Ray keeps running."""
        with self._lock:
            queue, self._queue = self._queue, None
        live_feed.FEED.attach(None)
        if queue is not None:
            queue.close()

    def close(self) -> None:
        """End the queue and disconnect from Ray (an embedded Ray stops with its workers): at the server's exit."""
        self.close_queue()
        stop_ray()


@st.cache_resource
def queue_holder() -> QueueHolder:
    return QueueHolder()


def training_queue() -> TrainingQueue | None:
    """The queue, or None after showing why it cannot start, with a button to try again."""
    holder = queue_holder()
    try:
        return holder.get()
    except QueueError as error:
        st.error(f"Training is not available: {plain(error)}")
        st.caption("The other pages (Dataset, Runs, Evaluate, Predict) work without it.")
        if st.button("Try again", icon=":material/refresh:"):
            try:
                holder.get(retry=True)
            except QueueError:
                pass
            st.rerun()
        return None


def submit_trainings(configs: list[TrainConfig], dataset) -> list[str]:
    """Queue `configs` in order, owned by this session's visitor; returns their job ids. Shows why instead (and
    returns []) when the visitor may not train now or a setting cannot train on `dataset`: nothing is queued then."""
    queue = training_queue()
    if queue is None:
        return []
    who = visitor()
    unfinished = sum(not job.is_finished for job in queue.jobs(owner=who.name))
    refusal = who.training_refusal(unfinished, len(configs))
    if refusal:
        st.warning(plain(refusal))
        return []
    try:
        owned = [dataclasses.replace(config, owner=who.name) for config in configs]
        for config in owned:  # all are checked before any is queued: a sweep goes in whole or not at all
            config.check(dataset)
        return [queue.submit(config, dataset, owner=who.name) for config in owned]
    except ConfigError as error:
        st.error(f"Cannot train with these settings: {plain(error)}")
    except QueueError as error:
        st.error(plain(error))
    return []


# ---------------------------------------------------------------- who is this session


def _secrets_key() -> str | None:
    try:
        return st.secrets.get(KEY_VARIABLE)
    except Exception:  # noqa: BLE001 - no secrets file, or one that does not parse: no key from there
        return None


def teacher_key() -> str:
    return configured_key(_secrets_key())


def visitor() -> Visitor:
    """This browser session as the owner rules see it (drawn by `you`, in the sidebar)."""
    name = st.session_state.get("_kept_" + NAME_KEY, "")
    name = name if not label_problem(name, "name") else ""
    key_configured = bool(teacher_key())
    return Visitor(" ".join(name.split()), key_configured and st.session_state.get(IS_TEACHER, False), key_configured)


def _check_teacher_key() -> None:
    entered = st.session_state.get(TEACHER_KEY_INPUT, "")
    st.session_state[IS_TEACHER] = key_matches(entered, teacher_key())
    st.session_state["_teacher_key_wrong"] = bool(entered) and not st.session_state[IS_TEACHER]
    st.session_state[TEACHER_KEY_INPUT] = ""  # the key is not kept in the session, nor shown again


def _remember_name() -> None:
    st.session_state["_kept_" + NAME_KEY] = st.session_state[NAME_KEY]


def you() -> Visitor:
    """The sidebar's "You" group: the visitor's name, and the teacher key where one is configured."""
    st.subheader("You")
    kept = "_kept_" + NAME_KEY
    if kept not in st.session_state:  # a new session: a reload keeps the name in the page's address
        st.session_state[kept] = str(st.query_params.get(NAME_PARAMETER, ""))[:MAX_NAME_LENGTH]
    st.session_state[NAME_KEY] = st.session_state[kept]
    key_configured = bool(teacher_key())
    st.text_input("Your name", key=NAME_KEY, max_chars=MAX_NAME_LENGTH, on_change=_remember_name,
                  placeholder="required to train" if key_configured else "optional",
                  help="Your trainings carry this name: the Train page follows yours, the Class page lists everyone's. "
                  "It is a label, not a login.")
    name = st.session_state[kept]
    problem = label_problem(name, "name")
    if problem:
        st.error(plain(problem))
    elif " ".join(name.split()):
        st.query_params[NAME_PARAMETER] = " ".join(name.split())
    elif NAME_PARAMETER in st.query_params:
        del st.query_params[NAME_PARAMETER]
    if key_configured:
        if st.session_state.get(IS_TEACHER):
            st.caption("You are the teacher: you may stop, cancel or delete anyone's trainings and runs.")
            if st.button("Leave teacher mode", icon=":material/logout:"):
                st.session_state[IS_TEACHER] = False
                st.rerun()
        else:
            st.text_input("Teacher key", type="password", key=TEACHER_KEY_INPUT, on_change=_check_teacher_key,
                          help="Teachers only: lets you stop, cancel or delete any training and set how many run at once.")
            if st.session_state.get("_teacher_key_wrong"):
                st.error("That is not the teacher key.")
    return visitor()
