"""``sumame bench``: repeatable benchmarks printing ratios against peers in one run."""
