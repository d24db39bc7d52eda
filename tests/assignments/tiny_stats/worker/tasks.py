"""tiny_stats' worker tasks: routines that run the student's code inside the sandbox on data the
grader does not send. Each task is ``function(namespace, payload, options) -> plain data``; it only
observes, every verdict is the grader's. Imported once per fork-server, standard library only.
"""
from __future__ import annotations

import csv
import os

SERIES_FILE = "series.csv"  # bound read-only into ``options.data_dir`` by assignment.py's worker_files


def read_series(folder: str) -> list[float]:
    with open(os.path.join(folder, SERIES_FILE), newline="", encoding="utf-8") as handle:
        return [float(row["temperature"]) for row in csv.DictReader(handle)]


def smooth_series(namespace, payload, options):
    """The student's moving_average on the whole data file. payload: window."""
    if "moving_average" not in namespace:
        raise NameError("moving_average is not defined")
    series = read_series(options.data_dir)
    return {"length": len(series), "smoothed": namespace["moving_average"](series, int(payload["window"]))}


TASKS = {"smooth_series": smooth_series}
