"""Plotly figures of the network at work: the diagram, the layer maps, the layer health. No Streamlit.

The diagram's coordinates: y runs from 0 (top) to HEIGHT (bottom); the input image sits on the left,
each layer is a column of nodes to its right, the first hidden layer with each unit's 28×28 weight
image beside its node.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from mlp import analysis
from ui.charts import DIVERGING, as_text

HEIGHT = 100.0
MARGIN = 2.0
LAYER_GAP = 42.0
EVERY_EDGE_UP_TO = 32
"""Layers of at most this many units show every edge between them; wider ones each unit's strongest."""
STRONGEST = 3
"""Outgoing edges drawn per unit between wider layers."""
IMAGES_UP_TO = 32
"""First layers of at most this many units show each unit's weight image beside its node."""
WIDTH_BUCKETS = (0.6, 1.3, 2.4, 4.0)
NODE_SCALE = [[0.0, "#eeeeee"], [0.5, "#fdae61"], [1.0, "#d7191c"]]
"""Node colours: grey when silent, glowing orange to red as the unit's output rises."""
DIGIT_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                 "#bcbd22", "#17becf")
FORMULA = {"sigmoid": "σ(z)", "tanh": "tanh(z)", "relu": "max(0, z)", "leaky_relu": "max(0.01·z, z)",
           "softmax": "e^z / Σ e^z"}


def node_positions(units):
    """y of each of ``units`` nodes, spread evenly over the height."""
    step = (HEIGHT - 2 * MARGIN) / units
    return MARGIN + step * (np.arange(units) + 0.5), step


def layer_x(layer, images):
    """x of layer ``layer``'s node column (0 = first hidden layer)."""
    return 28 + (36 if images else 16) + LAYER_GAP * layer


def edges_between(W, off_rows=()):
    """(source, target, weight) triples to draw for weights W (fan_in, fan_out): all of them for
    small layers, else each source unit's STRONGEST largest-magnitude ones. Rows of switched-off
    units are left out. Returns the triples and whether all were drawn."""
    fan_in, fan_out = W.shape
    keep = np.ones(fan_in, bool)
    keep[list(off_rows)] = False
    if fan_in <= EVERY_EDGE_UP_TO and fan_out <= EVERY_EDGE_UP_TO:
        sources, targets = np.nonzero(np.broadcast_to(keep[:, None], W.shape))
        return sources, targets, W[sources, targets], True
    k = min(STRONGEST, fan_out)
    strongest = np.argpartition(-np.abs(W), k - 1, axis=1)[:, :k]
    sources = np.repeat(np.arange(fan_in), k)
    targets = strongest.ravel()
    mask = keep[sources]
    sources, targets = sources[mask], targets[mask]
    return sources, targets, W[sources, targets], False


def _edge_traces(segments):
    """Edges as at most eight line traces (by sign and by size), each one path with gaps, so that
    thousands of lines stay a few SVG elements. ``segments``: [(x0, y0 (n,), x1, y1 (n,), weights (n,))]
    per pair of layers; sizes are relative to the largest weight drawn."""
    segments = [s for s in segments if len(s[4])]
    if not segments:
        return []
    largest = max(float(np.abs(s[4]).max()) for s in segments) or 1e-12
    traces = []
    for positive, colour in ((True, "rgba(215,25,28,{a})"), (False, "rgba(44,123,182,{a})")):
        for b, width in enumerate(WIDTH_BUCKETS):
            xs, ys = [], []
            for x0, y0, x1, y1, weights in segments:
                bucket = np.minimum((np.abs(weights) / largest * len(WIDTH_BUCKETS)).astype(int),
                                    len(WIDTH_BUCKETS) - 1)
                chosen = np.flatnonzero(((weights > 0) == positive) & (bucket == b))
                x, y = np.full(3 * len(chosen), np.nan), np.full(3 * len(chosen), np.nan)
                x[0::3], x[1::3] = x0, x1
                y[0::3], y[1::3] = y0[chosen], y1[chosen]
                xs.append(x)
                ys.append(y)
            if sum(len(x) for x in xs):
                traces.append(dict(type="scatter", x=np.concatenate(xs), y=np.concatenate(ys), mode="lines",
                                   hoverinfo="skip", showlegend=False,
                                   line=dict(width=width, color=colour.format(a=0.25 + 0.15 * b))))
    return traces


def diagram(network, trace, hover, off=frozenset(), probabilities=None, height=540, compact=False):
    """The network as a graph for one input.

    trace:  an ``mlp.trace.Trace`` of the input (its forward values light the nodes)
    hover:  per layer, a list of each node's hover text (its computation with the live numbers)
    off:    {(layer, unit)} switched-off hidden units, drawn as grey crosses without their edges
    probabilities: (10,) what each output reads as a probability (default: the outputs themselves)
    compact: a phone's screen: short layer labels ("h1 · 16") in a smaller font, so they do not overlap

    Built as one list of trace dictionaries handed to ``go.Figure`` once: adding twenty traces one
    by one costs Plotly several times more.
    """
    sizes = network.sizes
    images = sizes[1] <= IMAGES_UP_TO and len(sizes) > 2
    top = (HEIGHT - 28) / 2
    traces = [dict(type="heatmap", z=trace.x.reshape(28, 28), x0=0.5, dx=1, y0=top + 0.5, dy=1,
                   colorscale="Greys_r", zmin=0, zmax=1, showscale=False, hoverinfo="skip")]
    font = 10 if compact else 12
    annotations = [dict(x=0, y=top + 28 + 3, text="784 pixels" if compact else "input: 784 pixels", showarrow=False,
                        xanchor="left", font=dict(size=font))]
    ys = [node_positions(units)[0] for units in sizes[1:]]
    xs = [layer_x(l, images) for l in range(len(sizes) - 1)]
    if images:
        traces += _weight_strip(network.weights[0], xs[0], off)
    segments = []
    for l in range(1, len(sizes) - 1):
        s, t, w, _ = edges_between(network.weights[l], [u for (layer, u) in off if layer == l - 1])
        segments.append((xs[l - 1], ys[l - 1][s], xs[l], ys[l][t], w))
    traces += _edge_traces(segments)
    for l, (x, y, a) in enumerate(zip(xs, ys, trace.a)):
        traces += _nodes(x, y, a, hover[l], l, [u for (layer, u) in off if layer == l])
    outputs = trace.a[-1] if probabilities is None else probabilities
    answer = int(np.argmax(outputs))
    traces.append(dict(type="scatter", x=np.full(10, xs[-1] + 5), y=ys[-1], mode="text", hoverinfo="skip",
                       showlegend=False, textposition="middle right", textfont=dict(size=font),
                       text=[f"<b>{d}: {p:.0%}</b>" if d == answer else f"{d}: {p:.0%}"
                             for d, p in enumerate(outputs)]))
    for l, x in enumerate(xs):
        last = l == len(xs) - 1
        if compact:
            text = "out" if last else f"h{l + 1} · {sizes[l + 1]}"
        else:
            text = f"{'outputs' if last else f'hidden {l + 1}'} ({sizes[l + 1]})"
        annotations.append(dict(x=x, y=-1.5, text=text, showarrow=False, font=dict(size=font)))
    if compact:       # a phone's column is about 370 px wide: as tall as the square pixels make it, no more
        height = min(height, int(370 * (HEIGHT + 13) / (xs[-1] + 31)) + 20)
    layout = dict(
        height=height, margin=dict(l=0, r=0, t=10, b=0), plot_bgcolor="white", annotations=annotations,
        clickmode="event+select", dragmode=False, hoverlabel=dict(align="left", font_size=13),
        xaxis=dict(visible=False, range=[-1, xs[-1] + 30], fixedrange=True, constrain="domain",
                   constraintoward="center"),
        yaxis=dict(visible=False, range=[HEIGHT + 8, -5], fixedrange=True, scaleanchor="x", constrain="domain",
                   constraintoward="top"))            # square pixels; on a narrow screen, at the top
    return go.Figure(data=traces, layout=layout)


def _weight_strip(W0, x_node, off):
    """Each first-layer unit's 28×28 weights beside its node, in two staggered columns (even units
    nearer the node) so each image can be twice as tall as the gap between two nodes; drawn as two
    heatmaps with gaps of NaN, plus the unit numbers where they fit."""
    units = W0.shape[1]
    y, step = node_positions(units)
    size = min(2 * step * 0.92, 14.0) if units > 1 else 14.0
    pixel = size / 28
    rows = int(round((HEIGHT - 2 * MARGIN + size) / pixel))
    images = analysis.unit_images(W0)
    limit = analysis.colour_limit(images)
    traces, label_x, label_y, labels = [], [], [], []
    for column in (0, 1):
        strip = np.full((rows, 28), np.nan)
        for j in range(column, units, 2):
            if (0, j) not in off:
                start = int(round((y[j] - MARGIN) / pixel))
                strip[start:start + 28] = images[j]
        left = x_node - 5 - size - column * (size + 1)
        units_here = list(range(column, units, 2))
        label_x += [left - 0.4] * len(units_here)
        label_y += [float(y[j]) for j in units_here]
        labels += [str(j) for j in units_here]
        traces.append(dict(type="heatmap", z=strip, x0=left + pixel / 2, dx=pixel, y0=MARGIN - size / 2 + pixel / 2,
                           dy=pixel, colorscale=DIVERGING, zmin=-limit, zmax=limit, zmid=0, showscale=False,
                           hoverinfo="skip"))
    if units <= 16:
        traces.append(dict(type="scatter", x=label_x, y=label_y, mode="text", text=labels,
                           textposition="middle left", textfont=dict(size=9, color="#777"), hoverinfo="skip",
                           showlegend=False))
    return traces


def _nodes(x, y, a, hover, layer, off_units):
    """A layer's nodes, coloured by their outputs (scaled to the layer's largest), each carrying its
    computation as hover text and (layer, unit) for a click; switched-off units as grey crosses."""
    units = len(a)
    step = (HEIGHT - 2 * MARGIN) / units
    size = float(np.clip(step * 4.2, 4, 22))
    brightness = np.asarray(a, np.float64)
    brightness = brightness / max(float(np.abs(brightness).max()), 1e-12)
    on = np.setdiff1d(np.arange(units), off_units)
    traces = [dict(type="scatter", x=np.full(len(on), x), y=y[on], mode="markers", hovertext=[hover[j] for j in on],
                   hoverinfo="text", customdata=[[layer, int(j)] for j in on], showlegend=False,
                   name=f"layer {layer}",
                   marker=dict(size=size, color=brightness[on], colorscale=NODE_SCALE, cmin=0, cmax=1,
                               line=dict(width=1 if size > 6 else 0, color="#555")))]
    if len(off_units):
        traces.append(dict(type="scatter", x=np.full(len(off_units), x), y=y[list(off_units)], mode="markers",
                           hoverinfo="text", hovertext=[f"unit {j}: switched off" for j in off_units],
                           showlegend=False, marker=dict(size=size, symbol="x", color="#999"),
                           customdata=[[layer, int(j)] for j in off_units]))
    return traces


# ---- layer maps -----------------------------------------------------------------------------------
def layer_map(coords, labels, explained, title, star=None, selected=None, height=520):
    """A PCA map: one dot per digit image, coloured by its digit (a trace per digit, so the legend
    can hide one), the drawing as a black star. SVG, not WebGL: 2,000 dots draw quickly either way,
    and a browser without a GPU (a school laptop, a headless test browser) draws WebGL in software."""
    fig = go.Figure()
    for digit in range(10):
        rows = np.flatnonzero(labels == digit)
        fig.add_scatter(x=coords[rows, 0], y=coords[rows, 1], mode="markers", name=str(digit),
                          customdata=rows, marker=dict(size=5, color=DIGIT_COLOURS[digit], opacity=0.75),
                          hovertemplate=f"digit {digit} · test image %{{customdata}}<extra></extra>")
    if selected is not None:
        fig.add_scatter(x=[coords[selected, 0]], y=[coords[selected, 1]], mode="markers", name="chosen",
                        hoverinfo="skip", marker=dict(size=16, symbol="circle-open", color="black",
                                                      line=dict(width=2)))
    if star is not None:
        fig.add_scatter(x=[star[0]], y=[star[1]], mode="markers", name="your drawing", hoverinfo="name",
                        marker=dict(size=20, symbol="star", color="black", line=dict(width=1, color="white")))
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=40, b=0), title=as_text(title),
                      legend=dict(title="digit", itemsizing="constant"), clickmode="event+select",
                      dragmode="pan")
    fig.update_xaxes(title=f"1st principal direction ({explained[0]:.0%} of the variance)", zeroline=False)
    fig.update_yaxes(title=f"2nd ({explained[1]:.0%})", zeroline=False)
    return fig


def separation_curves(epochs, scores, names, now=None):
    """Nearest-centre accuracy (%) of each layer's representation against the epoch."""
    fig = go.Figure()
    for name, values in zip(names, scores):
        fig.add_scatter(x=epochs, y=[100 * v for v in values], name=name, mode="lines+markers")
    if now is not None:
        fig.add_vline(x=now, line=dict(color="#999", dash="dot"))
    fig.update_layout(height=300, margin=dict(l=0, r=0, t=30, b=0), hovermode="x unified",
                      title="How separated the digits are, layer by layer", legend=dict(orientation="h", y=-0.25))
    fig.update_xaxes(title="epoch")
    fig.update_yaxes(title="nearest-centre accuracy (%)")
    return fig


# ---- one step under the microscope --------------------------------------------------------------
def forward_backward_bars(trace, names, most=64):
    """Per layer, its outputs a (left) and its error δ = dC/dz (right), as bars; layers of more
    than ``most`` units show their first ``most``."""
    rows = len(trace.a)
    height = 200 * rows + 40
    fig = make_subplots(rows=rows, cols=2, horizontal_spacing=0.08, vertical_spacing=70 / height,
                        subplot_titles=[t for name in names for t in (f"{name}: outputs a", f"{name}: δ = ∂C/∂z")])
    for l, (a, delta) in enumerate(zip(trace.a, trace.deltas), start=1):
        units = np.arange(min(len(a), most))
        fig.add_bar(x=units, y=a[:most], row=l, col=1, marker_color="#fdae61", showlegend=False,
                    hovertemplate="unit %{x}: a = %{y:.4f}<extra></extra>")
        fig.add_bar(x=units, y=delta[:most], row=l, col=2, showlegend=False,
                    marker_color=np.where(delta[:most] > 0, "#d7191c", "#2c7bb6"),
                    hovertemplate="unit %{x}: δ = %{y:.3g}<extra></extra>")
    fig.update_layout(height=height, margin=dict(l=0, r=0, t=30, b=0), bargap=0.15)
    fig.update_xaxes(dtick=1 if max(len(a) for a in trace.a) <= 16 else None)
    return fig


def before_after_bars(before, after, label):
    """The outputs for one example before and after the applied steps."""
    fig = go.Figure()
    fig.add_bar(x=list(range(10)), y=before, name="before", marker_color="#bbbbbb")
    fig.add_bar(x=list(range(10)), y=after, name="after", marker_color="#2ca02c")
    fig.update_layout(height=240, margin=dict(l=0, r=0, t=30, b=0), barmode="group",
                      title=f"outputs (the target is {label})", legend=dict(orientation="h", y=1.2, x=0.5))
    fig.update_xaxes(dtick=1, title="digit")
    return fig


def loss_curve(losses):
    fig = go.Figure(go.Scatter(x=list(range(len(losses))), y=losses, mode="lines+markers"))
    fig.update_layout(height=240, margin=dict(l=0, r=0, t=30, b=0), title="loss on this example")
    fig.update_xaxes(title="steps applied", dtick=1 if len(losses) <= 12 else None)
    fig.update_yaxes(rangemode="tozero")
    return fig


def importance_bars(costs, labels):
    fig = go.Figure(go.Bar(x=[100 * c for c in costs], y=labels, orientation="h", marker_color="#d7191c"))
    fig.update_layout(height=max(200, 22 * len(labels) + 60), margin=dict(l=0, r=0, t=30, b=0),
                      title="accuracy lost when each unit alone is switched off (points)")
    fig.update_yaxes(autorange="reversed", type="category")
    return fig


# ---- layer health while training ------------------------------------------------------------------
def health_curves(epochs, healths, hidden_names, weight_names):
    """Left: each layer's gradient size (log scale) per epoch; right: the share of dead and of
    saturated units per hidden layer."""
    fig = make_subplots(cols=2, horizontal_spacing=0.12,
                        subplot_titles=["gradient size per layer (RMS of ∂C/∂w)", "dead / saturated units"])
    for l, name in enumerate(weight_names):
        fig.add_scatter(x=epochs, y=[h.gradient_rms[l] for h in healths], name=f"{name} gradient",
                        mode="lines+markers", row=1, col=1)
    for l, name in enumerate(hidden_names):
        fig.add_scatter(x=epochs, y=[100 * h.dead[l] for h in healths], name=f"{name} dead",
                        mode="lines+markers", row=1, col=2)
        if healths and healths[0].saturated[l] is not None:
            fig.add_scatter(x=epochs, y=[100 * h.saturated[l] for h in healths], name=f"{name} saturated",
                            mode="lines", line=dict(dash="dot"), row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1, title="RMS gradient")
    fig.update_yaxes(range=[0, 100], row=1, col=2, title="%")
    fig.update_xaxes(title="epoch")
    fig.update_layout(height=330, margin=dict(l=0, r=0, t=30, b=0), legend=dict(orientation="h", y=-0.3))
    return fig
