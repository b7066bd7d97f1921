"""xgem-bench driver for LLM-CXR (github.com/hyn2028/llm-cxr).

Stages (each run by the interpreter of the environment that has its libraries):
  vq_encode     taming VQ-GAN: input frontal image -> 256 codes (scratch), as encode_cxr_all.py
  llm_generate  LLM: codes -> report (F->T), or report -> 256 codes (T->F), as generate_eval.py (generate_response)
  vq_decode     taming VQ-GAN: codes -> 256x256 image, as decode_cxr_all.py
The VQ-GAN is loaded strictly, as decode_cxr_all.py does with the release's *-compat files.
"""
import json
import os

import numpy as np

from _driver_protocol import cached, run, seed_everything

VQ_CODES = 256  # 16x16


def load_vqgan(config_path, checkpoint_path, device):
    return cached(("vqgan", config_path, checkpoint_path, device),
                  lambda: _load_vqgan(config_path, checkpoint_path, device))


def _load_vqgan(config_path, checkpoint_path, device):
    import torch
    from omegaconf import OmegaConf
    from taming.models.vqgan import VQModel

    config = OmegaConf.load(config_path)
    vqgan = VQModel(**config.model.params)
    state = torch.load(checkpoint_path, map_location="cpu")["state_dict"]
    try:
        vqgan.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise SystemExit("VQ-GAN checkpoint %s does not match config %s (%s); use the release's *-compat.yaml and "
                         "*-compat.ckpt (llm-cxr settings vqgan_config / vqgan_checkpoint)"
                         % (checkpoint_path, config_path, str(error).splitlines()[0]))
    return vqgan.to(device).eval()


def vq_encode(batch):
    import torch
    import torch.nn.functional as F

    vqgan = load_vqgan(batch.settings["vqgan_config"], batch.settings["vqgan_checkpoint"], batch.device)

    def one(study):
        x = torch.from_numpy(np.ascontiguousarray(batch.image(study, "F"), dtype=np.float32))[None, None]
        # upstream: shortest side to 256, centre crop 256 (our inputs are already square), RGB, 2x-1
        x = F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False) if x.shape[-1] != 256 else x
        x = (2 * x.clamp(0, 1) - 1).repeat(1, 3, 1, 1).to(batch.device)
        with torch.no_grad():
            _, _, (_, _, indices) = vqgan.encode(x)
        codes = [int(i) for i in indices.flatten().tolist()]
        if len(codes) != VQ_CODES:
            raise ValueError("VQ-GAN gave %d codes, LLM-CXR reads %d" % (len(codes), VQ_CODES))
        with open(batch.scratch(study, "codes.json"), "w") as f:
            json.dump(codes, f)

    batch.each_study(one)


def llm_generate(batch):
    from training.generate import generate_response, load_model_tokenizer_for_generate
    from training.mimiccxr_vq_dataset import (CXR_VQ_TOKENIZER_LEN, sample_cxr_vq_input_instruction,
                                              sample_cxr_vq_output_instruction)

    settings = batch.settings
    model, tokenizer = cached(("llm", settings["model"]), lambda: load_model_tokenizer_for_generate(settings["model"]))
    if len(tokenizer) != CXR_VQ_TOKENIZER_LEN:
        raise SystemExit("tokenizer has %d entries, LLM-CXR expects %d: wrong model folder?"
                         % (len(tokenizer), CXR_VQ_TOKENIZER_LEN))
    sampling = dict(model=model, tokenizer=tokenizer, do_sample=True, top_p=settings["top_p"], top_k=settings["top_k"])

    def report_from_image(study):
        codes_path = batch.scratch(study, "codes.json")
        if not os.path.exists(codes_path):
            return  # the encode stage failed for this study and said why
        with open(codes_path) as f:
            shifted = [code + CXR_VQ_TOKENIZER_LEN for code in json.load(f)]
        seed_everything(study["seed"])
        response, _ = generate_response((sample_cxr_vq_input_instruction(), shifted),
                                        max_new_tokens=settings["max_new_tokens_report"], **sampling)
        if not response or not response.strip():
            raise ValueError("LLM-CXR generated an empty report")
        batch.write_text(study, "T", response.strip())

    def image_from_report(study):
        seed_everything(study["seed"])
        instruction = sample_cxr_vq_output_instruction()
        for _ in range(settings["image_attempts"]):
            _, codes = generate_response((instruction, study["report"]),
                                         max_new_tokens=settings["max_new_tokens_image"], **sampling)
            if codes is not None and len(codes) == VQ_CODES:
                with open(batch.scratch(study, "codes.json"), "w") as f:
                    json.dump([int(c) for c in codes], f)
                return
        raise ValueError("no image with %d VQ codes after %d attempts" % (VQ_CODES, settings["image_attempts"]))

    batch.each_study(report_from_image if batch.task == "F->T" else image_from_report)


def vq_decode(batch):
    import torch

    vqgan = load_vqgan(batch.settings["vqgan_config"], batch.settings["vqgan_checkpoint"], batch.device)

    def one(study):
        codes_path = batch.scratch(study, "codes.json")
        if not os.path.exists(codes_path):
            return  # the generate stage failed for this study and said why
        with open(codes_path) as f:
            indices = torch.tensor(json.load(f), device=batch.device)
        with torch.no_grad():
            quant = vqgan.quantize.get_codebook_entry(indices, shape=(1, 16, 16, -1))
            image = vqgan.decode(quant)[0].permute(1, 2, 0).float().cpu().numpy()
        batch.write_image(study, "F", (np.clip(image, -1.0, 1.0) + 1.0) / 2.0)

    batch.each_study(one)


if __name__ == "__main__":
    run({"vq_encode": vq_encode, "llm_generate": llm_generate, "vq_decode": vq_decode})
