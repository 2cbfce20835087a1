import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import class_results, plots
from cifar_cnn.training import MAX_EPOCHS, MAX_MINUTES, ConfigError, describe_config
from cifar_cnn.training.presets import (CUSTOM, MAX_SWEEP_RUNS, PRESETS, SWEEPABLE, build_config, parse_sweep_values, suggested_values,
                                        sweep_configs)
from cifar_cnn import format
from cifar_cnn.ui.classroom import engine_stopped_notice, queue_holder, submit_trainings, survives_engine_stop
from cifar_cnn.ui.sidebar import setup_page
from cifar_cnn.ui.text import plain, plain_list

RESULTS_CHECK_S = 5.0  # how often an open Class page looks for trainings that have finished since it was drawn

SWEEP_HELP = {
    "learning_rate": "The step size: the first thing to sweep. Too high and the loss jumps; too low and it barely moves.",
    "batch_size": "Images per weight update: bigger batches make fewer, smoother steps.",
    "epochs": "Passes over the training images: when does more stop helping?",
    "minutes": "A time budget per run: how much accuracy does each minute buy?",
    "seed": "Only the randomness changes: how much do results vary by luck alone?",
    "subset": "Training images per run: how much does more data help?",
    "label_smoothing": "Share of each target spread over all classes: keeps the model from overconfidence.",
    "weight_decay": "Shrinks every weight a little each step: a brake on overfitting.",
}


@survives_engine_stop
def finished_trainings() -> int:
    """How many of the queue's trainings have ended (0 before anyone trains): a new one is a new row on this page."""
    queue = queue_holder().queue  # never starts Ray: a page that only reads runs does not need it
    return 0 if queue is None else sum(job.is_finished for job in queue.jobs())


@survives_engine_stop
def new_results(drawn: int) -> None:
    """Redraws the page when a training ends, so the leaderboard and chart fill in while the class trains."""
    if finished_trainings() != drawn:
        st.rerun()


def class_summary(found) -> None:
    owners = sorted({class_results.owner(run) for run in found} - {class_results.NO_OWNER})
    runs_text = f"{len(found)} run{'s' if len(found) != 1 else ''}"
    st.caption(f"{runs_text} by {plain_list(owners)}." if owners else f"{runs_text}, none with an owner's name.")


def leaderboard(found) -> None:
    """Place, owner, training and test accuracy, which fit a projector's width; every setting of every run one click away."""
    table = class_results.leaderboard(found)
    table["time"] = table.pop("seconds").map(format.duration)
    columns = {
        "place": st.column_config.NumberColumn(width="small"),
        "training": st.column_config.TextColumn(width="large"),
        "learning rate": st.column_config.NumberColumn(format="%g"),
        "images": st.column_config.NumberColumn(format="localized"),
        "train accuracy": st.column_config.NumberColumn(format="percent"),
        "test accuracy": st.column_config.NumberColumn(format="percent"),
    }
    # Shows the owners' and runs' names as the text they are.
    st.dataframe(table, hide_index=True, column_config=columns, column_order=class_results.LEADERBOARD_AT_A_GLANCE,
                 key="leaderboard")
    with st.expander("Every setting of every run"):
        st.dataframe(table, hide_index=True, column_config=columns, key="leaderboard_all")


def chart_choice() -> tuple[str, str]:
    """Which chart, and what colours the scatter's points."""
    left, right = st.columns(2)
    chart = left.radio("Chart", plots.CLASS_CHARTS, horizontal=True, key="class_chart",
                       help="A scatter of one setting the class asks about first; or every setting at once, one line per run.")
    colour_by = right.selectbox("Colour points by", plots.CLASS_COLOURS, key="class_colour",
                                disabled=chart != plots.CLASS_SCATTER, help="In the scatter: what else differed between the runs.")
    return chart, colour_by


def settings_chart(found, chart: str, colour_by: str) -> None:
    frame = class_results.settings_frame(found)
    if chart == plots.CLASS_PARALLEL and len(frame) < 2:
        st.caption("All settings needs two runs with a test accuracy; until then, the scatter.")
    st.plotly_chart(plots.class_settings_figure(frame, colour_by, chart), key="class_settings_chart")


def sweep_setting() -> str:
    setting = st.selectbox("Setting to vary", SWEEPABLE, key="sweep_setting", format_func=lambda name: name.replace("_", " "))
    st.caption(SWEEP_HELP[setting])
    return setting


def sweep_base(dataset, setting: str) -> tuple[str, dict]:
    """The recipe and the length and images every run of the sweep shares (the swept one aside)."""
    recipe_column, minutes_column, epochs_column, subset_column = st.columns(4)
    recipe = recipe_column.selectbox(
        "Recipe", [*sorted(PRESETS), CUSTOM], index=sorted(PRESETS).index("fast"), key="sweep_recipe",
        format_func=lambda name: "Train page defaults" if name == CUSTOM else f"{name} preset",
        help="A preset is a tuned recipe; the Train page defaults are the seed notebook's network with adam at 0.001.")
    if setting in ("minutes", "epochs"):
        minutes_column.caption("Each run trains for its own " + ("time" if setting == "minutes" else "number of epochs") + ": the sweep sets it.")
        minutes, epochs = None, None
    else:
        minutes = minutes_column.number_input("Minutes per run (0 = use epochs)", 0.0, float(MAX_MINUTES), 1.0, step=0.5,
                                              key="sweep_minutes", help="Every run trains for this long, however many epochs that makes.")
        epochs = None if minutes else epochs_column.number_input("Epochs per run", 1, MAX_EPOCHS, 3, key="sweep_epochs")
    if setting == "subset":
        subset_column.caption("Each run trains on its own number of images: the sweep sets it.")
        subset = None
    else:
        subset = subset_column.number_input("Train subset (0 = all images)", 0, len(dataset.x_train), 0, key="sweep_subset",
                                            help="Train each run on this many random training images.")
    return recipe, dict(minutes=float(minutes) if minutes else None, epochs=int(epochs) if epochs else None, subset=int(subset) if subset else None)


def sweep_values(dataset, setting: str, recipe: str, base: dict) -> str:
    """The values as typed, prefilled with a spread around the recipe's own value (again whenever that changes)."""
    current = getattr(build_config(recipe, **base), setting)
    suggested = suggested_values(setting, current, highest=len(dataset.x_train) if setting == "subset" else None)
    return st.text_input(
        f"Values of {setting.replace('_', ' ')}, separated by commas", ", ".join(f"{value:g}" for value in suggested),
        key=f"sweep_values_{setting}_{recipe}_{current}",
        help=f"From 2 to {MAX_SWEEP_RUNS} values: one training each, queued in this order, named after its value.")


def sweep_plan(dataset, setting: str, recipe: str, base: dict, typed: str) -> list:
    """The sweep's configs, or [] after saying why there are none."""
    try:
        configs = sweep_configs(recipe, setting, parse_sweep_values(setting, typed), **base)
        for config in configs:
            config.check(dataset)
    except ConfigError as error:
        st.error(plain(error))
        return []
    st.dataframe({"run": [describe_config(config) for config in configs]}, hide_index=True)
    return configs


def queue_button(configs: list, dataset) -> None:
    label = f"Queue {len(configs)} trainings" if configs else "Queue trainings"
    if st.button(label, type="primary", icon=":material/playlist_add:", disabled=not configs, key="queue_sweep"):
        queued = submit_trainings(configs, dataset)  # says itself why, when it queues nothing
        if queued:
            st.success(f"Queued {len(queued)} trainings. Follow them on the Train page; they join this page as they finish.")
            st.page_link("pages/2_train.py", label="Train", icon=":material/model_training:")


context = setup_page("Class")
st.fragment(run_every=RESULTS_CHECK_S)(new_results)(finished_trainings())
st.title("Class")
engine_stopped_notice()
st.markdown("Every run of the class, best test accuracy first, and what the settings did to it.")
found = context.runs
if not found:
    st.info("No runs yet. Train one on the Train page, or queue a sweep below.")
else:
    class_summary(found)
    leaderboard(found)
    st.subheader("Settings against test accuracy")
    settings_chart(found, *chart_choice())

st.subheader("Sweep")
st.caption("Queue several trainings that differ in one setting, owned by you, to see what that setting does.")
if context.dataset is None:
    st.warning("No dataset loaded: choose a data source in the sidebar to sweep.")
    st.stop()
setting = sweep_setting()
recipe, base = sweep_base(context.dataset, setting)
configs = sweep_plan(context.dataset, setting, recipe, base, sweep_values(context.dataset, setting, recipe, base))
queue_button(configs, context.dataset)
