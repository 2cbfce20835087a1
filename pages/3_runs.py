from datetime import datetime

import pandas as pd
import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import plots, run_labels, runs
from cifar_cnn import format
from cifar_cnn.ui.sidebar import setup_page, select_run
from cifar_cnn.ui.text import plain, plain_list

context = setup_page("Runs")
st.title("Runs")
for problem in st.session_state.pop("delete_problems", []):
    st.error(plain(problem))
found = context.runs
if not found:
    st.info("No runs yet. Train one on the Train page.")
    st.stop()

table = pd.DataFrame(
    {
        "run": [run.run_id for run in found],
        "owner": [str(run.config.get("owner") or "-") for run in found],
        "started": [datetime.fromtimestamp(run.status.get("started_at") or 0) for run in found],
        "architecture": [run.config.get("arch", "?") for run in found],
        "epochs": [run.progress for run in found],
        "train accuracy": [(run.metrics or {}).get("train_accuracy") for run in found],
        "test accuracy": [(run.metrics or {}).get("test_accuracy") for run in found],
        "status": [run.state for run in found],
        "duration": [format.duration(run.duration_s) for run in found],
    }
)
st.dataframe(
    table,
    hide_index=True,
    column_config={
        "started": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm"),
        "train accuracy": st.column_config.NumberColumn(format="percent"),
        "test accuracy": st.column_config.NumberColumn(format="percent"),
    },
)
by_id = {run.run_id: run for run in found}
if "chosen_runs" in st.session_state:  # forget runs deleted since the last rerun
    st.session_state["chosen_runs"] = [run_id for run_id in st.session_state["chosen_runs"] if run_id in by_id]
chosen_ids = st.multiselect("Runs to compare, open or delete", list(by_id), key="chosen_runs",
                            placeholder="Choose runs; the latest is shown until you do")
chosen = [by_id[run_id] for run_id in chosen_ids]

compared = chosen or found[:1]
labels = run_labels.describe_all(compared)
histories = {label: run.history for label, run in zip(labels, compared) if len(run.history)}
if histories:
    st.subheader("Compare" if chosen else f"Latest run ({plain(labels[0])}); choose runs above to compare")
    left, right = st.columns(2)
    left.plotly_chart(plots.runs_overlay_figure(histories, "loss", "Training loss"))
    right.plotly_chart(plots.runs_overlay_figure(histories, "val_accuracy", "Validation accuracy"))
if len(chosen) > 1:
    settings = run_labels.differing_settings(chosen)
    if len(settings.columns) > 1:
        st.markdown("**Settings that differ**")
        st.dataframe(settings, hide_index=True)
    else:
        st.caption("These runs were trained with the same settings.")

if not chosen:
    st.stop()

left, right = st.columns(2)
if len(chosen) == 1 and left.button(f"Open {plain(chosen[0].run_id)} in Evaluate", icon=":material/grid_on:"):
    select_run(chosen[0].run_id)
    st.switch_page("pages/4_evaluate.py")

others = [run.run_id for run in chosen if not context.visitor.may_control(str(run.config.get("owner") or ""))]
if others:  # with a teacher key, a student deletes only their own runs
    right.button(f"Delete {len(chosen)} run{'s' if len(chosen) > 1 else ''}", icon=":material/delete:", disabled=True)
    right.caption(f"Only their owner or the teacher may delete {plain_list(others)}.")
elif right.button(f"Delete {len(chosen)} run{'s' if len(chosen) > 1 else ''}", icon=":material/delete:"):
    st.session_state["delete_pending"] = [run.run_id for run in chosen]

pending = st.session_state.get("delete_pending")
if pending:
    st.warning(f"Delete {plain_list(pending)} for good? The model, history and predictions are removed from disk.")
    yes, no = st.columns(2)
    if yes.button("Yes, delete", type="primary"):
        st.session_state.pop("delete_pending")
        problems = []
        for run_id in pending:
            owner = str(by_id[run_id].config.get("owner") or "") if run_id in by_id else ""
            if not context.visitor.may_control(owner):  # the name box changed since Delete was pressed
                problems.append(f"Only their owner or the teacher may delete {run_id}.")
                continue
            try:
                runs.delete_run(run_id)
            except runs.RunError as error:
                problems.append(str(error))
        st.session_state["delete_problems"] = problems
        st.rerun()
    if no.button("Cancel"):
        st.session_state.pop("delete_pending")
        st.rerun()
