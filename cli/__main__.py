"""``python -m finsent.cli``: the same as the ``finsent`` command (the demo starts its services this way)."""

from finsent.cli.main import main

if __name__ == "__main__":
    main()
