"""The cheatsheet's experiments as data: what to load, which network, how to train, what it reported.

*Computer Vision Using PyTorch* is a sequence of experiments on "cifar2"
(CIFAR-10's airplane and bird images): normalising by hand, a small MLP, a
deeper one, a convnet, padding and pooling, hand-made kernels, ReLU, width,
L1/L2 penalties, dropout, batch norm and skip connections. Each
:class:`Experiment` holds the DataConfig, the model (a preset with its knobs)
and the TrainConfig that set it up, a short explanation in our own words, and
the result the cheatsheet reports, so a window or a script can put the two
results side by side.

No Qt and no torch here: the window lists the experiments before torch has
finished importing. :meth:`Experiment.spec` imports the presets when called.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cvstudio.core.specs import DataConfig, TrainConfig

if TYPE_CHECKING:
    from cvstudio.core.specs import ModelSpec

CIFAR2 = DataConfig(source="cifar10", classes=("airplane", "bird"))  # labels 0 and 1, as in the cheatsheet
SHAPES = DataConfig(source="shapes")  # built in: no download, for what needs only some 32x32 colour images
CHEATSHEET_EPOCHS = 100  # every training run of the cheatsheet
# The cheatsheet's optimiser: plain SGD (no momentum), batch 64.
CHEATSHEET_SGD = TrainConfig(optimizer="sgd", lr=1e-2, momentum=0.0, batch_size=64, epochs=CHEATSHEET_EPOCHS)


@dataclass(frozen=True)
class Reported:
    """What the cheatsheet reports for an experiment (None: it reports no such number)."""

    text: str  # the result in words, e.g. "train 0.998 / validation 0.820 after 100 epochs"
    train_acc: float | None = None  # fraction correct on the training images
    val_acc: float | None = None  # fraction correct on the validation (test) images
    epochs: int | None = None
    params: int | None = None  # trainable parameters for 2 classes on 3x32x32
    mean: tuple[float, ...] | None = None  # per-channel mean of the training images, pixels scaled to 0..1
    std: tuple[float, ...] | None = None


@dataclass(frozen=True)
class Experiment:
    key: str  # stable identifier (tests, settings)
    title: str
    explanation: str  # what the experiment shows, in a few sentences
    page: str  # the page to look at once it is set up: "Data", "Model", "Train" or "Inspect"
    data: DataConfig
    preset: str  # a core.models preset
    width: int | None = None  # preset knobs; None keeps the preset's default
    depth: int | None = None
    dropout: float | None = None
    batchnorm: bool = False
    padding: int | None = None  # padding of every convolution, when the experiment changes it
    train: TrainConfig = CHEATSHEET_SGD
    reported: Reported | None = None
    focus: str = ""  # what to show on the page, e.g. "playground" on Inspect
    steps: tuple[str, ...] = field(default=())  # what to do after setting up, one short line each

    @property
    def needs_download(self) -> bool:
        """A torchvision dataset: it must be on disk (downloaded once) before the experiment can run."""
        return self.data.source != SHAPES.source

    def spec(self) -> ModelSpec:
        """The experiment's network (imports the presets: call it once torch is loaded)."""
        import dataclasses

        from cvstudio.core.models.presets import get_preset

        spec = get_preset(self.preset, width=self.width, depth=self.depth, dropout=self.dropout,
                          batchnorm=self.batchnorm)
        if self.padding is None:
            return spec
        layers = [dataclasses.replace(l, padding=self.padding) if l.kind == "conv" else l for l in spec.layers]
        return dataclasses.replace(spec, name=f"{spec.name}-pad{self.padding}", layers=tuple(layers))


def missing_data(experiment: Experiment, data_dir: str | os.PathLike[str] | None = None) -> str | None:
    """Why the experiment's dataset cannot be loaded yet (not downloaded), or None when it can.

    Looks only at which files exist (no decoding); ``data_dir`` defaults to the
    experiment's, then the user's datasets folder.
    """
    if not experiment.needs_download:
        return None
    from cvstudio.core import paths
    from cvstudio.core.data.torchvision_sources import TORCHVISION_SOURCES, locate_root

    info = TORCHVISION_SOURCES[experiment.data.source]
    root = Path(data_dir or experiment.data.data_dir or paths.data_dir())
    missing = info.missing_files(locate_root(info, root)) if root.is_dir() else list(info.files)
    if not missing:
        return None
    return f"{info.title} is not in {root} yet ({info.download_size} to download)"


_TRAIN_STEPS = ("Press Train on the Train page.",
                "When the run ends, its accuracies appear here next to the cheatsheet's.")

EXPERIMENTS: tuple[Experiment, ...] = (
    Experiment(
        "normalize", "Normalisation by hand",
        "Before training, the cheatsheet stacks all training images and computes the mean and standard deviation "
        "of each colour channel, then normalises every image with them so each channel is centred near 0 with "
        "spread 1. CV Studio does this for every dataset it loads: the Data page shows the numbers it computed "
        "for airplane and bird, next to the ones the cheatsheet got from all 50,000 CIFAR-10 images.",
        "Data", CIFAR2, "convnet",
        reported=Reported("mean (0.4915, 0.4823, 0.4468), std (0.2470, 0.2435, 0.2616) over all 50,000 images",
                          mean=(0.4915, 0.4823, 0.4468), std=(0.2470, 0.2435, 0.2616)),
        steps=("Look at the mean and std table on the Data page.",),
    ),
    Experiment(
        "mlp", "An MLP on airplane vs bird",
        "The first network flattens each 32×32 colour image into 3,072 numbers and feeds them to one hidden layer "
        "of 128 Tanh units. It learns the training images almost perfectly but does much worse on images it has "
        "not seen: a textbook case of overfitting, and a hint that throwing away the pixels' layout costs accuracy.",
        "Train", CIFAR2, "mlp",
        reported=Reported("train 0.998 / validation 0.820 after 100 epochs", train_acc=0.998, val_acc=0.820,
                          epochs=100, params=393_602),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "mlp-deep", "A deep MLP",
        "Three hidden layers (1,024, 512 and 128 units) give the MLP almost 10× the parameters. More capacity "
        "fits the training images faster, but every layer still sees a flat vector, so it overfits just as "
        "readily; compare the two curves on the Train page.",
        "Train", CIFAR2, "mlp-deep",
        reported=Reported("3,737,474 parameters (no accuracy reported)", params=3_737_474),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "convnet", "A convnet",
        "Two small convolution layers (16 and 8 channels of 3×3 kernels), each followed by Tanh and a 2×2 max "
        "pool, then a 32-unit layer. It looks at neighbouring pixels together and reuses each kernel across the "
        "image, so with 20× fewer parameters than the MLP it generalises better.",
        "Train", CIFAR2, "convnet",
        reported=Reported("validation 0.8905 after 100 epochs", val_acc=0.8905, epochs=100, params=18_090),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "padding", "Padding and pooling",
        "A 3×3 convolution without padding cannot centre its kernel on the border pixels, so 32×32 becomes 30×30; "
        "padding of 1 keeps 32×32. A 2×2 max pool halves each side. This network uses padding 0: follow the "
        "output shapes in the Model page's layer table, then set a convolution's padding back to 1 and watch "
        "them change.",
        "Model", SHAPES, "convnet", padding=0,
        reported=Reported("padding 0: 32×32 → 30×30; padding 1 keeps 32×32; MaxPool2d(2) halves each side"),
        steps=("Read the Output column of the layer table.", "Change a convolution's padding to 1."),
    ),
    Experiment(
        "kernels", "Blur and edge kernels",
        "A convolution kernel is a small weighted sum slid over the image. Set every weight to 1/9 and each pixel "
        "becomes the average of its neighbourhood: a blur. Put −1, 0, 1 in each row and the output lights up "
        "where brightness changes from left to right: a vertical-edge detector. The playground applies such "
        "hand-made kernels to any image; here the built-in shapes, so nothing needs downloading.",
        "Inspect", SHAPES, "convnet", focus="playground",
        reported=Reported("box blur: all weights 1/9, bias 0; vertical edge: rows of (−1, 0, 1) per input channel"),
        steps=("Choose Box blur, then Vertical edge, in the playground.",),
    ),
    Experiment(
        "relu", "ReLU instead of Tanh",
        "The same convnet with ReLU after the convolutions. ReLU does not saturate for positive inputs, so "
        "gradients stay large and training usually moves faster than with Tanh.",
        "Train", CIFAR2, "convnet-relu",
        reported=Reported("18,090 parameters, as the Tanh convnet (no accuracy reported)", params=18_090),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "width", "A wider convnet with weight decay",
        "Width 32: twice the channels in the first convolution, ReLU, a learning rate of 0.1 and an L2 penalty "
        "(weight decay 0.001) that keeps the weights small. The cheatsheet's best result; it also stops early "
        "once the training loss falls below 1e-5.",
        "Train", CIFAR2, "convnet-width",
        train=TrainConfig(optimizer="sgd", lr=1e-1, momentum=0.0, weight_decay=1e-3, batch_size=64,
                          epochs=CHEATSHEET_EPOCHS, stop_loss=1e-5),
        reported=Reported("validation 0.9125 after 100 epochs", val_acc=0.9125, epochs=100, params=38_386),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "l2", "L2 penalty (weight decay)",
        "Weight decay adds the sum of the squared weights to the loss, scaled by 0.001: large weights cost, so "
        "the network prefers simpler solutions that tend to generalise better. The cheatsheet's setting with "
        "its learning rate of 0.01.",
        "Train", CIFAR2, "convnet-width",
        train=TrainConfig(optimizer="sgd", lr=1e-2, momentum=0.0, weight_decay=1e-3, batch_size=64,
                          epochs=CHEATSHEET_EPOCHS),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "l1", "L1 penalty",
        "An L1 penalty adds the sum of the absolute weights to the loss. Unlike L2 it pushes small weights all "
        "the way to zero, so the network ends up using fewer connections. We use a weight of 0.0001 (our choice: "
        "the cheatsheet shows the code without a result).",
        "Train", CIFAR2, "convnet-width",
        train=TrainConfig(optimizer="sgd", lr=1e-2, momentum=0.0, l1=1e-4, batch_size=64, epochs=CHEATSHEET_EPOCHS),
        steps=_TRAIN_STEPS,
    ),
    Experiment(
        "dropout", "Dropout",
        "During training, dropout zeroes a random 40 % of the activations after each pooling layer, so no unit "
        "can rely on one particular other; at evaluation every unit is used. It slows the fit of the training "
        "images and narrows the gap to validation.",
        "Train", CIFAR2, "convnet-dropout", steps=_TRAIN_STEPS,
    ),
    Experiment(
        "batchnorm", "Batch normalisation",
        "Batch norm rescales each channel's activations over the batch to mean 0 and spread 1, then lets the "
        "network learn the scale back. It keeps activations in a healthy range, so higher learning rates train "
        "stably.",
        "Train", CIFAR2, "convnet-batchnorm", steps=_TRAIN_STEPS,
    ),
    Experiment(
        "skip", "Skip connections",
        "A residual block adds its input to its output, so each block learns a correction to the identity. "
        "Gradients flow straight through the additions, which is what lets ResNets grow deep; this one has a "
        "convolution stem, three residual blocks and global average pooling.",
        "Train", CIFAR2, "resnet",
        train=TrainConfig(optimizer="sgd", lr=2e-2, momentum=0.9, batch_size=64, epochs=20),
        steps=_TRAIN_STEPS,
    ),
)


def get_experiment(key: str) -> Experiment:
    for experiment in EXPERIMENTS:
        if experiment.key == key:
            return experiment
    raise KeyError(f"unknown experiment {key!r} (known: {', '.join(e.key for e in EXPERIMENTS)})")


def compare(experiment: Experiment, train_acc: float | None, val_acc: float | None, epochs: int | None) -> str:
    """One line: this run's accuracies next to the cheatsheet's, e.g. "validation 0.874 (cheatsheet 0.8905)"."""
    reported = experiment.reported
    parts = []
    for name, mine, theirs in (("train", train_acc, reported.train_acc if reported else None),
                               ("validation", val_acc, reported.val_acc if reported else None)):
        if mine is None:
            continue
        parts.append(f"{name} {mine:.3f}" + (f" (cheatsheet {theirs:g})" if theirs is not None else ""))
    if not parts:
        return "no accuracy measured"
    text = " / ".join(parts)
    if epochs is not None:
        text += f" after {epochs} epoch{'s' if epochs != 1 else ''}"
        if reported is not None and reported.epochs and reported.epochs != epochs:
            text += f" (cheatsheet: {reported.epochs})"
    return text


__all__ = ["CIFAR2", "EXPERIMENTS", "Experiment", "Reported", "compare", "get_experiment", "missing_data"]
