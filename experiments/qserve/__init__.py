"""The QServe reproduction (``einsim reproduce qserve``): config and driver."""
