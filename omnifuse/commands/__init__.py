"""One module per `omnifuse` subcommand (see omnifuse/cli.py for the protocol)."""

__all__: list[str] = []
