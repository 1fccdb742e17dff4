"""The instructor's side of vaelab, built on nbgrader.

    grader/course.py      a course folder: the one reader of its layout and configuration
    grader/assignment.py  an assignment's plug-in (solutions/<name>/): reference, grading rules
    grader/workflow/      the course workflow, one module per `vaelab grade` verb (init, release,
                          bands, intake, autograde, feedback, export, report) and the gradebook writer
    grader/engine/        grading one submission: a function from (notebook, grading inputs) to
                          (graded notebook, GradingResult), its steps one module each, the sandbox
    grader/kit/           the kit's own tools: student notebooks from solutions/ (`vaelab labs`),
                          `vaelab demo`, the student bundle, the example submissions
"""
