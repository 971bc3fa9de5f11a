"""Outputs, comparisons, decisions and explanations of one teacher/student pair."""
