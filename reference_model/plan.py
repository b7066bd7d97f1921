"""`xgem-bench train --dry-run`: what each training stage will hold in GPU memory, and a refusal when it cannot fit.

Per GPU, for a stage with P_t trainable and P_f frozen parameters, micro-batch b (the global batch split over
processes and accumulation steps) and per-sample activation memory A:

    memory = 16 P_t (fp32 weights, gradients, AdamW's two moments) + 4 P_f (frozen fp32 weights)
             + 2 P_t with mixed precision (autocast's 16-bit weight copies)
             + b * A * (0.5 with mixed precision: autocast saves most activations in 16 bits; an approximation)
             + OVERHEAD (CUDA context, allocator slack, kernels' workspace)

A is MEASURED (benchmarks/xgem_training_memory.py: bytes autograd saves for the backward pass in one forward of the
paper-size stage, per sample, with and without gradient checkpointing), recorded below with the date and command.
The ldm stages train on precomputed encoder tables, so the frozen encoders are not on the GPU while they train.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

GB = 1024 ** 3
OVERHEAD = 2 * GB
#: `paper` configuration, fp32, measured 2026-11-30 by `python benchmarks/xgem_training_memory.py` (meta device,
#: torch 2.14, diffusers 0.39, transformers 4.57). "align" is one X-ray UNet with its alignment branch; a phase runs
#: two outputs, so the plan counts it twice.
MEASURED_ACTIVATIONS: dict[str, dict[str, int]] = {
    "ldm-image": {"trainable_params": 859520964, "frozen_params": 0,
                  "activation_bytes_per_sample": 644721024, "checkpointed_bytes_per_sample": 77313024},
    "ldm-report": {"trainable_params": 1708848448, "frozen_params": 0,
                   "activation_bytes_per_sample": 8954368, "checkpointed_bytes_per_sample": 532992},
    "clip": {"trainable_params": 427616513, "frozen_params": 0,
             "activation_bytes_per_sample": 669994932, "checkpointed_bytes_per_sample": 31076486},
    "align": {"trainable_params": 296300000, "frozen_params": 859520964,
              "activation_bytes_per_sample": 1133191048, "checkpointed_bytes_per_sample": 510668808},
}
#: which hyper-parameter set each planned stage uses
#: (text-vae is not planned yet: transformers' sdpa mask check reads a value, which the meta device cannot)
HYPER = {"clip": "clip", "ldm-image": "ldm-image", "ldm-report": "ldm-report", "align": "align"}


def _count(module: nn.Module, trainable: bool) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad == trainable)


def saved_activation_bytes(step) -> int:
    """Bytes of the tensors autograd saves for backward while `step()` runs a forward pass (each storage once,
    parameters excluded: they are counted as weights)."""
    seen: dict[int, int] = {}
    params: set[int] = set()

    def pack(t: torch.Tensor):
        storage = t.untyped_storage()
        key = storage._cdata  # the storage's identity; also for meta tensors, which have no data pointer
        if key not in params:
            seen[key] = storage.nbytes()
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        step(params)
    return sum(seen.values())


def _stage_module(stage: str, config):
    """(module, one forward at batch 2 returning a loss) of a stage; built and run on the current default device
    (`meta` for the measurement: shapes and saved tensors without arithmetic)."""
    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model.alignment import build_branch

    b = 2
    if stage == "ldm-image" or stage == "align":
        unet = xm.build_xray_unet(config)
        s = config.latent_size
        x, ctx = torch.randn(b, 4, s, s), torch.randn(b, 1, config.shared_dim)
        t = torch.full((b,), 500)
        if stage == "ldm-image":
            return unet, lambda: unet(x, t, encoder_hidden_states=ctx).sample.pow(2).mean()
        unet.requires_grad_(False)
        branch = build_branch("frontal", unet, config).attach(unet)
        holder = nn.ModuleDict({"unet": unet, "branch": branch})

        def align_step():
            from xgem_bench.reference_model.alignment import time_embedding
            branch.context = branch.env(x, time_embedding(unet, t)).unsqueeze(1)
            try:
                return unet(x, t, encoder_hidden_states=ctx).sample.pow(2).mean()
            finally:
                branch.context = None
        return holder, align_step
    if stage == "ldm-report":
        unet = xm.build_unet("report", config)
        x, ctx, t = torch.randn(b, config.text_vae.latent_dim), torch.randn(b, 1, config.shared_dim), \
            torch.full((b,), 500)
        return unet, lambda: unet(x, t, ctx).pow(2).mean()
    if stage == "clip":
        from xgem_bench.reference_model.prompt_encoder import build_clip
        clip = build_clip(config.clip)
        pixels = torch.randn(b, 3, config.clip.image_size, config.clip.image_size)
        ids = torch.randint(0, config.clip.text_vocab, (b, config.clip.max_length))

        def clip_step():
            image = clip.visual_projection(clip.vision_model(pixel_values=pixels).pooler_output)
            text = clip.text_projection(clip.text_model(input_ids=ids).pooler_output)
            return (image @ text.T).logsumexp(-1).mean()
        return clip, clip_step
    raise ValueError(f"no memory measurement for stage {stage!r}")


def measure_stage_activations(stage: str, config) -> dict:
    """Per-sample activation bytes of a stage (without and with gradient checkpointing) and its parameter counts."""
    from xgem_bench.reference_model.fit import enable_gradient_checkpointing

    with torch.device("meta"):  # exact tensor sizes in seconds, no memory or arithmetic at paper size
        module, step = _stage_module(stage, config)
    module.train()
    figures = {"trainable_params": _count(module, True), "frozen_params": _count(module, False)}

    def run(params):
        params.update(p.untyped_storage()._cdata for p in module.parameters())
        with torch.device("meta"):
            step()

    figures["activation_bytes_per_sample"] = saved_activation_bytes(run) // 2
    enable_gradient_checkpointing(module)
    figures["checkpointed_bytes_per_sample"] = saved_activation_bytes(run) // 2
    return figures


@dataclass
class StagePlan:
    stage: str
    trainable_params: int
    frozen_params: int
    global_batch: int
    processes: int
    grad_accum: int
    micro_batch: int  # studies per GPU per forward pass
    memory_bytes: int
    gpu_bytes: int

    @property
    def fits(self) -> bool:
        return self.memory_bytes <= self.gpu_bytes


def stage_memory(trainable: int, frozen: int, activation: int, micro: int, mixed_precision: str) -> int:
    half = mixed_precision != "no"
    return int(16 * trainable + 4 * frozen + (2 * trainable if half else 0)
               + micro * activation * (0.5 if half else 1.0) + OVERHEAD)


def plan_stages(config, processes: int, gpu_bytes: int, run, measured: dict | None = None,
                stages=tuple(HYPER)) -> list[StagePlan]:
    """One StagePlan per stage with trainable weights (`paper`'s image-vae installs pretrained weights)."""
    from xgem_bench.reference_model.fit import micro_batch

    measured = measured or MEASURED_ACTIVATIONS
    plans = []
    for stage in stages:
        hyper = config.hyper[HYPER[stage]]
        if stage not in measured:
            raise ValueError(f"no measured activation memory for stage {stage!r}; run "
                             "`python benchmarks/xgem_training_memory.py`")
        m = measured[stage]
        copies = 2 if stage == "align" else 1  # a phase runs two outputs
        activation = m["checkpointed_bytes_per_sample" if run.gradient_checkpointing else
                       "activation_bytes_per_sample"] * copies
        micro = micro_batch(hyper.batch_size, processes, run.grad_accum, hyper.batch_size)
        memory = stage_memory(m["trainable_params"] * copies, m["frozen_params"] * copies, activation, micro,
                              run.mixed_precision)
        plans.append(StagePlan(stage, m["trainable_params"] * copies, m["frozen_params"] * copies,
                               hyper.batch_size, processes, run.grad_accum, micro, memory, gpu_bytes))
    return plans


def smallest_fitting_accumulation(plan: StagePlan, run, measured: dict | None = None) -> int | None:
    """The least --grad-accum (dividing the per-process batch) with which the stage fits, None if even a
    micro-batch of one does not."""
    import dataclasses
    measured = measured or MEASURED_ACTIVATIONS
    per_process = max(1, plan.global_batch // plan.processes)
    for k in range(1, per_process + 1):
        if per_process % k:
            continue
        trial = dataclasses.replace(run, grad_accum=k)
        if plan_stages_for(plan, trial, measured).fits:
            return k
    return None


def plan_stages_for(plan: StagePlan, run, measured: dict) -> StagePlan:
    from xgem_bench.reference_model.config import paper_config
    config = paper_config()
    config.hyper[HYPER[plan.stage]].batch_size = plan.global_batch
    return plan_stages(config, plan.processes, plan.gpu_bytes, run, measured, (plan.stage,))[0]


def refusal(plans: list[StagePlan], run, measured: dict | None = None) -> str | None:
    """Why the plan cannot run, naming the fix; None when every stage fits."""
    lines = []
    for plan in plans:
        if plan.fits:
            continue
        k = smallest_fitting_accumulation(plan, run, measured)
        need = f"{plan.memory_bytes / GB:.0f} GB per GPU > {plan.gpu_bytes / GB:.0f} GB"
        if k is not None:
            fix = f"use --grad-accum {k} (micro-batch {max(1, plan.global_batch // (plan.processes * k))})"
        elif not run.gradient_checkpointing or run.mixed_precision == "no":
            fix = "add --gradient-checkpointing and --mixed-precision bf16, then --grad-accum"
        else:
            fix = "use GPUs with more memory or more GPUs"
        lines.append(f"stage {plan.stage} needs ~{need} (micro-batch {plan.micro_batch}): {fix}")
    return "\n".join(lines) or None


def render(plans: list[StagePlan]) -> str:
    head = f"{'stage':<11}{'params (train/frozen)':>24}{'global':>8}{'GPUs':>6}{'accum':>7}{'per-GPU':>9}" \
           f"{'memory/GPU':>12}  fits"
    rows = [head]
    for p in plans:
        rows.append(f"{p.stage:<11}{f'{p.trainable_params / 1e6:.0f} M / {p.frozen_params / 1e6:.0f} M':>24}"
                    f"{p.global_batch:>8}{p.processes:>6}{p.grad_accum:>7}{p.micro_batch:>9}"
                    f"{p.memory_bytes / GB:>9.1f} GB  {'yes' if p.fits else 'NO'}")
    return "\n".join(rows)
