import streamlit as st

from cifar_cnn import plots
from cifar_cnn.jobs import JobBusyError
from cifar_cnn.models import ARCHITECTURES
from cifar_cnn.training.presets import CUSTOM, PRESETS, build_config, preset_settings
from cifar_cnn.training import (LEARNING_RATE_RANGE, MAX_EPOCHS, MAX_MINUTES, MAX_SEED, OPTIMIZERS, PRECISIONS, STRATEGIES,
                                ConfigError)
from cifar_cnn.ui import format
from cifar_cnn.ui.resources import job_runner
from cifar_cnn.ui.sidebar import setup_page, select_run
from cifar_cnn.ui.text import plain

# The Quick demo: the fast preset for one minute of training on every training image. On a 2-core CPU that ends at
# about 70% test accuracy (bench/RESULTS.md), where the seed network's 3 epochs of 2,000 images reached 26%.
QUICK_DEMO = {"recipe": "fast", "minutes": 1.0}
ARCHITECTURE_HELP = ("seed_cnn: the seed notebook's 4-conv, 3-dense network. fast_cnn: airbench-style, the most accuracy per "
                     "minute (use it with SGD and a high learning rate, or the fast preset). tiny_cnn: fast, small, less accurate.")


def quick_demo() -> bool:
    return st.toggle(
        "Quick demo", value=True, key="quick_demo",
        help=f"Train the {QUICK_DEMO['recipe']} preset for {QUICK_DEMO['minutes']:g} minute on every training image: the "
        "curves move within seconds and the model ends at about 70% test accuracy on a laptop. Turn it off to choose "
        "every setting (the seed notebook's network is the seed preset, under Recipe).",
    )


def settings_in_words(preset: str) -> str:
    return ", ".join(f"{name.replace('_', ' ')} {value}" for name, value in preset_settings(preset).items())


def recipe(quick: bool) -> str:
    """CUSTOM, or the name of the preset whose settings replace the model and optimizer choices below."""
    if quick:
        chosen = QUICK_DEMO["recipe"]
        st.caption(f"Quick demo: the {chosen} preset for {QUICK_DEMO['minutes']:g} minute. It sets, on this machine: "
                   f"{settings_in_words(chosen)}.")
        return chosen
    chosen = st.selectbox(
        "Recipe", [CUSTOM, *sorted(PRESETS)], key="recipe",
        format_func=lambda name: "my settings below" if name == CUSTOM else f"{name} preset",
        help="A preset is a tuned recipe: it sets the architecture, batch size, optimizer, learning-rate schedule, "
        "label smoothing and augmentation. Epochs, subset, seed and validation still come from below.",
    )
    if chosen != CUSTOM:
        st.caption(f"The preset sets, on this machine: {settings_in_words(chosen)}.")
    return chosen


def length(column, quick: bool) -> dict:
    """How long to train: epochs, or a time budget that decides them."""
    budget_label, budget_help = "Time budget in minutes (0 = none)", (
        "Train until this much time is up (validation does not count), however many epochs that makes. The "
        "learning-rate schedule then ends when the time does. How much accuracy can 5 minutes buy?")
    if quick:  # a caption, not a disabled input: the input that replaces it must not inherit its value in the browser
        minutes = QUICK_DEMO["minutes"]
        column.caption(f"Time budget: {minutes:g} minute, set by the quick demo.")
    else:
        minutes = column.number_input(budget_label, 0.0, float(MAX_MINUTES), 0.0, step=1.0, key="minutes", help=budget_help)
    if minutes:
        epochs = None
        column.number_input("Epochs", 1, MAX_EPOCHS, 10, disabled=True, help="The time budget decides how many epochs there are.")
    else:
        epochs = column.number_input("Epochs", 1, MAX_EPOCHS, 10, key="epochs", help="Passes over all training images.")
    return dict(epochs=epochs and int(epochs), minutes=float(minutes) or None)


def model_and_optimizer(columns, preset: bool) -> dict:
    """Architecture, batch, optimizer, learning rate and augmentation: the user's, or nothing where a preset sets them
    (its caption lists its values; disabled widgets would show the custom defaults instead)."""
    if preset:
        return {}
    arch_column, batch_column, optimizer_column, rate_column, augment_column = columns
    chosen = dict(
        arch=arch_column.selectbox("Architecture", sorted(ARCHITECTURES), index=sorted(ARCHITECTURES).index("seed_cnn"), key="arch",
                                   help=ARCHITECTURE_HELP),
        batch_size=int(batch_column.select_slider("Batch size", [16, 32, 64, 128, 256, 512, 1024], value=64, key="batch_size",
                                                  help="Images per weight update.")),
        optimizer=optimizer_column.selectbox("Optimizer", OPTIMIZERS, key="optimizer",
                                             help="adam adapts the step size per weight; sgd uses Nesterov momentum."),
        learning_rate=float(rate_column.number_input(
            "Learning rate", min_value=LEARNING_RATE_RANGE[0], max_value=LEARNING_RATE_RANGE[1], value=1e-3, step=1e-4, format="%.5f",
            key="learning_rate", help="Step size. Too high and the loss jumps or becomes NaN; too low and it barely moves.")),
        augment=augment_column.checkbox("Augment", value=True, key="augment",
                                        help="Random crop (shifting each image by up to 4 pixels) and horizontal flip, per image."),
    )
    return chosen


def data(columns, dataset, quick: bool) -> dict:
    """Which images: the seed, the train subset and what to validate on."""
    seed_column, subset_column, validation_column = columns
    seed = seed_column.number_input("Random seed", 0, MAX_SEED, 0, key="seed", help="The same seed gives the same run.")
    if quick:
        subset = 0
        subset_column.number_input("Train subset (0 = all images)", 0, len(dataset.x_train), subset, disabled=True, help="Set by the quick demo.")
    else:
        subset = subset_column.number_input("Train subset (0 = all images)", 0, len(dataset.x_train), 0, key="subset",
                                            help="Train on this many random training images.")
    validation = validation_column.radio("Validate on", ["test", "holdout"], horizontal=True, key="validation",
                                         format_func={"test": "test set", "holdout": "10% of train"}.get,
                                         help="The seed notebook validates on the test set; a holdout keeps the test set unseen.")
    return dict(seed=int(seed), subset=int(subset) or None, validation=validation)


def devices_and_precision(preset: bool) -> dict:
    """Where to train, and (unless a preset picks it) in which precision."""
    with st.expander("Devices and precision"):
        chosen = dict(strategy=st.radio(
            "Train on", STRATEGIES, key="strategy", horizontal=True,
            format_func={"default": "one device", "mirrored": "all local GPUs (MirroredStrategy)"}.get,
            help="Several GPUs each take part of every batch. Without GPUs this makes no difference."))
        if preset:
            st.caption("The preset computes in bfloat16 where the hardware does natively, in float32 elsewhere.")
            return chosen
        chosen["precision"] = st.radio(
            "Compute in", PRECISIONS, key="precision", horizontal=True,
            format_func={"float32": "float32", "mixed_bfloat16": "bfloat16 (mixed precision)", "auto": "automatic"}.get,
            help="bfloat16 halves the bits of every multiplication: faster on CPUs with AVX-512 BF16 and on recent GPUs, "
            "with weights kept in float32, but several times slower on hardware that only emulates it. Automatic picks "
            "bfloat16 only where the hardware computes it natively.")
    return chosen


def train_button(runner, dataset, chosen_recipe: str, choices: dict) -> None:
    if st.button("Train", type="primary", icon=":material/play_arrow:"):
        try:
            runner.start(build_config(chosen_recipe, **choices), dataset)
        except JobBusyError:
            st.warning("A training job is already running (shown below). Stop it or wait for it to finish, then train again.")
        except ConfigError as error:
            st.error(f"Cannot train with these settings: {plain(error)}")


context = setup_page("Train")
st.title("Train")
dataset = context.dataset
runner = job_runner()

if dataset is None:
    st.warning("No dataset loaded: choose a data source in the sidebar to train.")
else:
    quick = quick_demo()
    chosen_recipe = recipe(quick)
    preset = chosen_recipe != CUSTOM
    first_row, second_row, third_row = st.columns(3), st.columns(3), st.columns(3)
    choices = {
        **length(first_row[1], quick),
        **model_and_optimizer((first_row[0], first_row[2], second_row[0], second_row[1], third_row[2]), preset),
        **data((second_row[2], third_row[0], third_row[1]), dataset, quick),
    }
    choices |= devices_and_precision(preset)
    train_button(runner, dataset, chosen_recipe, choices)

job = runner.job
if job is None:
    st.stop()

running_when_drawn = job.is_running


@st.fragment(run_every=1.0 if running_when_drawn else None)
def live_panel():
    snapshot = job.live.snapshot()
    run_name = snapshot.run_dir.name if snapshot.run_dir else "starting"
    st.subheader(f"Training run {plain(run_name)}")
    if job.is_running:
        epoch = max(snapshot.epoch, 1)
        text = (
            f"Epoch {epoch}/{snapshot.total_epochs or job.config.epochs} · batch {snapshot.batch}/{snapshot.steps_per_epoch or '?'}"
            f" · {snapshot.images_per_s:,.0f} images/s · {format.duration(snapshot.seconds_left)} left"
        )
        st.progress(snapshot.fraction_done, text=text)
        if snapshot.stop_requested:
            st.info("Stopping after the current batch, then saving the model and its accuracy...")
        elif st.button("Stop", icon=":material/stop:"):
            job.stop()
            st.info("Stopping after the current batch, then saving the model and its accuracy...")
    elif running_when_drawn:
        st.rerun()  # the job just ended: redraw the whole app (sidebar runs, final result)

    left, right = st.columns(2)
    left.plotly_chart(plots.live_curve_figure(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, "loss"), key="live_loss")
    right.plotly_chart(plots.live_curve_figure(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, "accuracy"), key="live_accuracy")


live_panel()

if not job.is_running:
    result = job.result
    if job.state == "failed":
        st.error(plain(job.message))
    else:
        verb = "stopped" if job.state == "stopped" else "finished"
        st.success(
            f"Training {verb}. Train accuracy {format.percent(result.metrics['train_accuracy'])}, "
            f"test accuracy {format.percent(result.metrics['test_accuracy'])}."
            + (f" {plain(result.message)}" if result.message else "")
        )
        if st.button("Open this run in Evaluate", icon=":material/grid_on:"):
            select_run(result.run_dir.name)
            st.switch_page("pages/4_evaluate.py")
