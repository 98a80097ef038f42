"""Resume state (issue 13.7): a seeded CPU run stopped and resumed gives the uninterrupted run's losses."""

import json

import numpy as np
import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save

from cvstudio.core.events import BatchesEnded
from cvstudio.core.models import get_preset
from cvstudio.core.specs import TrainConfig
from cvstudio.core.training import RunControl, fit, new_model
from tests.conftest import make_tiny_bundle


class Losses:
    def __init__(self, stop_after=None, control=None):
        self.losses, self.stop_after, self.control = [], stop_after, control

    def on_batches_ended(self, e: BatchesEnded):
        self.losses.extend(e.losses.tolist())

    def on_epoch_ended(self, e):
        if e.epoch == self.stop_after:
            self.control.request_stop()


def test_stopped_and_resumed_run_matches_the_uninterrupted_one():
    bundle = make_tiny_bundle(n_train=96, n_val=32)
    spec = get_preset("convnet-dropout")  # dropout draws from torch's RNG, flip-crop from the loader's
    config = TrainConfig(epochs=4, batch_size=32, lr=0.05, momentum=0.9, seed=3, schedule="onecycle", device="cpu")

    whole = Losses()
    full = fit(new_model(spec, bundle, config.seed), bundle, config, augment="flip-crop", callbacks=[whole])

    control = RunControl()
    first = Losses(stop_after=2, control=control)
    part = fit(new_model(spec, bundle, config.seed), bundle, config, augment="flip-crop", callbacks=[first],
               control=control, resumable=True)
    assert part.status == "stopped" and len(part.history) == 2

    # The state survives the trip through a safetensors file and JSON, as a checkpoint would hold it.
    tensors = st_load(st_save(part.resume_tensors))
    meta = json.loads(json.dumps(part.resume_meta))
    torch.manual_seed(999)  # whatever happened in between
    second = Losses()
    rest = fit(new_model(spec, bundle, 12345), bundle, config, augment="flip-crop", callbacks=[second],
               resume=(tensors, meta))
    assert rest.status == "finished" and [h.epoch for h in rest.history] == [1, 2, 3, 4]
    np.testing.assert_array_equal(np.array(first.losses + second.losses), np.array(whole.losses))
    assert [h.lr for h in rest.history] == [h.lr for h in full.history]
    assert rest.best_epoch == full.best_epoch
    for k, v in full.history[-1].__dict__.items():
        if k not in ("seconds", "images_per_s"):
            assert getattr(rest.history[-1], k) == v
