"""Free-text PHI detection and replacement: recognizers behind a registry, site deny-lists,
surrogates, and the evaluation harness that measures them. See docs/deid-text.md."""
