"""Agreement of xgem_bench's MIMIC-CXR section extraction with the official script, on the test reports (by hand).

    git clone https://github.com/MIT-LCP/mimic-cxr /tmp/mimic-cxr   # or any copy of its txt/ folder
    .venv/bin/python benchmarks/mimic_sections_agreement.py --upstream /tmp/mimic-cxr/txt

Writes tests/data/mimic_reports.py's texts (and, with --random N, N more reports drawn from a grammar of MIMIC's
header variants: misspellings, commas, addenda, empty and repeated sections, bare headers, no header at all) as
files/pXX/pSUBJECT/sSTUDY.txt, runs the upstream
create_section_files.py on them (with the interpreter given by --python; it needs only tqdm), and compares per
study: the conclusion (mimic_cxr_sections.csv) with report_text(..., "conclusion"), and the last impression and
findings sections (mimic_cxr_sectioned.csv) with report_text(..., "impression" / "findings"). Texts are compared
after whitespace collapse. Prints every disagreement and the agreement counts.
"""
from __future__ import annotations

import argparse
import csv
import random
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "data"))
from mimic_reports import REPORTS  # noqa: E402

from xgem_bench.data.mimic_sections import CUSTOM_OFFSETS, CUSTOM_SECTION, report_text  # noqa: E402


HEADERS = ["IMPRESSION", "FINDINGS", "COMPARISON", "INDICATION", "EXAMINATION", "TECHNIQUE", "HISTORY", "CONCLUSION",
           "FINDINGS AND IMPRESSION", "IMPRESSIONS", "IMPRESSOIN", "IMPRESION", "FINDNGS", "CHEST, TWO VIEWS",
           "PA AND LATERAL VIEWS OF THE CHEST", "PORTABLE AP CHEST", "REASON FOR EXAM", "CLINICAL HISTORY", "ADDENDUM",
           "WET READ", "NOTIFICATION", "RECOMMENDATION(S)", "FINAL IMPRESSION", "COMPARISONS", "FINDINGS/IMPRESSION",
           "PROVIDER", "DATE"]
SENTENCES = ["No acute cardiopulmonary process.", "The heart is mildly enlarged.", "No pleural effusion.",
             "Lungs are clear.", "Right basilar atelectasis.", "Endotracheal tube 4 cm above the carina.",
             "Compared to ___, no change.", "___ year old man with cough.", "Chest PA and lateral.",
             "NO ACUTE PROCESS: see above.", "Mild pulmonary edema, improved."]


def random_report(rng: random.Random) -> str:
    """A report in MIMIC's layout (one leading space per line, blank lines of one space) from random parts."""
    lines = ["                                 FINAL REPORT"] if rng.random() < 0.9 else []
    if rng.random() < 0.1:  # an addendum on top
        lines = [" ADDENDUM: " + rng.choice(SENTENCES), " ", " IMPRESSION: " + rng.choice(SENTENCES), " ",
                 " " + "_" * 78] + lines
    for _ in range(rng.randint(0, 6)):
        header = rng.choice(HEADERS)
        body = " ".join(rng.choice(SENTENCES) for _ in range(rng.randint(0, 3)))
        if rng.random() < 0.3:  # bare header, text on the next lines
            lines += [f" {header}:", " ", f" {body}"]
        else:
            lines.append(f" {header}:  {body}")
        if rng.random() < 0.3:  # a second paragraph
            lines += [" ", " " + rng.choice(SENTENCES)]
        lines.append(" ")
    if rng.random() < 0.3:  # trailing paragraphs without header
        lines += [" " + rng.choice(SENTENCES), " ", " " + rng.choice(SENTENCES)]
    return "\n".join(lines) + "\n"


def upstream_sections(upstream: Path, python: str, reports: dict[str, str]) -> tuple[dict, dict]:
    with tempfile.TemporaryDirectory() as tmp:
        files = Path(tmp) / "files"
        for index, (study, text) in enumerate(reports.items()):
            subject = f"{10000000 + index}"
            folder = files / f"p{subject[:2]}" / f"p{subject}"
            folder.mkdir(parents=True, exist_ok=True)
            (folder / f"s{study}.txt").write_text(text)
        out = Path(tmp) / "out"
        subprocess.run([python, "create_section_files.py", "--reports_path", str(files), "--output_path", str(out),
                        "--no_split"], cwd=upstream, check=True, capture_output=True)
        with open(out / "mimic_cxr_sections.csv", newline="") as handle:
            conclusions = {row[0][1:]: row[1] for row in csv.reader(handle)}
        with open(out / "mimic_cxr_sectioned.csv", newline="") as handle:
            sectioned = {row["study"][1:]: row for row in csv.DictReader(handle)}
    return conclusions, sectioned


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=Path, required=True, help="MIT-LCP/mimic-cxr's txt/ folder")
    parser.add_argument("--python", default=sys.executable, help="interpreter for the upstream script")
    parser.add_argument("--random", type=int, default=0, help="also N reports drawn from the header grammar")
    args = parser.parse_args()
    rng = random.Random(0)
    reports = dict(REPORTS) | {str(60000000 + i): random_report(rng) for i in range(args.random)}
    conclusions, sectioned = upstream_sections(args.upstream, args.python, reports)
    agree = {"conclusion": 0, "impression": 0, "findings": 0}
    totals = dict.fromkeys(agree, 0)
    for study, text in reports.items():
        checks = [("conclusion", conclusions[study])]
        if study not in CUSTOM_OFFSETS and study not in CUSTOM_SECTION:  # upstream writes no sectioned row for them
            checks += [(name, sectioned[study][name] or "") for name in ("impression", "findings")]
        for name, theirs in checks:
            ours, _ = report_text(text, study, name)
            totals[name] += 1
            if ours == " ".join(theirs.split()):
                agree[name] += 1
            else:
                print(f"s{study} {name}: ours {ours!r} upstream {theirs!r}")
    for name in agree:
        print(f"{name}: {agree[name]}/{totals[name]} reports agree with create_section_files.py")
    print(f"({len(REPORTS)} test reports + {args.random} drawn reports)")


if __name__ == "__main__":
    main()
