"""One small class per Redis concern; key names come from ``keys``."""
