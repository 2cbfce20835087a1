"""How fast the Inside the network page answers, on a real test set.

    python bench/inside_speed.py --data ../shared/data/cifar10-jpeg.tar.gz [--run RUN] [--layer NAME]

Without --run it first trains a short run (seed CNN, 1 epoch on 5,000 images). The run folder is copied into a
scratch folder, so the figures the page stores there are measured from scratch and the run itself is left as it was.

- walk_s: every layer's output for one test image (one Keras call), model loaded;
- layer_view_s: walk_s plus every picture the layer-by-layer view draws (feature-map grids, strips);
- page_s: server time of one Inside page run with warm caches (Streamlit's AppTest, the whole page);
- top9_first_s: the 9 top images of one channel the first time: the layer's maxima over the whole test set
  (stored in the run folder), the peaks and the receptive-field crops; top9_second_s: the same with them stored;
- visualisation_s: one feature visualisation (100 steps), the first for the model (copying it and tracing included);
- pca_s: PCA of the whole test set's last hidden layer (the forward pass included); tsne_s: t-SNE of 2,000.

Timings are medians of several runs where they repeat. The last line is a JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def median_seconds(action, repeats: int = 5) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def once(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--run", help="a run folder trained on --data (default: train a short one)")
    parser.add_argument("--layer", help="the layer whose channel is timed (default: the last one with feature maps)")
    args = parser.parse_args()

    from cifar_cnn import runs
    from cifar_cnn.data import load_dataset
    from cifar_cnn.inside import channels, embeddings, layers, pictures, store
    from cifar_cnn.inside.visualise import FeatureVisualiser
    from cifar_cnn.training import train
    from cifar_cnn.training.presets import build_config

    workspace = Path(tempfile.mkdtemp(prefix="inside-speed-"))
    dataset = load_dataset(args.data)
    if args.run:
        source = runs.resolve_run_dir(args.run)
    else:
        print("Training a short run (seed CNN, 1 epoch, 5,000 images)...", flush=True)
        source = train(build_config(epochs=1, subset=5000), dataset, runs_dir=workspace / "trained").run_dir
    artifacts = workspace / "artifacts"
    run_dir = artifacts / "runs" / source.name
    shutil.copytree(source, run_dir, ignore=shutil.ignore_patterns(store.FOLDER))
    run = runs.load_run(run_dir)
    model = runs.load_model(run)
    image = dataset.x_test[0]

    walk = layers.LayerWalk(model)
    walk(image)  # the first call builds Keras' call graph
    walk_s = median_seconds(lambda: walk(image))

    def layer_view():
        for step in walk(image):
            if step.info.is_drawn and step.info.is_spatial:
                pictures.feature_grid(step.output, layers.channel_order(step.output)[:16])
            elif step.info.is_drawn:
                pictures.strip(step.output)

    layer_view_s = median_seconds(layer_view)

    layer = args.layer or layers.spatial_layers(walk)[-1].name
    key = store.test_set_key(run_dir / runs.MODEL_FILE, dataset.x_test, dataset.y_test)

    def top9():
        maxima, _ = channels.stored_maxima(run_dir, key, model, layer, dataset.x_test)
        best = channels.top_images(maxima, 0)
        peaks = channels.peak_positions(model, layer, dataset.x_test[best], 0)
        field = channels.receptive_field(model, layer)
        return [channels.crop(dataset.x_test[index], field, *peak) for index, peak in zip(best, peaks)]

    top9_first_s, _ = once(top9)
    top9_second_s = median_seconds(top9)
    visualisation_s, _ = once(lambda: FeatureVisualiser(model)(layer, 0))
    pca_s, _ = once(lambda: embeddings.stored_pca(run_dir, key, model, dataset.x_test))
    tsne_s, _ = once(lambda: embeddings.stored_tsne(run_dir, key, model, dataset.x_test))

    from cifar_cnn.paths import default_cache_dir

    if default_cache_dir().is_dir():  # the app reads the decoded dataset from where this process did
        (artifacts / "cache").symlink_to(default_cache_dir().resolve(), target_is_directory=True)
    os.environ["CIFAR_CNN_ARTIFACTS"] = str(artifacts)
    os.environ["CIFAR10_DATA"] = str(Path(args.data).resolve())
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "streamlit_app.py"), default_timeout=600)
    app.run()
    app.switch_page("pages/6_inside.py").run()  # cold: loads the data and the model, fills the caches
    assert not app.exception, app.exception
    page_s = median_seconds(app.run)

    figures = {
        "arch": run.config.get("arch"), "layer": layer, "test_images": len(dataset.x_test),
        "walk_s": round(walk_s, 4), "layer_view_s": round(layer_view_s, 4), "page_s": round(page_s, 3),
        "top9_first_s": round(top9_first_s, 3), "top9_second_s": round(top9_second_s, 4),
        "visualisation_s": round(visualisation_s, 3), "pca_s": round(pca_s, 3), "tsne_s": round(tsne_s, 2),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    shutil.rmtree(workspace, ignore_errors=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
