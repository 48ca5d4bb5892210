"""The bench harness behind bench/run: scenarios, processes, targets, load, report."""
