"""The weekly quality digest for team leads: numbers from the log, charts, an HTML page.

numbers.py computes, gaps.py groups unanswered questions, charts.py draws, facts.py words
the headline, quality.py holds the RAGAS section, page.py writes the files, runs.py
records each week's digest so it is posted once. Posting to Slack and Teams is in adapters.
"""


class DigestError(RuntimeError):
    """A digest cannot be built or posted as configured (the message says what to set)."""
