"""Coverage-guided fuzzing of every parser that takes bytes from outside (``sumame fuzz``).

``targets`` names each parser with the typed errors it may raise; ``child`` runs one target
under atheris (libFuzzer) in its own process; ``runner`` drives the children and prints
inputs, inputs/s, coverage and findings per parser.
"""
