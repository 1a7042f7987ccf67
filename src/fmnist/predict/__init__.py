"""The product: `fmnist predict`, a photo of a garment classified by a saved model of the series."""
