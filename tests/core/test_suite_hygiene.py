"""Rules for the test suite itself: the project's own modules are imported, never `importorskip`'d (an ImportError
there is a bug that must fail, not a missing optional package that may skip)."""
import re
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
OWN_MODULE_SKIP = re.compile(r"importorskip\(\s*[\"']xgem_bench")


def test_own_modules_are_never_importorskipped():
    files = sorted(p for p in TESTS.rglob("*.py") if p != Path(__file__).resolve())
    offenders = [f"{path.relative_to(TESTS)}:{number}" for path in files
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
                 if OWN_MODULE_SKIP.search(line)]
    assert not offenders, f"import the project's own modules directly: {offenders}"


def test_the_rule_catches_the_pattern():
    assert OWN_MODULE_SKIP.search('    pytest.importorskip("xgem_bench.labelers.chexpert")')
    assert not OWN_MODULE_SKIP.search('    pytest.importorskip("RaTEScore")')
