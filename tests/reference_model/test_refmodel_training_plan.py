"""Training at scale: the run options, the memory formula of `train --dry-run`, and its refusal of a plan that
cannot fit (with a fix that does)."""
import re

import pytest
import torch
from typer.testing import CliRunner

from xgem_bench.reference_model import plan as planner
from xgem_bench.reference_model.fit import RunOptions, enable_gradient_checkpointing, micro_batch


def test_memory_formula_in_closed_form():
    gb = planner.GB
    assert planner.stage_memory(10 ** 6, 2 * 10 ** 6, 1000, 4, "no") == 16e6 + 8e6 + 4000 + planner.OVERHEAD
    # mixed precision: + 2 bytes per trainable weight (16-bit copies), activations counted at half
    assert planner.stage_memory(10 ** 6, 0, 1000, 4, "bf16") == 16e6 + 2e6 + 2000 + planner.OVERHEAD
    assert planner.OVERHEAD == 2 * gb


def test_micro_batch_splits_the_global_batch():
    assert micro_batch(512, 4, 8, 10 ** 6) == 16  # 4 GPUs x 8 accumulation steps x 16 = 512
    assert micro_batch(512, 1, 1, 100) == 100  # never more than the data
    assert micro_batch(3, 2, 4, 100) == 1


def test_bad_run_options_are_refused():
    for kwargs, word in (({"mixed_precision": "fp8"}, "mixed-precision"), ({"grad_accum": 0}, "grad-accum"),
                         ({"workers": -1}, "workers")):
        with pytest.raises(ValueError, match=word):
            RunOptions(**kwargs)


def test_gradient_checkpointing_reaches_unets_clip_and_the_report_unet():
    from refmodel_fixtures import fast_config

    from xgem_bench.reference_model import model as xm
    from xgem_bench.reference_model.prompt_encoder import build_clip

    config = fast_config()
    holder = torch.nn.ModuleDict({"unet": xm.build_xray_unet(config), "report": xm.build_unet("report", config),
                                  "clip": build_clip(config.clip)})
    assert enable_gradient_checkpointing(holder) == 3
    assert holder["unet"].is_gradient_checkpointing and holder["report"].gradient_checkpointing
    assert holder["clip"].text_model.encoder.gradient_checkpointing
    report = holder["report"].train()
    x, context = torch.randn(2, config.text_vae.latent_dim, requires_grad=True), torch.randn(2, 1, 64)
    report(x, torch.tensor([3, 500]), context).sum().backward()  # recomputation runs and gives gradients
    with_ckpt = x.grad.clone()
    x.grad = None
    report.gradient_checkpointing = False
    report(x, torch.tensor([3, 500]), context).sum().backward()
    torch.testing.assert_close(with_ckpt, x.grad)


@pytest.mark.skipif(not planner.MEASURED_ACTIVATIONS, reason="no measured activation memory recorded")
def test_dry_run_refuses_the_paper_batch_on_one_gpu_and_its_named_fix_fits():
    from xgem_bench.cli import app

    runner = CliRunner()
    refused = runner.invoke(app, ["train", "all", "--config", "paper", "--dry-run", "--gpus", "1",
                                  "--gpu-memory", "80"])
    assert refused.exit_code == 2, refused.output
    assert "cannot fit" in refused.output and "ldm-image" in refused.output
    fix = re.search(r"stage ldm-image needs .*?use --grad-accum (\d+)", refused.output)
    assert fix, refused.output
    accepted = runner.invoke(app, ["train", "ldm", "--config", "paper", "--dry-run", "--gpus", "1",
                                   "--gpu-memory", "80", "--grad-accum", fix.group(1)])
    assert "ldm-image" in accepted.output
    line = next(row for row in accepted.output.splitlines() if row.startswith("ldm-image"))
    assert line.rstrip().endswith("yes"), accepted.output


def test_dry_run_plans_the_paper_configuration_only():
    from xgem_bench.cli import app

    result = CliRunner().invoke(app, ["train", "all", "--config", "tiny", "--dry-run"])
    assert result.exit_code == 2 and "--config paper" in result.output


def test_plan_measures_the_cost_per_study_and_scales_it(toy_dataset):
    from xgem_bench.commands.plan import measure_plan
    from xgem_bench.tasks import parse_task

    tasks = [parse_task("T->F"), parse_task("F->L+T")]
    rows, command = measure_plan(tasks, "oracle", toy_dataset, "test", 33588, 2, {}, "cpu")
    assert [r["task"] for r in rows] == ["T->F", "F->L+T"]
    for row in rows:
        assert row["seconds_per_study"] > 0 and row["studies"] == 33588
        assert row["device_seconds"] == pytest.approx(33588 * row["seconds_per_study"])
    assert command.format(launch="torchrun --nproc_per_node 8 -m xgem_bench.cli", task="T->F").startswith(
        "torchrun --nproc_per_node 8 -m xgem_bench.cli run --task T->F --model oracle")
    own, _ = measure_plan(tasks[:1], "oracle", toy_dataset, "test", None, 1, {}, "cpu")
    assert own[0]["studies"] == 1  # the toy set's one test study


def test_plan_cli_refuses_an_unsupported_task():
    from xgem_bench.cli import app

    result = CliRunner().invoke(app, ["plan", "--model", "oracle", "--task", "F->X"])
    assert result.exit_code == 2
