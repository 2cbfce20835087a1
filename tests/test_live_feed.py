"""The live feed: each job's update is built once per change whoever watches, and a tab's stream sends only changes."""

import asyncio
import dataclasses
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import pytest

from browser import APP, free_port
from cifar_cnn import live_feed
from cifar_cnn.classroom import QueueError
from cifar_cnn.classroom.training_queue import JobInfo
from cifar_cnn.training import TrainConfig
from cifar_cnn.training.live import LiveHistory, WatchGuesses


class ClassQueue:
    """The queue's reading side (what the feed calls), holding real job records and live histories."""

    def __init__(self):
        self.concurrency = 1
        self.infos: dict[str, JobInfo] = {}
        self.live: dict[str, LiveHistory] = {}

    def add(self, job_id: str, state: str = "running", place: int | None = None) -> LiveHistory:
        self.infos[job_id] = JobInfo(job_id, "ada", TrainConfig(arch="tiny_cnn", epochs=2), state, place, 0.0, None, None,
                                     "", None, None, None, None, None, False)
        self.live[job_id] = LiveHistory()
        return self.live[job_id]

    def change(self, job_id: str, **fields) -> None:
        self.infos[job_id] = dataclasses.replace(self.infos[job_id], **fields)

    def jobs(self):
        return list(self.infos.values())

    def job(self, job_id):
        if job_id not in self.infos:
            raise QueueError(f"No training job {job_id!r} in the queue.")
        return self.infos[job_id]

    def snapshot(self, job_id):
        return self.live[job_id].snapshot()


def add_batches(live: LiveHistory, count: int, first: int = 1) -> None:
    for batch in range(first, first + count):
        live.add_batch({"step": batch, "epoch": 1, "batch": batch, "loss": 2.0 / batch, "accuracy": 0.1 * batch}, images_per_s=100.0)


def started(live: LiveHistory) -> LiveHistory:
    live.start(total_epochs=2, steps_per_epoch=10, batch_size=4)
    live.begin_epoch(1)
    return live


@pytest.fixture
def queue_and_feed(monkeypatch):
    monkeypatch.setattr(live_feed, "QUEUE_CHECK_S", 0.0)  # every question sees the queue as it is now
    queue, feed = ClassQueue(), live_feed.LiveFeed()
    feed.attach(queue)
    return queue, feed


def test_thirty_viewers_of_one_update_share_one_build(queue_and_feed):
    queue, feed = queue_and_feed
    add_batches(started(queue.add("a1")), 3)
    seen = [feed.update("a1") for _ in range(30)]
    assert feed.builds == 1 and all(update == seen[0] for update in seen)
    update = json.loads(seen[0][1])
    assert update["state"] == "running" and update["line"].startswith("Epoch 1/2 · batch 3/10 · ")
    assert update["fraction"] == 0.15 and update["charts"]["loss"]["batch_y"] == [2.0, 1.0, 0.6667]
    assert update["watch"] is None


def test_a_new_batch_or_the_watch_sets_guesses_make_one_new_update(queue_and_feed):
    queue, feed = queue_and_feed
    live = started(queue.add("a1"))
    add_batches(live, 3)
    first = feed.update("a1")
    add_batches(live, 1, first=4)
    second = [feed.update("a1") for _ in range(5)]
    assert feed.builds == 2 and second[0][0] != first[0]
    assert json.loads(second[0][1])["charts"]["accuracy"]["batch_y"][-1] == 0.4
    live.set_watch(WatchGuesses(1, (0, 3), (0, 1), (0, 0)))
    watch = json.loads(feed.update("a1")[1])["watch"]
    assert feed.builds == 3 and watch == {"epoch": 1, "indices": [0, 3], "labels": [0, 1], "predicted": [0, 0]}


def test_the_queue_version_follows_states_places_and_stop_not_batches(queue_and_feed):
    queue, feed = queue_and_feed
    live = started(queue.add("a1"))
    queue.add("b2", state="queued", place=1)
    versions = [feed.queue_version()]
    add_batches(live, 5)
    versions.append(feed.queue_version())
    queue.change("a1", stop_requested=True)
    versions.append(feed.queue_version())
    queue.change("b2", place=2)
    versions.append(feed.queue_version())
    queue.change("a1", state="stopped")
    versions.append(feed.queue_version())
    assert versions[0] == versions[1] and len(set(versions[1:])) == 4
    update = json.loads(feed.update("a1")[1])
    assert update == {"state": "stopped", "stopping": True}  # a finished job: no curves to send


def test_another_job_never_gets_the_previous_jobs_update(queue_and_feed):
    queue, feed = queue_and_feed
    add_batches(started(queue.add("a1")), 3)
    add_batches(started(queue.add("b2")), 3)  # the same row counts
    assert feed.update("a1") is not feed.update("b2") and feed.builds == 2


def test_an_unknown_job_or_no_queue_has_no_update():
    queue, feed = ClassQueue(), live_feed.LiveFeed()
    assert feed.update("a1") is None and feed.update("") is None
    feed.attach(queue)
    assert feed.update("nope") is None
    assert json.loads(feed.update("")[1]) == {"queue": feed.queue_version()}


def events_of(feed, job_ids, last_id="", refresh_s=0.01, stream_s=0.05, between=None) -> list[dict]:
    """The events a tab receives on one stream (its first line, the reconnection delay, left out); `between` runs
    after each event, as the training would go on meanwhile."""

    async def disconnected():
        return False

    async def collect():
        events = []
        async for chunk in live_feed.stream(feed, job_ids, last_id, disconnected, refresh_s=refresh_s, stream_s=stream_s):
            text = chunk.decode()
            if text.startswith("retry:"):
                continue
            fields = dict(line.split(": ", 1) for line in text.strip().splitlines())
            events.append({"id": fields["id"], **json.loads(fields["data"])})
            if between:
                between()
        return events

    return asyncio.run(collect())


def test_a_stream_sends_each_change_once_and_a_reconnection_only_what_changed_since(queue_and_feed):
    queue, feed = queue_and_feed
    live = started(queue.add("a1"))
    add_batches(live, 2)
    events = events_of(feed, ["a1"], stream_s=0.1)
    assert len(events) == 1  # nothing changed after the first
    assert set(events[0]) == {"id", "", "a1"} and events[0][""] == {"queue": feed.queue_version()}
    assert events_of(feed, ["a1"], last_id=events[0]["id"]) == []  # a reconnection when nothing changed: nothing

    add_batches(live, 1, first=3)
    again = events_of(feed, ["a1"], last_id=events[0]["id"])
    assert [set(event) for event in again] == [{"id", "a1"}]  # the queue did not change: only the job
    assert again[0]["a1"]["line"].startswith("Epoch 1/2 · batch 3/10")

    steps = iter(range(4, 100))
    moving = events_of(feed, ["a1"], stream_s=0.2, between=lambda: add_batches(live, 1, first=next(steps)))
    assert len(moving) >= 3 and len({event["id"] for event in moving}) == len(moving)


def test_a_stream_says_when_a_job_is_gone_and_ignores_repeated_jobs(queue_and_feed):
    queue, feed = queue_and_feed
    add_batches(started(queue.add("a1")), 2)
    (event,) = events_of(feed, ["a1", "a1", "zz"])
    assert event["zz"] == {"gone": True} and event["a1"]["state"] == "running"
    assert len(event["id"].split(".")) == 3  # the queue, a1, zz


def test_the_route_sits_under_the_servers_base_path():
    assert [route.path for route in live_feed.routes("")] == [live_feed.PATH]
    assert [route.path for route in live_feed.routes("/class/")] == ["/class" + live_feed.PATH]


def test_ctrl_c_stops_the_server_without_waiting_for_open_streams(tmp_path):
    """uvicorn waits for every open response before it stops: an open stream (any tab of the app holds one) must end
    at its next tick, not after its STREAM_S."""
    port = free_port()
    log = (tmp_path / "streamlit.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.port", str(port), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none"],
        cwd=APP.parent, env={**os.environ, "CIFAR_CNN_ARTIFACTS": str(tmp_path / "artifacts")}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2):
                    break
            except OSError:
                assert server.poll() is None and time.monotonic() < deadline, "streamlit did not start"
                time.sleep(0.5)
        received, stream_ended = [], threading.Event()

        def follow():
            try:
                with urllib.request.urlopen(f"{url}{live_feed.PATH}?job=abc", timeout=60) as stream:
                    for line in stream:
                        received.append(line)
            except OSError:
                pass
            stream_ended.set()

        threading.Thread(target=follow, daemon=True).start()
        deadline = time.monotonic() + 10
        while not any(line.startswith(b"data:") for line in received):  # the stream is open and has sent its first event
            assert time.monotonic() < deadline, "the stream sent nothing"
            time.sleep(0.05)
        interrupted = time.monotonic()
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
        stopped_after = time.monotonic() - interrupted
        assert stream_ended.wait(5)
        # The stream would have lasted STREAM_S (10 s) more; its next tick comes within REFRESH_S (1.5 s).
        assert stopped_after < live_feed.STREAM_S - 3, f"Ctrl-C took {stopped_after:.1f} s"
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
