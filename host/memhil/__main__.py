import sys

from memhil.cli import main

sys.exit(main())
