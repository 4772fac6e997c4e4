"""The `peel` command line (Typer): one module per command group."""
