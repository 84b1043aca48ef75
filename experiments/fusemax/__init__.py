"""The FuseMax reproduction: design YAMLs, the experiment config and its driver."""

__all__: list[str] = []
