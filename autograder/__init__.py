"""Grading engine and instructor tools of the CNN week-1 assignment kit."""
