import multiprocessing
import sys

from cvstudio.cli import main

if __name__ == "__main__":
    multiprocessing.freeze_support()  # a frozen build re-enters here in any child process it starts
    sys.exit(main())
