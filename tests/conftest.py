"""Make tests/support (test-only helpers: fake DLMS meter, switch fakes) importable."""
import sys
from pathlib import Path

_support = Path(__file__).resolve().parent / "support"
if str(_support) not in sys.path:
    sys.path.insert(0, str(_support))
