"""Streamlit glue shared by the app's pages: cached loaders, the job registry, the sidebar.

Only this package and the page scripts import Streamlit; everything they
show comes from the core library.
"""

import sys
import warnings

import streamlit as st
from streamlit.runtime.scriptrunner import get_script_run_ctx

# What Streamlit calls after every script run, before the patch (the tests use it to check that the runner still calls it).
streamlit_cleanup = None


def _keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling `keras.backend.clear_session()` after every script run.

    Streamlit does that to free memory in apps that build a model per rerun.
    Here a background thread trains while the Train page reruns every second;
    clearing the session under it empties TensorFlow's kernel cache and made
    training about 15 times slower. If a Streamlit upgrade renames the function, say so at start
    (and tests/test_app.py fails) rather than let the slowdown come back silently.
    """
    global streamlit_cleanup
    from streamlit.runtime.scriptrunner import script_runner

    if not hasattr(script_runner, "_clean_problem_modules"):
        warnings.warn(
            "cifar_cnn: streamlit.runtime.scriptrunner.script_runner._clean_problem_modules is gone (a Streamlit upgrade?); "
            "Streamlit may now clear Keras' session after every rerun, which made training about 15 times slower "
            "while the Train page was open. Pin streamlit to the version in requirements.txt.",
            RuntimeWarning, stacklevel=2,
        )
        return
    if streamlit_cleanup is None:
        streamlit_cleanup = script_runner._clean_problem_modules
    script_runner._clean_problem_modules = lambda: None


def _show_a_notice_while_tensorflow_loads():
    """The first visit to a fresh server imports TensorFlow (about 5 s) before any page can draw: say so at once,
    instead of a blank page. `setup_page` clears the notice."""
    if "keras" in sys.modules or get_script_run_ctx(suppress_warning=True) is None:
        return None
    notice = st.empty()
    notice.info("Starting the app: loading TensorFlow takes a few seconds on the first visit...", icon=":material/hourglass_top:")
    return notice


_keep_keras_state_between_reruns()
startup_notice = _show_a_notice_while_tensorflow_loads()


def clear_startup_notice() -> None:
    global startup_notice
    if startup_notice is not None:
        startup_notice.empty()
        startup_notice = None
