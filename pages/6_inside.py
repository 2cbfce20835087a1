import functools

import numpy as np
import streamlit as st

import cifar_cnn.ui  # noqa: F401, I001 - first: on a fresh server it shows a notice while TensorFlow loads

from cifar_cnn import plots, run_labels, runs
from cifar_cnn.images import enlarge
from cifar_cnn.inside import channels, figures, layers, pictures
from cifar_cnn.inside.embeddings import TSNE_SAMPLE
from cifar_cnn.ui import cached, inside, uploaded
from cifar_cnn.ui.sidebar import require_run, setup_page
from cifar_cnn.ui.text import plain

SHOWN_CHANNELS = 16
CROP_WIDTH = 72  # nine in a row on a projector's 1280-pixel-wide page


def model_and_layers(run):
    """The run's model, its layer walk and class names; otherwise say why not and stop the page."""
    try:
        model = cached.model(run)
        walk = inside.layer_walk(run)
        class_names = runs.class_names(run, model.output_shape[-1])
    except (runs.RunError, ValueError) as error:
        st.error(plain(error))
        st.stop()
    return model, walk, class_names


def test_set(run, dataset):
    """The loaded dataset where it is the run's, else None, saying why."""
    if dataset is None:
        st.warning("No dataset loaded: the layer-by-layer view, the channels and the embeddings need the run's test images. "
                   "Choose its data source in the sidebar.")
        return None
    problem = runs.dataset_mismatch(run, dataset)
    if problem:
        st.warning(f"{plain(problem)}: choose its data source in the sidebar to look inside the network with its test images.")
        return None
    return dataset


BY_CLASS, AT_RANDOM = "By class and number", "At random"


def image_picker(dataset, class_names, shape) -> tuple[np.ndarray, int | None, str | None] | None:
    """The chosen image, with its test-set index or, for the image uploaded on Predict, its file name; None: no image."""
    upload = uploaded.latest(shape)
    choices = [BY_CLASS, AT_RANDOM] + ([uploaded.CHOICE] if upload else [])
    if st.session_state.get(uploaded.PICK_KEY) not in choices:  # the upload is gone (a file that is not an image)
        st.session_state.pop(uploaded.PICK_KEY, None)
    how = st.radio("Image", choices, horizontal=True, key=uploaded.PICK_KEY)
    if upload is None:
        st.caption("To look at a picture of your own, upload it on the Predict page: it then shows here as one more "
                   f"choice, {uploaded.CHOICE}.")
    if how == uploaded.CHOICE:
        return upload.image, None, upload.name
    if how == AT_RANDOM:
        if st.button("Pick another", icon=":material/shuffle:") or st.session_state.get("inside_random", len(dataset.x_test)) >= len(dataset.x_test):
            st.session_state["inside_random"] = int(np.random.default_rng().integers(len(dataset.x_test)))
        index = st.session_state["inside_random"]
        return dataset.x_test[index], index, None
    left, right = st.columns(2)
    chosen = left.selectbox("Class", range(len(class_names)), format_func=lambda index: class_names[index], key="inside_class")
    indices = np.flatnonzero(dataset.y_test == chosen)
    if len(indices) == 0:
        st.info(f"The test set has no images of {plain(class_names[chosen])}.")
        return None
    number = right.number_input(f"Number (1 to {len(indices):,})", 1, len(indices), 1, key=f"inside_number_{chosen}")
    index = int(indices[int(number) - 1])
    return dataset.x_test[index], index, None


def the_image(image, index, file_name, probabilities, class_names, true_class):
    predicted = int(np.argmax(probabilities))
    says = f"the model says {plain(class_names[predicted])} ({probabilities[predicted]:.0%}"
    if file_name is not None:
        caption = f"{plain(file_name)}, uploaded on Predict; {says})"
    else:
        verdict = "right" if predicted == true_class else "wrong"
        caption = f"Test image \\#{index}, {plain(class_names[true_class])}; {says}, {verdict})"
    st.image(enlarge(image, 4), width=128, caption=caption)


def layer_by_layer(steps, class_names, true_class):
    st.header("Layer by layer")
    st.caption("The image's path through the network, top to bottom. Feature maps: one small heat map per channel, strongest "
               f"first (by its mean), on one colour scale per layer. {pictures.COLOUR_KEY}")
    for position, step in enumerate(steps[:-1]):
        with st.container(border=True):
            layer_card(position, step)
    last = steps[-1]
    st.markdown(f"**{len(steps) - 1}\\. {plain(last.info.name)}** · {plain(last.info.kind)} · output {last.info.shape_text}")
    st.caption(plain(last.info.sentence))
    probabilities = last.output.reshape(-1)
    st.plotly_chart(plots.top_k_figure(probabilities, class_names, true_class, k=len(probabilities)), key="inside_probabilities")


def layer_card(position, step):
    info, output = step.info, step.output
    st.markdown(f"**{position}\\. {plain(info.name)}** · {plain(info.kind)} · output {info.shape_text}")
    st.caption(plain(info.sentence))
    if not info.is_drawn or info.family == layers.INPUT:
        return
    if info.is_spatial:
        order = layers.channel_order(output)
        every = len(order) > SHOWN_CHANNELS and st.toggle(f"Show all {len(order)} channels", key=f"inside_all_{info.name}")
        shown = order if every else order[:SHOWN_CHANNELS]
        st.image(pictures.feature_grid(output, shown, tile=48 if len(shown) > SHOWN_CHANNELS else 64),
                 caption=f"{len(shown)} of {len(order)} channels, strongest first")
    else:
        st.image(pictures.strip(output),
                 caption=f"{output.size:,} values, one cell each (lowest dark blue, highest yellow)")


def one_channel(run, model, walk, dataset, image, outputs, class_names):
    st.header("One channel")
    spatial = layers.spatial_layers(walk)
    if not spatial:
        st.info("This model has no layer with feature maps, so there is no channel to look at.")
        return
    names = [layer.name for layer in spatial]
    convolutions = [position for position, layer in enumerate(spatial) if layer.family == layers.CONVOLUTION]
    left, right = st.columns(2)
    name = left.selectbox("Layer", names, index=(convolutions or [len(names) - 1])[-1], key="inside_layer")
    maps = outputs[name]
    order = layers.channel_order(maps)
    strongest = int(order[0])
    if st.session_state.get(inside.channel_key(name), -1) not in range(maps.shape[-1]):
        st.session_state[inside.channel_key(name)] = strongest
    channel = int(right.selectbox("Channel", range(maps.shape[-1]), key=inside.channel_key(name),
                                  format_func=lambda number: f"#{number}" + (" (the strongest for this image)" if number == strongest else "")))
    channel_grid(name, maps, order, channel)
    left, right = st.columns(2)
    left.image(enlarge(pictures.map_over_image(image, maps[..., channel]), 8), width=256,
               caption=f"Channel {channel} of {plain(name)} over the image (yellow: strongest)")
    right.image(pictures.map_alone(maps[..., channel]), width=256, caption=f"The map alone, {maps.shape[0]}×{maps.shape[1]}")
    looks_for(run, model, dataset, name, channel, class_names)


def channel_grid(name, maps, order, channel):
    """The layer's maps for this image, strongest first; a click on one chooses it, as the Channel box above does."""
    every = len(order) > SHOWN_CHANNELS and st.toggle(f"Show all {len(order)} channels to click", key=f"inside_grid_all_{name}")
    shown = order if every else order[:SHOWN_CHANNELS]
    columns, tile = (16, 40) if every else (8, 64)
    chart = inside.grid_key(name, channel)
    st.plotly_chart(figures.channel_grid_figure(maps, shown, selected=channel, columns=columns, tile=tile), key=chart,
                    on_select=functools.partial(inside.select_clicked_channel, name, chart), selection_mode="points",
                    width="content", config={"displayModeBar": False})
    hidden = "" if channel in shown else f" Channel {channel} is not among them: show all to see it framed."
    st.caption(f"Click a channel to look at it (framed in red): {len(shown)} of {len(order)} channels of {plain(name)} for "
               f"this image, strongest first.{hidden}")


def looks_for(run, model, dataset, name, channel, class_names):
    st.subheader("What this channel looks for")
    with st.spinner(f"Finding the test images that excite each channel most (once per run: every layer in one pass over "
                    f"{len(dataset.x_test):,} images)..."):
        tops, _ = inside.top_images(run, dataset, inside.test_set_key(run, dataset))
    best, values = tops[name].indices[channel], tops[name].values[channel]
    peaks = channels.peak_positions(model, name, dataset.x_test[best], channel)
    try:
        field = channels.receptive_field(model, name)
    except ValueError as error:
        st.info(plain(error))
        field = None
    crops = [channels.crop(dataset.x_test[index], field, *peak) if field else dataset.x_test[index] for index, peak in zip(best, peaks)]
    st.image([enlarge(crop, -(-CROP_WIDTH // max(crop.shape[:2]))) for crop in crops], width=CROP_WIDTH,
             caption=[f"\\#{index} {plain(class_names[dataset.y_test[index]])} ({value:.2f})" for index, value in zip(best, values)])
    if field:
        st.caption(f"The {len(best)} test images whose strongest response in this channel is highest, each cut to the "
                   f"{field.size[0]}×{field.size[1]} pixels that one value of the map sees (its receptive field), around the peak.")
    with st.spinner("Drawing what excites it most..."):
        picture = inside.visualisation(run, name, channel)
    st.image(enlarge(picture, 6), width=192,
             caption="Feature visualisation: a grey image changed step by step to excite this channel as much as possible")


def first_layer_filters(model):
    st.header("The first layer's filters")
    try:
        name, kernel = layers.first_filters(model)
    except ValueError as error:
        st.info(plain(error))
        return
    patches = pictures.filter_patches(kernel)
    size = max(1, 48 // max(kernel.shape[:2]))
    st.image([enlarge(patch, size) for patch in patches], caption=[f"\\#{index}" for index in range(len(patches))], width=48)
    st.caption(f"The {len(patches)} filters of {plain(name)} ({kernel.shape[0]}×{kernel.shape[1]} pixels each), as colours: grey is "
               "a weight of 0; a bright colour, the colour that excites the filter; a dark one, what holds it back. "
               + plain(layers.describe(model.get_layer(name))))


def embeddings_view(run, dataset, class_names):
    st.header("Embeddings")
    st.caption("Every test image as a point, placed by what the network's last hidden layer makes of it: images the network "
               "finds alike lie close together. A cross marks an image the model gets wrong.")
    key = inside.test_set_key(run, dataset)
    method = st.radio("Projection", ["PCA", "t-SNE"], horizontal=True, key="inside_projection",
                      help="PCA: the two directions along which the images differ most (all of them, at once). t-SNE: keeps "
                           f"neighbours as neighbours (a sample of {TSNE_SAMPLE:,}, tens of seconds once per run).")
    if method == "PCA":
        with st.spinner("Projecting the test images (once per run)..."):
            projection, _ = inside.pca(run, dataset, key)
    else:
        projection, _ = inside.tsne(run, dataset, key, compute=False)
        if projection is None:
            if not st.button(f"Compute t-SNE of {min(TSNE_SAMPLE, len(dataset.x_test)):,} test images (once per run)"):
                return
            with st.spinner("Computing t-SNE (tens of seconds)..."):
                projection, _ = inside.tsne(run, dataset, key, compute=True)
    chart, beside = st.columns([3, 1])
    event = chart.plotly_chart(figures.embedding_figure(projection, dataset.y_test, class_names), key="inside_embedding",
                               on_select="rerun", selection_mode="points")
    index = inside.clicked_index(event)
    with beside:
        if index is not None and 0 <= index < len(dataset.x_test):
            clicked_image(dataset, projection, index, class_names)
        else:
            st.caption("Hover over a point to see its classes; click it to see its image here.")


def clicked_image(dataset, projection, index, class_names):
    true_class = int(dataset.y_test[index])
    position = np.flatnonzero(projection.indices == index)
    predicted = int(projection.predicted[position[0]]) if len(position) else None
    says = ("" if predicted is None or not 0 <= predicted < len(class_names) else
            f"; the model says {plain(class_names[predicted])} ({'right' if predicted == true_class else 'wrong'})")
    st.image(enlarge(dataset.x_test[index], 6), width=192, caption=f"Test image \\#{index}, {plain(class_names[true_class])}{says}")
    st.caption("Double-click the chart's background to let go of the point.")


context = setup_page("Inside the network")
st.title("Inside the network")
run = require_run(context, needs="model")
model, walk, class_names = model_and_layers(run)
st.caption(f"{plain(run_labels.describe(run))} (run {plain(run.run_id)}): {len(walk.layers)} layers, read from its saved model.")
dataset = test_set(run, context.dataset)
if dataset is None:
    first_layer_filters(model)
    st.stop()
picked = image_picker(dataset, class_names, dataset.x_test.shape[1:])
if picked is None:
    st.stop()
image, index, file_name = picked
true_class = None if index is None else int(dataset.y_test[index])
outputs = walk.outputs(image[np.newaxis])
steps = [layers.Step(info, outputs[info.name][0]) for info in walk.layers]
the_image(image, index, file_name, steps[-1].output.reshape(-1), class_names, true_class)
layer_by_layer(steps, class_names, true_class)
one_channel(run, model, walk, dataset, image, {name: value[0] for name, value in outputs.items()}, class_names)
first_layer_filters(model)
embeddings_view(run, dataset, class_names)
