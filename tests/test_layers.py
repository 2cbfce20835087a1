"""The core library stays usable without Streamlit: only cifar_cnn.ui and the pages import it."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CORE = ["data", "models", "pipeline", "training", "classroom", "class_results", "runs", "evaluation", "plots", "gradcam", "inference", "uploads",
        "images", "cli", "array_batches", "devices", *(f"training.{part}" for part in
        ("config", "loop", "presets", "live", "budget", "lookahead", "batchnorm", "optimizers", "schedules", "precision"))]


@pytest.mark.slow
def test_core_modules_import_no_streamlit():
    imports = "; ".join(f"import cifar_cnn.{name}" for name in CORE)
    check = f"import sys; {imports}; print('streamlit' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1] == "False"
