"""The numpy-only core: GRU description, gate maps, reference GRU, comparison and findings."""
