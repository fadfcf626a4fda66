"""The built-in generators' torch networks, imported only when a run builds one.

Each built-in plugin is two modules: its declaration (``colorbench.models.<name>``, the entry
point: variants, options and checks as data, no torch, so ``colorbench list`` never imports torch)
and its network here (``colorbench.models.networks.<name>``, same name). A built-in plugin's code
fingerprint hashes both (colorbench/models/fingerprint.py), so editing a network makes its runs stale.
"""
