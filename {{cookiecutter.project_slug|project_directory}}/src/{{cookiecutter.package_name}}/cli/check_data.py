"""The ``check-data`` command: check the data as train does, and summarise it.

This module imports only Click, so that the CLI's ``--help`` stays instant;
the data is loaded when the command runs.
"""

from __future__ import annotations

from pathlib import Path

import click

from .options import config_option, refuse_replacing_inputs


@click.command("check-data")
@config_option
@click.option(
    "--output",
    "-o",
    "output_path",
    type=click.Path(path_type=Path),
    metavar="FILE",
    help="Also write the summary to FILE as JSON, e.g. a DVC metrics file.",
)
def check_data(config_path: Path, output_path: Path | None) -> None:
    """Check the configured data as train does, and summarise it.

    Fails, as train would, on a missing or non-numeric feature, a target the
    model cannot learn, or too few rows; else prints the rows, the missing
    cells of each feature and the target's classes or spread.
    """
    from ..config import load_config

    settings = load_config(config_path)
    if output_path is not None:
        refuse_replacing_inputs(output_path, config_path, settings.data.path)
    import json

    from ..workflows.check_data import check_data as summarize
    from ..workflows.reports import write_json

    summary = summarize(settings)
    click.echo(json.dumps(summary, indent=2))
    if output_path is not None:
        write_json(output_path, summary)
        click.echo(f"Wrote {output_path}")
