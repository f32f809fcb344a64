"""The rule stage: the YAML rule file, its signals, the two engines and the per-rule report."""
