"""The Streamlit side: the shell, shared components and figure builders."""
