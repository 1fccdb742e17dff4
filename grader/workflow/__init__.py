"""The course workflow: one module per `vaelab grade` verb, each with a `main()` that is also its Python API."""
