"""This repository's own test and demo machinery; in no distribution, never installed.

- :mod:`testbed.databricks`: the Databricks Jobs API, emulated, as an extension of the
  shipped ADF emulator (the example DAGs that chain Databricks and ADF run against it);
- :mod:`testbed.emulator`: the emulator with that extension (``python -m testbed.emulator``);
- :mod:`testbed.demo`: ``make demo``;
- ``scenarios/``: the scenarios of the Databricks examples.

Run from the repository's root (or its development virtualenv, whose editable install puts
the root on ``sys.path``), so that ``import testbed`` finds it.
"""
