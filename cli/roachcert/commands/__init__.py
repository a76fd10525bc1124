"""One module per command: parse options, delegate to the core, print."""
