"""``python -m graphfuse`` is the ``graphfuse`` command."""

from graphfuse.cli import main

if __name__ == "__main__":
    main()
