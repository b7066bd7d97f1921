"""`vtt create`: balanced, seeded sessions from finished demo runs; images that cannot tell real from synthetic."""
import io
import json
import os
import sqlite3
import struct
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from xgem_bench.cache import GenerationCache
from xgem_bench.data import load_dataset
from xgem_bench.results import load_run
from xgem_bench.tasks import Modality
from xgem_bench.vtt.build import DISPLAY_SIZE, create_session
from xgem_bench.vtt.protocol import VTT_TASKS


def _key(path):
    with sqlite3.connect(path) as connection:
        return connection.execute("SELECT i.task, k.truth, k.model, k.study_id, k.views, i.images, i.report, "
                                  "k.run_id, i.item_id FROM items i JOIN answer_key k USING (item_id)").fetchall()


def test_every_task_is_balanced_and_shows_distinct_studies(session):
    rows = _key(session.path)
    assert session.n_items == {t.id: 4 for t in VTT_TASKS}
    for task in VTT_TASKS:
        of_task = [r for r in rows if r[0] == task.id]
        assert Counter(r[1] for r in of_task) == {"real": 2, "synthetic": 2}
        # the oracle of the runs (real data) is left out by default
        assert Counter(r[2] for r in of_task if r[1] == "synthetic") == {"retrieval": 1, "shuffled": 1}
        assert len({r[3] for r in of_task}) == 4  # no study both real and synthetic in one task
        layouts = Counter(tuple(image["view"] for image in json.loads(r[5])) for r in of_task)
        assert all(n % 2 == 0 for n in layouts.values())  # real items mirror the synthetic layouts


def test_items_show_what_the_paper_task_asks(session):
    for task, truth, _, _, views, images, report, _, _ in _key(session.path):
        shown = [image["view"] for image in json.loads(images)]
        generated = json.loads(views)
        assert (truth == "synthetic") == bool(generated)
        if task == "xray-realism":
            assert len(shown) == 1 and report is None
        elif task == "report-realism":
            assert shown == [] and report
        elif task in ("report-xray-pair", "xray-pair"):
            assert shown == ["Frontal", "Lateral"]
            assert (report is None) == (task == "xray-pair")
            assert generated in ([], ["T"] if task == "report-xray-pair" else ["F"])
        else:  # xray-report: X-rays generated from the (real) report shown beside them
            assert shown == ["Frontal"] and report and generated in ([], ["F"])


def test_pixels_and_reports_are_the_runs_and_datasets_own(session, demo_runs):
    """Each shown image is the dataset's real image or the run's cached generation, read here independently."""
    runs = {r["run_id"]: r for r in map(load_run, demo_runs)}
    dataset = load_dataset(next(iter(runs.values()))["dataset"]["spec"])
    position = {sid: i for i, sid in enumerate(dataset.study_ids)}
    with sqlite3.connect(session.path) as connection:
        png = dict(connection.execute("SELECT image_id, png FROM images"))
    for task, truth, model, study_id, views, images, report, run_id, _ in _key(session.path):
        real = dataset.load(position[study_id])
        generated = {}
        if truth == "synthetic":
            entry = runs[run_id]["models"][model]
            seed = int(next(line.split(",")[2] for line in open(f"{runs[run_id]['run_dir']}/generation.csv")
                            if line.startswith(f"{model},{study_id},")))
            generated = GenerationCache.existing(entry["cache_folder"]).load(study_id, seed)
        for image in json.loads(images):
            modality = Modality.FRONTAL if image["view"] == "Frontal" else Modality.LATERAL
            source = generated[modality] if image["view"][0] in json.loads(views) else real.get(modality)
            shown = np.asarray(Image.open(io.BytesIO(png[image["id"]])))
            assert shown.shape == source.shape == (DISPLAY_SIZE, DISPLAY_SIZE)
            assert np.abs(shown.astype(int) - np.round(source * 255)).max() <= 1
        if report is not None:
            expected = generated[Modality.REPORT] if "T" in json.loads(views) else real.report
            assert report == expected.strip()


def _png_chunks(data: bytes) -> list[str]:
    """Chunk types of a PNG, parsed from the file format (PNG spec, section 5)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, offset = [], 8
    while offset < len(data):
        length, kind = struct.unpack(">I4s", data[offset: offset + 8])
        chunks.append(kind.decode())
        offset += 12 + length
    return chunks


def test_images_have_one_byte_length_and_no_metadata(session):
    with sqlite3.connect(session.path) as connection:
        blobs = [row[0] for row in connection.execute("SELECT png FROM images")]
    assert len(blobs) > 20
    assert len({len(b) for b in blobs}) == 1  # the size of a response cannot tell real from synthetic
    for blob in blobs[:5]:
        assert set(_png_chunks(blob)) == {"IHDR", "IDAT", "IEND"}  # no tEXt/eXIf/iTXt/tIME/pHYs chunk
        image = Image.open(io.BytesIO(blob))
        assert image.mode == "L" and image.size == (DISPLAY_SIZE, DISPLAY_SIZE) and not image.info


def test_seeded_orders_differ_per_rater_and_keep_the_paper_task_order(session, demo_runs, tmp_path):
    with sqlite3.connect(session.path) as connection:
        assert connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        orders = {}
        for rater, item, task in connection.execute("SELECT a.rater_id, a.item_id, i.task FROM assignments a "
                                                    "JOIN items i USING (item_id) ORDER BY a.position"):
            orders.setdefault(rater, []).append((item, task))
    assert len(orders) == 3 and len(set(session.tokens)) == 3
    for order in orders.values():
        assert [t for _, t in order] == [t.id for t in VTT_TASKS for _ in range(4)]
    assert len({tuple(i for i, _ in order) for order in orders.values()}) == 3
    assert oct(os.stat(session.path).st_mode & 0o777) == "0o600"
    again = create_session(demo_runs, tmp_path / "again.db", items=4, raters=3, seed=7, progress=False)
    same = sorted(r[:5] for r in _key(again.path))
    assert same == sorted(r[:5] for r in _key(session.path))  # same seed, same studies and layouts


def test_bad_requests_are_refused_with_what_to_do(session, demo_runs, tmp_path):
    before = session.path.read_bytes()
    with pytest.raises(FileExistsError, match="never overwritten"):
        create_session(demo_runs, session.path, items=4, progress=False)
    assert session.path.read_bytes() == before
    with pytest.raises(ValueError, match="lower --items"):
        create_session(demo_runs, tmp_path / "big.db", items=40, progress=False)
    with pytest.raises(ValueError, match=r"model\(s\) \['xgem'\] are in none of the runs"):
        create_session(demo_runs, tmp_path / "m.db", items=4, models=["xgem"], progress=False)
    only_image_run = [run for run in demo_runs if "LT_to_F" in run.name]
    with pytest.raises(ValueError, match="report-realism.*--tasks"):
        create_session(only_image_run, tmp_path / "t.db", items=4, progress=False)
    made = create_session(only_image_run, tmp_path / "t.db", items=4, tasks=["xray-realism", "xray-pair"],
                          models=["retrieval"], progress=False)
    assert made.n_items == {"xray-realism": 4, "xray-pair": 4}
    assert {r[2] for r in _key(made.path) if r[1] == "synthetic"} == {"retrieval"}
    assert not [p for p in tmp_path.iterdir() if ".tmp-" in p.name]  # failed builds leave nothing behind


def test_runs_whose_dataset_cannot_be_reopened_or_changed_are_refused(demo_runs, tmp_path):
    import shutil
    for spec, fingerprint, message in (("in-memory", None, "cannot reopen"), (None, "0" * 16, "changed since")):
        copy = tmp_path / f"run-{spec}"
        shutil.copytree(demo_runs[0], copy)
        results = json.loads((copy / "results.json").read_text())
        results["dataset"]["spec"] = spec or results["dataset"]["spec"]
        results["dataset"]["fingerprint"] = fingerprint or results["dataset"]["fingerprint"]
        (copy / "results.json").write_text(json.dumps(results))
        with pytest.raises(ValueError, match=message):
            create_session([copy], tmp_path / "s.db", items=4, progress=False)
    with pytest.raises(ValueError, match="different datasets"):
        create_session([demo_runs[1], copy], tmp_path / "s.db", items=4, progress=False)
    assert not (tmp_path / "s.db").exists()
