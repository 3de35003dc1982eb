"""The online evaluator: each model version's quality measured from the stream (README "Online evaluation")."""
