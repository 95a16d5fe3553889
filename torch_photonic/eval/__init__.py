"""Accuracy on real weights (MiniLM, SmolLM2) and the DeepSeek-style acceptance runs."""
