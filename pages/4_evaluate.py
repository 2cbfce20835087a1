import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import evaluation, format, plots, run_labels, runs
from cifar_cnn.ui import cached, gallery
from cifar_cnn.ui.sidebar import require_run, setup_page
from cifar_cnn.ui.text import plain

context = setup_page("Evaluate")
st.title("Evaluate")
run, dataset = require_run(context, needs="predictions"), context.dataset
try:
    probabilities, labels, predicted = cached.predictions(run)
except runs.RunError as error:
    st.error(plain(error))
    st.stop()
try:
    class_names = runs.class_names(run, probabilities.shape[1])
except runs.RunError as error:
    st.error(plain(error))
    st.stop()
problem = gallery.dataset_mismatch(run, dataset, labels)
if problem:
    st.warning(plain(problem))

st.caption(f"{plain(run_labels.describe(run))} (run {plain(run.run_id)})")
columns = st.columns(3)
columns[0].metric("Train accuracy", format.percent((run.metrics or {}).get("train_accuracy")))
tta = run_labels.test_measurement(run.metrics, run.config)
columns[1].metric("Test accuracy", format.percent(evaluation.accuracy(probabilities, labels)),
                  help=f"How the predictions were made: {tta}." if tta else None)
columns[2].metric("Test images", f"{len(labels):,}")
if len(run.history) >= 2:
    left, right = st.columns(2)
    left.plotly_chart(plots.loss_figure(run.history, run.metrics))
    right.plotly_chart(plots.accuracy_figure(run.history, run.metrics))
    st.caption(plots.CURVES_HELP)
elif len(run.history):
    st.caption(plain(format.one_epoch_in_words(run.history.iloc[0].to_dict())))

st.header("Confusion matrix")
matrix = cached.confusion(run)
try:
    records = cached.epoch_records(run)
    no_slider = None if records is not None else (
        "No epoch slider: this run was trained before the matrix was recorded after every epoch, so only the final "
        "matrix is shown. Train it again to replay its epochs.")
except runs.RunError as error:
    records, no_slider = None, f"No epoch slider: {error}"
if records is not None and records.confusion.shape[1] != len(class_names):
    records, no_slider = None, f"No epoch slider: the per-epoch records count {records.confusion.shape[1]} classes, not {len(class_names)}."
normalized = st.toggle("Show the share of each true class instead of counts", key="normalized_confusion")
FINAL = "final"
epoch = FINAL
if records is not None:
    # Keyed by run: another run's position may be past this one's epochs.
    epoch = st.select_slider("Epoch", options=[*range(1, records.epochs + 1), FINAL], value=FINAL, key=f"confusion_epoch-{run.run_id}",
                             help="Replay the matrix after each epoch of training: which confusions resolve first?")
else:
    st.caption(plain(no_slider))

if epoch == FINAL:
    st.caption("Rows are the true classes, columns what the final model predicted. Click a cell to see its test images.")
    st.plotly_chart(
        plots.confusion_figure(matrix, class_names, normalized=normalized, selected=st.session_state.get(gallery.CELL_KEY)),
        key="confusion_chart",
        on_select=gallery.select_clicked_cell,
        selection_mode="points",
    )
else:
    epoch_matrix = records.confusion[epoch - 1]
    validated_on = ("the held-out training images the run validated on" if run.config.get("validation") == "holdout"
                    else "the test set")
    st.caption(f"After epoch {epoch} of {records.epochs}: {int(epoch_matrix.sum()):,} images of {validated_on}, rows the true "
               "classes, columns the predicted ones. The final matrix is the saved model's test predictions, so it can differ "
               "from the last epoch's. Mistakes are listed for the final model: move the slider to final and click a cell.")
    st.plotly_chart(plots.confusion_figure(epoch_matrix, class_names, normalized=normalized), key="epoch_confusion_chart")

cell = st.session_state.get(gallery.CELL_KEY)
if cell is not None and epoch == FINAL:
    true_class, predicted_class = cell
    indices = evaluation.cell_examples(probabilities, labels, true_class, predicted_class)
    if true_class == predicted_class:
        st.subheader(f"{plain(class_names[true_class])}, predicted correctly: {len(indices):,} images, most confident first",
                     anchor=gallery.CELL_ANCHOR)
    else:
        st.subheader(f"True {plain(class_names[true_class])}, predicted {plain(class_names[predicted_class])}: {len(indices):,} images, "
                     "most confident mistakes first", anchor=gallery.CELL_ANCHOR)
    gallery.scroll_to_the_cell_once()
    if st.button("Close", icon=":material/close:"):
        st.session_state.pop(gallery.CELL_KEY)
        st.rerun()
    gallery.paged_gallery(indices, probabilities, labels, class_names, dataset if not problem else None, key="cell")

st.header("Per-class metrics")
left, right = st.columns([3, 2])
left.dataframe(
    evaluation.per_class_metrics(probabilities, labels, class_names),
    hide_index=True,
    column_config={name: st.column_config.NumberColumn(format="%.3f") for name in ("precision", "recall", "f1")},
)
with right:
    st.markdown("**Most confused pairs** (click to open the cell)")
    for pair in evaluation.most_confused_pairs(matrix, count=5):
        st.button(
            f"{plain(class_names[pair.true_class])} → {plain(class_names[pair.predicted_class])}: {pair.count}",
            key=f"pair-{pair.true_class}-{pair.predicted_class}",
            on_click=gallery.select_cell,
            args=(pair.true_class, pair.predicted_class),
        )

st.header("Top losses")
st.caption("The test images the model got most confidently wrong.")
gallery.paged_gallery(
    evaluation.top_losses(probabilities, labels, count=48), probabilities, labels, class_names,
    dataset if not problem else None, key="losses",
)

gallery.show_requested_detail(run, probabilities, labels, class_names, dataset if not problem else None)
