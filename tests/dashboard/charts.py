"""Read back what an AppTest run shows: metrics, texts, and plotly charts with their arrays
decoded."""

from __future__ import annotations

import base64
import json

import numpy as np


def metrics(app) -> dict[str, str]:
    """Each st.metric shown: label -> value."""
    return {m.label: m.value for m in app.metric}


def texts(elements) -> str:
    """The values of some elements (app.markdown, app.error, ...), one per line."""
    return "\n".join(str(e.value) for e in elements)


def chart(app, key: str) -> dict:
    """The figure drawn by st.plotly_chart(..., key=key): {"title", "traces", "annotations"}."""
    found = [element for element in app.get("plotly_chart") if element.key == key]
    assert found, f"no chart with key {key!r} on the page"
    spec = json.loads(found[0].proto.spec)
    layout = spec.get("layout", {})
    return {
        "title": layout.get("title", {}).get("text"),
        "traces": [{key: decode(value) for key, value in trace.items()} for trace in spec["data"]],
        "annotations": [note.get("text") for note in layout.get("annotations", [])],
    }


def decode(value):
    """Plotly 6 writes numeric arrays as base64 typed arrays; return them as lists."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array.tolist()
    if isinstance(value, list):
        return [decode(item) for item in value]
    return value


def open_tab(app, key: str, label: str):
    """Open the tab `label` of the lazy tabs `key` (st.tabs(..., key=key, on_change="rerun"))
    and run the page: only the open tab's contents are drawn."""
    app.session_state[key] = label
    return app.run()


def tab_labels(app) -> list[str]:
    """The labels of every tab on the page, in order."""
    return [tab.label for tab in app.tabs]


def open_expander(app, key: str):
    """Open the lazy expander `key` (st.expander(..., key=key, on_change="rerun")) and run
    the page: its contents are drawn only while it is open."""
    app.session_state[key] = True
    return app.run()
