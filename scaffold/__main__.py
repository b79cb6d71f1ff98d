"""`python -m scaffold` and the `scaffold` console script."""

import sys


def run() -> None:
    # Ctrl-C while the command line's modules are still importing: a message, not a traceback
    try:
        from .cli import main
    except KeyboardInterrupt:
        sys.exit("scaffold: interrupted; nothing was written")
    main()


if __name__ == "__main__":
    run()
