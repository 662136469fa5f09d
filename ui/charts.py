"""Plotly figures built from training events (plain dicts or ``mlp.Event``s). No Streamlit here."""
from __future__ import annotations

import math

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlp import NOTEBOOK_TEST_ACCURACY

TEST, TRAIN, LOSS, NOTEBOOK = "#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c"


def _get(event, name):
    return event[name] if isinstance(event, dict) else getattr(event, name)


def _finite(events, name):
    """(epochs, values) of events whose value is a finite number: the chart never shows NaN."""
    pairs = [(_get(e, "epoch"), _get(e, name)) for e in events]
    pairs = [(x, y) for x, y in pairs if y is not None and math.isfinite(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def learning_curves(progress, history, notebook=False, height=380):
    """Accuracy (train and test, %) on the left axis and training loss on the right, against epochs.

    progress: every event so far (estimates on small subsets, plus the epoch ends);
    history:  the epoch-end events (test accuracy on the whole test set).
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x, y = _finite(progress, "test_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="test accuracy", line=dict(color=TEST), mode="lines")
    x, y = _finite(progress, "train_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="train accuracy", line=dict(color=TRAIN, dash="dot"),
                    mode="lines")
    x, y = _finite(history, "test_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="test accuracy, full test set", mode="markers",
                    marker=dict(color=TEST, size=8))
    if notebook:
        fig.add_scatter(x=list(range(1, len(NOTEBOOK_TEST_ACCURACY) + 1)), y=list(NOTEBOOK_TEST_ACCURACY),
                        name="seed notebook", mode="markers", marker=dict(color=NOTEBOOK, symbol="x", size=8))
    x, y = _finite(progress, "train_loss")
    fig.add_scatter(x=x, y=y, name="training loss", line=dict(color=LOSS, width=1), mode="lines",
                    secondary_y=True)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=70, b=10), hovermode="x unified",
                      legend=dict(orientation="h", y=1.12, x=0), uirevision="keep-zoom")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="loss", rangemode="tozero", secondary_y=True, showgrid=False)
    return fig


def compare_curves(runs):
    """Test accuracy per epoch for several runs: ``runs`` is a list of (name, history)."""
    fig = go.Figure()
    for name, history in runs:
        x, y = _finite(history, "test_accuracy")
        fig.add_scatter(x=x, y=[100 * v for v in y], name=name, mode="lines+markers")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                      legend=dict(orientation="h", y=1.15, x=0))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="test accuracy (%)")
    return fig
