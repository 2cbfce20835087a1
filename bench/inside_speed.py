"""How fast the Inside the network page answers, on a real test set, and what the per-epoch records cost training.

    python bench/inside_speed.py --data ../shared/data/cifar10-jpeg.tar.gz [--run RUN] [--layer NAME] [--part page|records|all]

Without --run it first trains a short run (seed CNN, 1 epoch on 5,000 images). The run folder is copied into a
scratch folder, so the figures the page stores there are measured from scratch and the run itself is left as it was.

- walk_s: every layer's output for one test image (one Keras call), model loaded;
- layer_view_s: walk_s plus every picture the layer-by-layer view draws (feature-map grids, strips);
- page_s: server time of one Inside page run with warm caches (Streamlit's AppTest, the whole page);
- top9_first_s: the 9 top images of one channel the first time: every layer's top images over the whole test set
  in one pass (stored in the run folder), the peaks and the receptive-field crops; top9_first_cpu_s: the CPU time
  of this process for the same (what a shared machine disturbs least; on 2 free cores the wall time is about half);
  top9_second_s: the same with them stored; top9_other_layer_s: the first look at another layer (the first layer
  with maps), after the first look; top9_after_training_s: the first look at a channel of the run as its training
  left it: training stores every layer's top images at its end (spending top9_first_s there), so this is what a
  visitor waits for (None for a run trained before training stored them);
- visualisation_s: one feature visualisation (100 steps), the first for the model (copying it and tracing included);
- pca_s: PCA of the whole test set's last hidden layer (the forward pass included); tsne_s: t-SNE of 2,000.

The per-epoch records (`--part records`; the validation set's confusion matrix and the watch set's guesses after every
epoch, `cifar_cnn.training.epoch_records`): the same training (`--preset`, default `fast`, the Quick demo's; `--subset`
training images, validated on the whole test set) with and without them, for `--rounds` rounds. Each figure is
training images per second of whole epochs: training, validation and everything done at an epoch's end, the first
epoch (tracing) not counted. A round's two trainings run one after the other, so their ratio is the least disturbed by
a shared machine's drift; the second training of a round tends to be the slower one, so which goes first alternates
and records_ratio (target at least 0.97) is the geometric mean of the rounds' ratios: over an even number of rounds
the order's effect cancels. Also the same per CPU-second of this process (records_cpu_ratio), which other work on
the machine disturbs much less than the wall clock. Prints each round, the medians and the ratios.

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

from measure import median_seconds  # bench/measure.py: bench/ is on a bench script's import path

ROOT = Path(__file__).resolve().parent.parent


def once(action) -> tuple[float, object]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def cpu_name() -> str:
    """The CPU's model name, and whether it computes bfloat16 natively (which decides the presets' precision)."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    return f"{name}, {os.cpu_count()} logical CPUs, {'with' if 'avx512_bf16' in info else 'without'} avx512_bf16"


def records_speed(dataset, preset: str, subset: int, epochs: int, rounds: int) -> dict:
    """Training images/s of whole epochs with and without the per-epoch records (medians), and the ratio (see the docstring)."""
    import keras

    from cifar_cnn.training import train
    from cifar_cnn.training.presets import build_config

    class EpochClock(keras.callbacks.Callback):
        """Seconds from each epoch's start to the next one's (the last: to the end of training), so an epoch's time
        holds its validation and every callback's work at its end."""

        def __init__(self):
            super().__init__()
            self.starts: list[tuple[float, float]] = []  # (wall clock, this process' CPU time)

        def on_epoch_begin(self, epoch, logs=None):
            self.starts.append((time.perf_counter(), time.process_time()))

        def on_train_end(self, logs=None):
            self.starts.append((time.perf_counter(), time.process_time()))

    config = build_config(preset, epochs=epochs, subset=subset)

    def images_per_s(with_records: bool) -> tuple[float, float]:
        """(images per second, images per CPU-second) of the epochs after the first."""
        clock = EpochClock()
        with tempfile.TemporaryDirectory(prefix="records-speed-") as folder:
            result = train(config, dataset, runs_dir=Path(folder), callbacks=[clock], epoch_records=with_records)
        assert result.state == "completed", result.message
        (wall_start, cpu_start), (wall_end, cpu_end) = clock.starts[1], clock.starts[-1]  # the first epoch traces
        images = subset * (len(clock.starts) - 2)
        return images / (wall_end - wall_start), images / (cpu_end - cpu_start)

    figures = {True: [], False: []}
    for round_number in range(1, rounds + 1):
        for with_records in ((False, True) if round_number % 2 else (True, False)):
            figures[with_records].append(images_per_s(with_records))
        (plain, plain_cpu), (recorded, recorded_cpu) = figures[False][-1], figures[True][-1]
        print(f"round {round_number}: without records {plain:.0f} images/s ({plain_cpu:.0f} per CPU-second), "
              f"with records {recorded:.0f} images/s ({recorded_cpu:.0f} per CPU-second)", flush=True)
    without, with_ = (statistics.median(wall for wall, _ in figures[flag]) for flag in (False, True))
    ratios, cpu_ratios = ([recorded[part] / plain[part] for plain, recorded in zip(figures[False], figures[True])] for part in (0, 1))
    ratio, cpu_ratio = statistics.geometric_mean(ratios), statistics.geometric_mean(cpu_ratios)
    print(f"median: without records {without:.0f} images/s, with records {with_:.0f} images/s; ratio (geometric mean of the "
          f"rounds') {ratio:.3f} (from {min(ratios):.3f} to {max(ratios):.3f}); per CPU-second {cpu_ratio:.3f} "
          f"(from {min(cpu_ratios):.3f} to {max(cpu_ratios):.3f})")
    return {"records_preset": preset, "records_precision": config.precision, "records_train_images": subset,
            "records_epochs_counted": epochs - 1, "records_rounds": rounds, "without_records_images_per_s": round(without, 1),
            "with_records_images_per_s": round(with_, 1), "records_ratio": round(ratio, 4), "records_cpu_ratio": round(cpu_ratio, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", required=True, help="a local CIFAR-10 copy (see README)")
    parser.add_argument("--run", help="a run folder trained on --data (default: train a short one)")
    parser.add_argument("--layer", help="the layer whose channel is timed (default: the last one with feature maps)")
    parser.add_argument("--part", choices=("page", "records", "all"), default="all",
                        help="the page's figures, the per-epoch records' cost to training, or both (default)")
    parser.add_argument("--preset", default="fast", help="the recipe the records are timed with (default fast)")
    parser.add_argument("--subset", type=int, default=10_000, help="training images per epoch for the records (default 10000)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs per records measurement, the first not counted (default 4)")
    parser.add_argument("--rounds", type=int, default=4, help="rounds with and without records, an even number (default 4)")
    args = parser.parse_args()

    from cifar_cnn.data import load_dataset

    print(f"CPU: {cpu_name()}", flush=True)
    dataset = load_dataset(args.data)
    figures = {}
    if args.part in ("page", "all"):
        figures.update(page_speed(args, dataset))
    if args.part in ("records", "all"):
        figures.update(records_speed(dataset, args.preset, args.subset, args.epochs, args.rounds))
    print(json.dumps(figures))


def page_speed(args, dataset) -> dict:
    from cifar_cnn import runs
    from cifar_cnn.inside import channels, embeddings, layers, pictures, store
    from cifar_cnn.inside.visualise import FeatureVisualiser
    from cifar_cnn.training import train
    from cifar_cnn.training.presets import build_config

    workspace = Path(tempfile.mkdtemp(prefix="inside-speed-"))
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

    def top9(layer=layer, run_dir=run_dir, key=key):
        tops, _ = channels.stored_top_images(run_dir, key, model, dataset.x_test)
        best = tops[layer].indices[0]
        peaks = channels.peak_positions(model, layer, dataset.x_test[best], 0)
        field = channels.receptive_field(model, layer)
        return [channels.crop(dataset.x_test[index], field, *peak) for index, peak in zip(best, peaks)]

    cpu_before = time.process_time()
    top9_first_s, _ = once(top9)
    top9_first_cpu_s = time.process_time() - cpu_before
    top9_second_s = median_seconds(top9)
    top9_other_layer_s, _ = once(lambda: top9(layers.spatial_layers(walk)[0].name))
    as_trained = workspace / "as-trained" / source.name
    shutil.copytree(source, as_trained)
    trained_key = store.test_set_key(as_trained / runs.MODEL_FILE, dataset.x_test, dataset.y_test)
    top9_after_training_s = None
    if store.path(as_trained, "top_images", "", trained_key, ".npz").is_file():
        top9_after_training_s, _ = once(lambda: top9(run_dir=as_trained, key=trained_key))
    visualisation_s, _ = once(lambda: FeatureVisualiser(model)(layer, 0))
    pca_s, _ = once(lambda: embeddings.stored_pca(run_dir, key, model, dataset.x_test))
    tsne_s, _ = once(lambda: embeddings.stored_tsne(run_dir, key, model, dataset.x_test))

    from cifar_cnn.paths import default_cache_dir

    if default_cache_dir().is_dir():  # the app reads the decoded dataset from where this process did
        (artifacts / "cache").symlink_to(default_cache_dir().resolve(), target_is_directory=True)
    os.environ["CIFAR_CNN_ARTIFACTS"] = str(artifacts)
    os.environ["CIFAR10_DATA"] = str(Path(args.data).resolve())
    from streamlit.testing.v1 import AppTest

    app = AppTest.from_file(str(ROOT / "overview.py"), default_timeout=600)
    app.run()
    app.switch_page("pages/6_inside.py").run()  # cold: loads the data and the model, fills the caches
    assert not app.exception, app.exception
    page_s = median_seconds(app.run)

    figures = {
        "arch": run.config.get("arch"), "layer": layer, "test_images": len(dataset.x_test),
        "walk_s": round(walk_s, 4), "layer_view_s": round(layer_view_s, 4), "page_s": round(page_s, 3),
        "top9_first_s": round(top9_first_s, 3), "top9_first_cpu_s": round(top9_first_cpu_s, 3),
        "top9_second_s": round(top9_second_s, 4), "top9_other_layer_s": round(top9_other_layer_s, 4),
        "top9_after_training_s": None if top9_after_training_s is None else round(top9_after_training_s, 4),
        "visualisation_s": round(visualisation_s, 3), "pca_s": round(pca_s, 3), "tsne_s": round(tsne_s, 2),
    }
    for name, value in figures.items():
        print(f"{name}: {value}")
    shutil.rmtree(workspace, ignore_errors=True)
    return figures


if __name__ == "__main__":
    main()
