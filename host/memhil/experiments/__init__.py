"""memhil.experiments: result writing, shared CLI arguments, runs, noisy evaluation and the
paper's experiments (``memhil paper``)."""
