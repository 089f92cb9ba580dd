"""Signal layer benchmark: ``python -m bench.signal`` (see ``docs/signal.md``)."""
