"""A missing checkpoint is a one-line usage error in every command that reads one."""

import pytest

from daefr_models import choose_fidelity, export, fidelity_curve


@pytest.mark.parametrize("main, extra", [
    (choose_fidelity.main, ["--data", "synthetic"]),
    (fidelity_curve.main, ["--data", "synthetic"]),
    (export.main, ["-o", "unused.onnx"]),
], ids=["choose_fidelity", "fidelity_curve", "export"])
def test_a_missing_checkpoint_is_a_usage_error(main, extra, tmp_path, capsys):
    for missing, said in [(tmp_path / "nothing.pt", "no such file"), (tmp_path, "(a folder)")]:
        with pytest.raises(SystemExit) as stop:
            main(["--checkpoint", str(missing), *extra])
        assert stop.value.code == 2
        err = capsys.readouterr().err
        assert "--checkpoint" in err and said in err and "Traceback" not in err
