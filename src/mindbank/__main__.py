"""``python -m mindbank``: the same as the ``mindbank`` command."""

from mindbank.cli.main import main

if __name__ == "__main__":
    main()
