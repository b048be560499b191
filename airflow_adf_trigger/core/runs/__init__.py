"""Runs: what is known about pipeline runs and how to follow them. ``models`` and ``status``
(values read tolerantly from ADF's JSON), ``outcome`` (the one value a wait ends with),
``watch`` (the one wait, as a state machine), ``poller`` (the shared change feed of a
triggerer process), ``reconcile`` (finding the run of a lost create-run answer), ``outputs``
(activity outputs for XCom).
"""
