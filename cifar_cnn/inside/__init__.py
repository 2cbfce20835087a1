"""Inside the network: what each layer of a trained model does to an image, and what each channel looks for.

Everything is read from the saved model's layers and their configs, so it works for every architecture in
`cifar_cnn.models` and any added later. No Streamlit here: the "Inside the network" page only draws.

- `layers`: the layers in order, one plain sentence on what each does, and one image's path through all of them
  (`LayerWalk`, one Keras call for every intermediate output).
- `channels`: receptive fields derived from kernel sizes, strides and padding; the test images that excite each
  channel of every layer most, from one pass over the test set (stored per run), cropped to the receptive field.
- `visualise`: feature visualisation, an input image optimised by gradient ascent to excite one channel.
- `embeddings`: the last hidden layer of the test images projected to 2-D (PCA, t-SNE), stored per run.
- `pictures`: feature maps as heat-map tiles, activation strips and filters as colour patches (NumPy and PIL).
- `store`: the run folder's `inside/` files, written atomically and keyed by the model and the test set.
"""
