"""The live feed: what a viewer's Train tab shows of the class's trainings, built once per update and pushed to every tab.

A class keeps 30 Train tabs open while trainings run. When each tab reran a Streamlit fragment every second to
redraw its progress and curves, the server rebuilt and sent the page's elements 30 times a second and every browser
re-rendered them: with the browsers on the machine that trains, 10 tabs took half of the training's speed
(bench/RESULTS.md). Now the page is drawn once, and a small panel in each tab (cifar_cnn/ui/live_panel.py) holds one
server-sent-event stream from this module's route: at most every REFRESH_S it receives the training's state, encoded
once per update for all tabs, and draws it itself. A Streamlit rerun happens only when the page must change: a
training started or ended, the line moved, someone pressed Stop.

The route is served beside Streamlit's own by `streamlit_app.py` (an `st.App`). This module imports neither
Streamlit nor TensorFlow: the server imports it before any page runs.
"""

from __future__ import annotations

import asyncio
import collections
import hashlib
import json
import signal
import threading
import time

from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

PATH = "/_cifar_cnn/live"
REFRESH_S = 1.5  # the most often a tab receives an update: each costs its browser a repaint of the panel
# A stream ends after this long and the browser reconnects at once (naming the last update it has): reconnecting
# costs each tab some CPU, and a stopping server waits for its open streams (which end at once when it stops, see
# server_stopping).
STREAM_S = 10.0
RECONNECT_MS = 200
RECONNECT_ALLOWANCE_S = 0.1  # a new connection's set-up
QUEUE_CHECK_S = 0.5  # the queue and each job are looked at most this often, however many tabs ask
KEEP_JOBS = 64  # jobs whose latest update is kept: more than a class runs at once
RUNNING = "running"
STARTING_LINE = "Starting: a worker process loads TensorFlow and the data..."


def queue_version(jobs, concurrency: int) -> str:
    """A short fingerprint of what the page draws from the queue (each job's state and place in line, Stop pressed,
    trainings at once): when it changes, the viewers' pages rerun."""
    drawn = [(job.job_id, job.state, job.place, job.stop_requested) for job in jobs]
    return hashlib.blake2b(repr((drawn, concurrency)).encode(), digest_size=6).hexdigest()


def job_update(job, snapshot) -> dict:
    """What a tab draws of one job: its state and whether Stop was pressed (when these change, the page reruns), and
    for a running job its progress line, the curves and the watch set's latest guesses."""
    from cifar_cnn import plots  # imported when the first tab asks: the server starts without them
    from cifar_cnn.format import progress_line

    update = {"state": job.state, "stopping": job.stop_requested}
    if job.state != RUNNING:
        return update
    started = bool(snapshot.batches)
    watch = snapshot.watch
    return update | {
        "fraction": round(snapshot.fraction_done, 4) if started else 0.0,
        "line": progress_line(snapshot, job.config) if started else STARTING_LINE,
        "charts": {metric: plots.live_curve_series(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, metric)
                   for metric in ("loss", "accuracy")},
        "watch": None if watch is None else {"epoch": watch.epoch, "indices": list(watch.indices),
                                             "labels": list(watch.labels), "predicted": list(watch.predicted)},
    }


def _snapshot_key(job, snapshot) -> tuple:
    """Everything an update shows changes this: the job's state, Stop, a new batch or epoch, a phase, the guesses."""
    if snapshot is None:
        return job.state, job.stop_requested
    return (job.state, job.stop_requested, len(snapshot.batches), len(snapshot.epochs), snapshot.phase, snapshot.steps_per_epoch,
            snapshot.watch and snapshot.watch.epoch)


class LiveFeed:
    """The process-wide feed over the training queue. Each job's update is built once per change (a lock makes the
    tabs that ask at the same moment wait for one build) and kept encoded, with its id, for every stream."""

    def __init__(self, keep: int = KEEP_JOBS):
        self._queue = None
        self._lock = threading.Lock()
        self._keep = keep
        # job id -> (what it shows, its id, its JSON, when it was last compared with the job)
        self._updates: collections.OrderedDict[str, tuple[tuple, str, bytes, float]] = collections.OrderedDict()
        self._version = ("", 0.0)
        self.builds = 0  # how many updates were built: what sharing them saves, for tests and benches

    def attach(self, queue) -> None:
        """Serve `queue`'s jobs (the app's queue, once it has started)."""
        with self._lock:
            self._queue, self._version = queue, ("", 0.0)
            self._updates.clear()

    def queue_version(self) -> str:
        with self._lock:
            return self._queue_version()

    def _queue_version(self) -> str:
        version, when = self._version
        if self._queue is None:
            return ""
        if not version or time.monotonic() - when > QUEUE_CHECK_S:
            from cifar_cnn.classroom import QueueError

            try:
                version = queue_version(self._queue.jobs(), self._queue.concurrency)
            except QueueError:  # the training engine stopped: a version of its own, so that every page redraws and says so
                version = "engine-stopped"
            self._version = (version, time.monotonic())
        return version

    def update(self, job_id: str) -> tuple[str, bytes] | None:
        """The latest update of `job_id` (or, for "", the queue's version alone), as (its id, its JSON), or None for a
        job the queue does not know. Looked at again at most every QUEUE_CHECK_S, however many tabs ask: reading a
        job's live state copies its rows."""
        with self._lock:
            kept = self._updates.get(job_id)
            if kept is not None and time.monotonic() - kept[3] < QUEUE_CHECK_S:
                return kept[1], kept[2]
            queue = self._queue
            if queue is None:
                return None
            if not job_id:
                version = self._queue_version()
                self._updates[job_id] = ((), version, _encoded({"queue": version}), time.monotonic())
                return self._updates[job_id][1:3]
            from cifar_cnn.classroom import QueueError

            try:
                job = queue.job(job_id)
                snapshot = queue.snapshot(job_id) if job.state == RUNNING else None
            except QueueError:  # not (or no longer) known, or the training engine stopped
                return None
            key = _snapshot_key(job, snapshot)
            if kept is None or kept[0] != key:
                update_id = hashlib.blake2b(repr((job_id, key)).encode(), digest_size=6).hexdigest()  # unique per job
                kept = (key, update_id, _encoded(job_update(job, snapshot)))
                self.builds += 1
            kept = self._updates[job_id] = (*kept[:3], time.monotonic())
            self._updates.move_to_end(job_id)
            while len(self._updates) > self._keep:
                self._updates.popitem(last=False)
            return kept[1], kept[2]


def _encoded(update: dict) -> bytes:
    return json.dumps(update, separators=(",", ":")).encode()


FEED = LiveFeed()
MAX_JOBS_PER_STREAM = 16


async def stream(feed: LiveFeed, job_ids: list[str], last_id: str, disconnected, refresh_s: float = REFRESH_S,
                 stream_s: float = STREAM_S):
    """The events of one tab's stream: every update of the jobs `job_ids` (and of the queue's version, job "") that
    differs from the last one sent, checked every `refresh_s`, for `stream_s` at most. One stream serves all the
    trainings a tab follows: a browser opens at most 6 connections to a server, Streamlit's own among them.

    An event's id lists the update ids it has seen, job by job; the browser names it when it reconnects (`last_id`),
    so that a new stream sends only what changed since."""
    jobs = ["", *dict.fromkeys(job for job in job_ids if job)][:MAX_JOBS_PER_STREAM + 1]
    seen = dict(zip(jobs, last_id.split(".")))
    yield f"retry: {RECONNECT_MS}\n\n".encode()
    ends = time.monotonic() + stream_s
    while True:
        changed = []
        for job_id in jobs:
            latest = await asyncio.to_thread(feed.update, job_id)
            if latest is None:
                latest = ("gone", json.dumps({"gone": True}).encode())  # not (or no longer) known: the tab stops following it
            if seen.get(job_id) != latest[0]:
                seen[job_id] = latest[0]
                changed.append(b'"' + job_id.encode() + b'":' + latest[1])
        if changed:
            event_id = ".".join(seen.get(job_id, "") for job_id in jobs)
            yield b"id: " + event_id.encode() + b"\ndata: {" + b",".join(changed) + b"}\n\n"
        if await disconnected() or server_stopping():
            return
        if time.monotonic() + refresh_s > ends:
            # End so that the browser's reconnection checks again one tick after this one, not a tick later.
            await asyncio.sleep(max(0.0, refresh_s - RECONNECT_MS / 1000 - RECONNECT_ALLOWANCE_S))
            return
        await asyncio.sleep(refresh_s)


def server_stopping() -> bool:
    """Whether the server was told to stop (Ctrl-C): uvicorn, which serves an st.App, then waits for every open
    response, and a stream ends at its next tick instead of after STREAM_S. uvicorn's Server handles SIGINT with its
    own method, which sets `should_exit`; under any other server this is False and the streams end as usual."""
    handler = signal.getsignal(signal.SIGINT)
    return getattr(getattr(handler, "__self__", None), "should_exit", False) is True


async def _events(request: Request) -> StreamingResponse:
    job_ids = [job for job in request.query_params.getlist("job") if job.isalnum()]
    last_id = request.headers.get("last-event-id", request.query_params.get("seen", ""))
    return StreamingResponse(stream(FEED, job_ids, last_id, request.is_disconnected), media_type="text/event-stream",
                             headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


def url_path(base_url_path: str = "") -> str:
    """The feed's path on a server whose `server.baseUrlPath` is `base_url_path`."""
    base = base_url_path.strip("/")
    return (f"/{base}" if base else "") + PATH


def routes(base_url_path: str = "") -> list[Route]:
    """The feed's route, under the server's `server.baseUrlPath` if it has one."""
    return [Route(url_path(base_url_path), _events, methods=["GET"])]
