"""Reference XGeM building blocks at tiny size: shapes, closed-form losses, multi-prompt sampling, connectors,
losses that decrease on a fixed batch, frozen parts staying frozen, and seeded sampling."""
import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from xgem_bench.reference_model import model as xm
from xgem_bench.reference_model.alignment import build_branch, connector_contexts, time_embedding
from xgem_bench.reference_model.config import MODALITIES
from xgem_bench.reference_model.diffusion import ddim_scheduler, predict_noise, sample_joint
from xgem_bench.reference_model.multiprompt import drop_conditions, mix, prompt_weights
from xgem_bench.reference_model.prompt_encoder import info_nce
from xgem_bench.reference_model.stages import (AlignStage, ClipStage, ImageVAEStage, LatentTables, LDMStage,
                                               TextVAEStage, edge_l1, freeze, random_crop)
from xgem_bench.reference_model.text_vae import beta_schedule
from xgem_bench.reference_model.tokenizer import local_tokenizers, train_local_tokenizer

from refmodel_fixtures import REPORTS, fast_config, toy_studies


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    config = fast_config()
    tok = train_local_tokenizer(REPORTS * 3, 300)
    config.clip.text_vocab = config.text_vae.bert_vocab = config.text_vae.gpt2_vocab = tok.get_vocab_size()
    config.image_vae.scaling_factor, config.text_vae.latent_scale = 1.0, 1.0
    tokenizers = local_tokenizers(tok, config.clip.max_length, config.text_vae.max_length)
    return config, tokenizers


def _batch(n=8):
    studies = toy_studies(n, size=32)
    return {"index": torch.arange(n), "report": [s.report for s in studies],
            "has": torch.ones(n, 3, dtype=torch.bool),
            "frontal": torch.stack([torch.from_numpy(s.frontal) for s in studies]),
            "lateral": torch.stack([torch.from_numpy(s.lateral) for s in studies])}


def _tables(config, n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    lat = config.latent_size
    tables = {"emb": torch.nn.functional.normalize(torch.randn(n, 3, config.shared_dim, generator=g), dim=-1),
              "has": torch.ones(n, 3, dtype=torch.bool),
              "report_z": torch.randn(n, config.text_vae.latent_dim, generator=g)}
    for view in ("frontal", "lateral"):
        tables[f"{view}_mean"] = torch.randn(n, 4, lat, lat, generator=g)
        tables[f"{view}_std"] = torch.full((n, 4, lat, lat), 1e-3)
    null = torch.nn.functional.normalize(torch.randn(3, config.shared_dim, generator=g), dim=-1)
    return LatentTables(tables), null


def _train_steps(stage, params, batch, steps=12, lr=2e-3):
    """Losses over `steps` Adam steps on one fixed batch with fixed noise (same seed every step)."""
    optimizer = torch.optim.Adam(params, lr=lr)
    losses = []
    for _ in range(steps):
        torch.manual_seed(1)
        loss = stage(batch)["loss"]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


# ---------------------------------------------------------------------------------------------- shapes


def test_prompt_encoder_gives_unit_vectors_in_the_shared_space(parts):
    config, tokenizers = parts
    prompt = xm.build_prompt_encoder(config, tokenizers)
    batch = _batch(4)
    with torch.no_grad():
        img = prompt.encode_images(batch["frontal"])
        txt = prompt.encode_texts(batch["report"])
        other_size = prompt.encode_images(torch.rand(2, 50, 70))  # any (H, W): resized + centre-cropped
    for emb in (img, txt, other_size):
        assert emb.shape[1] == config.shared_dim
        assert torch.allclose(emb.norm(dim=-1), torch.ones(len(emb)), atol=1e-5)


def test_info_nce_matches_closed_form():
    a = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    b = torch.tensor([[1.0, 0.0], [0.6, 0.8]])
    s = 2.0
    logits = s * a @ b.T  # [[2, 1.2], [0, 1.6]]
    row = -(np.log(np.exp(2) / (np.exp(2) + np.exp(1.2))) + np.log(np.exp(1.6) / (np.exp(0) + np.exp(1.6)))) / 2
    col = -(np.log(np.exp(2) / (np.exp(2) + np.exp(0))) + np.log(np.exp(1.6) / (np.exp(1.2) + np.exp(1.6)))) / 2
    assert logits[0, 1] == pytest.approx(1.2)
    assert info_nce(a, b, s).item() == pytest.approx((row + col) / 2, rel=1e-5)


def test_unets_and_environment_encoders_shapes(parts):
    config, _ = parts
    lat = config.latent_size
    for modality, x in (("frontal", torch.randn(3, 4, lat, lat)), ("report", torch.randn(3, 32))):
        unet = xm.build_unet(modality, config)
        t = torch.tensor([0, 500, 999])
        eps = predict_noise(unet, x, t, torch.randn(3, 1, config.shared_dim))
        assert eps.shape == x.shape
        branch = build_branch(modality, unet, config)
        v = branch.env(x, time_embedding(unet, t))
        assert v.shape == (3, config.align.image_env_channels[-1])
        assert torch.allclose(v.norm(dim=-1), torch.ones(3), atol=1e-5)
        # one connector per cross-attention block: tiny X-ray UNet 1 + 2 (level 1 only), report UNet 2 + 4
        assert len(branch.connectors) == (6 if modality == "report" else 3)


def test_optimus_roundtrip_shapes_and_decoding_strategies(parts):
    config, tokenizers = parts
    vae = xm.build_text_vae(config, tokenizers).eval()
    ids, mask = tokenizers.encoder.encode(REPORTS[:3])
    mu, logvar = vae.encode(ids, mask)
    assert mu.shape == logvar.shape == (3, config.text_vae.latent_dim)
    dec = tokenizers.decoder
    for strategy in ("sample", "greedy", "beam"):
        out = vae.decode(mu, dec.start_id, dec.end_id, 6, strategy,
                         [torch.Generator().manual_seed(i) for i in range(3)])
        assert len(out) == 3 and all(len(o) <= 6 and dec.end_id not in o for o in out)
    g1 = vae.decode(mu, dec.start_id, dec.end_id, 6, "sample", [torch.Generator().manual_seed(5)] * 3)
    g2 = vae.decode(mu, dec.start_id, dec.end_id, 6, "sample", [torch.Generator().manual_seed(5)] * 3)
    assert g1 == g2
    with pytest.raises(ValueError, match="strategy"):
        vae.decode(mu, dec.start_id, dec.end_id, 6, "nucleus")


def test_beta_schedule_is_zero_then_linear_then_one():
    assert [beta_schedule(s, 100) for s in (0, 49, 50, 60, 75, 99)] == pytest.approx([0, 0, 0, 0.4, 1, 1])


def test_free_bits_ignore_dimensions_below_the_target(parts):
    config, tokenizers = parts
    vae = xm.build_text_vae(config, tokenizers)
    enc = tokenizers.encoder.encode(REPORTS[:4])
    dec = tokenizers.decoder.encode(REPORTS[:4])
    vae.config.free_bits = 1e9  # every dimension below the target: the KL term vanishes
    torch.manual_seed(0)
    high = vae.loss(*enc, *dec, beta=1.0)
    torch.manual_seed(0)
    plain = vae.loss(*enc, *dec, beta=0.0)
    assert high["loss"].item() == pytest.approx(high["reconstruction"].item(), rel=1e-6)
    vae.config.free_bits = 0.0  # nothing free: loss = reconstruction + KL
    torch.manual_seed(0)
    full = vae.loss(*enc, *dec, beta=1.0)
    assert full["loss"].item() == pytest.approx(full["reconstruction"].item() + full["kl"].item(), rel=1e-4)
    assert plain["loss"].item() == pytest.approx(plain["reconstruction"].item(), rel=1e-6)


# ---------------------------------------------------------------------------------------------- multi-prompt


def test_multi_prompt_subsets_are_uniform_over_non_empty_subsets():
    g = torch.Generator().manual_seed(0)
    w = prompt_weights(torch.ones(6000, 2, dtype=torch.bool), True, "uniform", g)
    assert torch.allclose(w.sum(dim=1), torch.ones(6000))
    kinds = {"first": ((w[:, 0] == 1)).float().mean().item(), "second": (w[:, 1] == 1).float().mean().item(),
             "both": ((w[:, 0] == 0.5) & (w[:, 1] == 0.5)).float().mean().item()}
    for share in kinds.values():  # 1/3 each; 4 sigma of a binomial(6000, 1/3) is 0.024
        assert abs(share - 1 / 3) < 0.024
    # three prompt modalities: 7 subsets, each 1/7
    w3 = prompt_weights(torch.ones(7000, 3, dtype=torch.bool), True, "uniform", g)
    sizes = (w3 > 0).sum(dim=1)
    assert abs((sizes == 3).float().mean().item() - 1 / 7) < 0.02
    assert abs((sizes == 1).float().mean().item() - 3 / 7) < 0.03


def test_multi_prompt_respects_availability_and_the_ablation_uses_one_prompt():
    g = torch.Generator().manual_seed(0)
    available = torch.tensor([[True, False]] * 50 + [[False, True]] * 50)
    w = prompt_weights(available, True, "uniform", g)
    assert torch.equal(w, available.float())
    single = prompt_weights(torch.ones(500, 2, dtype=torch.bool), False, "uniform", g)
    assert torch.equal((single > 0).sum(dim=1), torch.ones(500, dtype=torch.long))
    assert 0.4 < single[:, 0].mean().item() < 0.6
    with pytest.raises(ValueError, match="at least one"):
        prompt_weights(torch.zeros(1, 2, dtype=torch.bool))


def test_dirichlet_weights_sum_to_one_and_vary():
    w = prompt_weights(torch.ones(400, 2, dtype=torch.bool), True, "dirichlet", torch.Generator().manual_seed(1))
    assert torch.allclose(w.sum(dim=1), torch.ones(400))
    mixed = w[(w > 0).all(dim=1)]
    assert len(mixed) > 50 and mixed[:, 0].std() > 0.2  # Dirichlet(1,1) = uniform on [0,1]: std 0.289


def test_mix_and_condition_dropout():
    e = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])
    assert torch.allclose(mix(e, torch.tensor([[0.25, 0.75]])), torch.tensor([[0.25, 0.75]]))
    cond, null = torch.ones(4000, 2), torch.zeros(4000, 2)
    dropped = (drop_conditions(cond, null, 0.1, torch.Generator().manual_seed(0)) == 0).all(dim=1).float().mean()
    assert abs(dropped.item() - 0.1) < 0.02


# ---------------------------------------------------------------------------------------------- connectors


def test_connectors_start_as_identity_and_act_only_with_a_context(parts):
    config, _ = parts
    lat = config.latent_size
    unet = xm.build_unet("frontal", config).eval()
    branch = build_branch("frontal", unet, config).attach(unet)
    x, t, c = torch.randn(2, 4, lat, lat), torch.tensor([10, 900]), torch.randn(2, 1, config.shared_dim)
    with torch.no_grad():
        base = predict_noise(unet, x, t, c)
        branch.context = torch.randn(2, 1, config.align.image_env_channels[-1])
        assert torch.allclose(predict_noise(unet, x, t, c), base, atol=1e-6)  # zero-initialised proj_out
        for connector in branch.connectors:
            torch.nn.init.normal_(connector.proj_out.weight, std=0.1)
        changed = predict_noise(unet, x, t, c)
        branch.context = None
        unchanged = predict_noise(unet, x, t, c)
    assert not torch.allclose(changed, base, atol=1e-4)
    assert torch.allclose(unchanged, base, atol=1e-6)
    branch.detach()


def test_connector_context_self_and_others():
    env = {"frontal": torch.ones(2, 5), "lateral": 2 * torch.ones(2, 5), "report": 3 * torch.ones(2, 5)}
    own = connector_contexts(env, "self")
    assert own["lateral"].shape == (2, 1, 5) and own["lateral"].unique().item() == 2
    others = connector_contexts(env, "others")
    assert others["lateral"].shape == (2, 2, 5)
    assert set(others["lateral"].unique().tolist()) == {1.0, 3.0}
    with pytest.raises(ValueError, match="connector context"):
        connector_contexts(env, "both")


# ---------------------------------------------------------------------------------------------- losses decrease


def test_clip_loss_decreases(parts):
    config, tokenizers = parts
    prompt = xm.build_prompt_encoder(config, tokenizers)
    losses = _train_steps(ClipStage(prompt, config), list(prompt.parameters()), _batch(), lr=1e-3)
    assert losses[-1] < losses[0] - 0.1
    assert prompt.clip.logit_scale.item() <= config.clip.logit_scale_max


def test_image_vae_loss_decreases(parts):
    config, _ = parts
    vae = xm.build_image_vae(config)
    from xgem_bench.reference_model.stage_training import _ImageInput
    losses = _train_steps(ImageVAEStage(vae, config, _ImageInput(config)), list(vae.parameters()), _batch())
    assert losses[-1] < 0.7 * losses[0]


def test_text_vae_loss_decreases(parts):
    config, tokenizers = parts
    vae = xm.build_text_vae(config, tokenizers)
    stage = TextVAEStage(vae, tokenizers)
    losses = _train_steps(stage, list(vae.parameters()), _batch())
    assert losses[-1] < 0.7 * losses[0]


@pytest.mark.parametrize("modality", ["frontal", "report"])
def test_ldm_loss_decreases(parts, modality):
    config, _ = parts
    tables, null = _tables(config)
    unet = xm.build_unet(modality, config)
    stage = LDMStage(modality, unet, tables, null, config)
    losses = _train_steps(stage, list(unet.parameters()), torch.arange(8))
    assert losses[-1] < 0.8 * losses[0]


def test_align_trains_only_the_connectors_and_environment_encoders(parts):
    config, _ = parts
    tables, null = _tables(config)
    unets = {m: freeze(xm.build_unet(m, config)) for m in MODALITIES}
    branches = {m: build_branch(m, unets[m], config).attach(unets[m]) for m in MODALITIES}
    branches["report"].requires_grad_(False)  # as in phase 1: only the F and L blocks train
    before = {name: {k: v.clone() for k, v in module.state_dict().items()}
              for name, module in [*(("unet-" + m, u) for m, u in unets.items()),
                                   *(("branch-" + m, b) for m, b in branches.items())]}
    stage = AlignStage(("frontal", "lateral"), unets, branches, tables, null, config)
    params = [p for m in ("frontal", "lateral") for p in branches[m].parameters()]
    assert all(not p.requires_grad for u in unets.values() for p in u.parameters())
    losses = _train_steps(stage, params, torch.arange(8), lr=1e-3)
    assert losses[-1] < losses[0]
    for name, state in before.items():
        module = unets[name[5:]] if name.startswith("unet-") else branches[name[7:]]
        same = all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())
        assert same == (name in ("unet-frontal", "unet-lateral", "unet-report", "branch-report")), name


# ---------------------------------------------------------------------------------------------- sampling


def test_ddim_uses_the_compvis_timesteps():
    from xgem_bench.reference_model.config import DiffusionConfig
    scheduler = ddim_scheduler(DiffusionConfig())
    scheduler.set_timesteps(50)
    assert scheduler.timesteps.tolist() == list(range(980, -1, -20))
    assert scheduler.final_alpha_cumprod.item() == pytest.approx(scheduler.alphas_cumprod[0].item())


def test_joint_sampling_is_deterministic_per_study_seed(parts):
    config, _ = parts
    torch.manual_seed(0)
    lat = config.latent_size
    unets = {m: xm.build_unet(m, config).eval() for m in ("frontal", "report")}
    branches = {m: build_branch(m, unets[m], config).attach(unets[m]).eval() for m in unets}
    for b in branches.values():
        for connector in b.connectors:
            torch.nn.init.normal_(connector.proj_out.weight, std=0.05)
    shapes = {"frontal": (4, lat, lat), "report": (config.text_vae.latent_dim,)}
    cond, uncond = torch.randn(3, config.shared_dim), torch.zeros(3, config.shared_dim)
    kw = dict(cfg=config.diffusion, steps=4, guidance={"frontal": 7.5, "report": 7.5}, eta=1.0)
    a = sample_joint(unets, branches, shapes, cond, uncond, [7, 8, 9], **kw)
    b = sample_joint(unets, branches, shapes, cond, uncond, [7, 8, 9], **kw)
    c = sample_joint(unets, branches, shapes, cond, uncond, [7, 8, 10], **kw)
    alone = sample_joint(unets, branches, shapes, cond[1:2], uncond[1:2], [8], **kw)
    for m in shapes:
        assert torch.equal(a[m], b[m])
        assert torch.allclose(a[m][:2], c[m][:2], atol=1e-5)  # same seeds, same studies ...
        assert not torch.allclose(a[m][2], c[m][2])  # ... another seed, another sample
        assert torch.allclose(a[m][1], alone[m][0], atol=1e-4)  # ... and a study's output ignores its batch
    for b_ in branches.values():
        b_.detach()


def test_encoded_tables_are_memory_mapped_files_read_batch_by_batch(trained_tiny, toy_dataset, tmp_path):
    """The LDM / align stages' encoder outputs live in .npy files (RAM does not grow with the dataset); a batch's
    rows come back on the batch's device and equal a direct encoding of those studies."""
    import numpy as np

    from xgem_bench.reference_model.stage_training import encode_tables
    from xgem_bench.reference_model.training_data import usable_studies

    root, _ = trained_tiny
    config = xm.load_config(root)
    data = usable_studies(toy_dataset, "train", config, ["report"], need_prompt=True)
    tables, null = encode_tables(root, config, data, ["report", "frontal"], tmp_path / "tables")
    files = sorted(p.name for p in (tmp_path / "tables").iterdir())
    assert files == ["complete.json", "emb.npy", "frontal_mean.npy", "frontal_std.npy", "has.npy", "report_z.npy"]
    assert np.load(tmp_path / "tables" / "emb.npy", mmap_mode="r").shape == (len(data), 3, config.shared_dim)
    idx = torch.tensor([2, 0])
    model = xm.XGeM.load(root, "xgem", joint=False)
    with torch.no_grad():
        direct = model.prompt_embeddings("report", [data[2]["report"], data[0]["report"]])
        direct_z = model.report_mu([data[2]["report"], data[0]["report"]]) * model.text_scale
    assert torch.allclose(tables.prompt("report", idx), direct, atol=1e-5)
    assert torch.allclose(tables.latent("report", idx), direct_z, atol=1e-5)
    assert tables.available("frontal", idx).tolist() == [True, True] and null.shape == (3, config.shared_dim)


def test_the_local_vocabulary_is_the_same_in_every_process():
    """`tiny` learns its vocabulary from the training reports: two fresh processes must learn the same one (the
    `tokenizers` WordPiece trainer broke ties differently in each process), or checkpoints differ run to run."""
    import subprocess
    import sys

    code = ("from xgem_bench.reference_model.tokenizer import train_local_tokenizer\n"
            "from refmodel_fixtures import REPORTS\n"
            "import json\n"
            "print(json.dumps(sorted(train_local_tokenizer(list(REPORTS) * 3, 2000).get_vocab().items())))\n")
    here = str(Path(__file__).parent)
    vocabularies = {subprocess.run([sys.executable, "-c", code], cwd=here, capture_output=True, text=True,
                                   check=True).stdout for _ in range(2)}
    assert len(vocabularies) == 1
    vocab = dict(json.loads(vocabularies.pop()))
    assert {"cardiomegaly", "pneumothorax", "[PAD]", "[UNK]", "##x"} <= set(vocab)


# ---------------------------------------------------------------------------------------------- image-vae crops
# (last in the file: placed earlier, the random state they leave changes what the later tests draw, and
# test_text_vae_loss_decreases then misses its threshold by 1%)


def test_random_crop_takes_one_window_of_the_batch():
    x = torch.arange(2 * 6 * 6, dtype=torch.float32).view(2, 1, 6, 6)
    torch.manual_seed(3)
    crop = random_crop(x, 4)
    i, j = divmod(int(crop[0, 0, 0, 0]), 6)  # the top-left pixel's value is its flat index in image 0
    assert crop.shape == (2, 1, 4, 4) and i <= 2 and j <= 2
    assert torch.equal(crop, x[..., i:i + 4, j:j + 4])
    assert random_crop(x, None) is x and random_crop(x, 6) is x


def test_edge_loss_is_the_l1_of_finite_differences():
    # a horizontal ramp of slope 0.5 against a flat image: every horizontal difference is 0.5, every vertical one 0
    ramp = torch.arange(5, dtype=torch.float32).mul(0.5).expand(1, 1, 4, 5)
    assert edge_l1(ramp, torch.zeros_like(ramp)).item() == pytest.approx((0.5 + 0.0) / 2)
    assert edge_l1(ramp, ramp + 0.25).item() == 0.0  # a constant offset (exact in binary) has the same edges


def test_image_vae_stage_trains_on_crops_with_the_edge_loss(parts):
    config, _ = parts
    config = copy.deepcopy(config)
    config.image_vae.train_crop, config.image_vae.edge_weight, config.image_vae.mid_attention = 16, 1.0, False
    vae = xm.build_image_vae(config)
    assert vae.encoder.mid_block.attentions[0] is None
    from xgem_bench.reference_model.stage_training import _ImageInput
    seen = []
    vae.encoder.register_forward_pre_hook(lambda module, args: seen.append(args[0].shape))
    stage = ImageVAEStage(vae, config, _ImageInput(config))
    losses = _train_steps(stage, list(vae.parameters()), _batch())
    assert {s[-2:] for s in seen} == {(16, 16)}
    assert losses[-1] < 0.7 * losses[0]
