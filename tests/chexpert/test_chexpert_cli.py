"""`xgem-bench label`: formats and bad input."""
import pandas as pd
from typer.testing import CliRunner

from xgem_bench.cli import app


def _run(*args):
    return CliRunner().invoke(app, ["label", *map(str, args)])


def test_non_utf8_input_is_a_clear_error_and_encoding_option_reads_it(tmp_path):
    src = tmp_path / "r.csv"
    src.write_bytes(b"No effusion \xff here.\nSmall pneumothorax.\n")
    out = tmp_path / "out.csv"
    result = _run(src, "-o", out)
    assert result.exit_code == 2 and "not valid utf-8" in result.output and "0xff" in result.output
    assert not out.exists()
    assert _run(src, "-o", out, "--encoding", "latin-1").exit_code == 0
    frame = pd.read_csv(out)
    assert len(frame) == 2 and frame.loc[0, "Pleural Effusion"] == 0 and frame.loc[1, "Pneumothorax"] == 1


def test_header_column_blank_rows_and_errors(tmp_path):
    src = tmp_path / "r.csv"
    src.write_text('study_id,report\ns1,"No effusion."\ns2,\ns3,Mild cardiomegaly.\n')
    out = tmp_path / "out.csv"
    assert _run(src, "-o", out, "--column", "report").exit_code == 0
    frame = pd.read_csv(out, keep_default_na=False)
    assert frame["Reports"].tolist() == ["No effusion.", "", "Mild cardiomegaly."]  # row order kept
    missing = _run(src, "-o", out, "--column", "text")
    assert missing.exit_code == 2 and "no column 'text'" in missing.output
    two_columns = _run(src, "-o", out)
    assert two_columns.exit_code == 2 and "--column" in two_columns.output
    assert _run(tmp_path / "nope.csv", "-o", out).exit_code == 2
    same = _run(src, "-o", src)
    assert same.exit_code == 2 and src.read_text().startswith("study_id")
