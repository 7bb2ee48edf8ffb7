"""Pure helpers the unit tests and the benchmark share: the program run under Pulumi mocks, test keys."""
