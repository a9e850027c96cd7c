"""Training and models: parameters, the one PyCaret adapter (experiment), evaluation with
calibration and fairness (trust reads them back), the version registry and leaderboards.

PyCaret opens ./logs.log in the current directory the moment it is imported (also when a
stored pipeline is unpickled) unless told otherwise: from here on it logs warnings only,
and to nowhere. Set PYCARET_CUSTOM_LOGGING_PATH to keep its log in a file.
"""

import os

os.environ.setdefault("PYCARET_CUSTOM_LOGGING_PATH", os.devnull)
os.environ.setdefault("PYCARET_CUSTOM_LOGGING_LEVEL", "WARNING")
