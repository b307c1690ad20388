"""Mutation testing of the safety-critical modules (``sumame mutate`` / ``make mutate``).

Runs cosmic-ray (an established mutation tool) on a private copy of the tree, one session per
module with the tests that guard it, and prints killed / survived per module with every
surviving mutant (file:line, operator, the mutated line), so a weak proof is visible.
"""
