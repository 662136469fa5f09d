"""In a real browser: the settings on Train download as a script that runs and reproduces them."""
import re
import subprocess
import sys

from playwright.sync_api import expect

import mlp
from mlp import Trainer
from mlp.config import from_query
from mlp.training import one_blas_thread
from conftest import wait_for_app

QUERY = "train_size=300&epochs=2&layers=784-16-10&activation=relu&output=softmax&loss=cross_entropy" \
        "&optimizer=adam&lr=0.003&batch_size=16&init=he&shuffle=1&rotation=10&dropout=0.2"

def test_the_settings_download_as_a_script_that_trains_them_exactly(page, streamlit_server, tmp_path, mnist):
    page.goto(f"{streamlit_server['url']}/train?{QUERY}")
    wait_for_app(page)
    download_button = page.get_by_role("button", name="Download as a Python script")
    download_button.scroll_into_view_if_needed()
    expect(download_button).to_be_visible()
    with page.expect_download() as download:
        download_button.click()
    script = tmp_path / download.value.suggested_filename
    download.value.save_as(script)
    assert script.suffix == ".py"
    result = subprocess.run([sys.executable, str(script), str(mlp.data.MNIST_PATH)], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300,
                            env={"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "HOME": str(tmp_path)})
    assert result.returncode == 0, result.stderr[-2000:]
    config, problems = from_query(dict(part.split("=") for part in QUERY.split("&")))
    assert not problems
    with one_blas_thread():
        trainer = Trainer(config, mnist)
        trainer.run()
    printed = [int(m.group(1)) for m in re.finditer(r"\((\d+) of 10000\)", result.stdout)]
    assert printed == [round(e.test_accuracy * 10_000) for e in trainer.history]
