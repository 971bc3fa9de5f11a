"""Adversarial attacks over the Model protocol (BERT-Attack) and their on-disk cache."""
