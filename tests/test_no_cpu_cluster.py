"""A cluster whose machines offer no CPU (a head started with `--num-cpus 0`, its workers not joined yet): the queue
says so within seconds, keeps the trainings in line, and starts them when a machine with CPUs joins."""

from __future__ import annotations

import time

import pytest

from cifar_cnn.classroom import TrainingQueue, stop_ray
from cifar_cnn.classroom.cluster import start_ray
from cifar_cnn.training import TrainConfig
from polling import wait_until
from synthetic_arrays import make_dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def cluster_without_cpus():
    from ray.cluster_utils import Cluster

    stop_ray()  # a Ray an earlier module started in this process
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0})
    start_ray(cluster.address)
    yield cluster
    stop_ray()
    cluster.shutdown()


def test_a_training_waits_saying_no_machine_offers_cpus_and_starts_when_one_joins(cluster_without_cpus, tmp_path):
    queue = TrainingQueue(tmp_path / "runs")
    try:
        job_id = queue.submit(TrainConfig(arch="tiny_cnn", epochs=1, batch_size=32), make_dataset(n_train=60, n_test=20), owner="ada")
        began = time.monotonic()
        problem = wait_until(lambda: queue.capacity_problem, "the queue to say why nothing starts", timeout=30)
        assert time.monotonic() - began < 10
        assert "No machine in the Ray cluster offers" in problem and "ray start --address" in problem
        assert queue.job(job_id).state == "queued" and queue.job(job_id).place == 1
        cluster_without_cpus.add_node(num_cpus=2)
        wait_until(lambda: queue.job(job_id).state == "completed", "the job to run once a machine with CPUs joined")
        assert queue.capacity_problem == ""
    finally:
        queue.close()
