"""LeNet-5 Lab: ``streamlit run dashboard/Home.py``. The entry point is the router: it sets the
page up once, finds out who is at this browser, keeps the class's line in the sidebar current,
and runs whichever page the address names (``navigation.PAGES``) once it knows who it is."""

import streamlit as st

from board_view import watch_board
from identity import current, name_box
from lenet.serving import ClusterUnavailable
from navigation import LIVE_PAGES, streamlit_pages
from services import job_manager

st.set_page_config(page_title="LeNet-5 Lab", page_icon="🔢", layout="wide")
page = st.navigation(streamlit_pages())
me = current()
if me is None:
    # The browser says who it is a moment after its first run. Drawing the page only then
    # draws it once, and a message it shows about its address (a bad ?run= or ?sample=,
    # corrected in the address) is not wiped by a second run.
    st.caption("Joining the class…")
    st.stop()
try:
    with st.sidebar:
        name_box(me)
        if (reason := job_manager().unavailable) is not None:
            st.warning(reason, icon="⚠️")
        watch_board(me, redraw_on_change=page.url_path in LIVE_PAGES)
    page.run()
except ClusterUnavailable as e:  # the class's board on a cluster stopped answering
    st.error(f"{e} The runs on the shared disk are safe; reload this page to try again.")
