"""How fast the Evaluate page answers, on a real test set.

    python bench/evaluate_speed.py --data ../shared/data/cifar10-jpeg.tar.gz [--run RUN]

Without --run it first trains a short run (seed CNN, 1 epoch on 5,000 images;
its predictions cover the whole test set). Then, with Streamlit's AppTest
running the page in this process:

- page_s: server time of one Evaluate page run with warm caches;
- cell_click_s: server time of the rerun after a confusion-matrix cell is
  selected (the session-state key the click handler writes);
- gradcam_s: one Grad-CAM heat map, model already loaded.

Each is the median of several runs. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path

from measure import median_seconds  # bench/measure.py: bench/ is on a bench script's import path

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--run", help="a run folder trained on --data (default: train a short one)")
    args = parser.parse_args()

    from cifar_cnn import runs
    from cifar_cnn.data import load_dataset
    from cifar_cnn.training.presets import build_config
    from cifar_cnn.training import train

    workspace = Path(tempfile.mkdtemp(prefix="evaluate-speed-"))
    dataset = load_dataset(args.data)
    if args.run:
        run_dir = runs.resolve_run_dir(args.run)
    else:
        print("Training a short run (seed CNN, 1 epoch, 5,000 images)...", flush=True)
        run_dir = train(build_config(epochs=1, subset=5000), dataset, runs_dir=workspace / "runs").run_dir
    # The app finds the run in its artifacts folder: point one at a copy-free link to it.
    artifacts = workspace / "artifacts"
    (artifacts / "runs").mkdir(parents=True, exist_ok=True)
    link = artifacts / "runs" / run_dir.name
    if not link.exists():
        link.symlink_to(run_dir.resolve())
    os.environ["CIFAR_CNN_ARTIFACTS"] = str(artifacts)
    os.environ["CIFAR10_DATA"] = str(Path(args.data).resolve())

    from streamlit.testing.v1 import AppTest

    from cifar_cnn.ui import cached
    from cifar_cnn.ui.gallery import CELL_KEY

    app = AppTest.from_file(str(ROOT / "overview.py"), default_timeout=600)
    app.run()
    app.switch_page("pages/4_evaluate.py").run()  # cold: loads data, predictions, caches
    assert not app.exception, app.exception
    page_s = median_seconds(app.run)

    def click_a_cell():
        app.session_state[CELL_KEY] = (3, 5)  # cat predicted as dog
        app.run()

    cell_click_s = median_seconds(click_a_cell)
    assert any("True cat, predicted dog" in subheader.value for subheader in app.subheader)

    run = runs.load_run(link)
    explain = cached.gradcam(run)
    explain(dataset.x_test[0], 0)  # warm
    gradcam_s = median_seconds(lambda: explain(dataset.x_test[1], 3), repeats=10)

    print(f"run {run.run_id} on {len(dataset.x_test):,} test images")
    print(f"Evaluate page, warm caches: {page_s:.3f} s")
    print(f"cell click to its gallery:  {cell_click_s:.3f} s")
    print(f"Grad-CAM for one image:     {gradcam_s:.3f} s")
    print(json.dumps({"page_s": round(page_s, 3), "cell_click_s": round(cell_click_s, 3), "gradcam_s": round(gradcam_s, 3)}))


if __name__ == "__main__":
    main()
