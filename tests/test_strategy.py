"""Multi-device training: MirroredStrategy over two logical CPU devices, in a fresh process
(logical devices must be configured before TensorFlow starts)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from cifar_cnn.training import ConfigError, TrainConfig
from synthetic_arrays import make_dataset

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
sys.path[:0] = [{root!r}, {tests!r}]
from cifar_cnn.training import TrainConfig, make_strategy, train
from synthetic_arrays import make_dataset
replicas = make_strategy("mirrored").num_replicas_in_sync
# Lookahead and alternating flips keep state outside the model (slow weights, a flag per image): both must work on mirrored variables.
result = train(TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32, strategy="mirrored", lookahead=True, alternate_flips=True),
               make_dataset(), runs_dir={runs!r})
alone = train(TrainConfig(arch="tiny_cnn", epochs=2, batch_size=32, lookahead=True, alternate_flips=True), make_dataset(),
              runs_dir={runs!r} + "-default")
print(json.dumps({{"replicas": replicas, "state": result.state, "message": result.message, "metrics": result.metrics,
                   "default_accuracy": alone.metrics["test_accuracy"]}}))
"""


@pytest.mark.slow
def test_mirrored_training_over_two_logical_cpus(tmp_path):
    script = SCRIPT.format(root=str(ROOT), tests=str(ROOT / "tests"), runs=str(tmp_path / "runs"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert report["state"] == "completed", report["message"]
    # the same training split over two devices learns what it learns on one (chance is 1/3 on these 3 classes)
    assert report["metrics"]["test_accuracy"] > 0.5
    assert abs(report["metrics"]["test_accuracy"] - report["default_accuracy"]) <= 0.1
    saved = json.loads(next((tmp_path / "runs").iterdir()).joinpath("config.json").read_text())
    assert saved["strategy"] == "mirrored"


def test_unknown_strategy_is_refused():
    with pytest.raises(ConfigError, match="mirrored"):
        TrainConfig(strategy="tpu-pod").check(make_dataset())
