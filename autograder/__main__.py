"""``python -m autograder``: see ``autograder.cli``."""
import gc
import sys

from .cli import main

code = main()
# Everything is written; the interpreter's shutdown would walk every object torch, pytest and
# matplotlib made (a second of a cold grade) only to free memory the exit frees anyway.
gc.freeze()
sys.exit(code)
