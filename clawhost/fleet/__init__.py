"""Fleet mode: hosts that share one Redis (``fleet:`` in config.yaml).

``Link`` (link.py) is the implementation of ``clawhost.contracts.FleetLink``: the Redis
client, the up/down state every plugin shares, and the heartbeat task (heartbeat.py) that
tells the other hosts this one is alive. The host starts it before its plugins start, so a
plugin can catch up from Redis in its own ``clawhost_startup``; plugins reach it through
``clawhost.api.fleet_of(host)``. Nothing here imports redis until a link is opened.
"""

from __future__ import annotations

from .link import Link, default_name

__all__ = ["Link", "default_name"]
