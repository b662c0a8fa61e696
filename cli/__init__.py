"""The command line: one module per subcommand (``add_parser`` + ``run``); ``main.py`` is the entry point."""
