import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import plots
from cifar_cnn.jobs import JobBusyError
from cifar_cnn.models import ARCHITECTURES
from cifar_cnn.training.presets import CUSTOM, PRESETS, build_config, preset_settings
from cifar_cnn.training import (LEARNING_RATE_RANGE, MAX_EPOCHS, MAX_MINUTES, MAX_NAME_LENGTH, MAX_SEED, OPTIMIZERS, PRECISIONS,
                                STRATEGIES, ConfigError, describe_config, settings_table)
from cifar_cnn.ui import format
from cifar_cnn.ui.live_figures import METRICS, shared_live_figures
from cifar_cnn.ui.resources import job_runner
from cifar_cnn.ui.sidebar import setup_page, select_run
from cifar_cnn.ui.text import plain

# The Quick demo: the fast preset for one minute of training on every training image. On a 2-core CPU that ends at
# about 70% test accuracy (bench/RESULTS.md), where the seed network's 3 epochs of 2,000 images reached 26%.
QUICK_DEMO = {"recipe": "fast", "minutes": 1.0}
LIVE_REFRESH_S = 1.0
ARCHITECTURE_HELP = ("seed_cnn: the seed notebook's 4-conv, 3-dense network. fast_cnn: airbench-style, the most accuracy per "
                     "minute (use it with SGD and a high learning rate, or the fast preset). tiny_cnn: fast, small, less accurate.")


def quick_demo(locked: bool) -> bool:
    return st.toggle(
        "Quick demo", value=True, key="quick_demo", disabled=locked,
        help=f"Train the {QUICK_DEMO['recipe']} preset for {QUICK_DEMO['minutes']:g} minute on every training image: the "
        "curves move within seconds and the model ends at about 70% test accuracy on a laptop. Turn it off to choose "
        "every setting (the seed notebook's network is the seed preset, under Recipe).",
    )


def settings_in_words(preset: str) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in preset_settings(preset).items())


def recipe(quick: bool, locked: bool) -> str:
    """CUSTOM, or the name of the preset whose settings replace the model and optimizer choices below."""
    if quick:
        chosen = QUICK_DEMO["recipe"]
        st.caption(f"Quick demo: the {chosen} preset for {QUICK_DEMO['minutes']:g} minute. It sets, on this machine: "
                   f"{settings_in_words(chosen)}.")
        return chosen
    chosen = st.selectbox(
        "Recipe", [CUSTOM, *sorted(PRESETS)], key="recipe", disabled=locked,
        format_func=lambda name: "my settings below" if name == CUSTOM else f"{name} preset",
        help="A preset is a tuned recipe: it sets the architecture, batch size, optimizer, learning-rate schedule, "
        "label smoothing and augmentation. Epochs, subset, seed and validation still come from below.",
    )
    if chosen != CUSTOM:
        st.caption(f"The preset sets, on this machine: {settings_in_words(chosen)}.")
    return chosen


def length(column, quick: bool, locked: bool) -> dict:
    """How long to train: epochs, or a time budget that decides them."""
    budget_label, budget_help = "Time budget in minutes (0 = none)", (
        "Train until this much time is up (validation does not count), however many epochs that makes. The "
        "learning-rate schedule then ends when the time does. How much accuracy can 5 minutes buy?")
    if quick:  # a caption, not a disabled input: the input that replaces it must not inherit its value in the browser
        minutes = QUICK_DEMO["minutes"]
        column.caption(f"Time budget: {minutes:g} minute, set by the quick demo.")
    else:
        minutes = column.number_input(budget_label, 0.0, float(MAX_MINUTES), 0.0, step=1.0, key="minutes", help=budget_help,
                                      disabled=locked)
    if minutes:
        epochs = None
        column.number_input("Epochs", 1, MAX_EPOCHS, 10, disabled=True, help="The time budget decides how many epochs there are.")
    else:
        epochs = column.number_input("Epochs", 1, MAX_EPOCHS, 10, key="epochs", help="Passes over all training images.", disabled=locked)
    return dict(epochs=epochs and int(epochs), minutes=float(minutes) or None)


def model_and_optimizer(columns, preset: bool, locked: bool) -> dict:
    """Architecture, batch, optimizer, learning rate and augmentation: the user's, or nothing where a preset sets them
    (its caption lists its values; disabled widgets would show the custom defaults instead)."""
    if preset:
        return {}
    arch_column, batch_column, optimizer_column, rate_column, augment_column = columns
    chosen = dict(
        arch=arch_column.selectbox("Architecture", sorted(ARCHITECTURES), index=sorted(ARCHITECTURES).index("seed_cnn"), key="arch", disabled=locked,
                                   help=ARCHITECTURE_HELP),
        batch_size=int(batch_column.select_slider("Batch size", [16, 32, 64, 128, 256, 512, 1024], value=64, key="batch_size", disabled=locked,
                                                  help="Images per weight update.")),
        optimizer=optimizer_column.selectbox("Optimizer", OPTIMIZERS, key="optimizer", disabled=locked,
                                             help="adam adapts the step size per weight; sgd uses Nesterov momentum."),
        learning_rate=float(rate_column.number_input(
            "Learning rate", min_value=LEARNING_RATE_RANGE[0], max_value=LEARNING_RATE_RANGE[1], value=1e-3, step=1e-4, format="%.5f",
            key="learning_rate", disabled=locked, help="Step size. Too high and the loss jumps or becomes NaN; too low and it barely moves.")),
        augment=augment_column.checkbox("Augment", value=True, key="augment", disabled=locked,
                                        help="Random crop (shifting each image by up to 4 pixels) and horizontal flip, per image."),
    )
    return chosen


def data(columns, dataset, quick: bool, locked: bool) -> dict:
    """Which images: the seed, the train subset and what to validate on."""
    seed_column, subset_column, validation_column = columns
    seed = seed_column.number_input("Random seed", 0, MAX_SEED, 0, key="seed", disabled=locked, help="The same seed gives the same run.")
    if quick:
        subset = 0
        subset_column.number_input("Train subset (0 = all images)", 0, len(dataset.x_train), subset, disabled=True, help="Set by the quick demo.")
    else:
        subset = subset_column.number_input("Train subset (0 = all images)", 0, len(dataset.x_train), 0, key="subset", disabled=locked,
                                            help="Train on this many random training images.")
    validation = validation_column.radio("Validate on", ["test", "holdout"], horizontal=True, key="validation", disabled=locked,
                                         format_func={"test": "test set", "holdout": "10% of train"}.get,
                                         help="The seed notebook validates on the test set; a holdout keeps the test set unseen.")
    return dict(seed=int(seed), subset=int(subset) or None, validation=validation)


def devices_and_precision(preset: bool, locked: bool) -> dict:
    """Where to train, and (unless a preset picks it) in which precision."""
    with st.expander("Devices and precision"):
        chosen = dict(strategy=st.radio(
            "Train on", STRATEGIES, key="strategy", horizontal=True, disabled=locked,
            format_func={"default": "one device", "mirrored": "all local GPUs (MirroredStrategy)"}.get,
            help="Several GPUs each take part of every batch. Without GPUs this makes no difference."))
        if preset:
            st.caption("The preset computes in bfloat16 where the hardware does natively, in float32 elsewhere.")
            return chosen
        chosen["precision"] = st.radio(
            "Compute in", PRECISIONS, key="precision", horizontal=True, disabled=locked,
            format_func={"float32": "float32", "mixed_bfloat16": "bfloat16 (mixed precision)", "auto": "automatic"}.get,
            help="bfloat16 halves the bits of every multiplication: faster on CPUs with AVX-512 BF16 and on recent GPUs, "
            "with weights kept in float32, but several times slower on hardware that only emulates it. Automatic picks "
            "bfloat16 only where the hardware computes it natively.")
    return chosen


def run_name(locked: bool) -> dict:
    name = st.text_input("Run name (optional)", key="run_name", max_chars=MAX_NAME_LENGTH, disabled=locked,
                         placeholder="for example: high learning rate",
                         help="Shown with the run on every page, next to its architecture, images, epochs and accuracy.")
    return dict(name=name.strip())


def train_button(runner, dataset, chosen_recipe: str, choices: dict, busy_with: str | None) -> None:
    """Train, or why not now."""
    if busy_with:
        st.button("Train", type="primary", icon=":material/play_arrow:", disabled=True, key="train_locked")
        st.caption(f"Train is off while {plain(busy_with)} trains (above): stop it or wait for it to finish.")
        return
    if st.button("Train", type="primary", icon=":material/play_arrow:"):
        try:
            runner.start(build_config(chosen_recipe, **choices), dataset)
        except JobBusyError:
            st.warning("A training job is already running (shown above). Stop it or wait for it to finish, then train again.")
        except ConfigError as error:
            st.error(f"Cannot train with these settings: {plain(error)}")
        else:
            st.rerun()  # the running job's panel takes the top of the page


def settings_form(dataset, runner, busy_with: str | None) -> None:
    """Every choice of the next training: open on an idle page, folded and locked while a training runs."""
    locked = busy_with is not None
    label = "Settings of the next training" + (" (locked while a training runs)" if locked else "")
    with st.expander(label, expanded=not locked, icon=":material/tune:"):
        quick = quick_demo(locked)
        chosen_recipe = recipe(quick, locked)
        preset = chosen_recipe != CUSTOM
        first_row, second_row, third_row = st.columns(3), st.columns(3), st.columns(3)
        choices = {
            **length(first_row[1], quick, locked),
            **model_and_optimizer((first_row[0], first_row[2], second_row[0], second_row[1], third_row[2]), preset, locked),
            **data((second_row[2], third_row[0], third_row[1]), dataset, quick, locked),
        }
        choices |= devices_and_precision(preset, locked)
        choices |= run_name(locked)
    train_button(runner, dataset, chosen_recipe, choices, busy_with)


def job_settings(job) -> None:
    """What the running (or last) job trains with, for every viewer: the job's own settings, not this page's widgets."""
    st.caption(plain(describe_config(job.config)))
    with st.expander("All settings of this training"):
        st.dataframe(settings_table(job.config), hide_index=True)


def live_panel(job, running_when_drawn: bool):
    """The job's progress, Stop and curves, redrawn every second while it runs."""
    snapshot = job.live.snapshot()
    if job.is_running:
        epoch = max(snapshot.epoch, 1)
        text = (
            f"Epoch {epoch}{'' if job.config.minutes else f'/{snapshot.total_epochs or job.config.epochs}'}"
            f" · batch {snapshot.batch}/{snapshot.steps_per_epoch or '?'}"
            f" · {snapshot.images_per_s:,.0f} images/s · {format.duration(snapshot.seconds_left)} left"
        )
        st.progress(snapshot.fraction_done, text=text)
        if snapshot.stop_requested:
            st.info("Stopping after the current batch, then saving the model and its accuracy...")
        elif st.button("Stop", icon=":material/stop:"):
            job.stop()
            st.info("Stopping after the current batch, then saving the model and its accuracy...")
    elif running_when_drawn:
        st.rerun()  # the job just ended: redraw the whole app (sidebar runs, final result, settings unlocked)
    figures = shared_live_figures().for_snapshot(job.live, snapshot)
    for column, metric in zip(st.columns(2), METRICS):
        column.plotly_chart(figures[metric], key=f"live_{metric}")
    st.caption(plots.LIVE_CURVES_HELP)


def job_result(job) -> None:
    """How the last training ended, and the way to its evaluation."""
    result = job.result
    if job.state == "failed":
        st.error(plain(job.message))
        return
    verb = "stopped" if job.state == "stopped" else "finished"
    st.success(
        f"Training {verb}. Train accuracy {format.percent(result.metrics['train_accuracy'])}, "
        f"test accuracy {format.percent(result.metrics['test_accuracy'])} (both measured after training, without dropout "
        "or augmentation)." + (f" {plain(result.message)}" if result.message else "")
    )
    if st.button("Open this run in Evaluate", icon=":material/grid_on:"):
        select_run(result.run_dir.name)
        st.switch_page("pages/4_evaluate.py")


context = setup_page("Train")
st.title("Train")
dataset = context.dataset
runner = job_runner()
job = runner.job
busy_with = describe_config(job.config) if job is not None and job.is_running else None

if job is not None:
    st.subheader("Training now" if job.is_running else "Last training")
    job_settings(job)
    st.fragment(run_every=LIVE_REFRESH_S if job.is_running else None)(live_panel)(job, job.is_running)
    if not job.is_running:
        job_result(job)

if dataset is None:
    st.warning("No dataset loaded: choose a data source in the sidebar to train.")
else:
    settings_form(dataset, runner, busy_with)
