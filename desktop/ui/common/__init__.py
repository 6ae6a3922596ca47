"""Pieces every panel uses: the background-work helper, dialogs, icons, colours, text widgets, the
list table model.
"""
