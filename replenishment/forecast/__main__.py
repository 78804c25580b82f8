"""``python -m replenishment.forecast <dir>``: the subprocess worker of forecast_frames."""

import sys

from replenishment.forecast.workers import worker_main

if __name__ == "__main__":
    sys.exit(worker_main(sys.argv[1]))
