"""cifar-cnn: the browser dashboard. Run with `streamlit run streamlit_app.py`.

The pages are Streamlit scripts (`overview.py`, then `pages/`); beside them the server answers the live feed that every
Train tab listens to (cifar_cnn/live_feed.py), built once per update instead of once per tab.
"""

import streamlit as st
from streamlit import config

from cifar_cnn import live_feed

app = st.App("overview.py", routes=live_feed.routes(config.get_option("server.baseUrlPath")))
