"""Readers of evaluation data: texts and pairs with labels, questions with contexts."""
