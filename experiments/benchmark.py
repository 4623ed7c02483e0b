"""Benchmark the national scenario at 1:1 scale: resident-steps per second and memory per resident.

Usage: python experiments/benchmark.py [--scale K] [--weeks W]   (same as `sn-sim bench`)
"""

import sys

from sn_sim.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
