"""Configuration: what a client needs to know before its first request, checked locally.
``settings`` (the validated values), ``clouds`` (public, China, US Government, custom
endpoints), ``connection`` (an Airflow connection or URI into settings, task overrides
merged first), ``environment`` (flags and variables for the CLI and notebooks),
``validation`` (names, ids and seconds), ``form`` (the connection form's fields).
"""
