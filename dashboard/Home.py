"""LeNet-5 Lab: ``streamlit run dashboard/Home.py``. The entry point is the router: it sets the
page up once and runs whichever page the address names (``navigation.PAGES``)."""

import streamlit as st

from navigation import streamlit_pages

st.set_page_config(page_title="LeNet-5 Lab", page_icon="🔢", layout="wide")
st.navigation(streamlit_pages()).run()
