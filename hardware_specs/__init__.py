"""Hardware catalogue: YAML data files (GPUs, accelerators) and their loaders."""

__all__: list[str] = []
