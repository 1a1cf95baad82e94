"""The built-in plugins: ordinary plugins, registered through the `clawhost` entry-point group."""
