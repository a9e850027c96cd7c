"""The Streamlit shell: page config, navigation and the sidebar."""

from pathlib import Path

import streamlit as st

from core.cache import describe
from core.data.status import database_label
from dashboard.components import engine, settings, store

PAGES = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(page_title="Credit default dashboard", page_icon="💳", layout="wide")

home = st.Page(PAGES / "home.py", title="Home", icon="🏠", url_path="home")


def _open_home() -> None:
    st.switch_page(home)


# Streamlit serves the default page at "/" and not at its url_path, so a Home marked default
# answered /home with "Page not found". The default is a hidden page that opens Home, so
# "/" and "/home" both show it, at /home.
navigation = st.navigation(
    {
        "Overview": [
            st.Page(_open_home, title="Home", default=True, url_path="start", visibility="hidden"),
            home,
        ],
        "Explore": [
            st.Page(PAGES / "clients.py", title="Clients", icon="👥", url_path="clients"),
            st.Page(PAGES / "payments.py", title="Payments", icon="💸", url_path="payments"),
        ],
        "Models": [
            st.Page(PAGES / "train.py", title="Train", icon="🏋️", url_path="train"),
            st.Page(
                PAGES / "leaderboards.py", title="Leaderboards", icon="🏆", url_path="leaderboards"
            ),
            st.Page(PAGES / "score.py", title="Score", icon="🎯", url_path="score"),
        ],
    }
)

# A visit is opening a page, not every rerun that a widget on it causes.
st.session_state["new_visit"] = st.session_state.get("page") != navigation.url_path
st.session_state["page"] = navigation.url_path

with st.sidebar:
    settings()
    st.caption(f"Database: {database_label(engine())}")
    st.caption(f"Cache: {describe(store())}")

navigation.run()
