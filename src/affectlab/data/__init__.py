"""Datasets and manifests: one :class:`Sample` record and a reader per source layout.

:func:`load_dataset` reads any supported source and detects its layout; the readers behind it can
be called directly.
"""

from affectlab.data.emodb import EMODB_CLASSES, load_emodb
from affectlab.data.fer2013 import load_fer2013
from affectlab.data.folders import load_class_folders, load_filename_labelled, media_kind, parse_subject
from affectlab.data.loader import FORMATS, detect_format, load_dataset
from affectlab.data.manifest import load_manifest
from affectlab.data.media import read_image, sample_photo, to_gray, to_rgb
from affectlab.data.orl import load_orl
from affectlab.data.sample import Dataset, Sample

__all__ = [
    "Dataset",
    "Sample",
    "load_dataset",
    "detect_format",
    "FORMATS",
    "load_fer2013",
    "load_class_folders",
    "load_filename_labelled",
    "load_manifest",
    "load_emodb",
    "load_orl",
    "EMODB_CLASSES",
    "media_kind",
    "parse_subject",
    "read_image",
    "sample_photo",
    "to_gray",
    "to_rgb",
]
