"""``python -m einsum.library``: rewrite the shipped index of the built-in cascades."""

from einsum.library import write_index

write_index()
