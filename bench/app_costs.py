"""What the app costs the server: first page load, and one live-chart update.

    python bench/app_costs.py [--rounds 5]

1. Starts `streamlit run app.py` on 127.0.0.1 and opens the Train page in headless Chromium
   (Debian's /usr/bin/chromium): seconds from navigation to a finished first render, cold (the
   first visit loads MNIST) and warm (later visits, medians).
2. Times, in this process, what the Train page's live fragment does once a second: copy a job's
   view, build the learning-curve figure and serialise it as Streamlit does (medians).
3. Times the Hidden weights grid for the seed network's 16 units and the Evaluate page's confusion
   matrix (test-set forward pass included), built and serialised (medians).
4. Times How it computes for the seed, fast and wide models: the network diagram (trace, every
   node's computation, figure, serialised), the microscope's numbers and figures, and one snapshot's
   layer maps (uncached: forward passes of 4,000 digits, PCA, nearest-centre scores) (medians).
5. Runs every page (AppTest, in this process) on the largest network the app accepts, twice.
"""
import argparse
import signal
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import plotly.io

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

import mlp  # noqa: E402
from runner import dataset  # noqa: E402
from runner.identity import Person  # noqa: E402
from runner.jobs import Registry  # noqa: E402
from runner.local import LocalTransport  # noqa: E402
from runner.store import RunStore  # noqa: E402
from server import start_server  # noqa: E402
from mlp import analysis  # noqa: E402
from ui import charts  # noqa: E402
from ui.charts import learning_curves  # noqa: E402

BENCH = Person("be" * 16, "bench")
"""Who the benchmarks' runs belong to."""


def page_loads(url, rounds):
    from playwright.sync_api import sync_playwright

    times = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", headless=True,
                                    args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        for _ in range(rounds + 1):
            page = browser.new_page()
            started = time.perf_counter()
            page.goto(f"{url}/train")
            page.get_by_role("button", name="Start").wait_for()
            page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(state="attached")
            times.append(time.perf_counter() - started)
            page.close()
        browser.close()
    return times[0], times[1:]


def chart_updates(rounds, epochs):
    registry = Registry(RunStore(tempfile.mkdtemp()), LocalTransport(dataset.cache_folder()), max_running=1)
    config = mlp.PRESETS["fast"].config.replace(epochs=epochs, train_size=6000)
    job = registry.submit(config, BENCH)
    job.join()
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        view = job.view()
        figure = learning_curves(view["progress"], view["history"], notebook=True)
        plotly.io.to_json(figure, validate=False)
        times.append(time.perf_counter() - started)
    return len(job.view()["progress"]), times


def inside_pages(rounds):
    x_test, y_test = mlp.load_mnist()[2:]
    network = mlp.Network([784, 16, 16, 10])
    grid, confusion = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        images = analysis.unit_images(network.weights[0])
        labels = [f"{j} · b {b:+.2f}" for j, b in enumerate(network.biases[0])]
        plotly.io.to_json(charts.unit_grid(images, labels, analysis.colour_limit(images), 8), validate=False)
        grid.append(time.perf_counter() - started)
        started = time.perf_counter()
        counts = analysis.confusion_matrix(y_test, network.predict(x_test))
        plotly.io.to_json(charts.confusion_heatmap(counts), validate=False)
        confusion.append(time.perf_counter() - started)
    return grid, confusion


def drawing_reads(rounds):
    """Preprocess a drawn "1" both ways, predict, and build what the Draw page sends, for the seed model."""
    from mlp.preprocess import canvas_to_mnist, plain_resize

    network = mlp.load(ROOT / "models" / "seed.npz")
    image = np.zeros((280, 280, 4), np.uint8)
    image[..., 3], image[40:240, 130:150, :3] = 255, 255
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        inputs = [canvas_to_mnist(image), plain_resize(image)]
        probabilities = [analysis.as_probabilities(network.forward(x[None]))[0] for x in inputs]
        digit = int(probabilities[0].argmax())
        hidden = network.hidden_activations(inputs[0][None])[0][0]
        top = np.argsort(-hidden)[:8]
        onehot = np.eye(10, dtype=np.float32)[[digit]]
        contribution = network.input_gradient(inputs[0][None], onehot)[0] * inputs[0]
        images = analysis.unit_images(network.weights[0][:, top])
        for figure in (charts.probability_bars(probabilities[0], None, digit, labels=True),
                       charts.activation_bars(hidden, top),
                       charts.unit_grid(images, [str(j) for j in top], analysis.colour_limit(images), 8),
                       charts.pixel_map(contribution.reshape(28, 28), digit)):
            plotly.io.to_json(figure, validate=False)
        times.append(time.perf_counter() - started)
    return times


def network_views(rounds, model):
    """How it computes, for a shipped model: (diagram, microscope, layer maps) times in seconds."""
    from mlp import trace as tracing
    from ui import computes, network_charts

    network = mlp.load(ROOT / "models" / f"{model}.npz")
    x_train, y_train, x_test, y_test = mlp.load_mnist()
    x, label = x_test[8], int(y_test[8])
    diagram, microscope, maps = [], [], []
    for _ in range(rounds):
        started = time.perf_counter()
        t = tracing.trace(network, x, label)
        hover = [computes.unit_computations(network, t, l) for l in range(len(network.weights))]
        probabilities = analysis.as_probabilities(t.a[-1][None])[0]
        plotly.io.to_json(network_charts.diagram(network, t, hover, frozenset(), probabilities), validate=False)
        diagram.append(time.perf_counter() - started)
        started = time.perf_counter()
        t = tracing.trace(network, x, label)
        update = tracing.step_preview(network, tracing.new_optimizer(network, "sgd"), t, 0.02)
        computes.chain_rule_lines(network, t, 1, 3, 5)
        tracing.finite_difference(network, x, label, 1, 3, 5)
        images = analysis.unit_images(-t.dW[0][:, :16])
        for figure in (network_charts.forward_backward_bars(t, ["h1", "h2", "out"]),
                       charts.unit_grid(images, [str(j) for j in range(16)], analysis.colour_limit(images), 8)):
            plotly.io.to_json(figure, validate=False)
        assert update.shape == network.params.shape
        microscope.append(time.perf_counter() - started)
        started = time.perf_counter()
        test, train = network.forward_all(x_test[:2000]), network.forward_all(x_train[:2000])
        placed = [analysis.pca_map(A).place(A) for A in test[1:]]
        scores = [analysis.nearest_centre_accuracy(a, y_train[:2000], b, y_test[:2000]) for a, b in zip(train, test)]
        plotly.io.to_json(network_charts.layer_map(placed[-2], y_test[:2000], np.array([0.2, 0.1]), "map"),
                          validate=False)
        assert len(scores) == len(test)
        maps.append(time.perf_counter() - started)
    return diagram, microscope, maps


def largest_network_pages():
    """(Run it before anything imports ``ui.state``, which reads MLP_RUNS_DIR when imported.) Seconds for each page's script to run (AppTest, in this process) when the current run is the
    largest network the app accepts (784 + 4 × 1024 + 10): the first run (its caches cold: the dead-unit
    check, the test-set pass) and a second one."""
    import os

    from streamlit.testing.v1 import AppTest

    runs = tempfile.mkdtemp()
    os.environ["MLP_RUNS_DIR"] = runs
    RunStore(runs).save("0123456789ab", mlp.Network([784, 1024, 1024, 1024, 1024, 10], "relu", "softmax",
                                                    "cross_entropy", "he"), mlp.RunMeta("largest", "done"))
    times = {}
    for page in ("pages/weights.py", "pages/evaluate.py", "pages/draw.py", "pages/train.py", "pages/computes.py"):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params["run"] = "0123456789ab"          # the largest network, not the default model
        at.run().switch_page(page)
        runs_of_page = []
        for _ in range(2):
            started = time.perf_counter()
            at.run()
            runs_of_page.append(time.perf_counter() - started)
        assert not at.exception, at.exception
        times[page] = runs_of_page
    return times


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    proc, url = start_server()
    try:
        cold, warm = page_loads(url, args.rounds)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(10)
    print(f"Train page, first render after the server is up: cold {cold:.2f} s, "
          f"warm median {statistics.median(warm):.2f} s")
    dataset.shared_mnist()
    for epochs in (15, 100):
        points, times = chart_updates(args.rounds * 4, epochs)
        print(f"live chart update, {epochs} epochs ({points} points per curve): "
              f"median {1000 * statistics.median(times):.1f} ms of server time")
    grid, confusion = inside_pages(args.rounds * 4)
    reads = drawing_reads(args.rounds * 4)
    print(f"reading a drawing (seed network; both recipes, prediction, activations, pixel map, figures): "
          f"median {1000 * statistics.median(reads):.1f} ms")
    print(f"16-unit weight grid: median {1000 * statistics.median(grid):.1f} ms; confusion matrix with the "
          f"test-set pass: median {1000 * statistics.median(confusion):.1f} ms")
    for page, (first, again) in largest_network_pages().items():
        print(f"largest accepted network (784-1024x4-10), {page}: first run {first:.2f} s, again {again:.2f} s")
    for model in ("seed", "fast", "wide"):
        diagram, microscope, maps = network_views(args.rounds * 4, model)
        print(f"How it computes, {model} model: network diagram median {1000 * statistics.median(diagram):.1f} ms; "
              f"microscope {1000 * statistics.median(microscope):.1f} ms; layer maps of one snapshot, uncached "
              f"{1000 * statistics.median(maps):.0f} ms")


if __name__ == "__main__":
    main()
