"""Every model's family facts as data, without torch: era, paper, family, depth, input, data set, head, size.

    model_info("resnet56").depth        56
    MODELS["vit_b16"].params            86,567,656 parameters with the builder's default arguments

The builders themselves are milestones/models/ (one module per era; models/__init__.py pairs each name here with
its builder and re-exports this table). The facts live apart from the builders so that reading them needs no torch:
`milestones list` answers at once (milestones/catalog.py; tests/test_cli.py checks that it imports no torch), and the
parameter counts it prints are written down here rather than counted from a built model (tests/test_models.py
builds every model and checks each count).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Optional


@dataclass(frozen=True)
class ModelInfo:
    """A model family's facts as data: whoever needs "a CIFAR ResNet? how deep? plain or residual?" asks these
    fields (packing, the claims, the plots, the planner, checkpoint migrations), never the model's name."""

    name: str
    era: str
    year: int
    paper: str
    family: str  # mlp, lenet, alexnet, cifar_resnet, imagenet_resnet, vit, adding_rnn, seq2seq, rnnsearch, transformer
    depth: Optional[int] = None  # weighted layers, where the name fixes it (else the `depth` argument, if any)
    residual: Optional[bool] = None  # ResNets: residual or plain, where the name fixes it (else the argument)
    input: str = "image"  # what it reads: "image", "sequence" (numbers in time), "tokens" (a sentence)
    data: str = ""  # the data set its paper's claim is shown on here (milestones/data/datasets.py)
    # the classifier head, the layer that maps features to classes (what fine-tuning on new classes replaces and
    # trainer.freeze trains alone): attribute names, and an integer indexes a Sequential from its end ("-1")
    head: Optional[str] = None
    params: int = 0  # trainable parameters with the builder's default arguments (checked by tests/test_models.py)

    def depth_with(self, args: dict[str, Any]) -> Optional[int]:
        """The depth of the model built with `args` (the generic `resnet` takes it as an argument)."""
        return self.depth if self.depth is not None else args.get("depth")

    def residual_with(self, args: dict[str, Any]) -> Optional[bool]:
        """Residual (True) or plain (False) when built with `args`; None for models without the choice."""
        if self.residual is not None or not self.family.endswith("resnet"):
            return self.residual
        return bool(args.get("residual", True))


HE = "He, Zhang, Ren & Sun 2015, Deep Residual Learning (arXiv:1512.03385)"
VIT = "Dosovitskiy et al. 2020, An Image is Worth 16x16 Words (arXiv:2010.11929)"
CIFAR_RESNET_PARAMS = {20: 269_722, 32: 464_154, 44: 658_586, 56: 853_018, 110: 1_727_962}  # a plain twin: the same


def _cifar_nets() -> list[ModelInfo]:
    """He et al.'s CIFAR-10 nets (Sec. 4.2): ResNet-6n+2 of Table 6 and their plain twins of Fig. 6."""
    return [
        *(ModelInfo(f"resnet{d}", "ResNet 2015", 2015, f"{HE}, Table 6: ResNet-{d}", "cifar_resnet", d, True,
                    data="cifar10", head="fc", params=n) for d, n in CIFAR_RESNET_PARAMS.items()),
        *(ModelInfo(f"plain{d}", "ResNet 2015", 2015,
                    f"{HE}, {'plain twin of ResNet-110' if d == 110 else f'Fig. 6: plain-{d}'}", "cifar_resnet", d,
                    False, data="cifar10", head="fc", params=n) for d, n in CIFAR_RESNET_PARAMS.items()),
    ]


MODELS: dict[str, ModelInfo] = {
    info.name: info
    for info in [
        ModelInfo("mlp", "MLP", 1986,
                  "Rumelhart, Hinton & Williams 1986; dropout: Srivastava et al. 2014 (arXiv:1207.0580)",
                  "mlp", data="mnist", head="net.-1", params=1_863_690),
        ModelInfo("lenet5", "CNN 1998", 1998,
                  "LeCun, Bottou, Bengio & Haffner 1998, Gradient-based learning applied to document recognition",
                  "lenet", 5, data="mnist", head="classifier.-1", params=61_706),
        ModelInfo("alexnet", "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS)",
                  "alexnet", 8, data="cifar10", head="classifier.-1", params=2_343_530),
        ModelInfo("alexnet224", "CNN 2012", 2012,
                  "Krizhevsky, Sutskever & Hinton 2012, ImageNet Classification with Deep CNNs (NeurIPS): the "
                  "paper's 224x224 model, two towers as grouped convolutions, 61M params", "alexnet", 8,
                  data="imagenet", head="classifier.-1", params=60_965_224),
        *_cifar_nets(),
        ModelInfo("resnet", "ResNet 2015", 2015, f"{HE}, Sec. 4.2: any depth 6n+2", "cifar_resnet",
                  data="cifar10", head="fc", params=CIFAR_RESNET_PARAMS[20]),
        *(ModelInfo(f"resnet{d}", "ResNet 2015", 2015, f"{HE}, Table 1: ImageNet ResNet-{d}", "imagenet_resnet",
                    d, True, data="imagenet", head="fc", params=n)
          for d, n in ((18, 11_689_512), (34, 21_797_672), (50, 25_557_032))),
        *(ModelInfo(f"plain{d}", "ResNet 2015", 2015, f"{HE}, Table 2 / Fig. 4: plain-{d}", "imagenet_resnet", d,
                    False, data="imagenet", head="fc", params=n) for d, n in ((18, 11_515_688), (34, 21_623_848))),
        ModelInfo("vit_tiny", "ViT 2020", 2020, f"{VIT}; CIFAR size, 2.3M params", "vit", 6,
                  data="cifar10", head="head", params=2_250_058),
        ModelInfo("vit_small", "ViT 2020", 2020, f"{VIT}; CIFAR size, 6.0M params", "vit", 9,
                  data="cifar10", head="head", params=5_958_410),
        ModelInfo("vit_b16", "ViT 2020", 2020, f"{VIT}, Table 1: ViT-B/16 at 224x224, 86.6M params",
                  "vit", 12, data="imagenet", head="head", params=86_567_656),
        ModelInfo("vit", "ViT 2020", 2020, f"{VIT}; any size (defaults: ViT-B/16)", "vit", data="imagenet",
                  head="head", params=86_567_656),
        ModelInfo("lstm", "RNN 1997", 1997,
                  "Hochreiter & Schmidhuber 1997, Long Short-Term Memory (Neural Computation), with the forget "
                  "gate of Gers et al. 2000; adding problem, Sec. 5.4", "adding_rnn", input="sequence", data="adding",
                  params=133),
        ModelInfo("rnn", "RNN 1997", 1990,  # the 1997 era's baseline; Elman's paper is of 1990
                  "Elman 1990, Finding Structure in Time: the tanh RNN baseline of Hochreiter & Schmidhuber 1997",
                  "adding_rnn", input="sequence", data="adding", params=37),
        ModelInfo("seq2seq", "RNN 1997", 2014,
                  "Sutskever, Vinyals & Le 2014, Sequence to Sequence Learning (arXiv:1409.3215): 384M params",
                  "seq2seq", input="tokens", data="small_parallel_enja", params=384_144_000),
        ModelInfo("rnnsearch", "RNN+attention 2015", 2015,
                  "Bahdanau, Cho & Bengio 2015, Jointly Learning to Align and Translate (arXiv:1409.0473)",
                  "rnnsearch", input="tokens", data="small_parallel_enja", params=80_448_000),
        ModelInfo("transformer", "Transformer 2017", 2017,
                  "Vaswani et al. 2017, Attention Is All You Need (arXiv:1706.03762), base sizes (65M there: one "
                  "vocabulary shared by both languages)", "transformer", input="tokens", data="small_parallel_enja",
                  params=82_026_496),
    ]
}


def model_info(name: str) -> Optional[ModelInfo]:
    """The entry of `name`, or None for a name the table does not know (an old run's model)."""
    return MODELS.get(name)

