"""Datasets and manifests: one :class:`Sample` record and a reader per source layout."""

from affectlab.data.fer2013 import load_fer2013
from affectlab.data.media import read_image, sample_photo, to_gray, to_rgb
from affectlab.data.sample import Dataset, Sample

__all__ = ["Dataset", "Sample", "load_fer2013", "read_image", "sample_photo", "to_gray", "to_rgb"]
