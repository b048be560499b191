"""The adversarial matrix of the exactly-once promise (see ``matrix.py``)."""
