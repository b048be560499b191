"""The wire: how a request to Entra ID (Azure AD) or Azure Resource Manager is built, sent,
retried and read. ``protocol`` builds requests and parses answers (sans-IO); ``exchange``
is one request's whole life as a flow of steps (token, send, retry decision, sleep);
``operations`` writes each ADF operation once as such a flow; ``driver`` carries flows out
and caches tokens (``auth``); ``client`` and ``aio`` are the sync and async drivers over
``requests`` and ``httpx``.
"""
