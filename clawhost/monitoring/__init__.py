"""The monitor's machinery: request recording, history, Prometheus export, stats views.

``plugins/monitor.py`` holds only the hooks; everything here is imported lazily by them
(the CLI imports every plugin module, so nothing heavy may load at plugin import time).

- ``histogram``: fixed-bucket histograms and percentiles (flat memory, no sample lists);
- ``recorder``: ``Monitor``, the per-host state: plain counters filled in ``record()``;
- ``history``: a ring buffer of cumulative snapshots, turned into rates and percentiles;
- ``collector``: the Prometheus ``Collector`` that reads everything at scrape time;
- ``web``: the ``/metrics``, ``/v1/stats`` and status-page handlers;
- ``table``: the ``clawhost stats`` terminal table and command.
"""
