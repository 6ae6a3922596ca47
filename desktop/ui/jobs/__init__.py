"""Training: the wizard, the Jobs tab, a job's view, its loss chart, and what to do with the
result.
"""
