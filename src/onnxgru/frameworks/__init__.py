"""Framework readers and exporters, one package per framework; each is imported only when a command needs it."""
