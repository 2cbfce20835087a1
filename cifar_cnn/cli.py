"""Command line: `python -m cifar_cnn train | evaluate RUN | runs`.

Bad input ends with exit code 2 and one line that says what is wrong and
how to fix it, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from cifar_cnn.paths import default_artifacts_dir, describe_os_error

USAGE_ERROR = 2
TRAINING_FAILED = 1
INTERRUPTED = 130  # what shells report for a program ended by Ctrl-C


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line instead of usage + error
        raise UsageError(f"{message} (see `python -m cifar_cnn {self.prog.split()[-1]} --help`)")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be above 0")
    return value


def _arch_option(text: str) -> tuple[str, object]:
    name, equals, value = text.partition("=")
    if not equals or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE (for example conv_dropout=0.1)")
    try:
        parsed = json.loads(value)
    except ValueError:
        parsed = value  # a plain word, such as an activation name
    return name.strip(), parsed


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="cifar_cnn", description="Train and evaluate CNNs on CIFAR-10.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    artifacts_help = "folder for runs and the data cache (default: $CIFAR_CNN_ARTIFACTS or ./artifacts)"
    train = commands.add_parser("train", help="train a model and save it as a run")
    train.add_argument("--data", help="local CIFAR-10 copy: cifar-10-python.tar.gz, cifar-10-batches-py/, an image-folder tree "
                       "train/<class>/*, test/<class>/* or a .tar/.tar.gz/.zip of one (default: $CIFAR10_DATA, else Keras' download)")
    train.add_argument("--artifacts", type=Path, help=artifacts_help)
    train.add_argument("--preset", help="a named recipe (seed or fast); the options below override its settings")
    train.add_argument("--arch", help="architecture (default: seed_cnn)")
    train.add_argument("--arch-option", action="append", type=_arch_option, metavar="NAME=VALUE", dest="arch_options",
                       help="an option of the architecture's builder, e.g. conv_dropout=0.1 or widths=[32,64,128] (repeatable)")
    train.add_argument("--epochs", type=_positive_int, help="default: 10")
    train.add_argument("--minutes", type=_positive_float,
                       help="train for this many minutes instead (validation not counted); the learning-rate schedule ends when the "
                            "time does, and --epochs, if given, caps the passes")
    train.add_argument("--batch-size", type=_positive_int, help="default: 64")
    train.add_argument("--optimizer", help="adam, adamw or sgd (default: adam)")
    train.add_argument("--lr", type=_positive_float, help="learning rate (default: 0.001)")
    train.add_argument("--schedule", help="learning-rate schedule: constant or one_cycle (default: constant)")
    train.add_argument("--label-smoothing", type=float, help="0 to 1 (default: 0)")
    train.add_argument("--shift-lr-scale", type=_positive_float,
                       help="with sgd, multiply the learning rate of BatchNorm shifts by this (default: 1; 64 in the fast preset)")
    train.add_argument("--weight-decay", type=float, help="decoupled weight decay per step, times the learning rate (default: 0)")
    train.add_argument("--precision", help="float32, mixed_bfloat16 (bfloat16 compute: faster on CPUs with AVX-512 BF16, much slower "
                       "without) or auto (bfloat16 where the hardware has it; the presets' choice). Default: float32")
    train.add_argument("--augment", action=argparse.BooleanOptionalAction, help="random crop and flip (default: on)")
    train.add_argument("--crop-padding", type=int, help="pixels an augmented image may shift (default: 4; 2 in the fast preset)")
    train.add_argument("--alternate-flips", action=argparse.BooleanOptionalAction,
                       help="flip each image at random in the first epoch, then the other way round in each later one (default: off)")
    train.add_argument("--lookahead", action=argparse.BooleanOptionalAction,
                       help="keep slow weights that trail the trained ones ever more closely towards the end (default: off)")
    train.add_argument("--validation", help="'test' (as the seed notebook) or 'holdout' (10%% of train)")
    train.add_argument("--subset", type=_positive_int, help="train on this many random training images (quick demos)")
    train.add_argument("--seed", type=int, help="random seed (default: 0)")
    train.add_argument("--flip-tta", action=argparse.BooleanOptionalAction,
                       help="final test predictions average each image and its mirror image (default: off; on in both presets)")
    train.add_argument("--shift-tta", action=argparse.BooleanOptionalAction,
                       help="final test predictions also average copies of each image shifted by a pixel diagonally each way "
                            "(default: off; on in the fast preset)")
    train.add_argument("--strategy", help="'default' (one device) or 'mirrored' (tf.distribute.MirroredStrategy over all local GPUs)")
    train.add_argument("--name", help="a label for the run, shown with it in `runs` and on every page of the app")
    train.add_argument("--ray", nargs="?", const="", metavar="ADDRESS",
                       help="train in a Ray worker process, as the app's class queue does: on a Ray started here, or on the "
                            "cluster at ADDRESS (default: $RAY_ADDRESS when set); the run folder is written here as usual")

    evaluate = commands.add_parser("evaluate", help="accuracy, per-class metrics and confusion matrix of a run")
    evaluate.add_argument("run", help="run id (see `runs`) or run folder")
    evaluate.add_argument("--artifacts", type=Path, help=artifacts_help)
    evaluate.add_argument("--html", type=Path, help="also write the loss, accuracy and confusion charts to this HTML file")
    evaluate.add_argument("--tta", action="store_true",
                          help="also measure test-time augmentation (averages of each image with its mirror, and with copies shifted "
                               "by a pixel); needs the run's data")
    evaluate.add_argument("--data", help="the run's dataset, for --tta (default: $CIFAR10_DATA, else Keras' download)")

    listing = commands.add_parser("runs", help="list runs")
    listing.add_argument("--artifacts", type=Path, help=artifacts_help)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
        return {"train": _train, "evaluate": _evaluate, "runs": _runs}[args.command](args)
    except UsageError as error:
        print(f"error: {' '.join(str(error).splitlines())}", file=sys.stderr)
        return USAGE_ERROR
    except OSError as error:  # a path too long, a folder not writable, a full disk: the user's to fix, not a bug
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:
        print("\nerror: Interrupted.", file=sys.stderr)
        return INTERRUPTED


def _library_errors():
    from cifar_cnn.data import DataError
    from cifar_cnn.runs import RunError
    from cifar_cnn.training import ConfigError

    return (DataError, RunError, ConfigError)


def _artifacts(args) -> Path:
    return args.artifacts or default_artifacts_dir()


def _train(args) -> int:
    from cifar_cnn.data import load_dataset
    from cifar_cnn.training.live import LiveHistory
    from cifar_cnn.training import ConfigError, train

    artifacts = _artifacts(args)
    try:
        config = _config_from(args)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    try:
        dataset = load_dataset(args.data, cache_dir=artifacts / "cache", progress=_print_progress if sys.stderr.isatty() else None)
        config.check(dataset)
    except _library_errors() as error:
        raise UsageError(str(error)) from None
    if sys.stderr.isatty():
        print(file=sys.stderr)  # end the progress line
    print(f"Data: {dataset.source}: {len(dataset.x_train)} train and {len(dataset.x_test)} test images, "
          f"{dataset.num_classes} classes.", file=sys.stderr)
    for note in dataset.notes:
        print(f"Note: {note}", file=sys.stderr)
    if config.minutes:
        print(f"Training for {config.minutes:g} minute{'s' if config.minutes != 1 else ''} (at most {config.epochs} "
              f"epoch{'s' if config.epochs != 1 else ''}); the last epoch ends early.", file=sys.stderr)

    if args.ray is not None:
        return _train_on_ray(config, dataset, artifacts, args.ray or None)
    live = LiveHistory()
    previous_handler = _stop_on_first_ctrl_c(live.request_stop)
    try:
        result = train(config, dataset, runs_dir=artifacts / "runs", live=live, verbose=1)
    except KeyboardInterrupt:  # the second Ctrl-C: `train` has marked the run failed
        where = f" (run folder: {live.run_dir})" if live.run_dir else ""
        print(f"\nerror: Training was interrupted; the run is marked failed{where}.", file=sys.stderr)
        return INTERRUPTED
    finally:
        signal.signal(signal.SIGINT, previous_handler)
    return _report(config, result.state, result.message, result.metrics, result.run_dir)


def _train_on_ray(config, dataset, artifacts: Path, address: str | None) -> int:
    """Submit one training to a Ray worker (the class queue's path), follow it, and report as the in-process path does."""
    import getpass

    from cifar_cnn.classroom import QueueError, TrainingQueue, start_ray, stop_ray

    try:
        print(f"Ray: {start_ray(address)}", file=sys.stderr)
        queue = TrainingQueue(artifacts / "runs")
    except QueueError as error:
        stop_ray()
        raise UsageError(str(error)) from None
    try:
        job_id = queue.submit(config, dataset, owner=getpass.getuser())
        previous_handler = _stop_on_first_ctrl_c(lambda: queue.stop(job_id))
        try:
            info = _follow(queue, job_id)
        finally:
            signal.signal(signal.SIGINT, previous_handler)
    except QueueError as error:
        raise UsageError(str(error)) from None
    finally:
        queue.close()
        stop_ray()
    return _report(config, info.state, info.message, info.metrics or {}, info.run_dir)


def _report(config, state: str, message: str, metrics: dict, run_dir) -> int:
    """What a finished training prints, wherever it ran; the exit code."""
    if state == "failed" or not metrics:
        print(f"error: {message or f'Training {state}.'} (run folder: {run_dir})", file=sys.stderr)
        return TRAINING_FAILED
    if message:
        print(message)
    from cifar_cnn import run_labels

    print(f"{run_labels.accuracy_line(metrics, config.to_dict())}.")
    print(f"Run saved in {run_dir}")
    return 0


def _follow(queue, job_id: str):
    """Print each epoch as the worker reports it; return the job's final JobInfo."""
    printed = 0
    while True:
        info = queue.job(job_id)
        epochs = queue.snapshot(job_id).epochs if info.state == "running" or info.is_finished else ()
        for row in epochs[printed:]:
            print(f"Epoch {row['epoch']}: loss {row['loss']:.4f}, accuracy {row['accuracy']:.2%}, "
                  f"val_accuracy {row.get('val_accuracy', float('nan')):.2%}", file=sys.stderr)
        printed = max(printed, len(epochs))
        if info.is_finished and not info.touches_pending:  # the run's test-time augmentation and top images are in
            return info
        time.sleep(0.5)  # the queue's own thread collects the worker's reports; this only decides how often to print them


def _config_from(args):
    """The preset (or the defaults), with every option given on the command line on top."""
    from cifar_cnn.training.presets import CUSTOM, build_config

    return build_config(
        args.preset or CUSTOM, arch=args.arch, arch_options=dict(args.arch_options) if args.arch_options else None,
        epochs=args.epochs, minutes=args.minutes, batch_size=args.batch_size, optimizer=args.optimizer,
        learning_rate=args.lr, schedule=args.schedule, label_smoothing=args.label_smoothing, augment=args.augment,
        crop_padding=args.crop_padding, alternate_flips=args.alternate_flips, lookahead=args.lookahead,
        shift_lr_scale=args.shift_lr_scale, weight_decay=args.weight_decay, precision=args.precision,
        flip_tta=args.flip_tta, shift_tta=args.shift_tta, validation=args.validation, subset=args.subset,
        seed=args.seed, strategy=args.strategy, name=args.name,
    )


def _stop_on_first_ctrl_c(stop):
    """First Ctrl-C calls `stop` (training ends after the current batch and keeps the run); a second one aborts.

    Returns the SIGINT handler it replaced."""

    def request_stop(signum, frame):
        print("\nStopping after this batch (press Ctrl-C again to abort)...", file=sys.stderr)
        stop()
        signal.signal(signal.SIGINT, signal.default_int_handler)

    return signal.signal(signal.SIGINT, request_stop)


def _print_progress(fraction: float, message: str) -> None:
    print(f"\r{message} {fraction:4.0%}", end="", file=sys.stderr, flush=True)


def _evaluate(args) -> int:
    import pandas as pd

    from cifar_cnn import evaluation, plots, runs

    try:
        run = runs.load_run(args.run, _artifacts(args) / "runs")
        probabilities, labels = runs.load_predictions(run)
    except _library_errors() as error:
        raise UsageError(str(error)) from None
    try:
        names = runs.class_names(run, probabilities.shape[1])
    except runs.RunError as error:
        raise UsageError(str(error)) from None

    print(f"Run {run.run_id} ({run.state}, {run.config.get('arch')}, {run.epochs_done} epoch{'s' if run.epochs_done != 1 else ''})")
    if run.metrics:
        from cifar_cnn import run_labels

        print(f"{run_labels.accuracy_line(run.metrics, run.config)}.")
    print("\nPer-class metrics:")
    print(evaluation.per_class_metrics(probabilities, labels, names).to_string(index=False, float_format="{:.3f}".format))
    matrix = evaluation.confusion(probabilities, labels)
    print("\nConfusion matrix (rows: true class, columns: predicted class):")
    print(pd.DataFrame(matrix, index=names, columns=[name[:6] for name in names]).to_string())
    if args.tta:
        _report_tta(run, labels, args)
    if args.html:
        figures = [plots.loss_figure(run.history, run.metrics), plots.accuracy_figure(run.history, run.metrics), plots.confusion_figure(matrix, names)]
        try:
            plots.write_html(figures, args.html, title=f"cifar-cnn run {run.run_id}")
        except OSError as error:
            raise UsageError(f"Cannot write {args.html}: {error.strerror}. Choose a writable path for --html.") from None
        print(f"\nCharts written to {args.html}")
    return 0


def _report_tta(run, labels, args) -> None:
    from cifar_cnn import evaluation, inference, runs
    from cifar_cnn.data import load_dataset

    try:
        dataset = load_dataset(args.data, cache_dir=_artifacts(args) / "cache")
        model = runs.load_model(run)
    except _library_errors() as error:
        raise UsageError(str(error)) from None
    problem = runs.dataset_mismatch(run, dataset, labels)
    if problem:
        raise UsageError(f"{problem}; pass that one with --data.")
    plain = evaluation.accuracy(inference.predict(model, dataset.x_test), labels)
    print(f"\nTest accuracy without test-time augmentation: {plain:.2%}")
    for flip_tta, shift_tta in ((True, False), (True, True)):
        accuracy = evaluation.accuracy(inference.predict(model, dataset.x_test, flip_tta=flip_tta, shift_tta=shift_tta), labels)
        print(f"With {inference.describe_tta(flip_tta, shift_tta)}: {accuracy:.2%} ({(accuracy - plain) * 100:+.2f} points)")


def _runs(args) -> int:
    from cifar_cnn import runs

    try:
        found, problems = runs.list_runs(_artifacts(args) / "runs")
    except runs.RunError as error:
        raise UsageError(str(error)) from None
    for problem in problems:
        print(f"warning: {problem}", file=sys.stderr)
    if not found:
        print("No runs yet. Train one with `python -m cifar_cnn train`.")
        return 0
    print(f"{'run':<34} {'state':<12} {'arch':<10} {'epochs':>12} {'train acc':>9} {'test acc':>9}")
    for run in found:
        metrics = run.metrics or {}
        train_acc = f"{metrics['train_accuracy']:.2%}" if "train_accuracy" in metrics else "-"
        test_acc = f"{metrics['test_accuracy']:.2%}" if "test_accuracy" in metrics else "-"
        epochs = run.progress
        print(f"{run.run_id:<34} {run.state:<12} {str(run.config.get('arch', '-')):<10} {epochs:>12} {train_acc:>9} {test_acc:>9}")
    return 0
