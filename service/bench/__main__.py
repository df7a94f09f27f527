"""`python -m service.bench [--quick | --smoke]`: the same as `maildesk bench`."""

import sys

from service.bench.cli import main

sys.exit(main())
