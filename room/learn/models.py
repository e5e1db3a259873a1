"""Depth networks: a small built-in U-Net, Depth Anything V2 and DPT (via ``transformers``).

Every model is wrapped in :class:`DepthModel`, whose ``forward(rgb)`` takes (B, 3, H, W) float
RGB in [0, 1] and returns (B, 1, H, W):

- ``mode="metric"``: depth in metres (heads end in ``max_depth * sigmoid``; trained with SiLog);
- ``mode="relative"``: non-negative disparity (inverse depth) of unknown scale and shift
  (trained with the scale-and-shift-invariant + gradient losses).

Pretrained weights are read only from a local folder (``transformers`` ``save_pretrained``
layout) with ``local_files_only=True``: nothing is downloaded. Without ``weights`` the
transformer models are built from a config with random weights (``vit_preset``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from room.config import asdict, to_dataclass
from room.errors import ConfigError, InputFileError
from room.learn._deps import require_torch, require_transformers

torch = require_torch()
nn = torch.nn
F = torch.nn.functional

ARCHS = ("unet", "depth_anything", "dpt")
MODES = ("metric", "relative")
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ModelConfig:
    """Which network, how its output is read, and where pretrained weights live.

    arch: unet | depth_anything | dpt. mode: metric | relative. weights: local folder of a
    pretrained transformers model (None: random init). max_depth: metres, the metric heads'
    range. base_channels/levels: U-Net width and depth. vit_preset: tiny | small, the random
    transformer built when ``weights`` is None (small = the ViT-S layout of Depth Anything V2 S).
    """

    arch: str = "unet"
    mode: str = "metric"
    weights: str | None = None
    max_depth: float = 0.15
    base_channels: int = 16
    levels: int = 4
    vit_preset: str = "tiny"

    def __post_init__(self) -> None:
        if self.arch not in ARCHS:
            raise ConfigError(f"model.arch={self.arch!r} unknown; use one of {ARCHS}")
        if self.mode not in MODES:
            raise ConfigError(f"model.mode={self.mode!r} unknown; use one of {MODES}")
        if self.max_depth <= 0:
            raise ConfigError(f"model.max_depth must be > 0 metres, got {self.max_depth}")
        if self.vit_preset not in ("tiny", "small"):
            raise ConfigError(f"model.vit_preset={self.vit_preset!r}; use tiny or small")
        if self.arch == "unet" and self.weights:
            raise ConfigError("model.weights is for depth_anything / dpt; the U-Net has none")


# ----------------------------------------------------------------------------- U-Net
def _block(cin: int, cout: int) -> nn.Sequential:
    groups = 4 if cout % 4 == 0 else 1
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, padding_mode="replicate", bias=False),
        nn.GroupNorm(groups, cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, padding_mode="replicate", bias=False),
        nn.GroupNorm(groups, cout), nn.ReLU(True),
    )


class UNet(nn.Module):
    """Small encoder-decoder with skip connections; (B,3,H,W) -> (B,1,H,W) raw logits."""

    def __init__(self, base: int = 16, levels: int = 4) -> None:
        super().__init__()
        ch = [base * 2**i for i in range(levels)]
        self.enc = nn.ModuleList([_block(3, ch[0])] + [_block(ch[i - 1], ch[i])
                                                        for i in range(1, levels)])
        self.dec = nn.ModuleList([_block(ch[i] + ch[i - 1], ch[i - 1])
                                  for i in range(levels - 1, 0, -1)])
        self.head = nn.Conv2d(ch[0], 1, 1)
        self.multiple = 2 ** (levels - 1)

    def forward(self, x):
        h, w = x.shape[-2:]
        ph, pw = (-h) % self.multiple, (-w) % self.multiple
        x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        skips = []
        for i, enc in enumerate(self.enc):
            x = enc(x if i == 0 else F.max_pool2d(x, 2))
            skips.append(x)
        for dec, skip in zip(self.dec, reversed(skips[:-1]), strict=True):
            x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
            x = dec(torch.cat([x, skip], 1))
        return self.head(x)[..., :h, :w]


# ----------------------------------------------------------------------- transformers
def _vit_dims(preset: str) -> dict[str, Any]:
    if preset == "small":  # Depth Anything V2 Small layout (ViT-S/14, ~25 M parameters)
        return dict(hidden=384, layers=12, heads=6, inter=1536, neck=[48, 96, 192, 384],
                    fusion=64, head=32)
    return dict(hidden=32, layers=4, heads=2, inter=64, neck=[16, 32, 32, 32], fusion=32, head=16)


def tiny_depth_anything_config(cfg: ModelConfig):
    """A DepthAnythingConfig (random weights) with a DINOv2 backbone of ``cfg.vit_preset``."""
    tf = require_transformers()
    d = _vit_dims(cfg.vit_preset)
    bb = tf.Dinov2Config(
        hidden_size=d["hidden"], num_hidden_layers=d["layers"], num_attention_heads=d["heads"],
        intermediate_size=d["inter"], patch_size=14, image_size=518,
        out_indices=_four(d["layers"]), reshape_hidden_states=False,
    )
    return tf.DepthAnythingConfig(
        backbone_config=bb, reassemble_hidden_size=d["hidden"], patch_size=14,
        neck_hidden_sizes=d["neck"], fusion_hidden_size=d["fusion"],
        head_hidden_size=d["head"], depth_estimation_type=cfg.mode, max_depth=1,
    )


def tiny_dpt_config(cfg: ModelConfig):
    """A DPTConfig (random weights, plain ViT, patch 16) of ``cfg.vit_preset`` size."""
    tf = require_transformers()
    d = _vit_dims(cfg.vit_preset)
    return tf.DPTConfig(
        hidden_size=d["hidden"], num_hidden_layers=d["layers"], num_attention_heads=d["heads"],
        intermediate_size=d["inter"], image_size=384, patch_size=16,
        backbone_out_indices=[i - 1 for i in _four(d["layers"])], neck_hidden_sizes=d["neck"],
        fusion_hidden_size=d["fusion"], head_in_index=-1, reassemble_factors=[4, 2, 1, 0.5],
    )


def _four(layers: int) -> list[int]:
    """Four evenly spaced 1-based layer indices ending at the last layer."""
    return [round(layers * k / 4) for k in range(1, 5)]


def _hf_classes(arch: str):
    tf = require_transformers()
    if arch == "depth_anything":
        return tf.DepthAnythingConfig, tf.DepthAnythingForDepthEstimation
    return tf.DPTConfig, tf.DPTForDepthEstimation


def _load_pretrained(cfg: ModelConfig):
    path = Path(cfg.weights).expanduser()
    if not (path / "config.json").is_file():
        raise InputFileError(
            f"model.weights={cfg.weights!r}: no folder with config.json there. Give the local "
            "folder of a transformers checkpoint (save_pretrained layout, e.g. a copy of "
            "depth-anything/Depth-Anything-V2-Small-hf); nothing is downloaded at run time."
        )
    _, model_cls = _hf_classes(cfg.arch)
    kw = {}
    if cfg.arch == "depth_anything":
        kw = dict(depth_estimation_type=cfg.mode)
    try:
        return model_cls.from_pretrained(str(path), local_files_only=True, **kw)
    except (OSError, ValueError) as e:
        raise InputFileError(f"cannot load {cfg.arch} weights from {path}: {e}") from e


def _set_head_activation(net: nn.Module, cfg: ModelConfig) -> None:
    """Final activation of a transformers head, by mode.

    metric: sigmoid (Depth Anything's own metric head; set on DPT too, whose head ends in ReLU).
    relative, random weights: softplus instead of ReLU, so a freshly initialised head (outputs
    near 0) is not dead. relative, pretrained: left as trained (ReLU).
    """
    if cfg.arch == "depth_anything":
        if cfg.mode == "relative" and not cfg.weights:
            net.head.activation2 = nn.Softplus()
    elif cfg.mode == "metric":
        net.head.head[-1] = nn.Sigmoid()
    elif not cfg.weights:
        net.head.head[-1] = nn.Softplus()


class DepthModel(nn.Module):
    """Uniform wrapper: RGB in [0, 1] -> metric depth [m] or relative disparity, (B,1,H,W)."""

    def __init__(self, cfg: ModelConfig, net: nn.Module) -> None:
        super().__init__()
        self.cfg = cfg
        self.net = net
        if cfg.arch != "unet":
            _set_head_activation(net, cfg)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    @property
    def hf_config(self) -> dict | None:
        return None if self.cfg.arch == "unet" else self.net.config.to_dict()

    def forward(self, rgb):
        h, w = rgb.shape[-2:]
        x = (rgb - self.mean) / self.std
        if self.cfg.arch == "unet":
            y = self.net(x)
            if self.cfg.mode == "metric":
                return self.cfg.max_depth * torch.sigmoid(y)
            return F.softplus(y)
        patch = self.net.config.patch_size if self.cfg.arch == "depth_anything" else 16
        size = (max(patch, round(h / patch) * patch), max(patch, round(w / patch) * patch))
        if size != (h, w):
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        y = self.net(pixel_values=x).predicted_depth.unsqueeze(1)
        if y.shape[-2:] != (h, w):
            y = F.interpolate(y, size=(h, w), mode="bilinear", align_corners=False)
        if self.cfg.mode == "metric":
            if self.cfg.arch == "depth_anything":  # head: sigmoid * config.max_depth (an int)
                y = y * (self.cfg.max_depth / float(self.net.config.max_depth or 1))
            else:  # DPT: final activation set to a sigmoid by _set_head_activation
                y = y * self.cfg.max_depth
        return y

    def predict_depth(self, rgb):
        """Depth from ``forward``: metres (metric) or ``1/disparity`` of arbitrary scale."""
        y = self.forward(rgb)
        return y if self.cfg.mode == "metric" else 1.0 / y.clamp_min(1e-6)


def build_model(cfg: ModelConfig, hf_config: dict | None = None) -> DepthModel:
    """The network of ``cfg``: pretrained from ``cfg.weights``, or random from ``hf_config``
    (a stored transformers config dict) or the ``vit_preset``. Seed torch first for
    reproducible random weights."""
    if cfg.arch == "unet":
        return DepthModel(cfg, UNet(cfg.base_channels, cfg.levels))
    if hf_config is not None:
        config_cls, model_cls = _hf_classes(cfg.arch)
        return DepthModel(cfg, model_cls(config_cls.from_dict(hf_config)))
    if cfg.weights:
        return DepthModel(cfg, _load_pretrained(cfg))
    _, model_cls = _hf_classes(cfg.arch)
    hf = tiny_depth_anything_config(cfg) if cfg.arch == "depth_anything" else tiny_dpt_config(cfg)
    return DepthModel(cfg, model_cls(hf))


def model_payload(model: DepthModel) -> dict[str, Any]:
    """What a checkpoint stores to rebuild the model without the weights folder."""
    return {"model_config": asdict(model.cfg), "hf_config": model.hf_config,
            "state_dict": model.state_dict()}


def model_from_payload(payload: dict[str, Any]) -> DepthModel:
    """Inverse of :func:`model_payload`."""
    cfg = to_dataclass(ModelConfig, payload["model_config"])
    model = build_model(cfg, payload.get("hf_config"))
    model.load_state_dict(payload["state_dict"])
    return model


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
