"""ORL / AT&T face database reader: ``orl_faces/s<N>/<k>.pgm`` (identity, not emotion)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from affectlab.data.folders import _check_errors, _finish, _problem
from affectlab.data.sample import Dataset, Sample
from affectlab.data.scan import media_files, media_kind, subfolders

__all__ = ["load_orl", "ORL_SUBJECT_PATTERN"]

OnError = Literal["raise", "skip"]

#: Subject folder names: ``s1`` ... ``s40``.
ORL_SUBJECT_PATTERN = re.compile(r"^s\d+$")


def load_orl(root: str | Path, *, errors: OnError = "raise", name: str = "orl") -> Dataset:
    """Read the ORL faces: one folder ``s<N>`` of images per person.

    Parameters
    ----------
    root
        The ``orl_faces`` folder.
    errors
        ``"raise"``: a folder not named ``s<N>`` raises :class:`~affectlab.errors.DataError`;
        ``"skip"``: it goes to ``Dataset.problems``. Non-image files (``README``) are ignored.
    name
        Dataset name.

    Returns
    -------
    Dataset
        ``label`` = ``subject`` = ``"s<N>"`` (identity), classes ``s1, s2, ...`` in numeric
        order, extras ``image`` (the file stem, e.g. ``"7"``).

    Examples
    --------
    >>> ds = load_orl("../shared/datasets/orl_faces")  # doctest: +SKIP
    >>> len(ds), len(ds.classes)  # doctest: +SKIP
    (400, 40)
    """
    _check_errors(errors)
    root = Path(root)
    problems: list[str] = []
    samples: list[Sample] = []
    classes: list[str] = []
    for folder in subfolders(root):
        if not ORL_SUBJECT_PATTERN.match(folder.name):
            _problem(f"{folder}: not an ORL subject folder (expected s<N>)", errors, problems)
            continue
        classes.append(folder.name)
        for file in media_files(folder):
            if media_kind(file) != "image":
                continue
            samples.append(
                Sample(
                    id=file.relative_to(root).as_posix(),
                    path=file,
                    label=folder.name,
                    subject=folder.name,
                    extras={"image": file.stem},
                )
            )
    return _finish(name, root, samples, classes, problems, "s<N>/ image folders")
