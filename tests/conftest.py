"""Test fixtures live in tests/fixtures/<area>.py, one module per area (ssh, db, sandbox, ...).

Every public name of those modules is made visible here, so pytest finds their fixtures
wherever a test lives under tests/.
"""

import importlib
import pkgutil
import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
if str(_HERE) not in sys.path:
    sys.path.insert(0, str(_HERE))

for _module in pkgutil.iter_modules([str(_HERE / "fixtures")]):
    _mod = importlib.import_module(f"fixtures.{_module.name}")
    globals().update({k: v for k, v in vars(_mod).items() if not k.startswith("_")})
