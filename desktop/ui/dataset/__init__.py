"""The Dataset tab: the open document, its table, the example and conversation editors, findings,
the estimate, bulk edits.
"""
