import sys

from sevtriage.cli import main

sys.exit(main())
