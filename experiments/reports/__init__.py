"""Closed-loop reports: figures with bootstrap intervals, curves, plots, Markdown and comparisons."""
