"""Documents a case produces: templates, rendering, signatures, verification."""
