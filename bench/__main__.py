"""``python -m bench``: run the benchmark (see ``python -m bench --help``)."""

from bench.cli import main

if __name__ == "__main__":
    main()
