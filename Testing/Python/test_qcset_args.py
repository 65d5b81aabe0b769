"""qcset.py's options, refused before any ACDC file is read."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "training"))
import qcset  # noqa: E402


@pytest.mark.parametrize("splits", ["trian", "", "val,test"])
def test_an_unknown_split_is_refused_in_one_line(splits, monkeypatch, capsys, tmp_path):
    monkeypatch.setattr(sys, "argv", ["qcset.py", "--splits", splits, "--out", str(tmp_path / "out")])
    with pytest.raises(SystemExit) as e:
        qcset.main()
    assert e.value.code == 2
    assert "--splits takes val, train or both" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
