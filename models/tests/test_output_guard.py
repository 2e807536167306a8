"""Commands that write model files never replace one unless told (`--force`), never their input."""

import onnx

from daefr_models import export, quantize
from daefr_models.onnx_tools import REPO_ROOT
from daefr_models.output_guard import refusal

TINY = REPO_ROOT / "tests" / "fixtures" / "daefr-tiny.onnx"


def test_refusal_names_the_reason(tmp_path):
    new, old = tmp_path / "new.onnx", tmp_path / "old.onnx"
    old.write_bytes(b"keep")
    assert refusal(new) is None
    assert "--force" in refusal(old)
    assert refusal(old, force=True) is None
    assert "input" in refusal(old, (old,), force=True)
    assert "folder" in refusal(tmp_path, force=True)


def test_export_keeps_an_existing_file_unless_forced(tmp_path, capsys):
    out = tmp_path / "m.onnx"
    out.write_bytes(b"keep me")
    args = ["--config", "tiny-32", "--random-init", "--no-parity", "-o", str(out)]
    assert export.main(args) == 2
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert export.main(args + ["--force"]) == 0
    assert onnx.load(str(out)).graph.node


def test_quantize_keeps_an_existing_file_and_its_input(tmp_path, capsys):
    out = tmp_path / "m-int8.onnx"
    out.write_bytes(b"keep me")
    assert quantize.main([str(TINY), "-o", str(out)]) == 2
    assert out.read_bytes() == b"keep me"
    before = TINY.read_bytes()
    assert quantize.main([str(TINY), "-o", str(TINY), "--force"]) == 2
    assert quantize.main([str(TINY), "-o", str(tmp_path), "--force"]) == 2
    assert TINY.read_bytes() == before
    assert "input file" in capsys.readouterr().err
    assert quantize.main([str(TINY), "-o", str(out), "--force"]) == 0
    assert onnx.load(str(out)).graph.node
