"""``python -m airflow_adf_trigger.cli``: the ``adf-trigger`` command."""

import sys

from airflow_adf_trigger.cli import main

sys.exit(main())
