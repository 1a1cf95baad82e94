"""The built-in plugins, one package each, registered through the `clawhost` entry-point group
like any third-party plugin. Import them as ``clawhost.plugins.<name>``: that is their one name."""

if __name__ != "clawhost.plugins":  # e.g. ``import plugins.cache`` from a checkout's root
    raise ImportError(f"the built-in plugins are clawhost.plugins.<name>, not {__name__}.<name>: "
                      "one module per file, so each plugin has one Options class")
