"""The image VAE's noisy-latent decoder phase (`image_vae.decoder_noise`, tiny128): the decoder sees posterior
samples plus noise whose std is uniform in [0, decoder_noise] scaled-latent units (checked against that law's
closed-form mean), and the phase trains the decoder alone: the encoder, and so the latents the LDMs learn, stay what
the first phase made."""
import copy
import json

import torch

from refmodel_fixtures import fast_config
from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.config import StageHyper
from xgem_bench.reference_model.stage_training import _ImageInput, train_image_vae
from xgem_bench.reference_model.stages import ImageDecoderStage
from xgem_bench.reference_model.training import prepare_checkpoint


def test_decoder_inputs_are_posterior_samples_plus_noise_of_uniform_std():
    config = fast_config()
    config.image_vae.decoder_noise, scale = 0.4, 0.25
    torch.manual_seed(0)
    vae = xm.build_image_vae(config)
    with torch.no_grad():  # a posterior of std e^-15: its sample is its mean, so what the decoder gets on top is noise
        logvar = slice(config.image_vae.latent_channels, None)
        vae.quant_conv.weight[logvar] = 0.0
        vae.quant_conv.bias[logvar] = -30.0
    seen = []
    vae.decoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].detach()))
    stage = ImageDecoderStage(vae, config, _ImageInput(config), scale)
    n = 400
    images = torch.rand(n, 32, 32)
    stage({"frontal": images, "lateral": images, "has": torch.tensor([[True, False, True]] * n)})
    with torch.no_grad():
        mean = vae.post_quant_conv(vae.encode(_ImageInput(config)(images)).latent_dist.mean)
    w = vae.post_quant_conv.weight[:, :, 0, 0]  # the decoder sees post_quant_conv's output: undo that 1x1 conv
    added = torch.einsum("ij,bjhw->bihw", torch.linalg.inv(w), seen[0] - mean)
    stds = added.flatten(1).std(dim=1) * scale  # in scaled-latent units
    bound = config.image_vae.decoder_noise
    assert len(stds) == n
    assert stds.max() <= bound * 1.15 and stds.max() > bound * 0.85  # 4x8x8 values per image: ~5% error
    assert abs(stds.mean().item() - bound / 2) < 0.05 * bound  # uniform on [0, bound]: mean bound/2


def test_decoder_phase_trains_the_decoder_and_leaves_the_encoder(toy_dataset, tmp_path, one_thread):
    def trained(root, noise):
        prepare_checkpoint(root, "tiny", toy_dataset)
        config = copy.deepcopy(fast_config())
        config.image_vae.scaling_factor = None
        config.image_vae.decoder_noise = noise
        config.hyper["image-decoder"] = StageHyper(lr=1e-3, batch_size=8, epochs=2)
        torch.manual_seed(0)
        out = train_image_vae(root, config, toy_dataset, progress=False)
        from diffusers import AutoencoderKL
        return out, AutoencoderKL.from_pretrained(out).state_dict()

    out_plain, plain = trained(tmp_path / "plain", 0.0)
    out_noisy, noisy = trained(tmp_path / "noisy", 0.4)
    encoder = [k for k in plain if k.startswith(("encoder.", "quant_conv."))]
    decoder = [k for k in plain if k.startswith(("decoder.", "post_quant_conv."))]
    assert encoder and decoder and len(encoder) + len(decoder) == len(plain)
    assert all(torch.equal(plain[k], noisy[k]) for k in encoder)
    assert sum(not torch.equal(plain[k], noisy[k]) for k in decoder) > len(decoder) // 2
    info = json.loads((out_noisy / "stage.json").read_text())
    log = (out_noisy / "loss_log_decoder.csv").read_text().splitlines()
    assert info["decoder_phase"]["noise"] == 0.4 and info["decoder_phase"]["steps"] == len(log) - 1 >= 2
    assert "decoder_phase" not in json.loads((out_plain / "stage.json").read_text())
    assert not (out_noisy / "_decoder").exists() and not (out_noisy / "_state").exists()
