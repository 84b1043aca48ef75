"""Built-in sweep specs (YAML), located with :mod:`importlib.resources`."""
