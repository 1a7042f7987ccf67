"""What the notebooks learn with: data, training, decisions, evaluation and plots."""
