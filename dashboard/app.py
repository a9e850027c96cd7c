"""The Streamlit shell: page config, sign-in, navigation by role and the sidebar."""

from pathlib import Path

import streamlit as st

from core.cache import describe
from core.db.engine import database_label
from dashboard import access
from dashboard.components import engine, settings, store

PAGES = Path(__file__).resolve().parent.parent / "pages"

st.set_page_config(
    page_title="Credit default dashboard", page_icon=":material/credit_card:", layout="wide"
)

# Before anything else: while access control is on, only the login form renders until
# someone signs in.
actor = access.sign_in()

pages = {
    spec.url: st.Page(
        PAGES / spec.file,
        title=spec.title,
        icon=spec.icon,
        url_path=spec.url,
        # Pages the role may not open stay registered but hidden, so a link to one is
        # refused with a sentence below instead of silently opening Home.
        visibility="visible" if actor.may(spec.action) else "hidden",
    )
    for spec in access.PAGES
}


def _open_home() -> None:
    st.switch_page(pages["home"])


# Streamlit serves the default page at "/" and not at its url_path, so a Home marked default
# answered /home with "Page not found". The default is a hidden page that opens Home, so
# "/" and "/home" both show it, at /home.
sections: dict[str, list] = {
    "Overview": [
        st.Page(_open_home, title="Home", default=True, url_path="start", visibility="hidden")
    ]
}
for spec in access.PAGES:
    section = spec.section if actor.may(spec.action) else "Overview"
    sections.setdefault(section, []).append(pages[spec.url])
navigation = st.navigation(sections)

# A visit is opening a page, not every rerun that a widget on it causes.
st.session_state["new_visit"] = st.session_state.get("page") != navigation.url_path
st.session_state["page"] = navigation.url_path

with st.sidebar:
    settings()
    access.sidebar()
    st.caption(f"Database: {database_label(engine())}")
    st.caption(f"Cache: {describe(store())}")

opened = next((spec for spec in access.PAGES if spec.url == navigation.url_path), None)
if opened is not None and not actor.may(opened.action):
    st.error(access.refusal(opened, actor))
    st.stop()

navigation.run()
