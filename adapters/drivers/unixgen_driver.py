"""xgem-bench driver for UniXGen (github.com/ttumyche/UniXGen), run by the UniXGen environment's Python.

Follows the upstream code paths: tokenizer as in unified_main.py, VQGanVAE from vae.py (images in [0, 1] at 512x512,
1024 codes + view-specific SOS/EOS as in loader_unified.py), TransformerLightning_unified.load_from_checkpoint, and
generate_texts / generate_image as in unified_plmodel.test_step, with the generation order fixed instead of random.
One study at a time, seeded, so each output depends only on its own inputs and seed.
"""
import numpy as np

from _driver_protocol import cached, run, seed_everything

IMAGE_PAD = 1024  # codebook size: the "no image" code
VIEW_TOKENS = {"AP": (1025, 1026), "PA": (1027, 1028), "LATERAL": (1029, 1030)}  # loader_unified.py
IMAGE_CODES = 1024  # 32x32 codes per 512x512 image


def slot_layout(inputs, target, frontal_view):
    """Image slots (target image last) and the generation order of modes, e.g. T->F: (["F"], ["txt", "img1"]).

    frontal_view is the study's own ViewPosition (AP or PA), as loader_unified.py reads it from the metadata."""
    images = [m for m in inputs if m != "T"] + ([target] if target != "T" else [])
    slots = ["img%d" % (i + 1) for i in range(len(images))]
    views = [frontal_view if m == "F" else "LATERAL" for m in images]
    if target == "T":
        modes = slots + ["txt"]
    else:
        modes = ["txt"] + slots
    return images, views, modes


def make_tokenizer(vocab, merges, max_len):
    from tokenizers import ByteLevelBPETokenizer
    from tokenizers.processors import BertProcessing

    tokenizer = ByteLevelBPETokenizer(vocab, merges)
    tokenizer.add_special_tokens(["[PAD]", "[SOS]", "[EOS]", "[SEP]", "[MASK]"])
    tokenizer._tokenizer.post_processor = BertProcessing(
        ("[EOS]", tokenizer.token_to_id("[EOS]")), ("[SOS]", tokenizer.token_to_id("[SOS]")))
    tokenizer.enable_truncation(max_length=max_len)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]", length=max_len)
    return tokenizer


def encode_image(vae, image, view, device):
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32))[None, None].to(device)
    x = F.interpolate(x, size=(vae.image_size, vae.image_size), mode="bilinear", align_corners=False)
    x = x.clamp(0, 1).repeat(1, 3, 1, 1)
    with torch.no_grad():
        result = vae.get_codebook_indices(x)  # GumbelVQ returns the indices only, VQModel a 4-tuple
    codes = (result[-1] if isinstance(result, tuple) else result)[0].tolist()
    sos, eos = VIEW_TOKENS[view]
    return torch.tensor([[sos] + codes + [eos]], device=device)


def generate(batch):
    import torch
    from unified_plmodel import TransformerLightning_unified
    from vae import VQGanVAE

    settings, device = batch.settings, batch.device
    target = batch.outputs[0]
    tokenizer = cached(("tokenizer", settings["max_text_len"]), lambda: make_tokenizer(
        "BBPE_tokenizer/vocab.json", "BBPE_tokenizer/merges.txt", settings["max_text_len"]))
    vae = cached(("vqgan", settings["vqgan_checkpoint"], device), lambda: VQGanVAE(
        settings["vqgan_checkpoint"], settings["vqgan_config"]).to(device).eval())
    model = cached(("unixgen", settings["checkpoint"], device), lambda: TransformerLightning_unified
                   .load_from_checkpoint(settings["checkpoint"], map_location="cpu").to(device).eval())
    lm = model.transformerLM_unified

    def one(study):
        view = study.get("frontal_view")
        view = view if view in ("AP", "PA") else settings["frontal_view"]
        images, views, modes = slot_layout(batch.inputs, target, view)
        lm.max_img_num = len(images)
        seed_everything(study["seed"])
        report = (study["report"] or "").replace("  ", " ").replace("  ", " ").lower()
        item = {"txt": torch.tensor([tokenizer.encode(report).ids], device=device),
                "modes": [[m] for m in modes], "view_position": [[v] for v in views]}
        for slot, (modality, view) in enumerate(zip(images, views)):
            if modality == target:  # placeholder, overwritten token by token by generate_image
                sos, eos = VIEW_TOKENS[view]
                item["img%d" % (slot + 1)] = torch.tensor([[sos] + [IMAGE_PAD] * IMAGE_CODES + [eos]], device=device)
            else:
                item["img%d" % (slot + 1)] = encode_image(vae, batch.image(study, modality), view, device)
        sampling = dict(filter_logits_fn="top_p", filter_thres=settings["top_p"],
                        temperature=settings["temperature"], causal=model.causal)
        if target == "T":
            ids = lm.generate_texts(item, sos_token_idx=model.sos_token_idx, eos_token_idx=model.eos_token_idx,
                                    pad_token_idx=model.pad_token_idx, **sampling)
            text = tokenizer.decode(ids[0].tolist(), skip_special_tokens=True).strip()
            if not text:
                raise ValueError("UniXGen generated an empty report")
            batch.write_text(study, target, text)
        else:
            sequence = lm.generate_image(item, **sampling)
            with torch.no_grad():
                pixels = vae.decode(sequence[:, 1:-1])  # drop SOS and the final token, as decode_cxr.py does
            batch.write_image(study, target, pixels[0].permute(1, 2, 0).float().cpu().numpy())

    batch.each_study(one)


if __name__ == "__main__":
    run({"generate": generate})
