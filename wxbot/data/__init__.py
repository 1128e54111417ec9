"""Package data: the shipped config/ that ``wxbot init`` copies into a new bot folder."""
