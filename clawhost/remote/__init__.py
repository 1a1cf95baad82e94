"""Remote model providers for the connection-pool plugin.

``options`` is importable cheaply (pydantic only); ``pool`` and ``providers`` import aiohttp's
client and are loaded when the plugin starts.
"""
