"""A config mapping written to a YAML file and read back as a kind's reader receives it (the schema tests)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from affectlab.experiments.config import read_raw_config


def written_config(tmp_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """``config`` saved as ``tmp_path/typed.yaml`` and read back, with the ``_path`` the readers resolve from."""
    path = tmp_path / "typed.yaml"
    path.write_text(yaml.safe_dump(config))
    raw, _ = read_raw_config(path)
    return {**raw, "_path": path}
