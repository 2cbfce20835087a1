import numpy as np
import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import run_labels, runs
from cifar_cnn.inference import predict
from cifar_cnn.uploads import ACCEPTED_SUFFIXES, CROP, FITS, PAD, ImageInputError, prepare_image
from cifar_cnn.ui import cached, uploaded
from cifar_cnn.ui.explain import show_explanation
from cifar_cnn.ui.sidebar import require_run, setup_page
from cifar_cnn.ui.text import plain, plain_list

context = setup_page("Predict")
st.title("Predict")
run, dataset = require_run(context, needs="model"), context.dataset
try:
    model = cached.model(run)
except runs.RunError as error:
    st.error(plain(error))
    st.stop()
try:
    class_names = runs.class_names(run, model.output_shape[-1])
except runs.RunError as error:
    st.error(plain(error))
    st.stop()
st.caption(f"{plain(run_labels.describe(run))} (run {plain(run.run_id)}) knows these classes: {plain_list(class_names)}.")

UPLOAD, PHOTO, TEST_IMAGE = "Upload an image", "Take a photo", "A random test image"
source = st.radio("Image", [UPLOAD, PHOTO, TEST_IMAGE], horizontal=True, key="predict_source")
image, true_class = None, None
if source in (UPLOAD, PHOTO):
    if source == UPLOAD:
        upload = st.file_uploader("PNG, JPEG, GIF, BMP or WebP; it is resized to 32x32", type=list(ACCEPTED_SUFFIXES), key="upload")
    else:  # a phone's or a laptop's camera: the photo goes through the same checks as an upload
        upload = st.camera_input("Fill the frame with one object (a cat, a car, a ship...): the photo is resized to 32x32",
                                 key="camera")
    if upload is not None:
        try:  # the crop-or-pad choice below is only drawn for a picture that is not square; crop until it is
            prepared = prepare_image(upload.getvalue(), upload.name, fit=st.session_state.get("upload_fit", CROP))
        except ImageInputError as error:
            uploaded.forget()
            st.error(plain(error))
        else:
            image = prepared.model_input
            uploaded.keep(upload.name, image)
            left, right = st.columns([2, 1])
            how = "as uploaded" if source == UPLOAD else "as taken"
            left.image(prepared.original, caption=f"{plain(upload.name)} {how} ({prepared.original_size[0]}x{prepared.original_size[1]})")
            with right:
                if not prepared.is_square:
                    st.radio("The model sees squares. This picture is not square:", FITS, key="upload_fit", format_func={
                        CROP: "Crop: keep its centre, cut the ends off", PAD: "Pad: keep all of it, add grey bars"}.get)
                for warning in prepared.warnings:
                    st.warning(plain(warning))
                for note in prepared.notes:
                    st.info(plain(note))
                if st.button("Look inside the network with it", icon=":material/layers:",
                             help="The Inside page follows this image through the selected run's layers."):
                    uploaded.look_inside()
elif dataset is None or runs.dataset_mismatch(run, dataset):
    st.warning("Random test images need the run's dataset: choose its data source in the sidebar.")
else:
    if st.button("Pick another", icon=":material/shuffle:") or "predict_index" not in st.session_state:
        st.session_state["predict_index"] = int(np.random.default_rng().integers(len(dataset.x_test)))
    index = st.session_state["predict_index"]
    image, true_class = dataset.x_test[index], int(dataset.y_test[index])
    st.caption(f"Test image \\#{index}, true class: {plain(class_names[true_class])}")

if image is not None:
    probabilities = predict(model, image[np.newaxis])[0]
    best = int(np.argmax(probabilities))
    st.subheader(f"Prediction: {plain(class_names[best])} ({probabilities[best]:.1%})")
    show_explanation(run, image, probabilities, class_names, true_class)
