"""Starting or joining Ray, and what the cluster holds.

With no address (and no `RAY_ADDRESS` in the environment) `start_ray` starts an embedded Ray on this machine, just for
this process: nothing to install or start beyond the README's command. With an address it joins the cluster there
(`ray start --head` on one machine, `ray start --address=HEAD:6379` on the others), and trainings run wherever Ray
places them.

Ray 2.60 turns token authentication on for a local `ray.init()`: it stays on here (the token is kept in
`~/.ray/auth_token`). Joining a cluster started with `RAY_AUTH_MODE=token` needs the same setting and the head's token
(`ray get-auth-token` on the head machine, copied into `RAY_AUTH_TOKEN` or `~/.ray/auth_token`). The dashboard stays off.

Pitfalls handled here: Ray starts its processes (the GCS, the raylet, the workers) to die with the *thread* that
started them (Linux's parent-death signal follows the creating thread), and Streamlit runs each rerun of a page in a
thread that ends with the rerun: started from a page, Ray would be killed a moment later. So outside the main thread
Ray is started from a thread of its own that lives until `stop_ray`. `ray.init()` with no address joins whatever cluster was last started on this machine (another
user's, too), so a local start passes "local"; and an address that cannot be reached makes `ray.init` retry for many
minutes, so the address is tried with a plain TCP connection first.
"""

from __future__ import annotations

import math
import os
import socket
import threading

# Ray starts a cluster of its own when any Ray call is made while it is not running ("auto connect"): a queue's
# cleanup running after `stop_ray` (at the server's exit) would start a new Ray. Only `start_ray` starts Ray here.
os.environ.setdefault("RAY_ENABLE_AUTO_CONNECT", "0")

import ray  # noqa: E402 - after the setting above, which Ray reads when imported

ADDRESS_VARIABLE = "RAY_ADDRESS"
# How long to wait for a cluster's head to accept a connection before saying it cannot be reached.
CONNECT_TIMEOUT_S = 5.0
_NO_CLUSTER_HINT = "unset RAY_ADDRESS to train on this machine"

_lock = threading.Lock()
_joined: str | None = None  # the address of the cluster joined; None for a Ray of our own
_keeper_release = threading.Event()  # set by stop_ray: the thread that started Ray may end


class QueueError(RuntimeError):
    """Ray cannot start or be reached, or the queue refuses a request; the message says what is wrong and what to do."""


def start_ray(address: str | None = None, num_cpus: int | None = None, worker_niceness: int | None = None) -> str:
    """Start an embedded local Ray (no address and no RAY_ADDRESS), or join the cluster at `address`.

    `num_cpus` caps the CPUs a local Ray uses (default: all of this machine's); a cluster says for itself.
    `worker_niceness`: the priority of a local Ray's worker processes, as `nice` counts it. Ray's default, 15, lets
    every ordinary process (the app serving its pages, too) go first: trainings take only the CPU nobody else wants,
    which costs them nothing on a machine that only serves the app, and much on one shared with other work. 0 makes
    them equal to the app (what an in-process training gets).
    Returns a line saying what was started or joined. Calling it again while connected returns at once.
    Raises QueueError, saying what is wrong and how to fix it, when Ray cannot start or the cluster cannot be reached.
    """
    global _joined
    address = (address or os.environ.get(ADDRESS_VARIABLE) or "").strip() or None
    with _lock:
        if address == "auto" and not ray.is_initialized():
            address = _find_local_cluster()
        if address and address not in ("auto", "local"):
            _check_reachable(address)
        if ray.is_initialized():
            return describe_cluster()
        if address and address != "local" and (num_cpus is not None or worker_niceness is not None):
            raise QueueError(f"A number of CPUs and the workers' priority can only be given to a Ray started on this machine; "
                             f"the cluster at {address} has its own. Leave them out, or {_NO_CLUSTER_HINT}.")
        def init():
            if address and address != "local":
                ray.init(address=address, log_to_driver=False, namespace="cifar-cnn")
            else:
                # "local": a new Ray of our own, never one that another program started on this machine.
                system = {"worker_niceness": worker_niceness} if worker_niceness is not None else None
                ray.init(address="local", num_cpus=num_cpus, include_dashboard=False, log_to_driver=False,
                         namespace="cifar-cnn", _system_config=system)

        try:
            if threading.current_thread() is threading.main_thread():
                init()
            else:
                _init_from_a_lasting_thread(init)
        except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError, AuthenticationError...
            raise QueueError(_start_failure(address, error)) from error
        _joined = ray.get_runtime_context().gcs_address if address and address != "local" else None
        return describe_cluster()


def stop_ray() -> None:
    """Disconnect from Ray; an embedded Ray is shut down with its worker processes. Safe to call when not connected."""
    global _joined
    with _lock:
        if ray.is_initialized():
            ray.shutdown()
        _joined = None
        _keeper_release.set()


def _init_from_a_lasting_thread(init) -> None:
    """Run `init` in a daemon thread that then waits until `stop_ray` (or the process' end); raise what it raised."""
    _keeper_release.clear()
    outcome: dict[str, BaseException] = {}
    started = threading.Event()

    def keep():
        try:
            init()
        except BaseException as error:  # handed to the caller's thread, which raises it
            outcome["error"] = error
        finally:
            started.set()
        if "error" not in outcome:
            _keeper_release.wait()

    threading.Thread(target=keep, name="cifar-cnn-ray", daemon=True).start()
    started.wait()
    if "error" in outcome:
        raise outcome["error"]


def _split_address(address: str) -> tuple[str, int]:
    """("host", port) of "host:port", "ray://host:port" or "[::1]:port"; QueueError for anything else."""
    bare = address.split("://", 1)[1] if "://" in address else address
    host, _, port = bare.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise QueueError(f"{address!r} is not a Ray cluster address: write it as HOST:PORT, for example 192.168.1.20:6379 "
                         f"(what `ray start --head` prints), or {_NO_CLUSTER_HINT}.")
    return host, int(port)


def _find_local_cluster() -> str:
    """The address "auto" means: the cluster last started on this machine with `ray start --head`."""
    from ray._private import services

    try:
        found = services.canonicalize_bootstrap_address("auto")
    except (ConnectionError, ValueError):
        found = None
    if not found:
        raise QueueError("RAY_ADDRESS is \"auto\", but no Ray cluster runs on this machine: start one with `ray start "
                         f"--head` (then `ray start --address=...` on the other machines), or {_NO_CLUSTER_HINT}.")
    return found


# The first bytes a client sends on an HTTP/2 connection: a Ray head (gRPC, which is HTTP/2) answers them with its
# own settings frame; a web server answers "HTTP/1.1 400 ...".
_HTTP2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + bytes.fromhex("000000040000000000")
_SETTINGS_FRAME = 0x04
ANSWER_TIMEOUT_S = 3.0


def _check_reachable(address: str) -> None:
    host, port = _split_address(address)
    try:
        with socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S) as connection:
            _check_speaks_grpc(connection, address)
    except OSError as error:
        reason = "no answer within %g s" % CONNECT_TIMEOUT_S if isinstance(error, TimeoutError) else (error.strerror or str(error))
        raise QueueError(f"Could not reach the Ray cluster at {address}: {reason}. Check that `ray start --head` runs on that "
                         f"machine (`ray status` there), that this machine can reach it on port {port}, or "
                         f"{_NO_CLUSTER_HINT}.") from None


def _check_speaks_grpc(connection: socket.socket, address: str) -> None:
    """Raise QueueError when what answers at `address` is plainly not Ray (a web server, say); a peer that says nothing
    in time is left to the join's own time limit."""
    try:
        connection.settimeout(ANSWER_TIMEOUT_S)
        connection.sendall(_HTTP2_PREFACE)
        answer = connection.recv(64)
    except OSError:
        return
    if len(answer) >= 9 and answer[3] == _SETTINGS_FRAME:
        return
    if answer.startswith(b"HTTP/") or answer.lstrip()[:9].lower() in (b"<!doctype", b"<html>") or b"<html" in answer.lower():
        first_line = answer.split(b"\n", 1)[0].strip().decode("ascii", "replace")
        what = f"an HTTP web server (it replied {first_line!r})"
    elif answer:
        what = f"something else (it replied {answer[:24]!r})"
    else:
        return
    raise QueueError(f"The address {address} answered, but not as Ray: it is {what}. A Ray cluster's address is the "
                     f"one `ray start --head` prints (port 6379 by default), or {_NO_CLUSTER_HINT}.")


def _start_failure(address: str | None, error: Exception) -> str:
    detail = " ".join(str(error).split())[:300] or type(error).__name__
    if not address or address == "local":
        return (f"Could not start Ray on this machine: {detail}. Check that the disk holding /tmp has free space and that "
                "no firewall blocks connections to this machine's own address; `ray start --head` shows Ray's own error.")
    # The head answered (see _check_reachable), so Ray itself refused: most often a token this machine lacks (Ray then
    # says only that it failed to connect), or another Ray version.
    return (f"Could not join the Ray cluster at {address}: {detail}. If it was started with RAY_AUTH_MODE=token, set "
            "RAY_AUTH_MODE=token here too and put its token (`ray get-auth-token` on the head machine) in RAY_AUTH_TOKEN or "
            f"~/.ray/auth_token; check that both machines run Ray {ray.__version__} (`ray status` on the head machine), or "
            f"{_NO_CLUSTER_HINT}.")


def describe_cluster() -> str:
    """"Ray on this machine: 2 CPUs" or "the Ray cluster at 10.0.0.5:6379: 3 machines, 24 CPUs, 2 GPUs"."""
    resources = ray.cluster_resources()
    nodes = [node for node in ray.nodes() if node.get("Alive")]
    cpus, gpus = int(resources.get("CPU", 0)), int(resources.get("GPU", 0))
    parts = [f"{len(nodes)} machine{'s' if len(nodes) != 1 else ''}"] if _joined else []
    parts.append(f"{cpus} CPU{'s' if cpus != 1 else ''}")
    if gpus:
        parts.append(f"{gpus} GPU{'s' if gpus != 1 else ''}")
    where = f"the Ray cluster at {_joined}" if _joined else "Ray on this machine"
    return f"{where}: {', '.join(parts)}"


def local_ray_failure() -> str:
    """Why the embedded Ray this process started is failing ("" when it is whole, or when a cluster was joined): one
    of its own processes (the raylet, the GCS) ended. Ray ends this process soon after; until then a training worker
    that died went with Ray, not on its own."""
    if _joined is not None or not ray.is_initialized():
        return ""
    node = getattr(ray._private.worker, "_global_node", None)
    try:
        dead = sorted({kind for kind, _ in node.dead_processes()}) if node is not None else []
    except Exception:  # noqa: BLE001 - Ray's bookkeeping changing under us: no verdict
        return ""
    if not dead:
        return ""
    return (f"Ray on this machine failed: its {', '.join(dead)} process{'es' if len(dead) > 1 else ''} ended (killed, out "
            "of memory, or `ray stop`)")


def require_ray() -> None:
    if not ray.is_initialized():
        raise QueueError("Ray is not running: call cifar_cnn.classroom.start_ray() before making a training queue.")


def cluster_totals() -> tuple[float, float]:
    """(CPUs, GPUs) of the whole cluster."""
    resources = ray.cluster_resources()
    return float(resources.get("CPU", 0.0)), float(resources.get("GPU", 0.0))


def largest_node(resource: str) -> float:
    """The most of `resource` ("CPU", "GPU") any one live machine has: one job cannot be spread over two."""
    amounts = [node.get("Resources", {}).get(resource, 0.0) for node in ray.nodes() if node.get("Alive")]
    return float(max(amounts, default=0.0))


# The rule for how many trainings run at once, with the measurements behind it (bench/RESULTS.md, "A class round";
# 2 cores without AVX-512, `bench/job_phases.py --at-once 1|2`). Two at once on 2 cores, one core each, finish a line
# sooner: one job's start and end (building and tracing its model, the final evaluation, writing its run) overlap
# the other's training, and TensorFlow gains less than twice from a second thread. Six 1-second tiny_cnn trainings
# took 0.68 of the time one at a time takes. But a time-budget training then trains on one core for its minutes:
# the class exercise (the fast preset for 0.5 minutes) reached 49% instead of 60%, and a lesson's trainings are
# mostly budgets. So each training gets two cores (or a GPU) by default; a teacher whose class trains many short
# fixed trainings sets two at once under Queue settings, where the page says what each choice costs.
CORES_PER_TRAINING = 2
CONCURRENCY_RULE = (
    "By default each training gets two CPU cores (or one GPU): one training at once on a 2-core laptop. Two at once, "
    "one core each, finish a line of short trainings in about two thirds of the time (their start-up and final "
    "evaluation overlap), but a time-budget training then trains on one core: the class exercise (fast preset, "
    "0.5 minutes) reached 49% test accuracy instead of 60% on 2 cores.")


def default_concurrency() -> int:
    """Trainings at once by default: one per GPU where the cluster has GPUs, else one per `CORES_PER_TRAINING` CPU
    cores (`CONCURRENCY_RULE` says why); at least one."""
    cpus, gpus = cluster_totals()
    return max(1, int(gpus) if gpus >= 1 else int(cpus) // CORES_PER_TRAINING)


def job_share(concurrency: int, cpus_per_job: float | None = None) -> tuple[float, float]:
    """(CPUs, GPUs) to state to Ray for one of `concurrency` jobs at once: an equal share of the cluster, whole units
    where a job gets one or more, never more than the largest machine has."""
    cpus, gpus = cluster_totals()
    cpu_share = cpus_per_job if cpus_per_job is not None else _share(cpus, concurrency)
    cpu_share = min(cpu_share, largest_node("CPU") or cpu_share)
    gpu_share = min(_share(gpus, concurrency), largest_node("GPU")) if gpus else 0.0
    return cpu_share, gpu_share


def _share(total: float, concurrency: int) -> float:
    share = total / max(1, concurrency)
    if share >= 1:
        return float(math.floor(share))
    return max(0.01, math.floor(share * 100) / 100)  # fractions in hundredths, so that the shares never add up to more
