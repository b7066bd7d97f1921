"""Issue 13 §2: a warning is said once per run, however many models and views hit it."""
import logging

from xgem_bench.runner import run


REAL_XRV = {"fid-xrv": {"variant": "all"}}  # on the demo the XRV metrics default to the demo backbone


def test_fid_rank_warning_once_per_run_while_every_result_keeps_its_flag(xrv_weights, tmp_path, caplog):
    xrv_weights("all")
    with caplog.at_level(logging.WARNING):
        result = run("T->F+L", models=["oracle", "shuffled"], metrics=["fid-xrv"], split="all", limit=3,
                     out=tmp_path / "r", cache_dir=tmp_path / "cache", progress=False, device="cpu",
                     metric_settings=REAL_XRV)
    said = [r for r in caplog.records if "N <= d" in r.getMessage()]
    assert len(said) == 1 and "once per run" in said[0].getMessage()
    flags = [m["values"]["rank_deficient"] for entry in result.results["models"].values()
             for m in entry["metrics"].values()]
    assert flags == [1.0] * 4  # two models x two views
    caplog.clear()
    with caplog.at_level(logging.WARNING):  # the next run says it again
        run("T->F", models=["oracle"], metrics=["fid-xrv"], split="all", limit=3, out=tmp_path / "r",
            cache_dir=tmp_path / "cache", progress=False, device="cpu", metric_settings=REAL_XRV)
    assert sum("N <= d" in r.getMessage() for r in caplog.records) == 1
