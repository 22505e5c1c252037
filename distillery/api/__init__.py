"""HTTP edge: thin routes. Each parses, makes one domain call inside unit_of_work(),
commits before responding, and returns a schema."""
