"""Issue 13 §5: weights are checked against a published or recorded sha256 before anything loads them."""
import hashlib
import json
import os

import pytest
from typer.testing import CliRunner

from xgem_bench import weights
from xgem_bench.cli import app
from xgem_bench.weights import WeightSpec

PAYLOAD = b"pretend these are network weights" * 100


@pytest.fixture
def catalog(tmp_path, monkeypatch):
    """Two small weights: one with a published sha256 (computed here with hashlib), one without."""
    folder = tmp_path / "store"
    specs = {
        "pinned": WeightSpec(name="pinned", description="d", used_by="test", source="https://example.org/p.bin",
                             licence="MIT", filename="p.bin", directory=lambda: folder,
                             sha256=hashlib.sha256(PAYLOAD).hexdigest()),
        "unpinned": WeightSpec(name="unpinned", description="d", used_by="test", source=None, licence="MIT",
                               filename="u", directory=lambda: folder, kind="folder", required_files=("a.bin",),
                               manual="by hand"),
    }
    monkeypatch.setattr(weights, "catalog", lambda: specs)
    folder.mkdir()
    return folder


def bump_mtime(path):
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))


def test_published_checksum_accepts_the_release_and_refuses_a_changed_file(catalog):
    (catalog / "p.bin").write_bytes(PAYLOAD)
    assert weights.require("pinned") == catalog / "p.bin"
    (catalog / "p.bin").write_bytes(PAYLOAD[:-1] + b"!")  # same size, other bytes
    bump_mtime(catalog / "p.bin")
    with pytest.raises(weights.WeightsMismatch, match=r"'pinned'.*the published checksum.*weights fetch pinned"):
        weights.require("pinned")


def test_trust_on_first_use_records_then_refuses_changes_until_reimported(catalog, tmp_path):
    snapshot = catalog / "u"
    snapshot.mkdir()
    (snapshot / "a.bin").write_bytes(b"first")
    (snapshot / "b.json").write_text("{}")
    weights.require("unpinned")  # arrived by hand: recorded now
    record = json.loads((weights.weights_root() / ".checksums" / "unpinned.json").read_text())  # beside the weights
    expected = hashlib.sha256()  # the folder digest, rebuilt from its definition: relative path NUL file digest
    for name, data in (("a.bin", b"first"), ("b.json", b"{}")):
        expected.update(name.encode() + b"\0" + hashlib.sha256(data).hexdigest().encode())
    assert record["sha256"] == expected.hexdigest() and "trust on first use" in record["source"]

    (snapshot / "b.json").write_text('{"auto_map": "evil.Model"}')
    with pytest.raises(weights.WeightsMismatch, match=r"recorded on .*weights import unpinned PATH"):
        weights.require("unpinned")

    replacement = tmp_path / "new"
    replacement.mkdir()
    (replacement / "a.bin").write_bytes(b"second")
    weights.import_file("unpinned", replacement)  # a deliberate replacement is recorded by importing it
    assert weights.require("unpinned") == snapshot and weights.checksum("unpinned") == weights.sha256_of(snapshot)


def test_unchanged_files_are_not_hashed_again(catalog, monkeypatch):
    (catalog / "p.bin").write_bytes(PAYLOAD)
    weights.require("pinned")
    hashed = []
    real = weights.sha256_of
    monkeypatch.setattr(weights, "sha256_of", lambda path: hashed.append(path) or real(path))
    weights.require("pinned")
    assert hashed == []  # same size and mtime as when verified
    bump_mtime(catalog / "p.bin")
    weights.require("pinned")
    assert hashed == [catalog / "p.bin"]


def test_cli_refuses_a_mismatch_with_one_clear_line(catalog):
    (catalog / "p.bin").write_bytes(b"x" * 10)
    result = CliRunner().invoke(app, ["weights", "import", "pinned", str(catalog / "p.bin")])
    assert result.exit_code == 2 and "checksum mismatch" in result.output
