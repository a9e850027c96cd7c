"""The REST API: a FastAPI adapter over core, as the dashboard is a Streamlit one."""
