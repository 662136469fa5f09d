"""The Ray backend (MLP_CLUSTER): runs train as named actors on a cluster, and a second app server
attaches to a run by its id. CI starts a local head on 127.0.0.1 (``.ci/run``); elsewhere these tests
skip unless Ray is installed and a head answers at MLP_TEST_RAY_ADDRESS (default 127.0.0.1:6390)."""
import subprocess
import sys

import numpy as np
import pytest

import mlp
from conftest import ALICE, RAY_ADDRESS, ROOT, cluster_transport, ray_unavailable, wait_until

if ray_unavailable():
    pytest.skip(ray_unavailable(), allow_module_level=True)

from runner.jobs import Registry  # noqa: E402
from runner.store import RunStore  # noqa: E402

ADDRESS = RAY_ADDRESS
SLOW = mlp.PRESETS["seed"].config.replace(epochs=200)
"""Long enough (200 epochs of 60,000: about a minute with the compiled kernels; 200 of 10,000 ended before
the test stopped it, once the kernels got faster) that it is still training when a test stops it."""


@pytest.fixture
def registry(tmp_path):
    return Registry(RunStore(tmp_path / "runs"), cluster_transport(), max_running=2)


ATTACH = """
import sys, time
sys.path.insert(0, {root!r})
from runner.cluster import ClusterTransport
from runner.jobs import Registry
from runner.store import RunStore
if __name__ == "__main__":
    registry = Registry(RunStore({runs!r}), ClusterTransport({address!r}), max_running=2)
    job = registry.get({run_id!r})
    seen = []
    for _ in range(40):
        seen.append(job.view()["samples_seen"])
        time.sleep(0.25)
    print(job.owner, job.name, job.status, seen[0], seen[-1], flush=True)
"""


def test_a_run_on_the_cluster_is_controlled_and_a_second_server_attaches_to_it(registry, tmp_path):
    job = registry.submit(SLOW, ALICE, name="on the cluster")
    assert wait_until(lambda: job.samples_seen > 0 and job.status == "running", timeout=60)

    job.pause(ALICE)
    assert wait_until(lambda: job.status == "paused", timeout=20)
    held = job.samples_seen
    job.step(ALICE)                                          # to the end of the current epoch, then it waits
    epoch = job.view()["epoch"]
    assert wait_until(lambda: job.view()["epoch"] == epoch + 1 and job.status == "paused", timeout=60)
    assert job.samples_seen == (epoch + 1) * SLOW.train_size > held
    job.set_lr(ALICE, 0.01)
    job.resume(ALICE)
    assert wait_until(lambda: job.status == "running" and job.view()["lr"] == 0.01, timeout=20)

    script = tmp_path / "attach.py"                     # a second app server process, by run id alone
    script.write_text(ATTACH.format(root=str(ROOT), runs=str(tmp_path / "runs"), address=ADDRESS, run_id=job.id))
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    owner, rest = result.stdout.split("\n")[-2].split(" ", 1)
    name, status, first, last = rest.rsplit(" ", 3)
    assert name == "on the cluster" and status == "running" and int(last) > int(first)
    assert owner == ALICE.owner                               # the other server knows whose it is

    job.stop(ALICE)
    assert job.join(60) and job.status == "stopped" and job.saved
    saved = registry.store.load(job.id)
    assert saved.meta["status"] == "stopped" and np.array_equal(saved.network.params, job.network().params)
    assert wait_until(lambda: registry.transport.find(job.id) is None, timeout=30)   # the actor is gone


def test_an_actor_that_dies_fails_its_run_and_keeps_its_last_snapshot(registry):
    job = registry.submit(SLOW, ALICE, name="doomed")
    assert wait_until(lambda: len(job.view()["history"]) >= 1, timeout=90)
    job._worker.kill()
    assert job.join(60) and job.status == "failed" and "Ray actor is gone" in job.error
    info = registry.store.info(job.id)
    assert info.status == "failed" and info.epochs_done >= 1
    after = registry.submit(SLOW.replace(epochs=1, train_size=1000), ALICE)
    assert after.join(90) and after.status == "done"
