"""Make tests/support (test-only helpers such as the fake DLMS meter) importable."""
import sys
from pathlib import Path

_support = next(p for p in Path(__file__).resolve().parents if p.name == "tests") / "support"
if str(_support) not in sys.path:
    sys.path.insert(0, str(_support))
