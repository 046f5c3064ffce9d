"""HTTP mapping of the Stitch Connect API, one module per endpoint family."""
