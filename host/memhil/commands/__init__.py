"""Subcommands of the ``memhil`` CLI (see memhil.cli)."""
