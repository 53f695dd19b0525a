"""`abm ops`: operations helpers (the Grafana dashboard file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from abm.ops.dashboard import render

app = typer.Typer(help="Operations: the Grafana dashboard file.", no_args_is_help=True)
DEFAULT_DASHBOARD = Path("deploy/grafana/dashboards/abm.json")


@app.command()
def dashboard(
    out: Annotated[Path, typer.Option(help="Where to write the dashboard JSON.")] = (
        DEFAULT_DASHBOARD
    ),
    check: Annotated[
        bool, typer.Option(help="Only check that the file is up to date (exit 1 if not).")
    ] = False,
) -> None:
    """Write the Grafana dashboard (abm.ops.dashboard) as JSON for provisioning."""
    content = render()
    if check:
        current = out.read_bytes() if out.is_file() else b""
        if current != content:
            typer.secho(f"{out} is out of date: run `abm ops dashboard`", err=True, fg="red")
            raise typer.Exit(1)
        typer.echo(f"{out} is up to date")
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(content)
    typer.echo(f"wrote {out}")
