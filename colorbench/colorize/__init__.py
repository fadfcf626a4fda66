"""Colorize photos with a trained run's generator (``colorbench colorize``)."""
