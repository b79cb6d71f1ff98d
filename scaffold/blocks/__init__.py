"""The block kinds a blueprint can use, one unit per module (see `base`), and the one emitter of
model.py's code (`emit`). `registry.load_units()` imports them, with a template's own."""
