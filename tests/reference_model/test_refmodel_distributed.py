"""`xgem-bench train` launched by torchrun (and accelerate launch) with two CPU processes: one model trained together
on sharded data, rank 0 alone prints and writes, a finished stage is refused cleanly, and a killed run resumes where
its last epoch ended."""
import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from launch import finish

from xgem_bench.data import load_dataset
from xgem_bench.reference_model import model as xm

pytestmark = [pytest.mark.distributed, pytest.mark.slow]

DATASET, RANKS, BATCH = "demo:n=40", 2, 8
LAUNCH_TIMEOUT_S = 180  # a hung rank fails the test instead of blocking the suite


LAUNCHERS = {
    "torchrun": ["-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={RANKS}"],
    # --multi_gpu is accelerate's torchrun launcher; on a GPU-less machine the ranks join a CPU (gloo) group
    "accelerate": ["-m", "accelerate.commands.launch", "--multi_gpu", f"--num_processes={RANKS}",
                   "--num_machines=1", "--mixed_precision=no", "--dynamo_backend=no"],
}


def _start(root, *extra, batch=BATCH, launcher="torchrun"):
    command = [sys.executable, *LAUNCHERS[launcher], "-m", "xgem_bench.cli", "train", "clip", "--config", "tiny",
               "--dataset", DATASET, "--checkpoint", str(root), "--batch-size", str(batch), "--no-progress", *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}  # conftest has set the offline flags and XGEM_BENCH_CACHE
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(process, timeout=LAUNCH_TIMEOUT_S):
    return finish(process, timeout)


def _launch(root, *extra, **how):
    return _finish(_start(root, *extra, **how))


def _log(root):
    path = root / "clip" / "loss_log.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _steps_per_epoch(batch=BATCH):
    """Optimizer steps per epoch, from the training split of n studies: with RANKS processes, each takes every
    RANKS-th batch of batch // RANKS studies; one process takes batches of `batch`; ranks that did not shard the
    data would each step through every batch of batch // RANKS. Incomplete last batches are dropped."""
    data = load_dataset(DATASET)
    n = sum(1 for i in data.indices("train")
            if (s := data.load(int(i))).report and (s.frontal is not None or s.lateral is not None))
    per_rank = batch // RANKS
    assert n >= 2 * batch  # the loader drops the last incomplete batch from this size on
    return n, (n // per_rank) // RANKS, n // batch, n // per_rank


def test_two_ranks_train_one_clip_model_and_refuse_a_finished_stage(tmp_path):
    root = tmp_path / "ckpt"
    rc, out, err = _launch(root, "--epochs", "2")
    assert rc == 0, err[-3000:]
    assert out.count("trained clip") == 1, out

    n, per_epoch, one_process, unsharded = _steps_per_epoch()
    rows = _log(root)
    # one row per optimizer step of one model: not one set per rank, and each rank saw half the batches
    assert [int(r["step"]) for r in rows] == list(range(2 * per_epoch))
    assert [int(r["epoch"]) for r in rows] == [e for e in range(2) for _ in range(per_epoch)]
    assert per_epoch < unsharded  # unsharded ranks would each step through every batch
    assert per_epoch == one_process  # a batch size divisible by the ranks: the same schedule as one process
    stage = json.loads((root / "clip" / "stage.json").read_text())
    assert stage["n_train"] == n and stage["steps"] == 2 * per_epoch
    assert not (root / "clip" / "_state").exists()

    from transformers import CLIPModel
    clip = CLIPModel.from_pretrained(root / "clip")
    expected = xm.build_clip(xm.load_config(root).clip, None)
    assert sum(p.numel() for p in clip.parameters()) == sum(p.numel() for p in expected.parameters())
    assert all(torch.isfinite(p).all() for p in clip.parameters())

    # a finished stage is refused, on every rank, with one message and no hang
    started = time.time()
    rc, out, err = _launch(root, "--epochs", "3")
    assert rc != 0 and "trained clip" not in out
    assert err.count("error: stage clip is already trained") == 1, err[-3000:]
    assert time.time() - started < 60
    assert len(_log(root)) == 2 * per_epoch


def test_a_killed_two_rank_run_resumes_after_its_last_finished_epoch(tmp_path):
    # batch 3: many steps per epoch, so the stop most likely falls mid-epoch; split 1 + 1 (the remainder is
    # dropped), so the step count also tells two ranks from one process
    root, batch = tmp_path / "ckpt", 3
    _, per_epoch, one_process, _ = _steps_per_epoch(batch)
    assert per_epoch != one_process
    pointer = root / "clip" / "_state" / "progress.json"
    run = _start(root, "--epochs", "1000", batch=batch)  # never finishes: it is stopped once an epoch is saved

    def mid_epoch():
        return pointer.is_file() and len(_log(root)) > json.loads(pointer.read_text())["epochs_done"] * per_epoch

    deadline = time.time() + LAUNCH_TIMEOUT_S
    while not mid_epoch() and run.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    run.send_signal(signal.SIGTERM)  # torchrun passes it on; the workers die wherever they are
    rc, _, err = _finish(run, timeout=60)
    assert rc != 0 and pointer.is_file(), err[-3000:]

    done = json.loads(pointer.read_text())["epochs_done"]
    before = _log(root)
    assert len(before) >= done * per_epoch
    # resume (the default) and finish one more epoch, launched by accelerate this time
    rc, out, err = _launch(root, "--epochs", str(done + 1), batch=batch, launcher="accelerate")
    assert rc == 0, err[-3000:]
    assert out.count("trained clip") == 1

    rows = _log(root)
    # the finished epochs are kept as they were; the interrupted one is dropped and trained again
    assert rows[:done * per_epoch] == before[:done * per_epoch]
    assert [int(r["step"]) for r in rows] == list(range((done + 1) * per_epoch))
    assert {int(r["epoch"]) for r in rows[done * per_epoch:]} == {done}
    assert json.loads((root / "clip" / "stage.json").read_text())["steps"] == (done + 1) * per_epoch
    assert not (root / "clip" / "_state").exists()


def _contrastive_rank(rank, world, port, a, b, queue):
    import torch.distributed as dist

    from xgem_bench.reference_model.prompt_encoder import info_nce

    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    rows = slice(rank * len(a) // world, (rank + 1) * len(a) // world)
    local_a, local_b = a[rows].clone().requires_grad_(), b[rows].clone().requires_grad_()
    loss = info_nce(local_a, local_b, 5.0)
    loss.backward()
    # numpy arrays travel by value; tensors would be shared through a file descriptor that dies with this process
    queue.put((rank, loss.item(), local_a.grad.numpy(), local_b.grad.numpy()))
    dist.destroy_process_group()


def test_contrastive_loss_sees_the_global_batch_across_processes():
    """InfoNCE under 2 processes, each holding half the batch, equals the one-process loss on the whole batch; each
    rank's gradient is N times its rows' one-process gradient, which DDP's averaging over N ranks restores."""
    import socket

    import torch.multiprocessing as mp

    from xgem_bench.reference_model.prompt_encoder import info_nce

    torch.manual_seed(0)
    a, b = (torch.nn.functional.normalize(torch.randn(6, 4), dim=-1) for _ in range(2))
    whole_a, whole_b = a.clone().requires_grad_(), b.clone().requires_grad_()
    expected = info_nce(whole_a, whole_b, 5.0)
    expected.backward()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    context = mp.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_contrastive_rank, args=(r, RANKS, port, a, b, queue)) for r in range(RANKS)]
    for w in workers:
        w.start()
    results = [queue.get(timeout=120) for _ in workers]  # a dead worker fails the test, never hangs it
    for w in workers:
        w.join(timeout=60)
    for rank, loss, grad_a, grad_b in results:
        rows = slice(rank * 3, rank * 3 + 3)
        assert loss == pytest.approx(expected.item(), abs=1e-6)
        assert torch.allclose(torch.from_numpy(grad_a) / RANKS, whole_a.grad[rows], atol=1e-6)
        assert torch.allclose(torch.from_numpy(grad_b) / RANKS, whole_b.grad[rows], atol=1e-6)


FIT_SCRIPT = Path(__file__).with_name("fit_layout_script.py")


def test_the_trained_weights_do_not_depend_on_the_process_layout(tmp_path):
    """Two ranks of half batches, or one process accumulating two half batches, end with the weights of one process
    taking whole batches: the same permutation of the data, the same global batches, the same learning rates."""
    def train(out, *prefix, grad_accum=1):
        command = [sys.executable, *prefix, str(FIT_SCRIPT), str(out), str(grad_accum)]
        rc, _, err = _finish(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        assert rc == 0, err[-3000:]
        return torch.load(out / "weights.pt"), json.loads((out / "lrs.json").read_text())

    one, one_lrs = train(tmp_path / "one")
    assert len(one_lrs) == 12
    for layout, (weights, lrs) in {"two ranks": train(tmp_path / "ranks", *LAUNCHERS["torchrun"]),
                                   "accumulation": train(tmp_path / "accum", grad_accum=2)}.items():
        assert lrs == pytest.approx(one_lrs, rel=1e-12), layout
        for name, weight in one.items():
            assert torch.allclose(weights[name], weight, rtol=1e-5, atol=1e-6), (layout, name)


TABLES_SCRIPT = Path(__file__).with_name("encode_tables_script.py")


def _encoder_checkpoint(root):
    """A checkpoint folder holding the three frozen encoders the LDM stages read (random weights, `tiny` shrunk)."""
    from refmodel_fixtures import REPORTS, fast_config

    from xgem_bench.reference_model.tokenizer import load_tokenizers, train_local_tokenizer

    config = fast_config()
    config.image_vae.scaling_factor, config.text_vae.latent_scale = 0.5, 2.0
    root.mkdir()
    train_local_tokenizer(list(REPORTS), config.local_vocab_size).save(str(root / "tokenizer.json"))
    config.save(root / "xgem_config.json")
    config = xm.load_config(root)
    tokenizers = load_tokenizers(config, root)
    torch.manual_seed(0)
    for stage, module in (("clip", xm.build_prompt_encoder(config, tokenizers).clip),
                          ("image-vae", xm.build_image_vae(config)),
                          ("text-vae", xm.build_text_vae(config, tokenizers))):
        xm.save_component(module, root / stage)
        (root / stage / "stage.json").write_text("{}")


def test_two_ranks_encode_half_the_tables_each_and_gather_those_of_one_process(tmp_path, monkeypatch):
    """The LDM / align stages' frozen-encoder tables: under torchrun each rank encodes only its share of the studies
    (counted at the encoders), and the gathered tables equal those one process writes; complete tables are reused."""
    import numpy as np

    root = tmp_path / "ckpt"
    _encoder_checkpoint(root)

    def results(out):
        counts = [json.loads(p.read_text()) for p in sorted(out.glob("counts*.json"))]
        return dict(np.load(out / "tables.npz")), counts

    from encode_tables_script import main as encode_here  # one process: this one (saves a launch)

    threads = torch.get_num_threads()
    encode_here(str(root), str(tmp_path / "one"), patch=monkeypatch.setattr)
    torch.set_num_threads(threads)
    one, (alone,) = results(tmp_path / "one")
    command = [sys.executable, *LAUNCHERS["torchrun"], str(TABLES_SCRIPT), str(root), str(tmp_path / "two")]
    rc, _, err = _finish(subprocess.Popen(command, env={**os.environ, "OMP_NUM_THREADS": "1"},
                                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    assert rc == 0, err[-3000:]
    two, ranks = results(tmp_path / "two")
    n = alone["n"]
    # per call, every process also encodes the three unconditional prompts (CLIP of "", of two blank images)
    null = {"encode_images": 2, "encode_texts": 1}

    def seen(studies):  # each study once per encoder: two image views, one report, one latent of each target
        return {"encode_images": 2 * studies + 2, "encode_texts": studies + 1, "image_posterior": studies,
                "report_mu": studies}

    assert alone["first"] == seen(n)
    shares = [n // 2, n - n // 2]
    assert len(ranks) == 2 and shares[0] != shares[1]  # an odd count: the shares differ, the gather must not care
    for share, counts in zip(shares, ranks):
        assert counts["first"] == seen(share)
    for counts in (alone, *ranks):  # complete tables of the same studies and encoders: reused, no study encoded
        assert {k: v for k, v in counts["again"].items() if v} == null
    assert sorted(one) == sorted(two) == ["emb", "frontal_mean", "frontal_std", "has", "null", "report_z"]
    for name in one:
        assert one[name].shape == two[name].shape and one[name].dtype == two[name].dtype, name
        assert one[name].shape[0] in (n, 3), name
        # rank 1's rows went through its encoders in other batches than in one process: equal to float rounding,
        # not bit for bit (here the VAE posteriors differ by up to 4e-7: convolution kernels chosen by batch size;
        # embeddings and report latents came out identical)
        assert np.allclose(one[name], two[name], rtol=1e-5, atol=1e-6), name
    assert not any((tmp_path / "two" / "_tables").glob("part*"))  # the parts are gone once gathered
