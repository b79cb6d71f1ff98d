"""The block kinds a blueprint can use, one unit per module (see `base`), listed in the table of
`registry`, which imports a unit when a blueprint first uses its kind (`registry.load_units()`
imports them all, with a template's own); and the one emitter of model.py's code (`emit`)."""
