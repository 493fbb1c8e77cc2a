"""Neural models: small feed-forward networks in numpy, trained on the user's own records."""
