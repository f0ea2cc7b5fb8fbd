"""`python -m mycelium.distributed`: the command line, `mycelium.distributed.main`."""

import sys

from mycelium.distributed import main

if __name__ == "__main__":
    sys.exit(main())
