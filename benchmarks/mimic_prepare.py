"""Throughput of `data prepare-mimic` on DICOMs of MIMIC-CXR's size (run by hand).

    .venv/bin/python benchmarks/mimic_prepare.py [--studies 12] [--workers 1 2] [--syntax explicit|jpeg-lossless]
                                                 [--jpg]

Writes STUDIES studies (a PA and a lateral each) of 3056 x 2544 12-bit DICOMs (the size of the images in the official
metadata notebook) at 0.139 mm, the lateral at 0.1 mm so that resampling is timed too, with an official-style report,
then times prepare_mimic per worker count on a fresh output folder. `--jpg` times 8-bit JPGs (MIMIC-CXR-JPG) instead.
Prints images/s (wall clock, and CPU seconds per image, which a busy machine does not inflate) and the estimate for
the paper's 154,721 images and for all 377,110 of MIMIC-CXR.
"""
from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
from conftest import write_dicom  # noqa: E402
from mimic_reports import REPORTS  # noqa: E402
from mimic_tree import dicom_id, transcode  # noqa: E402

from xgem_bench.data.mimic import prepare_mimic  # noqa: E402

SHAPE = (3056, 2544)


def build(root: Path, studies: int, syntax: str, jpg: bool) -> None:
    rng = np.random.default_rng(0)
    # smooth body-like content plus noise: compresses like a radiograph, not like a constant
    yy, xx = np.mgrid[0:SHAPE[0], 0:SHAPE[1]]
    body = 2500 * np.exp(-(((xx - SHAPE[1] / 2) / 900) ** 2 + ((yy - SHAPE[0] / 2) / 1200) ** 2))
    metadata = []
    for index in range(studies):
        subject, study = f"{11000000 + index}", f"{51000000 + index}"
        folder = root / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
        folder.mkdir(parents=True, exist_ok=True)
        folder.with_suffix(".txt").write_text(REPORTS["50000001"])
        for name, view, spacing in (("a", "PA", 0.139), ("b", "LATERAL", 0.1)):
            stored = np.clip(body + rng.normal(0, 40, SHAPE), 0, 4095).astype(np.uint16)
            image = dicom_id(study, name)
            if jpg:
                Image.fromarray((stored >> 4).astype(np.uint8)).save(folder / f"{image}.jpg", quality=95)
            else:
                path = write_dicom(folder / f"{image}.dcm", stored, spacing=(spacing, spacing))
                if syntax != "explicit":
                    transcode(path, syntax)
            metadata.append({"dicom_id": image, "subject_id": subject, "study_id": study, "ViewPosition": view})
    pd.DataFrame(metadata).to_csv(root / "mimic-cxr-2.0.0-metadata.csv", index=False)
    pd.DataFrame(metadata).assign(split="test").drop(columns="ViewPosition").to_csv(
        root / "mimic-cxr-2.0.0-split.csv", index=False)


def _cpu_seconds() -> float:
    """CPU time of this process and its finished children (the worker pool): what the work costs on an idle core."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--studies", type=int, default=12)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--syntax", default="explicit", choices=["explicit", "jpeg-lossless", "j2k", "rle"])
    parser.add_argument("--jpg", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        source = Path(tmp) / "src"
        start = time.perf_counter()
        build(source, args.studies, args.syntax, args.jpg)
        kind = "jpg" if args.jpg else f"dicom ({args.syntax})"
        print(f"built {2 * args.studies} {kind} images of {SHAPE[0]}x{SHAPE[1]} in {time.perf_counter() - start:.1f} s")
        for workers in args.workers:
            out = Path(tmp) / f"out{workers}"
            cpu, start = _cpu_seconds(), time.perf_counter()
            prepare_mimic(source, out, workers=workers, allow_jpg=args.jpg)
            seconds, cpu = time.perf_counter() - start, _cpu_seconds() - cpu
            rate = 2 * args.studies / seconds
            print(f"workers={workers}: {rate:.2f} images/s wall ({cpu / (2 * args.studies):.2f} CPU s per image); "
                  f"the paper's 154,721 images: {154_721 / rate / 3600:.1f} h; all 377,110: "
                  f"{377_110 / rate / 3600:.1f} h")


if __name__ == "__main__":
    main()
