"""behindglass: a Data Behind Glass clinical data network."""

__version__ = "0.1.0"
