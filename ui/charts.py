"""Plotly figures built from training events (plain dicts or ``mlp.Event``s). No Streamlit here."""
from __future__ import annotations

import html
import math

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlp import NOTEBOOK_TEST_ACCURACY

TEST, TRAIN, LOSS, NOTEBOOK = "#1f77b4", "#ff7f0e", "#7f7f7f", "#2ca02c"


def as_text(label):
    """User text for a Plotly label: Plotly reads a few HTML tags (links, styles) in labels, so the
    characters <, > and & are written as entities and show as themselves."""
    return html.escape(str(label), quote=False)


def _get(event, name):
    return event[name] if isinstance(event, dict) else getattr(event, name)


def _finite(events, name):
    """(epochs, values) of events whose value is a finite number: the chart never shows NaN."""
    pairs = [(_get(e, "epoch"), _get(e, name)) for e in events]
    pairs = [(x, y) for x, y in pairs if y is not None and math.isfinite(y)]
    return [x for x, _ in pairs], [y for _, y in pairs]


def learning_curves(progress, history, notebook=False, height=430, public_half=False):
    """Accuracy (train and test, %) on the left axis and training loss on the right, against epochs.

    progress: every event so far (estimates on small subsets, plus the epoch ends);
    history:  the epoch-end events (test accuracy on the whole test set, or, for a class challenge's
              run, ``public_half``, on the public half).
    """
    fig = make_subplots(specs=[[{"secondary_y": True}]])
    x, y = _finite(progress, "test_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="test accuracy", line=dict(color=TEST), mode="lines")
    x, y = _finite(progress, "train_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="train accuracy", line=dict(color=TRAIN, dash="dot"),
                    mode="lines")
    x, y = _finite(history, "test_accuracy")
    fig.add_scatter(x=x, y=[100 * v for v in y], name="test accuracy, " + ("public half" if public_half else "full test set"), mode="markers",
                    marker=dict(color=TEST, size=8))
    if notebook:
        fig.add_scatter(x=list(range(1, len(NOTEBOOK_TEST_ACCURACY) + 1)), y=list(NOTEBOOK_TEST_ACCURACY),
                        name="seed notebook", mode="markers", marker=dict(color=NOTEBOOK, symbol="x", size=8))
    x, y = _finite(progress, "train_loss")
    fig.add_scatter(x=x, y=y, name="training loss", line=dict(color=LOSS, width=1), mode="lines",
                    secondary_y=True)
    fig.update_layout(height=height, margin=dict(l=10, r=10, t=20, b=10), hovermode="x unified",
                      legend=dict(orientation="h", yanchor="top", y=-0.18, x=0), uirevision="keep-zoom")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 100], secondary_y=False)
    fig.update_yaxes(title_text="loss", rangemode="tozero", secondary_y=True, showgrid=False)
    return fig


def compare_curves(runs):
    """Test accuracy per epoch for several runs: ``runs`` is a list of (name, history)."""
    fig = go.Figure()
    for name, history in runs:
        x, y = _finite(history, "test_accuracy")
        fig.add_scatter(x=x, y=[100 * v for v in y], name=as_text(name), mode="lines+markers")
    fig.update_layout(height=360, margin=dict(l=10, r=10, t=30, b=10), hovermode="x unified",
                      legend=dict(orientation="h", y=1.15, x=0))
    fig.update_xaxes(title_text="epoch")
    fig.update_yaxes(title_text="test accuracy (%)")
    return fig


def class_curves(students, most_points=120, legend_below=False):
    """Every student's test accuracy (%) against epochs in one chart: ``students`` is a list of (name,
    [(epoch, accuracy)]). Thin lines, so thirty stay readable; a hover names the student. Each curve
    is thinned to ``most_points`` and handed to Plotly as arrays: thirty curves then cost a few
    milliseconds to build, not a hundred (Plotly checks a list item by item)."""
    fig = go.Figure()
    for name, curve in students:
        points = np.array([(x, y) for x, y in curve if y is not None and math.isfinite(y)], float).reshape(-1, 2)
        if len(points) > most_points:
            points = points[np.unique(np.linspace(0, len(points) - 1, most_points).round().astype(int))]
        fig.add_scatter(x=points[:, 0], y=100 * points[:, 1], name=as_text(name), mode="lines", line=dict(width=1.5),
                        hovertemplate="%{fullData.name}: %{y:.1f}% at epoch %{x:.2f}<extra></extra>")
    fig.update_layout(height=380, margin=dict(l=10, r=10, t=10, b=10), hovermode="closest",
                      legend=dict(font=dict(size=11), **(dict(orientation="h", y=-0.25, x=0) if legend_below else {})),
                      uirevision="keep-zoom")
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="test accuracy (%)", range=[0, 100])
    return fig


# ---- weights -------------------------------------------------------------------------------------
DIVERGING = "RdBu_r"          # negative weights blue, positive red, zero white
TILE = 28
GAP = 2          # between tiles in a row
ROW_GAP = 9      # between rows: room for each tile's label


def mosaic(images, columns):
    """Tile (n, 28, 28) images into one array with NaN gaps, so one heatmap draws them all fast."""
    n = len(images)
    rows = -(-n // columns)
    canvas = np.full((rows * (TILE + ROW_GAP), columns * (TILE + GAP) - GAP), np.nan)
    for i, image in enumerate(images):
        r, c = divmod(i, columns)
        top, left = r * (TILE + ROW_GAP) + ROW_GAP, c * (TILE + GAP)
        canvas[top:top + TILE, left:left + TILE] = image
    return canvas


def unit_grid(images, labels, limit, columns, selected=None, height_per_row=118):
    """Hidden units' weight images in a grid, on a diverging scale centred at zero (±limit).

    An invisible marker sits on each tile, so clicking a tile selects that unit.
    """
    rows = -(-len(images) // columns)
    fig = go.Figure(go.Heatmap(z=mosaic(images, columns), colorscale=DIVERGING, zmin=-limit, zmax=limit,
                               zmid=0, hoverinfo="skip", colorbar=dict(thickness=12, title="weight")))
    centres_x = [(i % columns) * (TILE + GAP) + TILE / 2 for i in range(len(images))]
    centres_y = [(i // columns) * (TILE + ROW_GAP) + ROW_GAP + TILE / 2 for i in range(len(images))]
    fig.add_scatter(x=centres_x, y=centres_y, mode="markers", customdata=list(range(len(images))),
                    marker=dict(size=36, opacity=0.01, symbol="square"), hovertext=labels,
                    hoverinfo="text", showlegend=False)
    # All labels as one text trace: one Plotly annotation per tile costs ~10 ms each to build.
    fig.add_scatter(x=centres_x, y=[y - TILE / 2 - 3.5 for y in centres_y], mode="text", text=labels,
                    textfont=dict(size=10, color=["#c00" if i == selected else "#444" for i in range(len(labels))]),
                    hoverinfo="skip", showlegend=False)
    fig.update_layout(height=max(180, rows * height_per_row + 40), margin=dict(l=0, r=0, t=20, b=0),
                      clickmode="event+select", dragmode=False)
    return _as_image(fig)


def _signed_heatmap(z, title, limit=None, height=300, thickness=10):
    """A heatmap on the diverging scale centred at zero, ±limit (default: the largest |z|)."""
    limit = float(np.abs(z).max(initial=1e-12)) if limit is None else limit
    fig = go.Figure(go.Heatmap(z=z, colorscale=DIVERGING, zmin=-limit, zmax=limit, zmid=0,
                               colorbar=dict(thickness=thickness)))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0), title=title)
    return fig


def _as_image(fig):
    """Square pixels, row 0 at the top, no axes: a figure that reads as a picture."""
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", scaleanchor="x")
    return fig


def weight_image(image, limit, title):
    return _as_image(_signed_heatmap(image, title, limit, height=330, thickness=12))


def outgoing_bars(weights, names):
    colours = ["#c0392b" if w > 0 else "#2e6da4" for w in weights]
    fig = go.Figure(go.Bar(x=names, y=weights, marker_color=colours))
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0), title="outgoing weights")
    fig.update_xaxes(type="category")
    return fig


def matrix_heatmap(W, title):
    fig = _signed_heatmap(W, title)
    fig.update_yaxes(autorange="reversed", title="from unit")
    fig.update_xaxes(title="to unit")
    return fig


def histograms(now, initial, title, bins=50):
    """Two weight histograms on shared bins, counted here: the figure carries 2 × 50 bars, not the
    weights themselves (a million for the largest layers)."""
    low = float(min(now.min(initial=0.0), initial.min(initial=0.0)))
    high = float(max(now.max(initial=0.0), initial.max(initial=0.0)))
    edges = np.linspace(low, high if high > low else low + 1e-6, bins + 1)
    centres, width = (edges[:-1] + edges[1:]) / 2, edges[1] - edges[0]
    fig = go.Figure()
    for values, name, colour in ((initial, "at initialisation", "#7f7f7f"), (now, "now", "#d62728")):
        fig.add_bar(x=centres, y=np.histogram(values, edges)[0], width=width, name=name, opacity=0.55,
                    marker_color=colour)
    fig.update_layout(barmode="overlay", height=260, margin=dict(l=0, r=0, t=30, b=0), title=title,
                      legend=dict(x=1, xanchor="right", y=1, bgcolor="rgba(255,255,255,0.6)"))
    return fig


# ---- evaluation ----------------------------------------------------------------------------------
def confusion_heatmap(counts, title="confusion matrix"):
    """Counts of (true, predicted) digits, with an invisible marker per cell so a click selects it.
    ``title`` may be a run's name: it is shown as text."""
    title = as_text(title)
    digits = list(range(10))
    fig = go.Figure(go.Heatmap(z=counts, x=digits, y=digits, colorscale="Blues", text=counts,
                               texttemplate="%{text}", hoverinfo="skip", showscale=False,
                               zmax=float(np.sort(counts, axis=None)[-11]) if counts.sum() else 1))
    cells = [(t, p) for t in digits for p in digits]
    fig.add_scatter(x=[p for _, p in cells], y=[t for t, _ in cells], mode="markers",
                    customdata=[[t, p] for t, p in cells], marker=dict(size=28, opacity=0.01, symbol="square"),
                    hovertemplate="true %{y}, predicted %{x}: %{text}<extra></extra>",
                    text=[int(counts[t, p]) for t, p in cells], showlegend=False)
    fig.update_xaxes(title="predicted digit", dtick=1, side="top", range=[-0.5, 9.5], fixedrange=True)
    fig.update_yaxes(title="true digit", dtick=1, range=[9.5, -0.5], fixedrange=True)
    fig.update_layout(height=460, margin=dict(l=0, r=0, t=95, b=0), title=dict(text=title, y=0.99, yanchor="top"),
                      clickmode="event+select",
                      dragmode=False)
    return fig


def digit_accuracy_bars(accuracy):
    fig = go.Figure(go.Bar(x=list(range(10)), y=[100 * a for a in accuracy],
                           text=[f"{100 * a:.1f}" for a in accuracy], textposition="outside"))
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0), title="accuracy per digit (%)")
    fig.update_xaxes(dtick=1, title="digit")
    fig.update_yaxes(range=[min(80.0, 100 * min(accuracy) - 5), 101])
    return fig


def probability_bars(probabilities, true_digit, predicted, height=130, labels=False):
    colours = ["#2ca02c" if d == true_digit else "#d62728" if d == predicted else "#aaaaaa" for d in range(10)]
    fig = go.Figure(go.Bar(x=list(range(10)), y=probabilities, marker_color=colours,
                           text=[f"{p:.0%}" for p in probabilities] if labels else None, textposition="outside"))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=0, b=0), showlegend=False)
    fig.update_xaxes(dtick=1, fixedrange=True)
    fig.update_yaxes(range=[0, 1.15 if labels else 1], fixedrange=True, showticklabels=False)
    return fig


# ---- drawing -------------------------------------------------------------------------------------
def activation_bars(activations, highlighted):
    colours = ["#d62728" if j in set(highlighted) else "#9ecae1" for j in range(len(activations))]
    fig = go.Figure(go.Bar(x=list(range(len(activations))), y=activations, marker_color=colours))
    fig.update_layout(height=200, margin=dict(l=0, r=0, t=10, b=0))
    fig.update_xaxes(title="first hidden layer unit", dtick=1 if len(activations) <= 32 else None)
    return fig


def pixel_map(contribution, digit):
    return _as_image(_signed_heatmap(contribution, f"pixels for and against {digit}"))


def robustness_curves(results, stacked=False):
    """Test accuracy against each fixed transform's strength; ``results`` is [(run name, {transform:
    accuracies})], one line per run in each panel (``mlp.augment.ROBUSTNESS`` gives the strengths).
    stacked: the panels one above the other (a phone), else side by side."""
    from mlp.augment import ROBUSTNESS

    n = len(ROBUSTNESS)
    grid = dict(rows=n, cols=1, vertical_spacing=0.16) if stacked else dict(cols=n, horizontal_spacing=0.07)
    fig = make_subplots(subplot_titles=list(ROBUSTNESS), **grid)
    for r, (name, result) in enumerate(results):
        for i, (transform, strengths) in enumerate(ROBUSTNESS.items(), start=1):
            fig.add_scatter(x=list(strengths), y=[100 * a for a in result[transform]], mode="lines+markers",
                            name=as_text(name), legendgroup=str(r), showlegend=i == 1,
                            row=i if stacked else 1, col=1 if stacked else i, line=dict(color=(TEST, TRAIN)[r % 2]))
    fig.update_yaxes(range=[0, 100], title_text="accuracy (%)" if stacked else "test accuracy (%)",
                     row=None if stacked else 1, col=1)
    fig.update_yaxes(range=[0, 100])
    fig.update_annotations(font_size=12)
    fig.update_layout(height=720 if stacked else 330, margin=dict(l=0, r=0, t=60, b=0),
                      legend=dict(orientation="h", y=-0.08 if stacked else -0.2))
    return fig


# ---- dreams and adversaries ----------------------------------------------------------------------
def dream_animation(frames, frame_steps, labels, columns=5, compact=False):
    """The dreams as they grow: ``frames`` (k, n, 784) inputs at the steps ``frame_steps`` (k,), tiled
    ``columns`` a row in one grey heatmap per frame, with ``labels`` (k, n) under the tiles. It opens on
    the last frame; Replay plays the climb from the start, the slider picks a step (all in the browser).
    compact (a phone): shorter rows, and the slider under the button instead of beside it."""
    n = frames.shape[1]
    rows = -(-n // columns)
    centres_x = [(i % columns) * (TILE + GAP) + TILE / 2 for i in range(n)]
    label_y = [(i // columns) * (TILE + ROW_GAP) + ROW_GAP - 3.5 for i in range(n)]

    def traces(k):
        image = go.Heatmap(z=mosaic(frames[k].reshape(n, 28, 28), columns), colorscale="gray", zmin=0, zmax=1,
                           showscale=False, hoverinfo="skip")
        text = go.Scatter(x=centres_x, y=label_y, mode="text", text=[as_text(t) for t in labels[k]],
                          textfont=dict(size=11, color="#444"), hoverinfo="skip", showlegend=False)
        return [image, text]

    names = [str(int(s)) for s in frame_steps]
    last = len(frames) - 1
    fig = go.Figure(traces(last), frames=[go.Frame(data=traces(k), name=names[k]) for k in range(len(frames))])
    still = {"frame": {"duration": 0, "redraw": True}, "mode": "immediate", "transition": {"duration": 0}}
    slider_at = dict(x=0, len=1.0, pad=dict(t=52)) if compact else dict(x=0.16, len=0.84, pad=dict(t=8))
    fig.update_layout(
        height=rows * (80 if compact else 150) + (150 if compact else 110), margin=dict(l=0, r=0, t=10, b=0),
        dragmode=False,
        updatemenus=[dict(type="buttons", direction="left", x=0, y=0, xanchor="left", yanchor="top", pad=dict(t=8),
                          buttons=[dict(label="▶ Replay", method="animate",
                                        args=[names, {"frame": {"duration": 180, "redraw": True},
                                                      "transition": {"duration": 0}, "mode": "immediate"}])])],
        sliders=[dict(active=last, y=0, yanchor="top", **slider_at,
                      currentvalue=dict(prefix="step ", xanchor="right", font=dict(size=12)),
                      steps=[dict(label=name, method="animate", args=[[name], still]) for name in names])])
    return _as_image(fig)


def dream_climb(scores, names, what):
    """Each dream's score after every step (``scores`` (steps+1, n)): the climb, which never falls."""
    fig = go.Figure()
    for i, name in enumerate(names):
        fig.add_scatter(y=scores[:, i], mode="lines", name=as_text(name))
    fig.update_layout(height=260, margin=dict(l=0, r=0, t=30, b=0), title=what,
                      legend=dict(orientation="h", y=-0.3))
    fig.update_xaxes(title="step")
    return fig


def change_image(change, epsilon):
    """An adversarial change (28, 28) on the diverging scale ±ε: red pixels brightened, blue darkened."""
    return _as_image(_signed_heatmap(change, None, max(float(epsilon), 1e-6), height=250, thickness=10))


def adversarial_curves(results):
    """Accuracy against the nudge's budget ε, one line per (run name, ``mlp.adversarial.AdversarialCurve``)."""
    fig = go.Figure()
    for r, (name, curve) in enumerate(results):
        fig.add_scatter(x=list(curve.epsilons), y=[100 * a for a in curve.accuracy], mode="lines+markers",
                        name=as_text(name), line=dict(color=(TEST, TRAIN)[r % 2]))
    fig.update_layout(height=330, margin=dict(l=0, r=0, t=10, b=0), legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="budget ε: the most any pixel may change (pixels are 0 to 1)")
    fig.update_yaxes(title="test accuracy (%)", range=[0, 100])
    return fig
