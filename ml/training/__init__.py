"""Training entry points of the ML plane (run locally or in SageMaker's scikit-learn container)."""
