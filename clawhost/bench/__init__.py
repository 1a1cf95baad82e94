"""``clawhost bench``: what each technique buys on the operator's own box, measured with and
without it side by side in one run, beside the plan's predictions.

Everything here drives real ``clawhost run`` processes over HTTP in a temporary workspace
(models reused read-only from the configured workspace), so the core never imports a plugin:
plugins are reached through the hosts they run in and the CLI commands they add. The
scripts in ``benchmarks/`` import their shared helpers from here.

Nothing here is imported by ``clawhost --help``: the CLI imports it inside the command.
"""
