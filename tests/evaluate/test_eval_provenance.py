"""Run folders record the code that made them: package versions and, in a git checkout, the commit."""

from __future__ import annotations

import re
from pathlib import Path

import affectlab
from affectlab.evaluate.runs import package_versions, source_commit


def test_versions_name_the_packages_and_the_commit_of_a_checkout():
    versions = package_versions("definitely-not-installed-package")
    assert versions["affectlab"] == affectlab.__version__ and "definitely-not-installed-package" not in versions
    commit = source_commit()
    checkout = (Path(affectlab.__file__).resolve().parents[2] / ".git").exists()
    if checkout:  # editable install from a clone, as `make test` does
        assert commit is not None and versions["affectlab_commit"] == commit
    if commit is not None:
        assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", commit)
