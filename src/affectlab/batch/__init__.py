"""Batch analysis of large collections (images, videos, recordings), resumable, on local processes or Dask.

>>> from affectlab.models import DEFAULT_MODEL
>>> from affectlab.batch import BatchOptions
>>> BatchOptions().model == DEFAULT_MODEL   # the bundled default expression model
True
"""

from affectlab.batch.items import BatchItem, discover_items
from affectlab.batch.runner import (
    BatchOptions,
    BatchSummary,
    process_chunk,
    result_row,
    run_batch,
    speech_row,
    video_row,
)
from affectlab.batch.store import ResultStore, probability_column, result_schema

__all__ = [
    "BatchItem",
    "BatchOptions",
    "BatchSummary",
    "ResultStore",
    "discover_items",
    "probability_column",
    "process_chunk",
    "result_row",
    "result_schema",
    "run_batch",
    "speech_row",
    "video_row",
]
