"""The package turns on TensorFlow's oneDNN kernels on x86 CPUs, unless the user decided otherwise."""

import os
import platform
import subprocess
import sys

import pytest

ONEDNN_STATE = (
    "import cifar_cnn, tensorflow\n"
    "from tensorflow.python.util import _pywrap_util_port\n"
    "print('oneDNN', _pywrap_util_port.IsMklEnabled())\n"
)

x86_only = pytest.mark.skipif(
    platform.machine().lower() not in ("x86_64", "amd64"), reason="the package sets oneDNN only on x86"
)


def onednn_state(**env_changes: str) -> str:
    """What a fresh Python reports after importing cifar_cnn, without any TF_ENABLE_ONEDNN_OPTS but `env_changes`."""
    env = {name: value for name, value in os.environ.items() if name != "TF_ENABLE_ONEDNN_OPTS"} | env_changes
    result = subprocess.run([sys.executable, "-c", ONEDNN_STATE], env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()[-1]


@x86_only
def test_importing_the_package_before_tensorflow_turns_onednn_on():
    assert onednn_state() == "oneDNN True"


@x86_only
def test_the_users_own_setting_wins():
    assert onednn_state(TF_ENABLE_ONEDNN_OPTS="0") == "oneDNN False"
