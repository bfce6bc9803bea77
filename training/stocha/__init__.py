"""stocha training package: model, data, recipes, HF export, evaluation."""
