"""UI-free core of the credit-default dashboard: settings, data, cache, jobs, models."""
