"""`python -m ddllm ...`: the `ddllm` command."""

import sys

from ddllm.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
