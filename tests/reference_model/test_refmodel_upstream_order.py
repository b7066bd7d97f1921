"""The reference model computes what the public XGeM code computes: the noise prediction with classifier-free
guidance for every paper task, single and joint, against a forward loop written from upstream's
`UNetMedCoDi_M.forward` (tests/upstream_forward.py) on the same weights and inputs."""
import numpy as np
import pytest
import torch

from refmodel_fixtures import REPORTS, fast_config
from upstream_forward import upstream_context, upstream_eps
from xgem_bench.reference_model.diffusion import denoise_with_connectors
from xgem_bench.tasks import PAPER_TASKS

GUIDANCE = 7.5


@pytest.fixture(scope="module")
def random_model():
    from official_layout import random_xgem

    from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer

    config = fast_config()
    config.image_vae.scaling_factor, config.text_vae.latent_scale = 0.5, 2.0
    tokenizers = local_tokenizers(train_local_tokenizer(REPORTS, 200), config.clip.max_length,
                                  config.text_vae.max_length)
    return random_xgem(config, tokenizers)


def _inputs(task, n: int):
    rng = np.random.default_rng(1)
    values = {"frontal": [rng.random((40, 40), dtype=np.float32) for _ in range(n)],
              "lateral": [rng.random((40, 40), dtype=np.float32) for _ in range(n)],
              "report": list(REPORTS[:n])}
    return {m.field: values[m.field] for m in task.inputs}


@pytest.mark.parametrize("task", PAPER_TASKS, ids=lambda t: t.name)
def test_guided_noise_prediction_matches_the_public_forward(random_model, task):
    model, n = random_model, 2
    inputs = _inputs(task, n)
    outputs = [m.field for m in task.outputs]
    mix = {m: w for m, w in zip(inputs, (1.0, 3.0))}  # unequal weights: the normalisation is tested too
    generator = torch.Generator().manual_seed(5)
    shapes = {"report": (model.config.text_vae.latent_dim,),
              "frontal": (model.config.image_vae.latent_channels, model.config.latent_size, model.config.latent_size)}
    x = {m: torch.randn((n, *shapes["report" if m == "report" else "frontal"]), generator=generator) for m in outputs}
    t = torch.full((2 * n,), 601)
    doubled = {m: torch.cat([v, v]) for m, v in x.items()}

    with torch.no_grad():
        cond, uncond = model.conditioning(inputs, mix)
        eps, _ = denoise_with_connectors(dict(model.unets), dict(model.branches) if len(outputs) > 1 else None,
                                         doubled, t, torch.cat([uncond, cond]).unsqueeze(1), "self")
        pairs = [(model.null_embedding(m).expand(n, -1), model.prompt_embeddings(m, v)) for m, v in inputs.items()]
        reference = upstream_eps(dict(model.unets), dict(model.branches), doubled, t,
                                 upstream_context(pairs, [mix[m] for m in inputs]))
    for m in outputs:
        ours_u, ours_c = eps[m].chunk(2)
        ref_u, ref_c = reference[m].chunk(2)
        ours = ours_u + GUIDANCE * (ours_c - ours_u)
        theirs = ref_u + GUIDANCE * (ref_c - ref_u)
        assert theirs.abs().max() > 0.1  # random weights everywhere: a real signal, not zeros
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4, msg=f"{task.name}: {m}")


def test_connectors_act_in_joint_tasks(random_model):
    """The comparison above would hold trivially if connectors were inert: with them, joint differs from single."""
    model = random_model
    x = {"frontal": torch.randn(1, 4, 8, 8), "report": torch.randn(1, model.config.text_vae.latent_dim)}
    context = torch.randn(1, 1, model.config.shared_dim)
    t = torch.tensor([500])
    with torch.no_grad():
        single = upstream_eps(dict(model.unets), dict(model.branches), {"frontal": x["frontal"]}, t, context)
        joint = upstream_eps(dict(model.unets), dict(model.branches), x, t, context)
    assert (single["frontal"] - joint["frontal"]).abs().max() > 1e-3


def test_the_earlier_connector_placement_is_caught(random_model, monkeypatch):
    """Hooking each decoder connector on its attention block (before the Upsample / square linear, as this code did
    before) gives another joint prediction: the comparison above fails on it."""
    from xgem_bench.reference_model import alignment
    from xgem_bench.reference_model.report_unet import ReportUNet

    def attention_only(unet):
        if isinstance(unet, ReportUNet):
            return [(a, a) for a, _ in unet.connector_sites()]
        return [(a, a) for blocks in (unet.down_blocks, unet.up_blocks) for b in blocks
                for a in getattr(b, "attentions", None) or []]

    model = random_model
    n = 1
    x = {"frontal": torch.randn(n, 4, 8, 8), "report": torch.randn(n, model.config.text_vae.latent_dim)}
    context, t = torch.randn(n, 1, model.config.shared_dim), torch.tensor([400])
    with torch.no_grad():
        reference = upstream_eps(dict(model.unets), dict(model.branches), x, t, context)
        monkeypatch.setattr(alignment, "connector_sites", attention_only)
        try:
            for m in x:
                model.branches[m].attach(model.unets[m])
            old, _ = denoise_with_connectors(dict(model.unets), dict(model.branches), x, t, context, "self")
        finally:
            monkeypatch.undo()
            for m in x:
                model.branches[m].attach(model.unets[m])
        current, _ = denoise_with_connectors(dict(model.unets), dict(model.branches), x, t, context, "self")
    for m in x:
        torch.testing.assert_close(current[m], reference[m], rtol=1e-4, atol=1e-4)
        assert (old[m] - reference[m]).abs().max() > 1e-3, m
