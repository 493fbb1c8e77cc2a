"""The training pipeline: real tasks, run under strategies, judged by their real tests."""
