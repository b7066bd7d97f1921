"""The embedded default dataset: "demo (synthetic phantoms)".

Every study pairs a procedurally drawn frontal + lateral phantom (synthetic/phantom.py) with a REAL IU X-ray
impression (read from torchxrayvision's bundled XMLs) whose findings agree with the study's label vector
(synthetic/demo_reports.py explains how agreement is ensured). Built offline in seconds, deterministic by seed,
and cached under `<xgem-bench cache>/datasets/demo-v<BUILDER_VERSION>-seed<S>-n<N>/` as a manifest + 8-bit PNGs.

How a study is made (every random choice comes from a stream keyed by the seed and the study's index): pick a target finding (no finding 30 %; the drawn findings share the rest in proportion to the square root
of the number of usable reports stating them, so rare ones still appear), pick a usable report stating it (unused
reports first), take the labels from that report, draw the findings where the report puts them (side, zone,
severity; at random where it does not say), on the anatomy of the study's subject. Subjects have one or more
studies (1.6 on average); whole subjects go to train / validate / test (60 / 10 / 30 % of subjects).

`load_demo("seed=3,n=120")` builds other variants. Results on this dataset say nothing about real patients.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd

from xgem_bench.atomic import atomic_path
from xgem_bench.synthetic.demo_reports import DRAWN, Unusable, agreed_labels, finding_sites
from xgem_bench.data.images import save_png
from xgem_bench.data.iuxray import IU_LICENCE, IUReport, read_iu_reports
from xgem_bench.data.manifest import ManifestDataset, read_manifest, write_manifest
from xgem_bench.synthetic.phantom import Findings, Site, render_frontal, render_lateral, sample_anatomy
from xgem_bench.data.study import CHEXPERT_LABELS

#: Bump whenever the images, the report choice or the layout change: it is part of the cache folder name.
BUILDER_VERSION = 2
DEFAULT_SEED = 0
DEFAULT_STUDIES = 300
DEMO_NAME = "demo (synthetic phantoms)"
#: 8-bit PNGs (like MIMIC-CXR-JPG's 8-bit images): the phantoms' own noise (sd 0.008) exceeds the 1/255 step, and
#: 16-bit encoding would double the build time
DEMO_PNG_BITS = 8
NORMAL_SHARE = 0.3
SUBJECT_SPLITS = (("train", 0.6), ("validate", 0.1), ("test", 0.3))
_DEFAULT_ZONE = {"Pleural Effusion": "lower", "Atelectasis": "lower", "Edema": "mid"}
_BILATERAL_BY_DEFAULT = {"Edema"}
_README = """# {name}

Synthetic data. The radiographs are procedural phantoms drawn by xgem-bench (builder version {version}, seed {seed});
they show only the findings in the label columns and resemble no patient. Results on this dataset check that the
pipeline runs and that metrics react to known findings; they say nothing about performance on real patients.

The report texts are real impressions from the Indiana University Chest X-ray Collection (IU X-ray / Open-i), read
from the copy shipped inside the torchxrayvision package, unmodified. Licence: {licence}.
The `iu_report` column names the source report of each study.
"""


def usable_reports() -> list[tuple[IUReport, dict[str, float]]]:
    """Every IU report whose impression and MeSH tags agree on a drawable label vector, with those labels."""
    usable = []
    for report in read_iu_reports():
        try:
            usable.append((report, agreed_labels(report)))
        except Unusable:
            continue
    return usable


def _stream(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def plan_studies(seed: int, n_studies: int) -> pd.DataFrame:
    """Who is who, which report, which split: everything but the pixels (one row per study)."""
    pool = usable_reports()
    normal = [i for i, (_, labels) in enumerate(pool) if labels["No Finding"] == 1 and labels["Support Devices"] == 0]
    by_finding = {name: [i for i, (_, labels) in enumerate(pool) if labels[name] == 1] for name in DRAWN}
    by_finding = {name: members for name, members in by_finding.items() if members}
    names = list(by_finding)
    weights = np.sqrt([len(by_finding[name]) for name in names])
    weights = (1 - NORMAL_SHARE) * weights / weights.sum()
    rng = _stream(seed, 0)
    n_subjects = max(1, round(n_studies / 1.6))
    subject_of = np.r_[np.arange(n_subjects), rng.integers(0, n_subjects, n_studies - n_subjects)]
    subject_of = np.sort(subject_of)  # a subject's studies are consecutive, like a PACS export
    order = rng.permutation(n_subjects)
    bounds = np.cumsum([round(share * n_subjects) for _, share in SUBJECT_SPLITS[:-1]])
    split_of_subject = np.empty(n_subjects, dtype=object)
    for (name, _), members in zip(SUBJECT_SPLITS, np.split(order, bounds)):
        split_of_subject[members] = name
    used: set[int] = set()
    rows = []
    for index in range(n_studies):
        choice = _stream(seed, 1, index)
        target = choice.choice(["normal", *names], p=[NORMAL_SHARE, *weights])
        members = normal if target == "normal" else by_finding[target]
        fresh = [m for m in members if m not in used]
        picked = int(choice.choice(fresh or members))
        used.add(picked)
        report, labels = pool[picked]
        subject = int(subject_of[index])
        rows.append({"study_id": f"demo{index:04d}", "subject_id": f"phantom{subject:04d}",
                     "split": split_of_subject[subject], "report": report.impression, "iu_report": report.uid,
                     "subject_index": subject, **labels})
    return pd.DataFrame(rows)


def findings_for(row: dict, rng: np.random.Generator) -> Findings:
    """The drawn findings of a planned study, placed where its report says (at random where it does not)."""
    sites = finding_sites(row["report"])
    draw = [name for name in DRAWN if row[name] == 1]
    if "Lung Opacity" in draw and "Lung Opacity" not in sites:  # implied by consolidation or pneumonia
        if row["Consolidation"] == 1:
            draw.remove("Lung Opacity")  # the consolidation is the opacity
        else:
            sites["Lung Opacity"] = sites.get("Pneumonia", {})  # drawn where the pneumonia is
    present = {}
    device = "line"
    for name in draw:
        stated = sites.get(name, {})
        sides = stated.get("sides")
        if sides is None:
            sides = ("right", "left") if name in _BILATERAL_BY_DEFAULT else (str(rng.choice(["right", "left"])),)
        zone = stated.get("zone") or _DEFAULT_ZONE.get(name) or str(rng.choice(["upper", "mid", "lower"]))
        severity = float(np.clip(stated.get("severity", 0.55) + rng.uniform(-0.1, 0.1), 0.1, 1.0))
        present[name] = Site(sides=tuple(sides), zone=zone, severity=severity)
        device = stated.get("device", device)
    return Findings(present, device=device)


def render_study(seed: int, row: dict) -> tuple[np.ndarray, np.ndarray]:
    """The frontal and lateral phantom of one planned study (deterministic given seed and the row)."""
    index = int(row["study_id"].removeprefix("demo"))
    anatomy = sample_anatomy(_stream(seed, 2, int(row["subject_index"])))
    findings = findings_for(row, _stream(seed, 3, index))
    image_seed = [seed, 4, index]
    return render_frontal(anatomy, findings, image_seed), render_lateral(anatomy, findings, image_seed)


def build_demo(folder: str | os.PathLike, seed: int = DEFAULT_SEED, n_studies: int = DEFAULT_STUDIES) -> Path:
    """Write the demo (images/, manifest.csv, manifest.json, README.md) into `folder`; returns the manifest path."""
    folder = Path(folder)
    (folder / "images").mkdir(parents=True, exist_ok=True)
    plan = plan_studies(seed, n_studies)
    frontal, lateral, frontal_hash, lateral_hash = [], [], [], []
    for row in plan.to_dict("records"):
        images = render_study(seed, row)
        for view, image, paths, hashes in (("frontal", images[0], frontal, frontal_hash),
                                           ("lateral", images[1], lateral, lateral_hash)):
            relative = f"images/{row['study_id']}_{view}.png"
            hashes.append(save_png(folder / relative, image, bits=DEMO_PNG_BITS))
            paths.append(relative)
    plan["frontal"], plan["lateral"] = frontal, lateral
    plan["frontal_sha256"], plan["lateral_sha256"] = frontal_hash, lateral_hash
    columns = ["study_id", "subject_id", "split", "frontal", "lateral", "report", *CHEXPERT_LABELS, "iu_report",
               "frontal_sha256", "lateral_sha256"]
    meta = {"name": DEMO_NAME, "synthetic": True, "builder_version": BUILDER_VERSION, "seed": seed,
            "n_studies": n_studies, "licence": IU_LICENCE,
            "description": "procedural chest phantoms (frontal + lateral) paired with real IU X-ray impressions "
                           "that agree with their CheXpert labels; synthetic images, not patients"}
    (folder / "README.md").write_text(_README.format(name=DEMO_NAME, version=BUILDER_VERSION, seed=seed,
                                                     licence=IU_LICENCE))
    return write_manifest(plan[columns], folder / "manifest.csv", meta)


def demo_folder(seed: int = DEFAULT_SEED, n_studies: int = DEFAULT_STUDIES) -> Path:
    from xgem_bench.weights import cache_root

    return cache_root() / "datasets" / f"demo-v{BUILDER_VERSION}-seed{seed}-n{n_studies}"


def _parse_argument(argument: str | None) -> tuple[int, int]:
    options = {"seed": DEFAULT_SEED, "n": DEFAULT_STUDIES}
    for part in filter(None, (argument or "").split(",")):
        key, _, value = part.partition("=")
        if key.strip() not in options or not value.strip().isdigit():
            raise ValueError(f"demo dataset option {part!r} not understood; use e.g. demo:seed=1,n=300")
        options[key.strip()] = int(value)
    if options["n"] < 3:
        raise ValueError("the demo needs at least 3 studies (one per split)")
    return options["seed"], options["n"]


def load_demo(argument: str | None = None) -> ManifestDataset:
    """`demo` or `demo:seed=S,n=N` in load_dataset: built on first use (a few seconds), then read from the cache."""
    seed, n_studies = _parse_argument(argument)
    folder = demo_folder(seed, n_studies)
    if not (folder / "manifest.csv").is_file():
        with atomic_path(folder, folder=True) as staging:  # a half-built demo is never visible
            build_demo(staging, seed, n_studies)
    dataset = read_manifest(folder / "manifest.csv")
    if not dataset.synthetic:
        raise RuntimeError(f"{folder} is not a synthetic demo build; delete it and retry")
    return dataset
