"""Grading one submission, wherever it runs: see grader/engine/grade.py for the steps and their order."""
