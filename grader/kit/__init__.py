"""The kit's own tools: student notebooks from solutions/, `vaelab demo`, the student bundle, example submissions."""
