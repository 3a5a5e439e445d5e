import sys

from assist.cli.main import main

sys.exit(main())
