"""The `distillery` command line: servers, workers, database, keys, simulator, demo."""
