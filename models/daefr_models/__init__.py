"""daefr_models: the Python toolchain that builds, trains, exports and quantizes DAEFR networks."""

#: Written into every exported model as `daefr.toolchain_version`.
__version__ = "0.1.0"
