"""Without the optional `speech` extra the package imports and speech commands say how to install it."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from affectlab.audio._deps import require
from affectlab.errors import ConfigError


def test_require_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "opensmile", None)  # makes `import opensmile` fail
    with pytest.raises(ConfigError, match=r"openSMILE features needs the optional package 'opensmile'.*"
                                          r"pip install 'affectlab\[speech\]'"):
        require("opensmile", "openSMILE features")


def test_cli_without_opensmile_prints_one_line(tmp_path):
    wav = tmp_path / "a.wav"
    wav.write_bytes(b"RIFF")
    script = textwrap.dedent(f"""
        import sys
        sys.modules["opensmile"] = None
        import affectlab, affectlab.audio, affectlab.classify
        from affectlab.cli import main
        sys.exit(main(["analyze", {str(wav)!r}]))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "pip install 'affectlab[speech]'" in lines[0]
    assert "Traceback" not in done.stderr
