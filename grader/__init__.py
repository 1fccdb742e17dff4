"""The instructor's side of vaelab, built on nbgrader: generating the student notebooks from
solutions/, and running the reference notebook end to end (`vaelab demo`). Autograding comes next."""
