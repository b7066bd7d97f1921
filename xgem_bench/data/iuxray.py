"""IU X-ray / Open-i: reports from the XMLs that ship inside torchxrayvision, images from a user's Open-i PNG folder.

The report XMLs (`torchxrayvision/data/NLMCXR_reports.tgz`, 3,955 reports, licence CC BY-NC-ND 4.0 as stated in each
XML) are read in place, never copied. `read_iu_reports()` works without any image: the demo dataset uses it.

Views: the DICOM header table bundled with torchxrayvision (`nlmcxr_dicom_metadata.csv.gz`, column "View Position")
names PA / AP / LL / LATERAL for most images; where it is blank we fall back to the t-SNE-derived view that
torchxrayvision also bundles (`nlmcxr_tsne_pa.csv.gz`: PA or L). Frontal = first PA, else AP; lateral = first
LATERAL/LL, else any other lateral view; in a two-image study where one image has a known view and the other none,
the other is taken as the missing view. Labels: IU has no CheXpert labels; we map its MeSH "major" tags to the
CheXpert columns they name unambiguously (see MESH_TO_CHEXPERT), a report tagged only `normal` gets No Finding = 1 and
0 for every mapped observation; everything else stays blank.

There is no official split: studies are assigned by a hash of the report id (one report = one patient here),
70 / 10 / 20 % train / validate / test.
"""
from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
import importlib.util
from pathlib import Path

import pandas as pd

from xgem_bench.data.manifest import ManifestDataset
from xgem_bench.data.splits import hash_split
from xgem_bench.data.study import CHEXPERT_LABELS

IU_LICENCE = ("IU X-ray / Open-i reports: Indiana University Chest X-ray Collection, CC BY-NC-ND 4.0 "
              "(http://creativecommons.org/licenses/by-nc-nd/4.0/): non-commercial use, no derivatives, attribution")
FRONTAL_VIEWS = ("PA", "AP")
LATERAL_VIEWS = ("LATERAL", "LL", "RL", "LARGE LATERAL", "L")
IU_SPLIT_FRACTIONS = {"train": 0.7, "validate": 0.1, "test": 0.2}
#: MeSH major head term -> CheXpert observation (only terms that name the observation without ambiguity).
MESH_TO_CHEXPERT = {
    "Cardiomegaly": "Cardiomegaly",
    "Pleural Effusion": "Pleural Effusion",
    "Opacity": "Lung Opacity",
    "Airspace Disease": "Lung Opacity",
    "Infiltrate": "Lung Opacity",
    "Consolidation": "Consolidation",
    "Pulmonary Edema": "Edema",
    "Pulmonary Congestion": "Edema",
    "Pneumothorax": "Pneumothorax",
    "Pneumonia": "Pneumonia",
    "Pulmonary Atelectasis": "Atelectasis",
    "Nodule": "Lung Lesion",
    "Mass": "Lung Lesion",
    "Fractures, Bone": "Fracture",
    "Catheters, Indwelling": "Support Devices",
    "Implanted Medical Device": "Support Devices",
    "Tube, Inserted": "Support Devices",
    "Medical Device": "Support Devices",
    "Stents": "Support Devices",
}


class IUXrayError(ValueError):
    """The IU X-ray files cannot be found or read."""


@dataclass(frozen=True)
class IUReport:
    uid: str  # "CXR1"
    findings: str
    impression: str
    mesh_major: tuple[str, ...]  # e.g. ("Cardiomegaly/mild", "Opacity/lung/base/left")
    mesh_automatic: tuple[str, ...]
    image_ids: tuple[str, ...]  # Open-i image ids, e.g. "CXR1_1_IM-0001-3001" (PNG file stem)
    source: str = ""  # the XML's name inside the archive, e.g. "ecgen-radiology/1.xml"

    @property
    def text(self) -> str:
        """Findings and impression, the report text the labeler benchmarks read."""
        return " ".join(t for t in (self.findings, self.impression) if t)

    @property
    def mesh_terms(self) -> frozenset[str]:
        """The head term of each major tag ("Opacity/lung/base" -> "Opacity")."""
        return frozenset(tag.split("/")[0].strip() for tag in self.mesh_major)

    @property
    def is_normal(self) -> bool:
        return self.mesh_terms == {"normal"}

    def labels(self) -> dict[str, float]:
        """CheXpert-style labels from the MeSH tags (see the module docstring)."""
        if self.is_normal:
            return {"No Finding": 1.0, **{name: 0.0 for name in set(MESH_TO_CHEXPERT.values())}}
        return {MESH_TO_CHEXPERT[t]: 1.0 for t in self.mesh_terms if t in MESH_TO_CHEXPERT}


def _xrv_data_file(name: str) -> Path:
    # find_spec locates the installed package without importing it (importing torchxrayvision imports torch: slow)
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or not spec.submodule_search_locations:
        raise IUXrayError("IU X-ray reports need the torchxrayvision package (pip install torchxrayvision)")
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / name
    if not path.is_file():
        raise IUXrayError(f"torchxrayvision does not ship {name} (looked at {path}); install torchxrayvision>=1.2")
    return path


def _text(element) -> str:
    return re.sub(r"\s+", " ", element.text or "").strip() if element is not None else ""


def _parse_report(data: bytes, member: str) -> IUReport:
    root = ET.fromstring(data)
    sections = {node.get("Label"): _text(node) for node in root.iter("AbstractText")}
    uid = root.find("uId")
    return IUReport(uid=uid.get("id") if uid is not None else Path(member).stem,
                    findings=sections.get("FINDINGS", ""), impression=sections.get("IMPRESSION", ""),
                    mesh_major=tuple(_text(n) for n in root.iter("major") if _text(n)),
                    mesh_automatic=tuple(_text(n) for n in root.iter("automatic") if _text(n)),
                    image_ids=tuple(n.get("id") for n in root.iter("parentImage") if n.get("id")), source=member)


@lru_cache(maxsize=2)
def read_iu_reports(archive: str | None = None) -> tuple[IUReport, ...]:
    """All report XMLs, sorted by numeric id (CXR1, CXR2, ...). About 0.5 s; cached per process."""
    path = Path(archive) if archive else _xrv_data_file("NLMCXR_reports.tgz")
    reports = []
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".xml"):
                    reports.append(_parse_report(tar.extractfile(member).read(), member.name))
    except (tarfile.TarError, ET.ParseError, OSError) as error:
        raise IUXrayError(f"cannot read the IU X-ray report archive {path}: {error}") from error
    return tuple(sorted(reports, key=lambda r: int(re.sub(r"\D", "", r.uid) or 0)))


@lru_cache(maxsize=1)
def iu_image_views() -> dict[str, str]:
    """Open-i image id -> view (PA, AP, LL, LATERAL, ...; the t-SNE view PA/L where the DICOM header has none)."""
    header = pd.read_csv(_xrv_data_file("nlmcxr_dicom_metadata.csv.gz"), usecols=["imageid", "View Position"])
    tsne = pd.read_csv(_xrv_data_file("nlmcxr_tsne_pa.csv.gz"))
    views = dict(zip(tsne["imageid"], tsne["tsne-view"]))
    views.update({i: str(v).strip().upper() for i, v in zip(header["imageid"], header["View Position"])
                  if isinstance(v, str) and v.strip()})
    return views


def pair_views(image_ids: tuple[str, ...], views: dict[str, str]) -> tuple[str | None, str | None]:
    """(frontal, lateral) image ids: frontal PA before AP, lateral by LATERAL_VIEWS order; None where absent."""
    def first(candidates):
        for view in candidates:
            for image_id in image_ids:
                if views.get(image_id) == view:
                    return image_id
        return None
    frontal, lateral = first(FRONTAL_VIEWS), first(LATERAL_VIEWS)
    # IU studies are mostly one PA + one lateral: in a two-image study whose second view is not recorded anywhere,
    # that image is the other view
    unknown = [i for i in image_ids if i not in views]
    if len(image_ids) == 2 and len(unknown) == 1 and (frontal is None) != (lateral is None):
        frontal, lateral = (frontal or unknown[0]), (lateral or unknown[0])
    return frontal, lateral


def iu_table(png_dir: str | Path) -> pd.DataFrame:
    """One row per report with an impression; image paths are PNG names in `png_dir` (blank when absent)."""
    png_dir = Path(png_dir)
    present = {p.stem for p in png_dir.glob("*.png")}
    views = iu_image_views()
    rows = []
    for report in read_iu_reports():
        if not report.impression:
            continue
        frontal, lateral = pair_views(report.image_ids, views)
        labels = report.labels()
        rows.append({"study_id": report.uid, "subject_id": report.uid,
                     "frontal": f"{frontal}.png" if frontal in present else "",
                     "lateral": f"{lateral}.png" if lateral in present else "",
                     "report": report.impression, "split": hash_split(report.uid, IU_SPLIT_FRACTIONS, "iu-xray"),
                     **{name: labels.get(name) for name in CHEXPERT_LABELS}})
    return pd.DataFrame(rows)


def load_iuxray(argument: str | None) -> ManifestDataset:
    """`iu-xray:PNG_DIR` in load_dataset: the Open-i PNG folder (NLMCXR_png.tgz, unpacked)."""
    if not argument:
        raise IUXrayError("the IU X-ray reader needs the Open-i PNG folder: --dataset iu-xray:PATH "
                          "(images from https://openi.nlm.nih.gov/faq, NLMCXR_png.tgz)")
    png_dir = Path(argument)
    if not png_dir.is_dir():
        raise IUXrayError(f"IU X-ray PNG folder {png_dir} does not exist")
    table = iu_table(png_dir)
    if not (table["frontal"].astype(bool) | table["lateral"].astype(bool)).any():
        raise IUXrayError(f"no Open-i PNG named like CXR<id>_IM-<...>.png found in {png_dir}")
    return ManifestDataset(table, png_dir, name="iu-xray", source=str(png_dir),
                           meta={"licence": IU_LICENCE, "png_dir": str(png_dir)})
