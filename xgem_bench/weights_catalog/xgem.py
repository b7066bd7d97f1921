"""Weights of the reference XGeM (reference_model/): the authors' released checkpoint and the pretrained parts the
`paper` configuration starts from. No checksums are published: the sha256 is recorded at fetch / import."""
from xgem_bench.weights import WeightSpec

#: the reference model's tokenizer files: role -> catalog name
TOKENIZER_WEIGHTS = {"clip": "xgem-tokenizer-clip", "encoder": "xgem-tokenizer-bert", "decoder": "xgem-tokenizer-gpt2"}

_HF = "https://huggingface.co/{repo}/resolve/main/{path}"

WEIGHTS = [
    WeightSpec(
        name="xgem-official",
        description="XGeM (MedCoDi-M) released checkpoint, MedCoDi-M.pt: CLIP, AutoKL, Optimus and the three UNets "
                    "with their alignment blocks (~6.8 B parameters, ~1.6 B of them unused video layers)",
        used_by="adapters xgem / codi-xr with checkpoint=official (converted on load)",
        source=None,
        licence="code MIT (c) 2024 Daniele Molino; the weights state no licence and were trained on MIMIC-CXR "
                "(PhysioNet credentialed data-use agreement presumably applies)",
        filename="MedCoDi-M.pt",
        manual="distributed from the SharePoint (unicampus365) link in the README of "
               "https://github.com/danielemolino/XGeM; download MedCoDi-M.pt by hand",
    ),
    WeightSpec(
        name="xgem-tokenizer-clip",
        description="CLIP ViT-L/14 BPE tokenizer (tokenizer.json), the `paper` configuration's report prompt encoder",
        used_by="reference XGeM (paper configuration)",
        source=_HF.format(repo="openai/clip-vit-large-patch14", path="tokenizer.json"),
        licence="MIT (OpenAI CLIP)",
        filename="xgem-clip-vit-large-patch14-tokenizer.json",
    ),
    WeightSpec(
        name="xgem-tokenizer-bert",
        description="bert-base-cased WordPiece tokenizer (tokenizer.json), Optimus' encoder",
        used_by="reference XGeM (paper configuration)",
        source=_HF.format(repo="google-bert/bert-base-cased", path="tokenizer.json"),
        licence="Apache-2.0",
        filename="xgem-bert-base-cased-tokenizer.json",
    ),
    WeightSpec(
        name="xgem-tokenizer-gpt2",
        description="GPT-2 BPE tokenizer (tokenizer.json), Optimus' decoder (3 tokens added on load)",
        used_by="reference XGeM (paper configuration)",
        source=_HF.format(repo="openai-community/gpt2", path="tokenizer.json"),
        licence="MIT",
        filename="xgem-gpt2-tokenizer.json",
    ),
    WeightSpec(
        name="sd-vae-kl-f8",
        description="Stable Diffusion v1 kl-f8 AutoencoderKL (diffusers safetensors), the frozen X-ray VAE of the "
                    "`paper` configuration (`xgem-bench train image-vae --config paper` installs it)",
        used_by="reference XGeM (paper configuration)",
        source=_HF.format(repo="CompVis/stable-diffusion-v1-4", path="vae/diffusion_pytorch_model.safetensors"),
        licence="CreativeML OpenRAIL-M",
        filename="sd-v1-4-vae-kl-f8.safetensors",
    ),
]
