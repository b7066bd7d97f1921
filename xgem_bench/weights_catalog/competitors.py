"""Weights of the competitor models the paper compares against (RoentGen, CXRMate, CoDi, UniXGen, LLM-CXR).

None of them publishes checksums: the sha256 is recorded when a file is fetched or imported. Most need manual
downloads (credentialed MIMIC-CXR access, Google forms, Google Drive); `manual` says where and how.
"""
from xgem_bench.weights import WeightSpec

_MIMIC = "derived from MIMIC-CXR: use is bound by the PhysioNet credentialed data-use agreement"

WEIGHTS = [
    WeightSpec(
        name="roentgen",
        description="RoentGen: Stable Diffusion 1.x fine-tuned on MIMIC-CXR (diffusers folder)",
        used_by="adapter roentgen",
        source=None,
        licence="CreativeML OpenRAIL-M (model card tag); " + _MIMIC,
        filename="roentgen",
        kind="folder",
        required_files=("model_index.json", "unet/config.json", "vae/config.json", "text_encoder/config.json",
                        "tokenizer/tokenizer_config.json", "scheduler/scheduler_config.json"),
        manual=("gated: released to researchers with MIMIC-CXR credentialed access through the form linked from "
                "https://github.com/StanfordMIMI/RoentGen (Hugging Face repo StanfordAIMI/roent-gen-v1-0 once "
                "access is granted). Download the diffusers folder (model_index.json, unet/, vae/, text_encoder/, "
                "tokenizer/, scheduler/)"),
    ),
    WeightSpec(
        name="cxrmate",
        description="CXRMate (aehrc/cxrmate): CvT-21 encoder + BERT decoder report generator, with its custom code",
        used_by="adapter cxrmate",
        source="aehrc/cxrmate",
        licence="Apache-2.0; " + _MIMIC,
        filename="cxrmate",
        kind="folder",
        required_files=("config.json", "tokenizer.json", "preprocessor_config.json"),
    ),
    *[
        WeightSpec(
            name=f"codi-{part}",
            description=f"CoDi (ZinengTang/CoDi) {what}",
            used_by="adapter codi",
            source=f"https://huggingface.co/ZinengTang/CoDi/resolve/main/{filename}",
            licence="MIT",
            filename=filename,
        )
        for part, filename, what in (
            ("encoders", "CoDi_encoders.pth", "CLIP, AutoKL image VAE and Optimus text VAE"),
            ("text-diffuser", "CoDi_text_diffuser.pth", "text diffusion UNet"),
            ("vision-diffuser", "CoDi_video_diffuser_8frames.pth", "vision (image/video) diffusion UNet"),
        )
    ],
    WeightSpec(
        name="unixgen",
        description="UniXGen unified transformer checkpoint (PyTorch Lightning, ckpt/unixgen.ckpt upstream)",
        used_by="adapter unixgen",
        source=None,
        licence="no licence file in ttumyche/UniXGen; " + _MIMIC,
        filename="unixgen.ckpt",
        manual=("Google Drive https://drive.google.com/file/d/1qS3TFEjpPN-Tjjh6kLE2KElJri77M-Fq/view "
                "(linked from https://github.com/ttumyche/UniXGen)"),
    ),
    WeightSpec(
        name="unixgen-vqgan",
        description="UniXGen chest X-ray VQ-GAN tokenizer (512x512 input, 1024 codes), the mimiccxr_vqgan/ folder",
        used_by="adapter unixgen",
        source=None,
        licence="no licence file in ttumyche/UniXGen; " + _MIMIC,
        filename="mimiccxr_vqgan",
        kind="folder",
        required_files=("last.ckpt", "2021-12-17T08-58-54-project.yaml"),
        manual=("Google Drive https://drive.google.com/file/d/1CqlKoZQb5FQPUzSk3zanKnFP0qFVSiWu/view "
                "(linked from https://github.com/ttumyche/UniXGen); unpack to a folder holding last.ckpt and "
                "2021-12-17T08-58-54-project.yaml"),
    ),
    WeightSpec(
        name="llm-cxr",
        description="LLM-CXR: dolly-v2-3b instruction-tuned for CXR-to-report and report-to-CXR (HF model folder)",
        used_by="adapter llm-cxr",
        source=None,
        licence="Apache-2.0 (code); base model databricks/dolly-v2-3b MIT; " + _MIMIC,
        filename="llmcxr_mimic-cxr-256-txvloss-medvqa-stage1_2",
        kind="folder",
        required_files=("config.json",),
        manual=("Google Drive https://drive.google.com/file/d/1jaFT0yVOt8jyOQdvAZ2wfmBOsGQOlmIV/view "
                "(linked from https://github.com/hyn2028/llm-cxr); unpack the tarball to the model folder"),
    ),
    WeightSpec(
        name="llm-cxr-vqgan",
        description="LLM-CXR VQ-GAN (taming-transformers, 256x256, 16x16 codes): a folder with one *.yaml config "
                    "and its *.ckpt",
        used_by="adapter llm-cxr",
        source=None,
        licence="Apache-2.0 (code); " + _MIMIC,
        filename="vqgan_mimic-cxr-256-txvloss",
        kind="folder",
        manual=("Google Drive https://drive.google.com/file/d/15wIky-wUEuNMrEljKh5wnhAFg8QLdx-M/view "
                "(linked from https://github.com/hyn2028/llm-cxr); unpack the tarball"),
    ),
]
