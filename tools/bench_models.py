"""Same as `segnet bench models ...` (kept for people who run tools/ scripts by hand)."""

import argparse
import sys

from segnet.bench import models

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=models.__doc__.splitlines()[0])
    models.add_arguments(parser)
    sys.exit(models.run(parser.parse_args()))
