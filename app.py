"""The analyst's dashboard: `streamlit run app.py`.

`st.navigation` over the page files in `views/` (deliberately not `pages/`: with a `pages/`
folder a deep link opened first after a restart would run the page without this file). The
shared sidebar (data source, customer, model) is rendered here on every run, so it persists
across pages and is mirrored in the URL. Settings: see `ui/settings.py`.
"""
from pathlib import Path

import streamlit as st

from ui import shell

st.set_page_config(page_title="Recommendation workbench", page_icon=":material/shopping_basket:",
                   layout="wide", initial_sidebar_state="expanded")

PAGES = {
    "Explore": [
        st.Page("views/overview.py", title="Overview", icon=":material/dashboard:", default=True),
        st.Page("views/recommendations.py", title="Recommendations", icon=":material/recommend:",
                url_path="recommendations"),
        st.Page("views/basket.py", title="Basket what-if", icon=":material/shopping_cart:", url_path="basket"),
        st.Page("views/similar_items.py", title="Similar items", icon=":material/hub:", url_path="similar-items"),
        st.Page("views/segments.py", title="Segments", icon=":material/groups:", url_path="segments"),
        st.Page("views/popularity.py", title="Popularity", icon=":material/trending_up:", url_path="popularity"),
        st.Page("views/evaluation.py", title="Evaluation", icon=":material/analytics:", url_path="evaluation"),
    ],
    "Manage": [
        st.Page("views/data_training.py", title="Data and training", icon=":material/database:", url_path="data"),
    ],
}

@st.cache_resource
def _serving_process() -> dict:
    """Once per server process: the settings of a process that answers requests (BLAS on one thread,
    an allocator that keeps a request's memory; recsys.process.prepare_serving_process)."""
    from recsys.process import prepare_serving_process

    return prepare_serving_process()


_serving_process()
page = st.navigation(PAGES)
st.logo(str(Path(__file__).parent / "ui" / "logo.svg"), size="large")
st.html("<style>[data-testid='stMainBlockContainer'] { padding-top: 3rem; }</style>")
try:
    shell.start()
    page.run()
except Exception as exc:  # st.stop / st.rerun / st.switch_page are BaseExceptions and pass through
    shell.show_error(exc)
