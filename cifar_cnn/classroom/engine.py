"""The training engine: Ray and the class's training queue in a process of their own, so that Ray cannot end the app.

A process that uses Ray (a "driver") is one Ray may end: when its raylet dies (killed, out of memory, a teacher's
`ray stop`) Ray exits it at once, and when its cluster's GCS is gone for 60 s too. The web app must outlive all of
that, so it never uses Ray itself: `EngineQueue.start` runs `python -m cifar_cnn.classroom.engine`, which starts or
joins Ray and holds the `TrainingQueue`, and the app calls the queue's methods over a Unix socket
(`multiprocessing.connection`, with a random key that only the app knows). When the engine is gone, every call raises
`EngineStopped` (a QueueError) saying what ended it, and the app offers to start it again; the new engine takes over the
queue's file and marks the jobs that were running failed, with that reason.

An engine ends with its app: it watches its parent process, and at the app's exit `close` ends the queue and Ray.
A start that hangs (an address that accepts connections but never answers as Ray) is ended after its time limit: the
engine is only a process, and a process can be killed.
"""

from __future__ import annotations

import argparse
import itertools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import weakref
from multiprocessing.connection import Client, Connection, Listener
from pathlib import Path
from typing import Any

from cifar_cnn.classroom.cluster import QueueError

# How long a start may take: a local Ray starts in a few seconds, a first TensorFlow import on a cold disk in more.
START_TIMEOUT_S = 90.0
# Joining a cluster: a head that answers as Ray is joined in seconds; one that accepts connections but never answers
# as Ray would make `ray.init` retry for minutes.
JOIN_TIMEOUT_S = 15.0
CALL_TIMEOUT_S = 30.0  # what the queue answers from memory (all but worker_info and a first dataset) comes at once
SLOW_CALL_TIMEOUT_S = 120.0
CLOSE_TIMEOUT_S = 60.0
PARENT_CHECK_S = 1.0
# The queue's methods and properties a page may call (nothing else crosses the socket).
METHODS = frozenset({"jobs", "job", "snapshot", "estimated_starts", "overheads", "set_concurrency", "worker_info", "cancel",
                     "stop", "notices", "room", "set_max_unfinished"})
PROPERTIES = frozenset({"concurrency", "max_unfinished", "cap_is_set", "capacity_problem"})

logger = logging.getLogger(__name__)


class EngineStopped(QueueError):
    """The training engine's process is gone (or no longer answers); the message says why, as far as it is known."""


class EngineQueue:
    """The app's handle on a training engine: the `TrainingQueue` methods the pages use, answered by the engine."""

    def __init__(self, process: subprocess.Popen, socket_path: Path, key: bytes, log_path: Path, cluster: str):
        self._process, self._socket_path, self._key, self._log_path = process, socket_path, key, log_path
        self.cluster = cluster  # what start_ray said, as the engine started
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._dataset_tokens: dict[int, tuple[weakref.ref, str]] = {}
        self._forgotten: list[str] = []  # tokens of datasets the app let go, for the engine to let go too
        self._tokens = itertools.count(1)
        self._stopped: str | None = None

    # ------------------------------------------------------------ starting and stopping

    @classmethod
    def start(cls, runs_dir: Path, state_file: Path, address: str | None = None, previous_end: str | None = None,
              timeout_s: float | None = None) -> "EngineQueue":
        """Start an engine (a local Ray of its own, or the cluster at `address` / RAY_ADDRESS) with its queue. Raises
        QueueError saying what is wrong when Ray cannot start or join, or another app holds `state_file`."""
        address = (address or os.environ.get("RAY_ADDRESS") or "").strip() or None
        joining = address not in (None, "local")
        limit = timeout_s or START_TIMEOUT_S
        folder = Path(tempfile.mkdtemp(prefix="cifar-cnn-engine-"))
        socket_path, log_path, key = folder / "socket", folder / "engine.log", secrets.token_bytes(32)
        command = [sys.executable, "-m", "cifar_cnn.classroom.engine", "--socket", str(socket_path), "--runs-dir",
                   str(runs_dir), "--state-file", str(state_file), "--parent", str(os.getpid())]
        if address:
            command += ["--address", address]
        if previous_end:
            command += ["--previous-end", previous_end]
        with open(log_path, "ab") as log:
            # A session of its own: the terminal's Ctrl-C reaches the app, which then closes the engine in order.
            process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                                       start_new_session=True)
        process.stdin.write(key.hex().encode() + b"\n")
        process.stdin.close()
        answer = _read_answer(process, limit, JOIN_TIMEOUT_S if joining else limit)
        if answer is None:
            _end_process(process)
            last_words = _last_words(log_path)
            shutil.rmtree(folder, ignore_errors=True)
            if joining:
                raise QueueError(f"The Ray cluster at {address} did not let this app join within {JOIN_TIMEOUT_S:g} s: it accepts "
                                 "connections but does not answer as Ray does. Check the address (`ray start --head` "
                                 "prints it, port 6379 by default) and that both machines run the same Ray version, or "
                                 "unset RAY_ADDRESS to train on this machine.")
            raise QueueError(f"The training engine did not start within {limit:g} s{last_words}. The machine "
                             "may be overloaded: try again in a minute.")
        if "error" in answer:
            process.wait(timeout=10)
            shutil.rmtree(folder, ignore_errors=True)
            raise QueueError(answer["error"])
        return cls(process, socket_path, key, log_path, answer.get("cluster", ""))

    @property
    def alive(self) -> bool:
        return self._stopped is None and self._process.poll() is None

    @property
    def pid(self) -> int:
        return self._process.pid

    def why_stopped(self) -> str:
        """What ended the engine, in a sentence (its exit and Ray's last words), for the pages."""
        if self._stopped:
            return self._stopped
        code = self._process.poll()
        if code is None:
            return "The training engine does not answer."
        how = f"killed by signal {-code}" if code < 0 else f"exit code {code}"
        return f"The training engine stopped ({how}){_last_words(self._log_path)}"

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """End the queue (waiting jobs cancelled, running ones failed, saying why), Ray, and the engine's process."""
        if self._stopped is None and self._process.poll() is not None:  # it ended by itself: keep why, before its log goes
            self._stopped = self.why_stopped()
        if self._process.poll() is None:
            try:
                self._call("close", timeout_s=timeout_s)
            except QueueError:
                pass
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _end_process(self._process)
        self._stopped = self._stopped or "The training engine was closed."
        with self._lock:
            for connection in self._idle:
                connection.close()
            self._idle.clear()
        shutil.rmtree(self._socket_path.parent, ignore_errors=True)

    def describe_cluster(self) -> str:
        """What the cluster holds now ("Ray on this machine: 2 CPUs"): machines join and leave while the app runs."""
        return self._call("describe_cluster")

    def reset(self) -> None:
        """End the queue's jobs and start an empty queue on the same Ray (the tests' fresh start)."""
        self._call("reset", timeout_s=CLOSE_TIMEOUT_S)

    # ------------------------------------------------------------ the queue's methods

    def put_dataset(self, dataset) -> None:
        """Send `dataset` to the engine (and on into Ray's object store) now, so that a first click on Train does not
        wait for it; at once when it was sent before."""
        self._dataset_token(dataset)

    def submit(self, config, dataset, owner: str = "") -> str:
        token = self._dataset_token(dataset)
        return self._call("submit", config, token, owner, timeout_s=SLOW_CALL_TIMEOUT_S)

    def __getattr__(self, name: str) -> Any:
        if name in PROPERTIES:
            return self._call(name)
        if name in METHODS:
            slow = name == "worker_info"
            return lambda *args, **kwargs: self._call(name, *args, timeout_s=SLOW_CALL_TIMEOUT_S if slow else CALL_TIMEOUT_S, **kwargs)
        raise AttributeError(name)

    def _dataset_token(self, dataset) -> str:
        """The engine's name for `dataset`, sending it there the first time (a dataset crosses the socket once)."""
        with self._lock:
            for key, (alive, token) in list(self._dataset_tokens.items()):
                if alive() is None:
                    del self._dataset_tokens[key]
                    self._forgotten.append(token)
            known = self._dataset_tokens.get(id(dataset))
            if known is not None and known[0]() is dataset:
                return known[1]
            token = f"dataset-{next(self._tokens)}"
        self._call("put_dataset", token, dataset, timeout_s=SLOW_CALL_TIMEOUT_S)
        with self._lock:
            self._dataset_tokens[id(dataset)] = (weakref.ref(dataset), token)
        return token

    def _call(self, name: str, *args, timeout_s: float = CALL_TIMEOUT_S, **kwargs) -> Any:
        if not self.alive:
            raise EngineStopped(self.why_stopped())
        with self._lock:
            forgotten, self._forgotten = self._forgotten, []
            connection = self._idle.pop() if self._idle else None
        try:
            if connection is None:
                connection = Client(str(self._socket_path), family="AF_UNIX", authkey=self._key)
            connection.send((name, args, kwargs, forgotten))
            if not connection.poll(timeout_s):
                connection.close()
                raise EngineStopped(f"The training engine did not answer within {timeout_s:g} s; it may be overloaded. "
                                    "Try again in a minute, or restart the app.")
            outcome, value = connection.recv()
        except (EOFError, OSError) as error:
            if connection is not None:
                connection.close()
            try:
                self._process.wait(timeout=2)  # a broken socket is most often an engine that is exiting
            except subprocess.TimeoutExpired:
                raise EngineStopped(f"The training engine's connection broke ({type(error).__name__}).") from None
            raise EngineStopped(self.why_stopped()) from None
        with self._lock:
            self._idle.append(connection)
        if outcome == "error":
            raise value
        return value


def _read_answer(process: subprocess.Popen, timeout_s: float, join_timeout_s: float) -> dict | None:
    """The engine's answer (a JSON line: its cluster, or an error) within `timeout_s`, and within `join_timeout_s` of
    its saying that it begins to join Ray; None when it does not come in time. A process that dies without one says so."""
    lines: list[dict] = []
    arrived = threading.Condition()

    def read():
        for line in iter(process.stdout.readline, b""):
            try:
                said = json.loads(line)
            except ValueError:  # a library's own print before the answer: not for us
                continue
            if not isinstance(said, dict):
                continue
            with arrived:
                lines.append(said)
                arrived.notify()
            if "phase" not in said:
                return
        with arrived:
            lines.append({"error": ""})
            arrived.notify()

    threading.Thread(target=read, daemon=True).start()
    deadline, joining = time.monotonic() + timeout_s, False
    with arrived:
        while True:
            final = [said for said in lines if "phase" not in said]
            if final:
                answer = final[0]
                break
            if not joining and any(said.get("phase") == "joining" for said in lines):
                joining, deadline = True, min(deadline, time.monotonic() + join_timeout_s)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            arrived.wait(min(left, 0.5))
    if answer.get("error") == "":
        process.wait(timeout=10)
        answer = {"error": f"The training engine stopped as it started (exit code {process.returncode})."}
    return answer


def _end_process(process: subprocess.Popen) -> None:
    """Ask the engine to end (it closes its queue and Ray), then make it."""
    for send, wait in ((signal.SIGTERM, 5), (signal.SIGKILL, 10)):
        if process.poll() is not None:
            return
        try:
            process.send_signal(send)
            process.wait(timeout=wait)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            continue


def _last_words(log_path: Path) -> str:
    """The last line of the engine's log that says something (Ray's reason for ending it, most often), as ": ..."."""
    try:
        lines = [line.strip() for line in log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-40:]]
    except OSError:
        return ""
    telling = [line for line in lines if any(word in line for word in ("died", "Failed", "failed", "Error", "error", "exit"))]
    chosen = (telling or [line for line in lines if line] or [""])[-1]
    return f": {' '.join(chosen.split())[:300]}" if chosen else ""


# ---------------------------------------------------------------- the engine's process


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="The class's training engine (started by the app).")
    parser.add_argument("--socket", required=True)
    parser.add_argument("--runs-dir", required=True)
    parser.add_argument("--state-file", required=True)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--address")
    parser.add_argument("--previous-end")
    args = parser.parse_args(argv)
    key = bytes.fromhex(sys.stdin.readline().strip())
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")  # its last line reaches the pages
    _Engine(args, key).run()


class _Engine:
    def __init__(self, args, key: bytes):
        self.args, self.key = args, key
        self.queue = None
        self.datasets: dict[str, Any] = {}
        self.ending = threading.Event()
        self.lock = threading.Lock()

    def run(self) -> None:
        from cifar_cnn.classroom import TrainingQueue, describe_cluster, start_ray, stop_ray
        from cifar_cnn.classroom.cluster import local_ray_failure
        from cifar_cnn.classroom.training_queue import APP_RESTARTED

        self.make_queue = lambda previous_end=APP_RESTARTED: TrainingQueue(
            Path(self.args.runs_dir), state_file=Path(self.args.state_file), previous_end=previous_end,
            app_pid=self.args.parent)
        try:
            if self.args.address not in (None, "local"):
                self._say({"phase": "joining"})  # the app's time limit for joining starts now (TensorFlow is loaded)
            start_ray(self.args.address)
            self.queue = self.make_queue(self.args.previous_end or APP_RESTARTED)
        except QueueError as error:
            self._say({"error": str(error)})
            stop_ray()
            return
        listener = Listener(self.args.socket, family="AF_UNIX", authkey=self.key)
        for signal_number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signal_number, lambda *_: self.ending.set())
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        threading.Thread(target=self._watch_parent, daemon=True).start()
        self._say({"cluster": describe_cluster()})
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # whatever prints later goes to the log: nobody reads the pipe
        while not self.ending.wait(PARENT_CHECK_S):
            failure = local_ray_failure()
            if failure:  # Ray is about to end this process: end it now, saying why, with the queue's file as it is
                logger.error("%s", failure)
                logging.shutdown()
                os._exit(3)
        try:
            self.queue.close()
        finally:
            stop_ray()
            listener.close()
            os._exit(0)  # the connection threads may still wait on their sockets

    def _say(self, answer: dict) -> None:
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()

    def _watch_parent(self) -> None:
        while not self.ending.is_set():
            if os.getppid() != self.args.parent:  # the app is gone (killed, crashed): so is its engine
                self.ending.set()
            time.sleep(PARENT_CHECK_S)

    def _accept(self, listener: Listener) -> None:
        while not self.ending.is_set():
            try:
                connection = listener.accept()
            except Exception as error:  # noqa: BLE001 - a wrong key, a client gone mid-handshake: the next one
                logger.info("Refused a connection: %s", error)
                continue
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection: Connection) -> None:
        with connection:
            while True:
                try:
                    name, args, kwargs, forgotten = connection.recv()
                except (EOFError, OSError):
                    return
                for token in forgotten:
                    self.datasets.pop(token, None)
                try:
                    reply = ("ok", self._answer(name, args, kwargs))
                except Exception as error:  # noqa: BLE001 - every error goes back to the page that asked
                    reply = ("error", error if isinstance(error, QueueError) or _is_config_error(error)
                             else QueueError(f"{type(error).__name__}: {error}"))
                try:
                    connection.send(reply)
                except Exception as error:  # noqa: BLE001 - an error that does not pickle, a page gone
                    try:
                        connection.send(("error", QueueError(f"{type(error).__name__}: {error}")))
                    except (EOFError, OSError):
                        return
                if name == "close":
                    self.ending.set()
                    return

    def _answer(self, name: str, args: tuple, kwargs: dict) -> Any:
        if name == "close":
            return None
        if name == "put_dataset":
            token, dataset = args
            self.datasets[token] = dataset
            self.queue.put_dataset(dataset)  # into the object store now, not at the first submission
            return None
        if name == "submit":
            config, token, owner = args
            if token not in self.datasets:
                raise QueueError("The training engine lost this training's data: reload the page and train again.")
            return self.queue.submit(config, self.datasets[token], owner=owner)
        if name == "describe_cluster":
            from cifar_cnn.classroom import describe_cluster

            return describe_cluster()
        if name == "reset":
            with self.lock:
                self.queue.close()
                self.queue = self.make_queue()
            return None
        if name in PROPERTIES:
            return getattr(self.queue, name)
        if name in METHODS:
            return getattr(self.queue, name)(*args, **kwargs)
        raise QueueError(f"The training engine has no {name!r}.")


def _is_config_error(error: Exception) -> bool:
    from cifar_cnn.training import ConfigError

    return isinstance(error, ConfigError)


if __name__ == "__main__":
    main()
