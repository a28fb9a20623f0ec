"""`trainer`: the command line of the Model Trainer Service (talks only to its REST API)."""
