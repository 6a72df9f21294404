"""Run folders record the code that made them: package versions and, in a git checkout, the commit."""

from __future__ import annotations

import re
from pathlib import Path

import affectlab
from affectlab.experiments.runs import package_versions, source_commit


def test_versions_name_the_packages_and_the_commit_of_a_checkout():
    versions = package_versions("definitely-not-installed-package")
    assert versions["affectlab"] == affectlab.__version__ and "definitely-not-installed-package" not in versions
    commit = source_commit()
    checkout = (Path(affectlab.__file__).resolve().parents[2] / ".git").exists()
    if checkout:  # editable install from a clone, as `make test` does
        assert commit is not None and versions["affectlab_commit"] == commit
    if commit is not None:
        assert re.fullmatch(r"[0-9a-f]{12}(\+dirty)?", commit)


def test_dataset_fingerprint_follows_file_bytes_pixels_and_metadata(tmp_path):
    import numpy as np

    from affectlab.data.sample import Dataset, Sample

    a, b = tmp_path / "a.png", tmp_path / "b.png"
    a.write_bytes(b"one")
    b.write_bytes(b"two")
    files = Dataset("d", [Sample("a", a, "happy", "s1"), Sample("b", b, "sad", "s2")], ["happy", "sad"])
    same = Dataset("d", [Sample("a", a, "happy", "s1"), Sample("b", b, "sad", "s2")], ["happy", "sad"])
    assert re.fullmatch(r"[0-9a-f]{64}", files.fingerprint()) and files.fingerprint() == same.fingerprint()
    before = files.fingerprint()
    b.write_bytes(b"tw0")  # one byte of one file
    assert files.fingerprint() != before
    assert files.subset([1, 0]).fingerprint() != files.fingerprint()  # order counts
    relabelled = Dataset("d", [Sample("a", a, "sad", "s1"), Sample("b", b, "sad", "s2")], ["happy", "sad"])
    assert relabelled.fingerprint() != files.fingerprint()
    pix = np.zeros((2, 2), np.uint8)
    table = Dataset("t", [Sample("r0", None, "happy", pixels=pix)], ["happy"])
    pix2 = pix.copy()
    pix2[1, 1] = 1
    assert table.fingerprint() != Dataset("t", [Sample("r0", None, "happy", pixels=pix2)], ["happy"]).fingerprint()


def test_array_fingerprint_sees_values_shapes_and_object_text():
    import numpy as np

    from affectlab.experiments.runs import array_fingerprint

    x = np.arange(6, dtype=np.uint8)
    assert array_fingerprint(x) == array_fingerprint(x.copy())
    assert array_fingerprint(x) != array_fingerprint(x.reshape(2, 3))
    subjects = np.array(["s1", "s2"], dtype=object)
    assert array_fingerprint(x, subjects) != array_fingerprint(x, np.array(["s1", "s3"], dtype=object))
