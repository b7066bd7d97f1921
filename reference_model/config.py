"""Configurations of the reference XGeM: `paper` (full size, the published architecture) and `tiny` (CPU, demo data).

Every number that shapes a module or a training run lives here, so a checkpoint's `xgem_config.json` is enough to
rebuild the model. Sizes and defaults follow docs/research/xgem-model-spec.md (sections cited inline).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

MODALITIES = ("frontal", "lateral", "report")


@dataclass
class ClipConfig:
    """CLIP prompt encoders (spec §2): one vision tower for both views, one text tower for reports."""

    projection_dim: int = 768
    vision_hidden: int = 1024
    vision_layers: int = 24
    vision_heads: int = 16
    vision_intermediate: int = 4096
    patch_size: int = 14
    image_size: int = 224
    text_hidden: int = 768
    text_layers: int = 12
    text_heads: int = 12
    text_intermediate: int = 3072
    text_vocab: int = 49408
    max_length: int = 77
    logit_scale_init: float = 2.6592  # ln(1/0.07)
    logit_scale_max: float = 4.6052  # ln 100, clamp after every step


@dataclass
class ImageVAEConfig:
    """AutoencoderKL (spec §4): SD-1 kl-f8 at full size, frozen during LDM training."""

    channels: int = 3  # grey images are repeated to `channels`
    block_out_channels: tuple[int, ...] = (128, 256, 512, 512)
    layers_per_block: int = 2
    latent_channels: int = 4
    norm_num_groups: int = 32
    image_size: int = 256
    #: z = scaling_factor * E(x); None = measured as 1/std of the latents after the image-vae stage
    scaling_factor: float | None = 0.18215
    kl_weight: float = 1e-6
    mid_attention: bool = True  # self-attention in the mid block (SD-1); off where it costs too much on a CPU
    #: image-vae stage: train on random square crops of this size (the VAE is fully convolutional; None = whole image)
    train_crop: int | None = None
    #: image-vae stage: weight of the L1 distance between the image gradients (finite differences), for sharp edges
    edge_weight: float = 0.0
    #: image-vae stage, a second phase of hyper["image-decoder"] epochs: the decoder alone learns to decode latents
    #: plus Gaussian noise of std up to this many scaled-latent units (stages.ImageDecoderStage); 0 = no such phase
    decoder_noise: float = 0.0


@dataclass
class XrayUNetConfig:
    """UNet2DConditionModel (spec §4): the SD-1.x UNet at full size, conditioned on one shared-space token."""

    block_out_channels: tuple[int, ...] = (320, 640, 1280, 1280)
    layers_per_block: int = 2
    #: True where the level carries cross-attention (CrossAttnDownBlock2D / CrossAttnUpBlock2D)
    attention_levels: tuple[bool, ...] = (True, True, True, False)
    attention_head_dim: int = 8  # SD-1 legacy meaning: number of heads
    norm_num_groups: int = 32


@dataclass
class TextVAEConfig:
    """Optimus (spec §5.1): BERT encoder, GPT-2 decoder with the latent as memory and as embedding."""

    latent_dim: int = 768
    bert_hidden: int = 768
    bert_layers: int = 12
    bert_heads: int = 12
    bert_intermediate: int = 3072
    bert_vocab: int = 28996
    bert_max_positions: int = 512
    gpt2_hidden: int = 768
    gpt2_layers: int = 12
    gpt2_heads: int = 12
    gpt2_vocab: int = 50260  # 50257 + <PAD>, <BOS>, <EOS>
    gpt2_max_positions: int = 1024
    max_length: int = 100  # tokens per report, for training and for decoding
    #: z = latent_scale * mu; None = measured as 1/std of mu after the text-vae stage
    latent_scale: float | None = 4.3108
    beta_zero_fraction: float = 0.5  # cyclical KL: beta = 0 for this fraction of the iterations ...
    beta_increase_fraction: float = 0.25  # ... then 0 -> 1 linearly over this fraction, then 1
    free_bits: float = 3.0  # per-dimension KL below this does not count while beta > 0 (dim_target_kl)


@dataclass
class ReportUNetConfig:
    """The fully-connected report UNet (spec §5.2)."""

    model_channels: int = 320
    channel_mult: tuple[int, ...] = (1, 2, 4, 4)
    second_dim: int = 4
    num_blocks: int = 2
    attention_levels: tuple[bool, ...] = (True, True, True, False)
    num_heads: int = 8
    norm_num_groups: int = 32


@dataclass
class AlignConfig:
    """Environment encoders and connector cross-attention (spec §7)."""

    image_env_channels: tuple[int, ...] = (160, 320, 640, 1280)
    text_env_channels: tuple[int, ...] = (160, 320, 640, 1280)
    #: "self": each connector attends to V_i of its own latent (the public code, needed for the released weights);
    #: "others": it attends to V_j of the other outputs (what the paper's Eq. 4 describes)
    connector_context: str = "self"
    temperature: float = 1.0  # of the contrastive loss between environment vectors; the public code uses none (=1)
    #: incremental schedule as in the public code: first F+L (conditioned on T), then T+L with F/L blocks frozen
    phases: tuple[tuple[str, ...], ...] = (("frontal", "lateral"), ("report", "lateral"))


@dataclass
class DiffusionConfig:
    """Noise schedule and sampler defaults (spec §3, §8)."""

    num_train_timesteps: int = 1000
    beta_start: float = 0.00085
    beta_end: float = 0.012
    cfg_dropout: float = 0.1
    sampling_steps: int = 50
    guidance_scale: float = 7.5
    eta: float = 0.0
    #: LDM stages: Min-SNR-gamma loss weighting (Hang et al. 2023), min(SNR_t, gamma) / SNR_t per sample; None = the
    #: uniform noise MSE of the public code. Converges faster, which the CPU-trained tiny128 needs
    snr_gamma: float | None = None


@dataclass
class StageHyper:
    lr: float
    batch_size: int
    epochs: int
    weight_decay: float = 1e-4
    warmup_fraction: float = 0.2
    grad_clip: float | None = None
    #: exponential moving average of the weights, saved instead of the last ones (diffusers' EMAModel with its
    #: warm-up, decay 1 - (1 + step) ** -2/3 capped here); None = the last weights, as the public code saves
    ema_decay: float | None = None


def _default_hyper() -> dict[str, StageHyper]:
    # Paper values (section 3.2); spec §10 lists the public code's, which differ (documented in the README).
    return {
        "clip": StageHyper(lr=5e-5, batch_size=1024, epochs=200),
        "image-vae": StageHyper(lr=4.5e-6, batch_size=64, epochs=0),  # paper: pretrained SD VAE, not trained
        "image-decoder": StageHyper(lr=4.5e-6, batch_size=64, epochs=0),  # tiny128's noisy-latent decoder phase
        "text-vae": StageHyper(lr=5e-5, batch_size=256, epochs=100, grad_clip=1.0),
        "ldm-image": StageHyper(lr=1e-5, batch_size=512, epochs=100),
        "ldm-report": StageHyper(lr=1e-5, batch_size=1024, epochs=100),
        "align": StageHyper(lr=5e-5, batch_size=32, epochs=50),
    }


@dataclass
class XGeMConfig:
    name: str = "paper"
    clip: ClipConfig = field(default_factory=ClipConfig)
    image_vae: ImageVAEConfig = field(default_factory=ImageVAEConfig)
    xray_unet: XrayUNetConfig = field(default_factory=XrayUNetConfig)
    text_vae: TextVAEConfig = field(default_factory=TextVAEConfig)
    report_unet: ReportUNetConfig = field(default_factory=ReportUNetConfig)
    align: AlignConfig = field(default_factory=AlignConfig)
    diffusion: DiffusionConfig = field(default_factory=DiffusionConfig)
    hyper: dict[str, StageHyper] = field(default_factory=_default_hyper)
    #: "pretrained": the standard bert-base-cased / gpt2 / CLIP tokenizers (weights manager);
    #: "local": one WordPiece tokenizer trained on the training reports (saved in the checkpoint)
    tokenizer: str = "pretrained"
    local_vocab_size: int = 2000

    def __post_init__(self):
        # a stage without an entry (a preset that leaves it out, a checkpoint saved before it existed) gets the default
        self.hyper = {**_default_hyper(), **self.hyper}

    @property
    def shared_dim(self) -> int:
        return self.clip.projection_dim

    @property
    def latent_size(self) -> int:
        return self.image_vae.image_size // 2 ** (len(self.image_vae.block_out_channels) - 1)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "XGeMConfig":
        parts = {f.name: f.type for f in dataclasses.fields(cls)}
        kwargs = {}
        for key, value in data.items():
            if key not in parts:
                raise ValueError(f"unknown XGeM config field {key!r}")
            if key == "hyper":
                kwargs[key] = {k: StageHyper(**v) for k, v in value.items()}
            elif isinstance(value, dict):
                sub = _SUBCONFIGS[key]
                kwargs[key] = sub(**{k: _tuplify(v) for k, v in value.items()})
            else:
                kwargs[key] = value
        return cls(**kwargs)

    def save(self, path: Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1))

    @classmethod
    def load(cls, path: Path) -> "XGeMConfig":
        return cls.from_dict(json.loads(Path(path).read_text()))


_SUBCONFIGS = {"clip": ClipConfig, "image_vae": ImageVAEConfig, "xray_unet": XrayUNetConfig,
               "text_vae": TextVAEConfig, "report_unet": ReportUNetConfig, "align": AlignConfig,
               "diffusion": DiffusionConfig}


def _tuplify(value):
    return tuple(_tuplify(v) for v in value) if isinstance(value, list) else value


def paper_config() -> XGeMConfig:
    return XGeMConfig()


def tiny_config() -> XGeMConfig:
    """Small enough to train every stage on the demo dataset on 2 CPU cores in a few minutes."""
    return XGeMConfig(
        name="tiny",
        clip=ClipConfig(projection_dim=64, vision_hidden=64, vision_layers=2, vision_heads=4, vision_intermediate=128,
                        patch_size=8, image_size=64, text_hidden=64, text_layers=2, text_heads=4,
                        text_intermediate=128, text_vocab=2000, max_length=64),
        image_vae=ImageVAEConfig(channels=1, block_out_channels=(8, 16, 32), layers_per_block=1, norm_num_groups=8,
                                 image_size=64, scaling_factor=None),
        # no attention at 16x16: on CPU it costs more than the rest of the UNet
        xray_unet=XrayUNetConfig(block_out_channels=(32, 64), layers_per_block=1, attention_levels=(False, True),
                                 attention_head_dim=4, norm_num_groups=8),
        text_vae=TextVAEConfig(latent_dim=32, bert_hidden=64, bert_layers=2, bert_heads=4, bert_intermediate=128,
                               bert_vocab=2000, bert_max_positions=128, gpt2_hidden=64, gpt2_layers=2, gpt2_heads=4,
                               gpt2_vocab=2000, gpt2_max_positions=128, max_length=64, latent_scale=None,
                               free_bits=0.5),
        report_unet=ReportUNetConfig(model_channels=32, channel_mult=(1, 2), second_dim=4, num_blocks=1,
                                     attention_levels=(True, True), num_heads=4, norm_num_groups=8),
        align=AlignConfig(image_env_channels=(16, 32, 64, 64), text_env_channels=(16, 32, 64, 64)),
        hyper={
            "clip": StageHyper(lr=5e-4, batch_size=32, epochs=30),
            "image-vae": StageHyper(lr=3e-3, batch_size=16, epochs=5),
            "text-vae": StageHyper(lr=2e-3, batch_size=32, epochs=40, grad_clip=1.0),
            "ldm-image": StageHyper(lr=2e-3, batch_size=64, epochs=60),
            "ldm-report": StageHyper(lr=1e-3, batch_size=64, epochs=30),
            "align": StageHyper(lr=1e-3, batch_size=32, epochs=3),
        },
        tokenizer="local",
        local_vocab_size=2000,
    )


def tiny128_config() -> XGeMConfig:
    """`tiny` with X-rays sharp enough to be recognised (issue 12 §4); the bundled demo checkpoint
    (reference_model/demo_checkpoint.py) is this preset. The image VAE works at 128 px with factor-4 downsampling to
    32x32x4 latents, without mid-block attention, trained on 64 px crops (fully convolutional: the cost of a 64 px
    model) with an edge loss, then its decoder alone on noisy latents (decoder_noise: diffusion latents are never
    exact); the X-ray UNets gain a level so that their attention still runs at 8x8, and train with Min-SNR-5 loss
    weights and an EMA of their weights (both converge faster, which a CPU run needs). CLIP
    trains 10x `tiny`'s epochs (its contrastive loss was still at 2.6 of ln 32 = 3.5); reports and the alignment are
    `tiny`'s. About 30 min for every stage of both variants on 2 CPU threads."""
    config = tiny_config()
    config.name = "tiny128"
    config.image_vae = ImageVAEConfig(channels=1, block_out_channels=(16, 32, 32), layers_per_block=1,
                                      latent_channels=4, norm_num_groups=8, image_size=128, scaling_factor=None,
                                      mid_attention=False, train_crop=64, edge_weight=1.0, decoder_noise=0.4)
    config.xray_unet = XrayUNetConfig(block_out_channels=(32, 64, 64), layers_per_block=1,
                                      attention_levels=(False, False, True), attention_head_dim=4, norm_num_groups=8)
    config.hyper["clip"] = StageHyper(lr=5e-4, batch_size=32, epochs=300)
    config.hyper["image-vae"] = StageHyper(lr=2e-3, batch_size=4, epochs=90, warmup_fraction=0.05)
    config.hyper["image-decoder"] = StageHyper(lr=5e-4, batch_size=4, epochs=25, warmup_fraction=0.05)
    config.hyper["ldm-image"] = StageHyper(lr=3e-3, batch_size=16, epochs=90, warmup_fraction=0.05, ema_decay=0.999)
    config.diffusion.snr_gamma = 5.0
    return config


PRESETS = {"paper": paper_config, "tiny": tiny_config, "tiny128": tiny128_config}


def get_config(name: str) -> XGeMConfig:
    if name not in PRESETS:
        raise ValueError(f"unknown XGeM configuration {name!r}; choose one of {sorted(PRESETS)}")
    return PRESETS[name]()
