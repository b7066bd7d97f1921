"""The IU X-ray (Open-i) report texts that torchxrayvision ships (`data/NLMCXR_reports.tgz`, CC BY-NC-ND 4.0).

Read in place from the installed package, never copied: the labeler's benchmark and its held-out check use them.
"""
from __future__ import annotations

import importlib.util
import tarfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class IUReport:
    name: str  # file name inside the archive, e.g. "ecgen-radiology/207.xml"
    findings: str
    impression: str
    mesh_major: tuple[str, ...]  # MeSH "major" terms, e.g. "Cardiomegaly/mild"

    @property
    def text(self) -> str:
        return " ".join(t for t in (self.findings, self.impression) if t)


def iu_archive() -> Path:
    # located without importing torchxrayvision (which imports torch: seconds)
    spec = importlib.util.find_spec("torchxrayvision")
    if spec is None or spec.origin is None:
        raise RuntimeError("the IU X-ray reports ship with torchxrayvision: pip install torchxrayvision")
    return Path(spec.origin).parent / "data" / "NLMCXR_reports.tgz"


def load_iu_reports(names: set[str] | None = None) -> list[IUReport]:
    """Every report of the archive (or those named), sorted by file name."""
    reports = []
    with tarfile.open(iu_archive()) as tar:
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if not member.name.endswith(".xml") or (names is not None and member.name not in names):
                continue
            root = ET.fromstring(tar.extractfile(member).read())
            sections = {el.get("Label"): (el.text or "").strip() for el in root.iter("AbstractText")}
            mesh = tuple(m.text for m in root.iter("major") if m.text)
            reports.append(IUReport(member.name, sections.get("FINDINGS", ""), sections.get("IMPRESSION", ""), mesh))
    return reports
