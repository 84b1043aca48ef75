"""Pictures for notebooks and reports, drawn on matplotlib's Agg canvas without pyplot.

Submodules (imported where needed, each pulls in matplotlib): ``cascade`` (a cascade's
graph, footprints), ``regimes`` (where a GPU is bound as sizes grow), ``explorer`` (the
roofline explorer and its ipywidgets controls), ``sparsity`` (tile maps, speedup bounds).
"""

__all__: list[str] = []
