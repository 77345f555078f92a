"""Layer 2: each side of a migration built once (the legacy graph, a `.meta` graph, a
recording replayed, the port) and the drivers that run them, behind `base`'s interfaces."""
