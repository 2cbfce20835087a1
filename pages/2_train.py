from datetime import datetime

import pandas as pd
import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import plots, run_labels
from cifar_cnn.models import ARCHITECTURES
from cifar_cnn.training.presets import CUSTOM, PRESETS, build_config, preset_settings
from cifar_cnn.training import (LEARNING_RATE_RANGE, MAX_EPOCHS, MAX_MINUTES, MAX_NAME_LENGTH, MAX_SEED, OPTIMIZERS, PRECISIONS,
                                STRATEGIES, ConfigError, describe_config, recipe_in_words,
                                settings_rows, settings_table)
from cifar_cnn import format
from cifar_cnn.classroom.cluster import CONCURRENCY_RULE
from cifar_cnn.classroom.training_queue import CAP_EXTRA, CAP_PER_STUDENT, MAX_CAP
from cifar_cnn.ui.classroom import queue_holder, submit_trainings, survives_engine_stop, training_queue
from cifar_cnn.ui.live_panel import rerun_when_the_queue_changes, training_panel
from cifar_cnn.ui.scroll import scroll_to
from cifar_cnn.ui.sidebar import setup_page, select_run
from cifar_cnn.ui.text import plain

# The Quick demo: the fast preset for one minute of training on every training image. On a 2-core CPU that ends at
# about 70% test accuracy (bench/RESULTS.md), where the seed network's 3 epochs of 2,000 images reached 26%.
QUICK_DEMO = {"recipe": "fast", "minutes": 1.0}
QUEUE_REFRESH_S = 30.0  # besides each change of the queue: the estimated start times drift
RECENT_FINISHED = 3  # the visitor's finished trainings the page keeps showing, newest first
YOUR_TRAININGS = "your-trainings"  # the anchor of the visitor's trainings, scrolled to after a click on Train
SCROLL_TO_TRAINING = "_scroll_to_training"
ARCHITECTURE_HELP = ("seed_cnn: the seed notebook's 4-conv, 3-dense network. fast_cnn: airbench-style, the most accuracy per "
                     "minute (use it with SGD and a high learning rate, or the fast preset). tiny_cnn: fast, small, less accurate.")


def quick_demo() -> bool:
    return st.toggle(
        "Quick demo", value=True, key="quick_demo",
        help=f"Train the {QUICK_DEMO['recipe']} preset for {QUICK_DEMO['minutes']:g} minute on every training image: the "
        "curves move within seconds and the model ends at about 70% test accuracy on a laptop. Turn it off to choose "
        "every setting (the seed notebook's network is the seed preset, under Recipe).",
    )


def recipe_settings(preset: str, sentence: str) -> None:
    """What a preset sets: a sentence, then every setting in a table one click away."""
    settings = preset_settings(preset)
    st.caption(f"{sentence} {recipe_in_words(settings)}.")
    with st.expander("All settings of this recipe"):
        st.dataframe(settings_rows(settings), hide_index=True)


def recipe(quick: bool) -> str:
    """CUSTOM, or the name of the preset whose settings replace the model and optimizer choices below."""
    if quick:
        chosen = QUICK_DEMO["recipe"]
        minutes = QUICK_DEMO["minutes"]
        recipe_settings(chosen, f"Quick demo: the {chosen} preset for {minutes:g} minute{'s' if minutes != 1 else ''}. "
                                "On this machine it trains")
        return chosen
    chosen = st.selectbox(
        "Recipe", [CUSTOM, *sorted(PRESETS)], key="recipe",
        format_func=lambda name: "my settings below" if name == CUSTOM else f"{name} preset",
        help="A preset is a tuned recipe: it sets the architecture, batch size, optimizer, learning-rate schedule, "
        "label smoothing and augmentation. Epochs, subset, seed and validation still come from below.",
    )
    if chosen != CUSTOM:
        recipe_settings(chosen, "On this machine the preset trains")
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


def run_name() -> dict:
    name = st.text_input("Run name (optional)", key="run_name", max_chars=MAX_NAME_LENGTH,
                         placeholder="for example: high learning rate",
                         help="Shown with the run on every page, next to its architecture, images, epochs and accuracy.")
    return dict(name=name.strip())


def train_button(dataset, chosen_recipe: str, choices: dict, visitor) -> None:
    """Train: puts the training in the class's queue (or says why not)."""
    refusal = visitor.training_refusal()
    if refusal:
        st.button("Train", type="primary", icon=":material/play_arrow:", disabled=True, key="train_refused")
        st.caption(plain(refusal))
        return
    if st.button("Train", type="primary", icon=":material/play_arrow:"):
        try:
            config = build_config(chosen_recipe, **choices)
        except ConfigError as error:
            st.error(f"Cannot train with these settings: {plain(error)}")
            return
        if submit_trainings([config], dataset):
            st.session_state[SCROLL_TO_TRAINING] = True  # the Train button is below the fold on a projector
            st.rerun()  # the new job's panel takes the top of the page


def settings_form(dataset, visitor, open_: bool) -> None:
    """Every choice of the next training, and Train."""
    with st.expander("Settings of the next training", expanded=open_, icon=":material/tune:"):
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
        choices |= run_name()
    train_button(dataset, chosen_recipe, choices, visitor)


def job_settings(job) -> None:
    """What a job trains with: the job's own settings, not this page's widgets."""
    st.caption(plain(describe_config(job.config)))
    with st.expander("All settings of this training"):
        st.dataframe(settings_table(job.config), hide_index=True)


def running_job(queue, job, visitor, dataset, scroll: bool) -> None:
    """A running job's Stop, then its progress, curves and watch set, which the live panel draws as they come (brought
    into view after a click on Train or Stop)."""
    if job.stop_requested:
        st.info("Stopping after the current batch, then saving the model and its accuracy...")
    elif visitor.may_control(job.owner) and st.button("Stop", icon=":material/stop:", key=f"stop_{job.job_id}"):
        queue.stop(job.job_id)
        st.info("Stopping after the current batch, then saving the model and its accuracy...")
        scroll = True
    training_panel(job, dataset, scroll=scroll)
    st.caption(plots.LIVE_CURVES_HELP)


def waiting_job(queue, job, visitor, starts_in: float | None) -> None:
    """A waiting job's place in line, its estimated start, and Cancel."""
    st.info(f"Waiting: number {job.place} in line. Estimated start: {format.estimated_start(starts_in)}.",
            icon=":material/hourglass_top:")
    if queue.capacity_problem:
        st.warning(plain(queue.capacity_problem))
    if visitor.may_control(job.owner) and st.button("Cancel", icon=":material/close:", key=f"cancel_{job.job_id}"):
        queue.cancel(job.job_id)
        st.rerun()


def unfinished_job(queue, job, visitor, dataset) -> None:
    """One waiting or running training: what it trains with, then its live part."""
    with st.container(border=True):
        st.markdown(f"**{'Training now' if job.state == 'running' else 'Waiting'}**")
        job_settings(job)
        st.fragment(live_job)(queue, job.job_id, job.state, visitor, dataset)


@survives_engine_stop
def live_job(queue, job_id: str, drawn_state: str, visitor, dataset) -> None:
    """The live part of one training, a fragment: its panel reruns it when someone presses Stop, and the whole page when
    the job starts or ends (the heading, the sidebar's runs and the finished results change)."""
    job = queue.job(job_id)
    if job.state != drawn_state:
        st.rerun()
    scroll = st.session_state.pop(SCROLL_TO_TRAINING, False)
    if job.state == "running":
        running_job(queue, job, visitor, dataset, scroll)
    else:
        waiting_job(queue, job, visitor, queue.estimated_starts().get(job_id))
        if scroll:
            scroll_to(YOUR_TRAININGS)


def finished_job(queue, job, with_curves: bool) -> None:
    """How a training ended (its final curves too, for the visitor's latest), and the way to its evaluation."""
    with st.container(border=True):
        job_settings(job)
        if job.state in ("failed", "cancelled"):
            (st.error if job.state == "failed" else st.warning)(plain(job.message))
            return
        metrics = job.metrics or {}
        verb = "stopped" if job.state == "stopped" else "finished"
        st.success(
            f"Training {verb}. {plain(run_labels.accuracy_line(metrics, job.config.to_dict()))}; both measured after training, "
            "without dropout or augmentation." + (f" {plain(job.message)}" if job.message else ""))
        if with_curves:
            final_curves(queue, job)
        if job.run_dir is not None and st.button("Open this run in Evaluate", icon=":material/grid_on:", key=f"open_{job.job_id}"):
            select_run(job.run_dir.name)
            st.switch_page("pages/4_evaluate.py")


def final_curves(queue, job) -> None:
    """The curves the live panel drew, kept on the page after the training ends (the queue keeps the batches of the
    latest trainings)."""
    snapshot = queue.snapshot(job.job_id)
    if not snapshot.batches:
        return
    columns = st.columns(2)
    for column, metric in zip(columns, ("loss", "accuracy")):
        series = plots.live_curve_series(snapshot.batches, snapshot.epochs, snapshot.steps_per_epoch, metric)
        column.plotly_chart(plots.batch_curves_figure(series), key=f"final_{metric}_{job.job_id}")


def drawn_jobs(jobs) -> frozenset:
    """What the page shows of the visitor's waiting and running jobs: when this changes, the page reruns."""
    return frozenset((job.job_id, job.state, job.place) for job in jobs if not job.is_finished)


def your_trainings(queue, visitor, dataset) -> frozenset:
    """The visitor's trainings: waiting and running ones live, then the last few finished. Returns `drawn_jobs`."""
    jobs = queue.jobs(owner=visitor.name)
    unfinished = drawn_jobs(jobs)
    finished = [job for job in jobs if job.is_finished][::-1][:RECENT_FINISHED]
    if not unfinished and not finished:
        return unfinished
    st.subheader(f"Your trainings, {plain(visitor.name)}" if visitor.name else "Your trainings", anchor=YOUR_TRAININGS)
    for job in jobs:
        if not job.is_finished:
            unfinished_job(queue, job, visitor, dataset)
    for number, job in enumerate(finished):  # the newest first: its curves stay until the visitor trains again
        finished_job(queue, job, with_curves=number == 0 and not unfinished)
    return unfinished


@survives_engine_stop
def class_queue_table(queue, visitor, drawn: frozenset) -> None:
    """Everyone's waiting and running trainings, in the order they run, redrawn when the queue changes (and every
    QUEUE_REFRESH_S while some wait: their estimated starts drift)."""
    if drawn_jobs(queue.jobs(owner=visitor.name)) != drawn:
        st.rerun()  # the visitor queued a training from another tab, or one of theirs started, moved up or ended
    jobs = [job for job in queue.jobs() if not job.is_finished]
    waiting = any(job.state == "queued" for job in jobs)
    rerun_when_the_queue_changes("queue_watch", at_least_every_s=QUEUE_REFRESH_S if waiting else None)
    if not jobs:
        st.caption("Nobody's training waits or runs.")
        return
    if queue.capacity_problem and (visitor.is_teacher or visitor.single_user):
        st.warning(plain(queue.capacity_problem))
    starts = queue.estimated_starts()
    rows = []
    for job in sorted(jobs, key=lambda job: (job.state != "running", job.place or 0)):
        if job.state == "running":
            when = f"started {datetime.fromtimestamp(job.started_at):%H:%M:%S}"
        else:
            when = f"starts {format.estimated_start(starts.get(job.job_id))}"
        rows.append({"place": "running" if job.state == "running" else str(job.place), "owner": job.owner or "-",
                     "training": describe_config(job.config), "when": when})
    st.dataframe(pd.DataFrame(rows), hide_index=True)


def class_queue(queue, visitor, drawn: frozenset) -> None:
    """The whole class's line, redrawn as it changes (classmates queue while this page is open), and (teacher, or a
    single user) how many train at once and who to stop."""
    st.subheader("The class's queue")
    st.caption(f"{queue.concurrency} training{'s run' if queue.concurrency != 1 else ' runs'} at once on {plain(queue_holder().cluster)}; "
               "the others wait in the order they were started.")
    st.fragment(class_queue_table)(queue, visitor, drawn)
    if visitor.single_user or visitor.is_teacher:
        queue_controls(queue, visitor)


def queue_controls(queue, visitor) -> None:
    """How many trainings run at once, and stopping or cancelling anyone's."""
    with st.expander("Queue settings" + (" (teacher)" if visitor.key_configured else ""), icon=":material/settings:"):
        st.caption(CONCURRENCY_RULE)
        left, right = st.columns(2)
        at_once = left.number_input("Trainings at once", 1, 64, queue.concurrency, key="concurrency",
                                    help="Each training gets an equal share of the machine's CPUs (or its GPUs); running "
                                    "jobs go on when this changes.")
        if left.button("Apply", key="apply_concurrency") and at_once != queue.concurrency:
            queue.set_concurrency(int(at_once))
            st.rerun()
        most = queue.max_unfinished
        left.caption(f"The class's line holds at most {most} training{'s' if most != 1 else ''} waiting or running"
                   + (" (your limit)." if queue.cap_is_set else f" ({CAP_PER_STUDENT} per student who has trained plus "
                      f"{CAP_EXTRA}: it grows as students join)."))
        limit = left.number_input("Most trainings in the line (0 = the rule above)", 0, MAX_CAP,
                                  queue.max_unfinished if queue.cap_is_set else 0, key="line_limit",
                                  help="A click that would make the line longer is refused, saying so; jobs already in line stay.")
        if left.button("Apply the limit", key="apply_line_limit"):
            queue.set_max_unfinished(int(limit) or None)
            st.rerun()
        unfinished = [job for job in queue.jobs() if not job.is_finished]
        if unfinished:
            labels = {job.job_id: f"{job.owner or 'no name'}: {describe_config(job.config)} ({job.state})" for job in unfinished}
            chosen = right.selectbox("Training", list(labels), format_func=labels.get, key="controlled_job")
            if right.button("Stop or cancel it", key="stop_any"):
                job = queue.job(chosen)
                if job.state == "queued":
                    queue.cancel(chosen)
                elif job.state == "running":
                    queue.stop(chosen)
                st.rerun()


@survives_engine_stop
def train_page(queue, visitor, dataset) -> None:
    if dataset is not None:
        queue.put_dataset(dataset)  # once per dataset, before the first click on Train (a moment, then at once)
    for notice in queue.notices(visitor.name) + (queue.notices(None) if visitor.is_teacher or visitor.single_user else []):
        st.warning(plain(notice))
    unfinished = your_trainings(queue, visitor, dataset)
    class_queue(queue, visitor, unfinished)
    if dataset is None:
        st.warning("No dataset loaded: choose a data source in the sidebar to train.")
    else:
        settings_form(dataset, visitor, open_=not unfinished)


context = setup_page("Train")
st.title("Train")
queue = training_queue()
if queue is not None:
    train_page(queue, context.visitor, context.dataset)
