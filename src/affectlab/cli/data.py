"""``affectlab data``: inspect datasets (placeholder, filled by the data-layer work)."""

import click


@click.group("data")
def data_group() -> None:
    """Inspect datasets."""
