"""What runs and publishes the series: the runner, the setup cell, Colab, README, the `fmnist` command."""
