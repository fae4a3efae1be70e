"""``python -m lenet``: the command line (``lenet.cli``)."""

import atexit
import os
import sys

from lenet.cli import main

code = main()
# A normal exit with torch loaded takes half a second here, collecting every module's objects
# one by one. By now each command has written and closed its files: run the exit handlers
# (logging's, Ray's), flush, and leave without the collection.
atexit._run_exitfuncs()
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
