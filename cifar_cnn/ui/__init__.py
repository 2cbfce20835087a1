"""Streamlit glue shared by the app's pages: cached loaders, the job registry, the sidebar.

Only this package and the page scripts import Streamlit; everything they
show comes from the core library.
"""


def _keep_keras_state_between_reruns() -> None:
    """Stop Streamlit from calling `keras.backend.clear_session()` after every script run.

    Streamlit does that to free memory in apps that build a model per rerun.
    Here a background thread trains while the Train page reruns every second;
    clearing the session under it empties TensorFlow's kernel cache and made
    training about 15 times slower.
    """
    from streamlit.runtime.scriptrunner import script_runner

    if hasattr(script_runner, "_clean_problem_modules"):
        script_runner._clean_problem_modules = lambda: None


_keep_keras_state_between_reruns()
