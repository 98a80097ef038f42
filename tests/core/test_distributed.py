"""core/distributed.py without extra processes: environment, shards, failure reports, and the
distributed loop path in a one-process gloo group (the multi-process runs are in tests/cli)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from cvstudio.core import distributed as D
from cvstudio.core.errors import ConfigError
from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import RunControl, fit, new_model
from tests.conftest import make_tiny_bundle

ENV = {"RANK": "1", "WORLD_SIZE": "2", "LOCAL_RANK": "1", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_detect_env_reads_torchrun_variables():
    assert D.detect_env({}) is None
    assert D.detect_env({"RANK": "0"}) is None
    assert D.detect_env(ENV) == D.DistEnv(rank=1, world_size=2, local_rank=1)


@pytest.mark.parametrize(
    "change, words",
    [
        ({"RANK": "2"}, "does not fit WORLD_SIZE=2"),
        ({"WORLD_SIZE": "two"}, "WORLD_SIZE='two' is not a whole number"),
        ({"RANK": "-1"}, "out of range"),
        ({"WORLD_SIZE": "0"}, "does not fit"),
        ({"MASTER_PORT": ""}, "MASTER_PORT is not"),
    ],
)
def test_detect_env_refuses_impossible_values(change, words):
    with pytest.raises(ConfigError, match=words):
        D.detect_env({**ENV, **change})


def test_shards_follow_distributed_sampler_and_cover_the_epoch():
    n, world = 10, 3
    shards = [D.shard_order(n, seed=5, epoch=0, rank=r, world_size=world) for r in range(world)]
    assert all(len(s) == 4 for s in shards)  # padded to equal length: ceil(10 / 3)
    assert set(torch.cat(shards).tolist()) == set(range(n))
    sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=world, rank=1, shuffle=True, seed=5)
    assert shards[1].tolist() == list(sampler)
    # Interleaved, the ranks' shards are one permutation: a global batch is the same images as one process's.
    even = [D.shard_order(8, 5, 0, r, 2) for r in range(2)]
    assert torch.stack(even, 1).flatten().tolist() == D.shard_order(8, 5, 0, 0, 1).tolist()
    assert D.shard_order(n, 5, 1, 0, world).tolist() != shards[0].tolist()  # reshuffled each epoch
    assert D.shard_order(n, 5, 0, 0, world).tolist() == shards[0].tolist()  # and only from (seed, epoch)


def test_sharded_loader_yields_its_shard_in_the_epochs_order():
    data = make_tiny_bundle(n_train=10, n_val=4).train
    loader = D.ShardedBatchLoader(data, 3, "cpu", (0.4,) * 3, (0.3,) * 3, rank=1, world_size=2, seed=7)
    loader.epoch = 2
    assert loader.epoch_size == 5 and len(loader) == 2
    labels = torch.cat([y for _, y in loader])
    assert labels.tolist() == data.labels[D.shard_order(10, 7, 2, 1, 2)].tolist()
    val = D.shard_set(data, 1, 3)
    assert val.labels.tolist() == data.labels[1::3].tolist()


def failure(exitcode: int, message: str = "", timestamp: int = 100, signal_name: str = "SIGKILL"):
    return SimpleNamespace(exitcode=exitcode, message=message, timestamp=timestamp, signal_name=lambda: signal_name)


def test_root_failure_names_the_rank_that_broke_the_run():
    peer = failure(1, "DistBackendError: [../gloo/transport/tcp/pair.cc:534] Connection closed by peer", 99)
    assert D.root_failure({0: peer, 1: failure(-9, timestamp=101)}) == (1, "killed by SIGKILL", 1)
    ended_by_torchrun = failure(-15, timestamp=90, signal_name="SIGTERM")
    assert D.root_failure({0: ended_by_torchrun, 1: failure(-9, timestamp=101)})[:2] == (1, "killed by SIGKILL")
    own = failure(2, "dataset folder not found: /nowhere", 105)
    assert D.root_failure({0: peer, 3: own}) == (3, "dataset folder not found: /nowhere", 2)
    silent = failure(1, "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html")
    rank, why, _ = D.root_failure({2: silent})
    assert rank == 2 and "status 1" in why


def test_record_failure_writes_torchruns_error_file(tmp_path, monkeypatch):
    monkeypatch.delenv("TORCHELASTIC_ERROR_FILE", raising=False)
    assert not D.record_failure("boom")
    path = tmp_path / "error.json"
    monkeypatch.setenv("TORCHELASTIC_ERROR_FILE", str(path))
    assert D.record_failure("DataError: no such class 'cat'")
    from torch.distributed.elastic.multiprocessing.errors import ProcessFailure

    read = ProcessFailure(local_rank=0, pid=1, exitcode=2, error_file=str(path))
    assert D.root_failure({1: read}) == (1, "DataError: no such class 'cat'", 2)  # what the launcher prints


def test_check_nproc_wants_one_gpu_per_process(monkeypatch):
    D.check_nproc(8, "cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    D.check_nproc(2, "cuda")
    with pytest.raises(ConfigError, match="needs 3 CUDA GPUs"):
        D.check_nproc(3, "auto")
    with pytest.raises(ConfigError, match="its own GPU"):
        D.check_nproc(2, "cuda:1")


def test_launch_command_runs_torchrun_standalone():
    cmd = D.launch_command(["train", "--epochs", "2"], 3)
    assert cmd[1:] == ["-m", "cvstudio.core.distributed", "--nproc-per-node", "3", "--standalone",
                       "-m", "cvstudio", "train", "--epochs", "2"]


# --- the loop's distributed path, in a one-process gloo group ----------------------------------------


@pytest.fixture
def one_rank(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(free_port()))
    dist = D.Distributed.start(D.DistEnv(0, 1, 0), "cpu")
    yield dist
    dist.close()


def _config(**kw):
    base = dict(optimizer="sgd", lr=0.05, momentum=0.9, batch_size=16, epochs=2, seed=3, device="cpu")
    return TrainConfig(**{**base, **kw})


def test_one_rank_fit_trains_on_its_shard_and_reduces_metrics(one_rank):
    bundle = make_tiny_bundle(n_train=64, n_val=32, size=8)
    model = new_model(get_preset("mlp"), bundle, 3)
    result = fit(model, bundle, _config(), dist=one_rank)
    assert result.status == "finished" and len(result.history) == 2
    assert result.history[-1].train_loss < result.history[0].train_loss
    assert 0.0 <= result.metrics["val_acc"] <= 1.0
    assert not isinstance(model, nn.parallel.DistributedDataParallel)  # the caller's model, not the wrapper
    # The same losses again from the same seed: the shard order depends only on (seed, epoch).
    again = fit(new_model(get_preset("mlp"), bundle, 3), bundle, _config(), dist=one_rank)
    assert [e.train_loss for e in again.history] == [e.train_loss for e in result.history]


def test_stop_is_seen_at_a_sync_point(one_rank):
    bundle = make_tiny_bundle(n_train=64, n_val=16, size=8)
    control = RunControl()
    control.request_stop()
    result = fit(new_model(get_preset("mlp"), bundle, 0), bundle, _config(), control=control, dist=one_rank)
    assert result.status == "stopped" and "epoch 1" in result.message


def test_stop_file_stops_rank_zero(one_rank, tmp_path):
    stop = tmp_path / "stop"
    stop.touch()
    one_rank._stop_file = str(stop)  # as CVSTUDIO_STOP_FILE sets it when the rank starts
    bundle = make_tiny_bundle(n_train=64, n_val=16, size=8)
    result = fit(new_model(get_preset("mlp"), bundle, 0), bundle, _config(), dist=one_rank)
    assert result.status == "stopped"


def test_sync_interval_adapts_to_about_ten_per_second(one_rank):
    one_rank.start_epoch(None, 1)
    for step in range(1, 4):
        due = one_rank.sync_due(step, 1000)
    assert not due or one_rank.sync_every == 1
    one_rank._last_sync -= 1.0  # pretend the 3 steps took a second: ~0.33 s a step
    one_rank.sync_every, one_rank._since_sync = 3, 3
    losses, stop = one_rank.sync_losses([torch.tensor(1.0), torch.tensor(2.0), torch.tensor(3.0)], RunControl())
    assert losses.tolist() == [1.0, 2.0, 3.0] and not stop
    assert one_rank.sync_every == 1  # slower than 0.1 s a step: sync after every step


def test_batchnorm_is_restored_after_unwrap():
    dist = D.Distributed(D.DistEnv(0, 1, 0), torch.device("cpu"), "gloo")
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))
    originals = {"1": model[1]}
    dist._originals = dict(originals)
    nn.SyncBatchNorm.convert_sync_batchnorm(model)
    assert isinstance(model[1], nn.SyncBatchNorm)
    dist.unwrap_model(model)
    assert model[1] is originals["1"]


def test_nccl_check_runs_torchrun_on_one_gpu_and_reads_its_summary(monkeypatch):
    import subprocess

    seen = {}

    def fake_run(cmd, **kwargs):
        seen["cmd"] = cmd
        out = cmd[cmd.index("--out") + 1]
        open(out, "wb").close()
        done = '{"event": "done", "device": "cuda:0", "val_acc": 0.5}'
        return subprocess.CompletedProcess(cmd, 0, stdout='{"event": "epoch"}\n' + done + "\n", stderr="")

    monkeypatch.setattr(subprocess, "run", fake_run)
    report = D.nccl_check()
    assert report["ok"] and report["summary"]["device"] == "cuda:0"
    cmd = seen["cmd"]
    assert cmd[cmd.index("--nproc-per-node") + 1] == "1" and cmd[cmd.index("--device") + 1] == "cuda"
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: subprocess.CompletedProcess(cmd, 1, "", "no CUDA GPU"))
    failed = D.nccl_check()
    assert not failed["ok"] and "no CUDA GPU" in failed["output"]
