"""The class's side of the app: who this browser session is (name, teacher), and the training queue it uses.

The queue runs in the training engine (`cifar_cnn.classroom.engine`), a process of its own that starts or joins Ray:
Ray ends the processes that use it when it fails, and the app must not be one of them. The engine is started once per
server process, on the first page that needs it (Train, Class), and closed when the server exits. If it cannot start
(Ray cannot, the cluster in `RAY_ADDRESS` cannot be reached, another app holds this artifacts folder's queue) or it
stopped (Ray failed under it), those pages say why and offer to start it again, and every other page works as before.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import threading
import time

import streamlit as st

from cifar_cnn import live_feed
from cifar_cnn.classroom import QueueError
from cifar_cnn.classroom.engine import EngineQueue, EngineStopped
from cifar_cnn.classroom.permissions import KEY_VARIABLE, Visitor, configured_key, key_matches
from cifar_cnn.classroom.queue_state import mark_running_jobs_failed
from cifar_cnn.classroom.training_queue import RESTARTED_RUNNING
from cifar_cnn.paths import default_artifacts_dir, default_runs_dir
from cifar_cnn.training import MAX_NAME_LENGTH, ConfigError, TrainConfig, label_problem
from cifar_cnn.ui.text import plain

NAME_KEY, TEACHER_KEY_INPUT, IS_TEACHER = "student_name", "teacher_key_entered", "_is_teacher"
CLUSTER_CHECK_S = 10.0
NAME_PARAMETER = "name"  # in the page's address, so that a reload or a bookmark keeps the name
ENGINE_STOPPED_HINT = ("Trainings that were running are marked failed with this reason, and those waiting were not run: "
                       "train them again once the engine runs. The other pages (Dataset, Runs, Evaluate, Predict) work as before.")


class QueueHolder:
    """The server's one training engine, started on first use. A start that failed, or an engine that stopped, is
    remembered (with its message) until someone asks to start it again: a cluster that cannot be reached costs
    seconds per try, and every rerun asks."""

    def __init__(self):
        self._lock = threading.RLock()  # `get` holds it while it asks `queue`, which may note a stopped engine
        self._queue: EngineQueue | None = None
        self.error: str | None = None
        self.stopped = False  # the error is an engine that ran and stopped (not one that could not start)
        self._cluster = ("", 0.0)  # what the cluster holds, and when that was asked
        atexit.register(self.close)

    @property
    def cluster(self) -> str:
        """"Ray on this machine: 2 CPUs", or the cluster's machines, CPUs and GPUs (asked again every 10 s: machines
        join and leave while the app runs)."""
        described, when = self._cluster
        queue = self._queue
        if queue is not None and time.monotonic() - when > CLUSTER_CHECK_S:
            try:
                described = queue.describe_cluster()
            except QueueError:  # the engine is going: keep the last description
                pass
            self._cluster = (described, time.monotonic())
        return described

    @property
    def queue(self) -> EngineQueue | None:
        """The queue if its engine was started and still runs; never starts it."""
        queue = self._queue
        if queue is not None and not queue.alive:
            self._lost(queue)
            return None
        return queue

    def get(self, retry: bool = False) -> EngineQueue:
        """The queue, starting its engine the first time (or again, with `retry`, after it failed or stopped). Raises
        QueueError saying what to do when it cannot start, EngineStopped when it stopped."""
        with self._lock:
            queue = self.queue
            if queue is not None:
                return queue
            if self.error and not retry:
                raise (EngineStopped if self.stopped else QueueError)(self.error)
            previous_end = self.error.rstrip(".") if self.stopped and self.error else None
            try:
                queue = EngineQueue.start(default_runs_dir(), default_artifacts_dir() / "queue.json", previous_end=previous_end)
            except QueueError as error:
                self.error, self.stopped = str(error), False
                raise
            self._queue, self.error, self.stopped = queue, None, False
            self._cluster = (queue.cluster, time.monotonic())
            live_feed.FEED.attach(queue)
            return queue

    def _lost(self, queue: EngineQueue) -> None:
        """The engine stopped under the app: remember why, for the pages, until someone starts it again."""
        with self._lock:
            if self._queue is not queue:
                return
            self._queue, self.error, self.stopped = None, queue.why_stopped(), True
            live_feed.FEED.attach(None)
        queue.close()  # its process is gone: this lets its folder (socket, log) go too
        # Its students see it at once on the Runs page too, not only when someone starts the engine again.
        mark_running_jobs_failed(default_artifacts_dir() / "queue.json", default_runs_dir(),
                                 RESTARTED_RUNNING.format(why=self.error.rstrip(".")))

    def close_queue(self) -> None:
        """End the queue's jobs (waiting ones cancelled, running ones ended) and start an empty one; Ray keeps running."""
        queue = self.queue
        if queue is not None:
            queue.reset()

    def close(self) -> None:
        """End the queue, Ray and the engine (an embedded Ray stops with its workers): at the server's exit."""
        with self._lock:
            queue, self._queue = self._queue, None
        live_feed.FEED.attach(None)
        if queue is not None:
            queue.close()


@st.cache_resource
def queue_holder() -> QueueHolder:
    return QueueHolder()


def survives_engine_stop(draw):
    """For a part of a page that asks the queue: an engine that stops while it draws redraws the whole page, which
    then says what happened (instead of a traceback)."""
    @functools.wraps(draw)
    def drawn(*args, **kwargs):
        try:
            return draw(*args, **kwargs)
        except EngineStopped:
            queue_holder().queue  # noqa: B018 - notices the engine is gone, so that the redrawn page says why
            st.rerun(scope="app")
    return drawn


def engine_stopped_notice() -> None:
    """On pages that use the queue without starting it (Class): say that the engine stopped, and offer to start it."""
    holder = queue_holder()
    if holder.queue is None and holder.stopped:
        training_queue()


def training_queue() -> EngineQueue | None:
    """The queue, or None after showing why it cannot start, with a button to try again."""
    holder = queue_holder()
    try:
        return holder.get()
    except EngineStopped as error:
        st.error(plain(f"{str(error).rstrip('.')}."))
        st.caption(ENGINE_STOPPED_HINT)
        label = "Start the training engine again"
    except QueueError as error:
        st.error(f"Training is not available: {plain(error)}")
        st.caption("The other pages (Dataset, Runs, Evaluate, Predict) work without it.")
        label = "Try again"
    if st.button(label, icon=":material/refresh:"):
        with st.spinner("Starting the training engine..."):
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
        room = queue.room(who.name)
        if room < len(owned):
            st.warning(plain(f"The class's line has room for {room} more training{'s' if room != 1 else ''} now "
                             f"(at most {queue.max_unfinished} wait or run at once), not {len(owned)}: nothing was "
                             "queued. Wait until some finish" + (", or queue fewer." if room else ", or ask the teacher "
                             "to raise the limit under Queue settings.")))
            return []
        return [queue.submit(config, dataset, owner=who.name) for config in owned]
    except ConfigError as error:
        st.error(f"Cannot train with these settings: {plain(error)}")
    except EngineStopped:
        st.rerun()  # the page then says that the engine stopped, and offers to start it
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
